//! Terminal side of the purse: the SAM (purchase keys, debit, cancel, recovery,
//! proof store) and the load terminal.

use lamina_card::Aid;
use lamina_crypto::sym::{SecretKey, ct_eq};

use super::{
    IssuerHost, LogEntry, Proof, PurseStatus, TxKind, commands, receipt_mac, terminal_cancel_mac,
    terminal_debit_mac,
};
use crate::codec::Reader;
use crate::keys::{CardId, KeyUsage, TerminalId, derive_card_key};
use crate::terminal::{CardLink, TerminalError};

/// Result of a debit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebitOutcome {
    /// The proof the SAM stored for upload.
    pub proof: Proof,
    /// Balance after the debit.
    pub balance: u32,
    /// True if the debit had been done in an earlier, interrupted interaction and
    /// its proof was fetched back with RECOVER.
    pub recovered: bool,
}

/// A debit sent to a card whose answer did not arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingDebit {
    /// Card id.
    pub card: CardId,
    /// Terminal sequence number used.
    pub seq: u32,
    /// Amount.
    pub amount: u32,
}

/// A terminal's secure access module for the purse: holds the purchase master
/// key, numbers its transactions, verifies card receipts and stores proofs until
/// upload.
#[derive(Debug)]
pub struct Sam {
    terminal: TerminalId,
    purchase_master: SecretKey,
    aid: Aid,
    next_seq: u32,
    proofs: Vec<Proof>,
    pending: Option<PendingDebit>,
    abandoned: Vec<PendingDebit>,
    last_debit: Option<(CardId, u32, u32)>,
}

fn mac_err(_: crate::keys::KeyError) -> TerminalError {
    TerminalError::Refused("purchase key unusable".into())
}

impl Sam {
    /// A SAM for terminal `terminal`, talking to the purse at `aid`, whose next
    /// sequence number is `first_seq` (persisted by the terminal: it must never
    /// repeat).
    pub fn new(terminal: TerminalId, purchase_master: SecretKey, aid: Aid, first_seq: u32) -> Self {
        Sam {
            terminal,
            purchase_master,
            aid,
            next_seq: first_seq,
            proofs: Vec::new(),
            pending: None,
            abandoned: Vec::new(),
            last_debit: None,
        }
    }

    /// The terminal id.
    pub fn terminal(&self) -> TerminalId {
        self.terminal
    }

    /// The purse AID.
    pub fn aid(&self) -> &Aid {
        &self.aid
    }

    /// The next sequence number (for the terminal to persist: it must never repeat).
    pub fn next_seq(&self) -> u32 {
        self.next_seq
    }

    /// Reserves the next terminal sequence number.
    pub fn reserve_seq(&mut self) -> u32 {
        let s = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        s
    }

    /// The debit sent whose answer did not arrive, if any.
    pub fn pending(&self) -> Option<PendingDebit> {
        self.pending
    }

    /// Pending debits given up because another card was presented.
    pub fn abandoned(&self) -> &[PendingDebit] {
        &self.abandoned
    }

    /// Stored proofs not yet uploaded.
    pub fn proofs(&self) -> &[Proof] {
        &self.proofs
    }

    /// Takes the stored proofs for upload.
    pub fn take_proofs(&mut self) -> Vec<Proof> {
        std::mem::take(&mut self.proofs)
    }

    fn store(&mut self, p: Proof) {
        if !self.proofs.iter().any(|q| q.key() == p.key()) {
            self.proofs.push(p);
        }
    }

    fn card_key(&self, card: &CardId) -> Result<SecretKey, TerminalError> {
        Ok(derive_card_key(
            &self.purchase_master,
            KeyUsage::PursePurchase,
            card,
        )?)
    }

