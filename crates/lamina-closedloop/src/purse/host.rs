//! Issuer / host side of the purse: load authorization, proof verification
//! (pure), duplicate detection and settlement per merchant.

use std::collections::{BTreeMap, BTreeSet};

use lamina_crypto::sym::ct_eq;
use serde::Serialize;

use super::{IssuerMasterKeys, Proof, PurseKeys, PurseStatus, TxKind, load_mac, proof_mac};
use crate::keys::{CardId, KeyUsage, TerminalId, derive_card_key};

/// Why a proof or a load confirmation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The MAC does not verify under the card's key.
    #[error("MAC does not verify")]
    BadMac,
    /// A load proof was presented as a debit proof, or the fields contradict each other.
    #[error("malformed proof: {0}")]
    Malformed(&'static str),
    /// A key could not be derived.
    #[error("key derivation failed")]
    Key,
    /// A load request the issuer will not authorize.
    #[error("load refused: {0}")]
    LoadRefused(&'static str),
    /// A confirmation for a load the issuer did not authorize.
    #[error("unknown load")]
    UnknownLoad,
}

/// Verifies a debit or cancel proof with the issuer's debit master key. Pure:
/// no state, callable by any host component.
pub fn verify_proof(keys: &IssuerMasterKeys, proof: &Proof) -> Result<(), ProofError> {
    match proof.entry.kind {
        TxKind::Load => return Err(ProofError::Malformed("a load is not a debit proof")),
        TxKind::Debit if proof.entry.original != 0 => {
            return Err(ProofError::Malformed("debit with an original counter"));
        }
        TxKind::Cancel
            if proof.entry.original == 0 || proof.entry.original >= proof.entry.counter =>
        {
            return Err(ProofError::Malformed(
                "cancel without a valid original counter",
            ));
        }
        _ => {}
    }
    if proof.entry.amount == 0 {
        return Err(ProofError::Malformed("zero amount"));
    }
    let k = derive_card_key(&keys.debit, KeyUsage::PurseDebit, &proof.card)
        .map_err(|_| ProofError::Key)?;
    let expected =
        proof_mac(&k, &proof.card, &proof.currency, &proof.entry).map_err(|_| ProofError::Key)?;
    if ct_eq(&expected, &proof.mac) {
        Ok(())
    } else {
        Err(ProofError::BadMac)
    }
}

/// An authorized load, as returned to the load terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadAuthorization {
    /// The transaction number the load will use.
    pub counter: u32,
    /// Balance after the load.
    pub new_balance: u32,
    /// Load MAC.
    pub mac: [u8; 8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LoadRecord {
    amount: u32,
    new_balance: u32,
    currency: [u8; 2],
    time: u32,
    confirmed: bool,
}

/// The issuer host for the purse: authorizes loads and verifies proofs.
#[derive(Debug)]
pub struct IssuerHost {
    keys: IssuerMasterKeys,
    loads: BTreeMap<(CardId, u32), LoadRecord>,
}

impl IssuerHost {
    /// A host with the issuer's master keys.
    pub fn new(keys: IssuerMasterKeys) -> Self {
        IssuerHost {
            keys,
            loads: BTreeMap::new(),
        }
    }

    /// The master keys.
    pub fn keys(&self) -> &IssuerMasterKeys {
        &self.keys
    }

    /// Derives a card's purse keys (for personalization).
    pub fn card_keys(&self, card: &CardId) -> Result<PurseKeys, ProofError> {
        PurseKeys::derive(&self.keys, card).map_err(|_| ProofError::Key)
    }

    /// Authorizes loading `amount` onto the card whose status was read: computes
    /// the load MAC for transaction number `counter + 1`. (The card enforces its
    /// maximum balance itself and answers `9402`.)
    pub fn authorize_load(
        &mut self,
        st: &PurseStatus,
        amount: u32,
        time: u32,
    ) -> Result<LoadAuthorization, ProofError> {
        if amount == 0 {
            return Err(ProofError::LoadRefused("zero amount"));
        }
        let counter = st
            .counter
            .checked_add(1)
            .ok_or(ProofError::LoadRefused("counter exhausted"))?;
        let new_balance = st
            .balance
            .checked_add(amount)
            .ok_or(ProofError::LoadRefused("balance overflow"))?;
        let k = derive_card_key(&self.keys.load, KeyUsage::PurseLoad, &st.card)
            .map_err(|_| ProofError::Key)?;
        let mac = load_mac(
            &k,
            false,
            &st.card,
            counter,
            amount,
            new_balance,
            &st.currency,
            time,
        )
        .map_err(|_| ProofError::Key)?;
        self.loads.insert(
            (st.card, counter),
            LoadRecord {
                amount,
                new_balance,
                currency: st.currency,
                time,
                confirmed: false,
            },
        );
        Ok(LoadAuthorization {
            counter,
            new_balance,
            mac,
        })
    }

    /// Checks the card's load confirmation and marks the load completed.
    pub fn confirm_load(
        &mut self,
        card: &CardId,
        counter: u32,
        new_balance: u32,
        conf: &[u8; 8],
    ) -> Result<(), ProofError> {
        let rec = self
            .loads
            .get(&(*card, counter))
            .copied()
            .ok_or(ProofError::UnknownLoad)?;
        if rec.new_balance != new_balance {
            return Err(ProofError::Malformed(
                "balance differs from the authorization",
            ));
        }
        let k = derive_card_key(&self.keys.load, KeyUsage::PurseLoad, card)
            .map_err(|_| ProofError::Key)?;
        let expected = load_mac(
            &k,
            true,
            card,
            counter,
            rec.amount,
            new_balance,
            &rec.currency,
            rec.time,
        )
        .map_err(|_| ProofError::Key)?;
        if !ct_eq(&expected, conf) {
            return Err(ProofError::BadMac);
        }
        if let Some(r) = self.loads.get_mut(&(*card, counter)) {
            r.confirmed = true;
        }
        Ok(())
    }

    /// Loads authorized for a card and not yet confirmed: (number, amount).
    pub fn unconfirmed(&self, card: &CardId) -> Vec<(u32, u32)> {
        self.loads
            .iter()
            .filter(|((c, _), r)| c == card && !r.confirmed)
            .map(|((_, n), r)| (*n, r.amount))
            .collect()
    }

    /// Voids an unconfirmed authorization (the card did not use it).
    pub fn void_load(&mut self, card: &CardId, counter: u32) {
        if self
            .loads
            .get(&(*card, counter))
            .is_some_and(|r| !r.confirmed)
        {
            self.loads.remove(&(*card, counter));
        }
    }

    /// Sum of the confirmed loads of a card.
    pub fn confirmed_total(&self, card: &CardId) -> u64 {
        self.loads
            .iter()
            .filter(|((c, _), r)| c == card && r.confirmed)
            .map(|(_, r)| u64::from(r.amount))
            .sum()
    }

    /// True if the card confirmed the load with this number.
    pub fn load_confirmed(&self, card: &CardId, counter: u32) -> bool {
        self.loads
            .get(&(*card, counter))
            .is_some_and(|r| r.confirmed)
    }

    /// Verifies a proof ([`verify_proof`]).
    pub fn verify(&self, proof: &Proof) -> Result<(), ProofError> {
        verify_proof(&self.keys, proof)
    }
}

/// Why the clearing refused an uploaded proof.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClearingError {
    /// The proof does not verify.
    #[error("invalid proof: {0}")]
    Invalid(#[from] ProofError),
    /// A proof with the same (card id, transaction number) was already accepted.
    #[error("duplicate proof for card {card} transaction {counter}")]
    Duplicate {
        /// Card id.
        card: CardId,
        /// Transaction number.
        counter: u32,
    },
    /// The terminal is not registered to a merchant.
    #[error("terminal {0} not registered")]
    UnknownTerminal(TerminalId),
}

/// The settlement of one merchant for one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MerchantSettlement {
    /// Merchant id.
    pub merchant: String,
    /// Currency (BCD hex).
    pub currency: String,
    /// Number of debits.
    pub debits: u32,
    /// Sum of debits.
    pub debit_total: u64,
    /// Number of cancels.
    pub cancels: u32,
    /// Sum of cancels.
    pub cancel_total: u64,
    /// Amount owed to the merchant (debits − cancels).
    pub net: i64,
}

/// Proof clearing: verifies uploaded proofs, rejects duplicates by (card id,
/// transaction number) forever, and aggregates accepted proofs per merchant
/// until [`Clearing::settle`].
#[derive(Debug)]
pub struct Clearing {
    keys: IssuerMasterKeys,
    merchants: BTreeMap<TerminalId, String>,
    seen: BTreeSet<(CardId, u32)>,
    batch: Vec<Proof>,
}

impl Clearing {
    /// A clearing with the issuer's keys and no terminals.
    pub fn new(keys: IssuerMasterKeys) -> Self {
        Clearing {
            keys,
            merchants: BTreeMap::new(),
            seen: BTreeSet::new(),
            batch: Vec::new(),
        }
    }

    /// Registers a terminal to a merchant.
    pub fn register_terminal(&mut self, terminal: TerminalId, merchant: impl Into<String>) {
        self.merchants.insert(terminal, merchant.into());
    }

    /// Accepts one uploaded proof.
    pub fn submit(&mut self, proof: &Proof) -> Result<(), ClearingError> {
        verify_proof(&self.keys, proof)?;
        if !self.merchants.contains_key(&proof.entry.terminal) {
            return Err(ClearingError::UnknownTerminal(proof.entry.terminal));
        }
        if !self.seen.insert(proof.key()) {
            return Err(ClearingError::Duplicate {
                card: proof.card,
                counter: proof.entry.counter,
            });
        }
        self.batch.push(proof.clone());
        Ok(())
    }

    /// Accepts a batch; returns per-proof results in order.
    pub fn submit_all(&mut self, proofs: &[Proof]) -> Vec<Result<(), ClearingError>> {
        proofs.iter().map(|p| self.submit(p)).collect()
    }

    /// Number of accepted proofs not yet settled.
    pub fn pending(&self) -> usize {
        self.batch.len()
    }

    /// Settles the accepted proofs: one line per (merchant, currency), sorted.
    pub fn settle(&mut self) -> Vec<MerchantSettlement> {
        let mut out: BTreeMap<(String, String), MerchantSettlement> = BTreeMap::new();
        for p in self.batch.drain(..) {
            let merchant = self
                .merchants
                .get(&p.entry.terminal)
                .cloned()
                .unwrap_or_default();
            let currency = hex::encode_upper(p.currency);
            let s = out
                .entry((merchant.clone(), currency.clone()))
                .or_insert_with(|| MerchantSettlement {
                    merchant,
                    currency,
                    debits: 0,
                    debit_total: 0,
                    cancels: 0,
                    cancel_total: 0,
                    net: 0,
                });
            let a = u64::from(p.entry.amount);
            match p.entry.kind {
                TxKind::Cancel => {
                    s.cancels += 1;
                    s.cancel_total += a;
                    s.net -= i64::from(p.entry.amount);
                }
                _ => {
                    s.debits += 1;
                    s.debit_total += a;
                    s.net += i64::from(p.entry.amount);
                }
            }
        }
        out.into_values().collect()
    }
}
