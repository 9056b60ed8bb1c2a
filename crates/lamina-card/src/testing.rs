//! Ready-made cards for tests, examples and fuzzing in other crates (terminal
//! kernels can talk to a real chip OS before the EMV applet exists).
//!
//! A fuzz target for the card state machine is one line:
//!
//! ```
//! let mut card = lamina_card::testing::demo_card(0);
//! let data: &[u8] = &[0x0E, 0x00, 0xA4, 0x04, 0x00, 0x08, 0xF0, 0x4C, 0x41, 0x4D, 0x49, 0x4E, 0x41, 0x01, 0x00];
//! lamina_card::testing::run_stream(&mut card, data).unwrap();
//! ```

use crate::aid::Aid;
use crate::applet::{Install, Rom};
use crate::applets::counter::{CLASS, CounterApplet};
use crate::atr::{Interface, Protocol};
use crate::lifecycle::CardLifeCycle;
use crate::nvm::PowerCut;
use crate::os::{Card, CardError};
use crate::rng::SeededRng;

/// AID of the first demo counter (both interfaces, label `COUNTER`, priority 1).
pub const DEMO_AID_1: &str = "F04C414D494E4101";
/// AID of the second demo counter (contact only, label `COUNTER 2`, priority 2).
pub const DEMO_AID_2: &str = "F04C414D494E4102";
/// The demo counters' PIN (install parameters), `12 34`.
pub const DEMO_PIN: [u8; 2] = [0x12, 0x34];

/// A ROM with the counter applet class.
pub fn demo_rom() -> Rom {
    Rom::new().with_class(CLASS, |_| Box::new(CounterApplet::new()))
}

/// A personalized card with two counter applets and a [`SeededRng`].
pub fn demo_card(seed: u64) -> Card {
    let mut card = Card::new(demo_rom(), SeededRng::new(seed));
    let entries = [
        (
            DEMO_AID_1,
            "COUNTER",
            1u8,
            vec![Interface::Contact, Interface::Contactless],
        ),
        (DEMO_AID_2, "COUNTER 2", 2u8, vec![Interface::Contact]),
    ];
    for (aid, label, priority, ifaces) in entries {
        if let Ok(aid) = Aid::from_hex(aid) {
            // Constant, valid entries: install cannot fail on a blank card.
            let _ = card.install(
                Install::new(aid, CLASS)
                    .label(label)
                    .priority(priority)
                    .interfaces(&ifaces)
                    .params(DEMO_PIN.to_vec()),
            );
        }
    }
    let _ = card.set_life_cycle(CardLifeCycle::Personalized);
    card
}

/// Checks what must hold between commands whatever happened before: no journal
/// or atomic buffer left in NVM, and `count == mirror` in every counter
/// namespace.
pub fn check_invariants(card: &Card) -> Result<(), String> {
    let nvm = card.nvm();
    if card.is_powered() && (!nvm.journal.entries.is_empty() || nvm.journal.committed) {
        return Err("journal not empty between commands".into());
    }
    if card.is_powered() && nvm.atomic.is_some() {
        return Err("atomic buffer not empty between commands".into());
    }
    for inst in card.installed().iter().filter(|i| i.class == CLASS) {
        let count = card.record(&inst.aid, "count");
        let mirror = card.record(&inst.aid, "mirror");
        if count != mirror {
            return Err(format!("{}: count != mirror", inst.aid));
        }
    }
    Ok(())
}

/// Drives a card with a byte stream (for fuzzing): each step starts with a byte
/// `n`:
///
/// * `n` < `0xF0`: the next `n` bytes are an APDU (cut short at the end);
/// * `F0` / `F1`: power cycle on the contact (T=1) / contactless interface;
/// * `F2`: power cycle on contact with T=0;
/// * `F3 k`: tear the next command after `k` NVM writes;
/// * other: ignored.
///
/// After a tear the card is powered on again. Returns an error if the card
/// misbehaves (a response shorter than a status word, an invariant of
/// [`check_invariants`] broken, a failed power-on); never panics.
pub fn run_stream(card: &mut Card, data: &[u8]) -> Result<(), String> {
    let mut iface = Interface::Contact;
    let mut proto = Protocol::T1;
    card.power_on(iface, proto).map_err(|e| e.to_string())?;
    let mut rest = data;
    while let Some((&n, tail)) = rest.split_first() {
        rest = tail;
        match n {
            0xF0..=0xF2 => {
                (iface, proto) = match n {
                    0xF0 => (Interface::Contact, Protocol::T1),
                    0xF1 => (Interface::Contactless, Protocol::Iso14443),
                    _ => (Interface::Contact, Protocol::T0),
                };
                card.power_off();
                card.power_on(iface, proto).map_err(|e| e.to_string())?;
            }
            0xF3 => {
                let Some((&k, tail)) = rest.split_first() else {
                    break;
                };
                rest = tail;
                card.arm_power_cut(PowerCut::after_writes(u64::from(k)));
            }
            0xF4..=0xFF => {}
            _ => {
                let len = usize::from(n).min(rest.len());
                let (apdu, tail) = rest.split_at(len);
                rest = tail;
                match card.process(apdu) {
                    Ok(r) if r.len() >= 2 => {}
                    Ok(r) => return Err(format!("response of {} byte(s)", r.len())),
                    Err(CardError::PowerLost) => {
                        card.power_on(iface, proto).map_err(|e| e.to_string())?;
                    }
                    Err(e) => return Err(e.to_string()),
                }
                card.disarm_power_cut();
            }
        }
        check_invariants(card)?;
    }
    Ok(())
}