    /// Asks the card for the proof of the debit or cancel made with terminal
    /// reference (`terminal`, `seq`) (RECOVER). `Ok(None)`: the card has no such
    /// transaction (it was not done). The receipt is verified and the proof stored.
    pub fn recover(
        &mut self,
        link: &mut CardLink<'_>,
        terminal: TerminalId,
        seq: u32,
    ) -> Result<Option<(Proof, u32)>, TerminalError> {
        link.select(&self.aid)?;
        let cmd = commands::recover(&terminal, seq);
        let r = link.transmit(&cmd)?;
        if r.sw == crate::sw::NOT_FOUND {
            return Ok(None);
        }
        if !r.sw.is_ok() {
            return Err(TerminalError::Status {
                command: "RECOVER",
                sw: r.sw,
            });
        }
        let mut rd = Reader::new(&r.data);
        let parsed = (|| {
            let card = CardId(rd.array()?);
            let currency: [u8; 2] = rd.array()?;
            let entry = LogEntry::read(&mut rd)?;
            let mac: [u8; 8] = rd.array()?;
            let receipt: [u8; 8] = rd.array()?;
            Ok::<_, crate::codec::Short>((card, currency, entry, mac, receipt))
        })()
        .map_err(|_| TerminalError::BadResponse("RECOVER"))?;
        let (card, currency, entry, mac, receipt) = parsed;
        let key = self.card_key(&card)?;
        let expected = receipt_mac(&key, &card, &currency, &entry).map_err(mac_err)?;
        if !ct_eq(&expected, &receipt) {
            return Err(TerminalError::BadReceipt("RECOVER"));
        }
        let proof = Proof {
            card,
            currency,
            entry,
            mac,
        };
        self.store(proof.clone());
        if let Some(p) = self.pending
            && p.card == card
            && terminal == self.terminal
            && p.seq == seq
        {
            self.pending = None;
        }
        Ok(Some((proof, entry.balance)))
    }

    /// Reads the purse status of the presented card.
    pub fn status(&self, link: &mut CardLink<'_>) -> Result<PurseStatus, TerminalError> {
        read_status(link, &self.aid)
    }

    /// Debits `amount` at `time`: first resolves this SAM's pending debit (one
    /// whose answer was lost) if that card is presented again: when the card had
    /// done it and the amount is the one asked now, this is the customer's retry
    /// and the recovered debit is returned instead of debiting twice; otherwise
    /// its proof is kept and the new debit proceeds (INITIALIZE DEBIT + DEBIT).
    pub fn debit(
        &mut self,
        link: &mut CardLink<'_>,
        amount: u32,
        time: u32,
    ) -> Result<DebitOutcome, TerminalError> {
        if let Some(p) = self.pending {
            if let Some((proof, balance)) = self.recover(link, self.terminal, p.seq)?
                && p.amount == amount
            {
                return Ok(DebitOutcome {
                    proof,
                    balance,
                    recovered: true,
                });
            }
            let st = self.status(link)?;
            if st.card == p.card {
                // Recovered above with another amount, or never committed.
                self.pending = None;
            }
        }
        let seq = self.reserve_seq();
        self.debit_with_seq(link, amount, time, seq)
    }

