//! Status words of the closed-loop applets.
//!
//! Interindustry values follow ISO/IEC 7816-4 §5.6; the `94xx` values are
//! proprietary (SW1 `9X` other than `9000` is left to applications by
//! ISO/IEC 7816-4 §5.6) and documented here as part of Lamina's own protocol.
//!
//! | SW | meaning in the closed-loop applets |
//! |---|---|
//! | `9000` | success |
//! | `6700` | wrong command data length |
//! | `6A86` | wrong P1/P2 |
//! | `6D00` / `6E00` | unknown instruction / class |
//! | `6982` | MAC wrong (load MAC, terminal MAC, credit MAC …) |
//! | `6985` | conditions not satisfied: no session (INITIALIZE first), card not personalized, application blocked, counter exhausted, nothing to cancel |
//! | `6A80` | incorrect data (zero amount, inconsistent new balance, unknown state layout) |
//! | `6A83` | log record not found |
//! | `6A88` | referenced data not found (unknown program, no debit for the terminal reference) |
//! | `9401` | insufficient funds / points |
//! | `9402` | maximum balance / points would be exceeded |
//! | `6581` / `6A84` | memory failure / transaction journal full (from the OS NVM) |

use lamina_apdu::StatusWord;

/// Insufficient funds (purse) or points (loyalty): proprietary `9401`.
pub const INSUFFICIENT_FUNDS: StatusWord = StatusWord(0x9401);
/// The maximum balance (purse) or points (loyalty) would be exceeded: `9402`.
pub const MAX_BALANCE_EXCEEDED: StatusWord = StatusWord(0x9402);
/// A MAC did not verify: `6982` (security status not satisfied).
pub const BAD_MAC: StatusWord = StatusWord::SECURITY_STATUS_NOT_SATISFIED;
/// No session, wrong life cycle, counter exhausted: `6985`.
pub const CONDITIONS: StatusWord = StatusWord::CONDITIONS_NOT_SATISFIED;
/// Incorrect data field: `6A80`.
pub const BAD_DATA: StatusWord = StatusWord::INCORRECT_DATA;
/// Referenced data not found: `6A88`.
pub const NOT_FOUND: StatusWord = StatusWord::DATA_NOT_FOUND;

/// What a refusal means in the closed-loop applets, for people: the
/// proprietary `94xx` values by this module's table, the others by ISO/IEC
/// 7816-4's meaning.
pub fn meaning(sw: StatusWord) -> &'static str {
    match sw {
        INSUFFICIENT_FUNDS => "not enough value or points on the card",
        MAX_BALANCE_EXCEEDED => "the card's maximum balance or points would be exceeded",
        BAD_MAC => "a MAC did not verify (wrong keys or altered data)",
        CONDITIONS => {
            "conditions not satisfied (no session, application blocked or counter exhausted)"
        }
        other => other.meaning(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proprietary_words_have_plain_meanings() {
        assert!(meaning(MAX_BALANCE_EXCEEDED).contains("maximum balance"));
        assert!(meaning(INSUFFICIENT_FUNDS).contains("not enough"));
        assert_eq!(meaning(StatusWord::OK), StatusWord::OK.meaning());
    }
}