    /// INITIALIZE DEBIT + DEBIT with an already reserved sequence number (for
    /// terminals that record the reference on the card first, like the transit gate).
    pub fn debit_with_seq(
        &mut self,
        link: &mut CardLink<'_>,
        amount: u32,
        time: u32,
        seq: u32,
    ) -> Result<DebitOutcome, TerminalError> {
        link.select(&self.aid)?;
        let init = link.ok(
            "INITIALIZE DEBIT",
            &commands::init_debit(&self.terminal, seq, time),
        )?;
        let mut r = Reader::new(&init);
        let (card, ptc, balance, currency, challenge) = (|| {
            let v = (
                CardId(r.array()?),
                r.u32()?,
                r.u32()?,
                r.array::<2>()?,
                r.array::<8>()?,
            );
            r.clone().finish()?;
            Ok::<_, crate::codec::Short>(v)
        })()
        .map_err(|_| TerminalError::BadResponse("INITIALIZE DEBIT"))?;
        if balance < amount {
            return Err(TerminalError::Status {
                command: "DEBIT",
                sw: crate::sw::INSUFFICIENT_FUNDS,
            });
        }
        let key = self.card_key(&card)?;
        let mac = terminal_debit_mac(
            &key,
            &card,
            ptc,
            &challenge,
            &self.terminal,
            seq,
            time,
            amount,
            &currency,
        )
        .map_err(mac_err)?;
        if let Some(old) = self.pending.replace(PendingDebit { card, seq, amount })
            && old.seq != seq
        {
            self.abandoned.push(old);
        }
        let resp = link.ok("DEBIT", &commands::debit(amount, &mac));
        let resp = match resp {
            Ok(r) => r,
            Err(e @ TerminalError::Channel(_)) => return Err(e),
            Err(e) => {
                // A refusal: the card did not debit.
                self.pending = None;
                return Err(e);
            }
        };
        let mut r = Reader::new(&resp);
        let (n, new_balance, proof_mac, receipt) = (|| {
            let v = (r.u32()?, r.u32()?, r.array::<8>()?, r.array::<8>()?);
            r.clone().finish()?;
            Ok::<_, crate::codec::Short>(v)
        })()
        .map_err(|_| TerminalError::BadResponse("DEBIT"))?;
        let entry = LogEntry {
            kind: TxKind::Debit,
            counter: n,
            amount,
            balance: new_balance,
            terminal: self.terminal,
            terminal_seq: seq,
            time,
            original: 0,
        };
        let expected = receipt_mac(&key, &card, &currency, &entry).map_err(mac_err)?;
        if !ct_eq(&expected, &receipt)
            || n != ptc.wrapping_add(1)
            || Some(new_balance) != balance.checked_sub(amount)
        {
            return Err(TerminalError::BadReceipt("DEBIT"));
        }
        self.pending = None;
        let proof = Proof {
            card,
            currency,
            entry,
            mac: proof_mac,
        };
        self.store(proof.clone());
        self.last_debit = Some((card, n, amount));
        Ok(DebitOutcome {
            proof,
            balance: new_balance,
            recovered: false,
        })
    }

    /// Cancels this SAM's last debit on the presented card (CANCEL LAST): the
    /// card refunds it if it is still the card's newest transaction. Returns the
    /// cancel proof (also stored).
    pub fn cancel_last(
        &mut self,
        link: &mut CardLink<'_>,
        time: u32,
    ) -> Result<DebitOutcome, TerminalError> {
        let (card0, original, amount) = self
            .last_debit
            .ok_or_else(|| TerminalError::Refused("no debit to cancel".into()))?;
        link.select(&self.aid)?;
        let seq = self.reserve_seq();
        let init = link.ok(
            "INITIALIZE DEBIT",
            &commands::init_debit(&self.terminal, seq, time),
        )?;
        let mut r = Reader::new(&init);
        let (card, ptc, _balance, currency, challenge) = (|| {
            Ok::<_, crate::codec::Short>((
                CardId(r.array()?),
                r.u32()?,
                r.u32()?,
                r.array::<2>()?,
                r.array::<8>()?,
            ))
        })()
        .map_err(|_| TerminalError::BadResponse("INITIALIZE DEBIT"))?;
        if card != card0 {
            return Err(TerminalError::Refused(
                "not the card of the last debit".into(),
            ));
        }
        let key = self.card_key(&card)?;
        let mac = terminal_cancel_mac(
            &key,
            &card,
            ptc,
            &challenge,
            &self.terminal,
            seq,
            time,
            amount,
            original,
        )
        .map_err(mac_err)?;
        let resp = link.ok("CANCEL LAST", &commands::cancel(amount, original, &mac))?;
        let mut r = Reader::new(&resp);
        let (n, new_balance, proof_mac, receipt) = (|| {
            Ok::<_, crate::codec::Short>((r.u32()?, r.u32()?, r.array::<8>()?, r.array::<8>()?))
        })()
        .map_err(|_| TerminalError::BadResponse("CANCEL LAST"))?;
        let entry = LogEntry {
            kind: TxKind::Cancel,
            counter: n,
            amount,
            balance: new_balance,
            terminal: self.terminal,
            terminal_seq: seq,
            time,
            original,
        };
        let expected = receipt_mac(&key, &card, &currency, &entry).map_err(mac_err)?;
        if !ct_eq(&expected, &receipt) {
            return Err(TerminalError::BadReceipt("CANCEL LAST"));
        }
        self.last_debit = None;
        let proof = Proof {
            card,
            currency,
            entry,
            mac: proof_mac,
        };
        self.store(proof.clone());
        Ok(DebitOutcome {
            proof,
            balance: new_balance,
            recovered: false,
        })
    }
}

/// GET STATUS on the purse at `aid`.
pub fn read_status(link: &mut CardLink<'_>, aid: &Aid) -> Result<PurseStatus, TerminalError> {
    link.select(aid)?;
    let d = link.ok("GET STATUS", &commands::status())?;
    PurseStatus::decode(&d).map_err(|_| TerminalError::BadResponse("GET STATUS"))
}

/// Result of a load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadOutcome {
    /// Transaction number used.
    pub counter: u32,
    /// New balance.
    pub balance: u32,
    /// True if this is a load of the same amount authorized earlier whose
    /// answer was lost, found on the card with RECOVER LOAD (not loaded again).
    pub recovered: bool,
}

/// RECOVER LOAD: the logged load with number `counter` and its confirmation MAC.
fn recover_load(
    link: &mut CardLink<'_>,
    counter: u32,
) -> Result<Option<(CardId, LogEntry, [u8; 8])>, TerminalError> {
    let cmd = commands::recover_load(counter);
    let r = link.transmit(&cmd)?;
    if r.sw == crate::sw::NOT_FOUND {
        return Ok(None);
    }
    if !r.sw.is_ok() {
        return Err(TerminalError::Status {
            command: "RECOVER LOAD",
            sw: r.sw,
        });
    }
    let mut rd = Reader::new(&r.data);
    let v = (|| {
        let card = CardId(rd.array()?);
        let _currency: [u8; 2] = rd.array()?;
        let e = LogEntry::read(&mut rd)?;
        let conf: [u8; 8] = rd.array()?;
        Ok::<_, crate::codec::Short>((card, e, conf))
    })()
    .map_err(|_| TerminalError::BadResponse("RECOVER LOAD"))?;
    Ok(Some(v))
}

/// A load terminal: reads the purse, settles any earlier authorization of this
/// card whose answer was lost (RECOVER LOAD: booked if the card did it, voided
/// if not), asks the issuer (online; in-process here) for a load MAC, sends LOAD
/// and hands the card's confirmation back to the issuer.
///
/// If an earlier authorization of the **same amount** turns out to have been
/// loaded, it is returned with `recovered: true` and nothing more is loaded
/// (the customer's retry); call again to load once more.
pub fn load_purse(
    link: &mut CardLink<'_>,
    aid: &Aid,
    issuer: &mut IssuerHost,
    amount: u32,
    time: u32,
) -> Result<LoadOutcome, TerminalError> {
    let st = read_status(link, aid)?;
    let mut retry = None;
    for (n, a) in issuer.unconfirmed(&st.card) {
        if n > st.counter {
            // Never used by the card: a new authorization replaces it.
            issuer.void_load(&st.card, n);
            continue;
        }
        match recover_load(link, n)? {
            Some((card, e, conf)) if card == st.card => {
                issuer
                    .confirm_load(&card, n, e.balance, &conf)
                    .map_err(|_| TerminalError::BadReceipt("RECOVER LOAD"))?;
                if a == amount && retry.is_none() {
                    retry = Some(LoadOutcome {
                        counter: n,
                        balance: st.balance,
                        recovered: true,
                    });
                }
            }
            _ => issuer.void_load(&st.card, n),
        }
    }
    if let Some(r) = retry {
        return Ok(r);
    }
    let auth = issuer
        .authorize_load(&st, amount, time)
        .map_err(|e| TerminalError::Refused(e.to_string()))?;
    let d = link.ok(
        "LOAD",
        &commands::load(amount, auth.new_balance, time, &auth.mac),
    )?;
    let mut r = Reader::new(&d);
    let (n, bal, conf) = (|| Ok::<_, crate::codec::Short>((r.u32()?, r.u32()?, r.array::<8>()?)))()
        .map_err(|_| TerminalError::BadResponse("LOAD"))?;
    issuer
        .confirm_load(&st.card, n, bal, &conf)
        .map_err(|_| TerminalError::BadReceipt("LOAD"))?;
    Ok(LoadOutcome {
        counter: n,
        balance: bal,
        recovered: false,
    })
}
