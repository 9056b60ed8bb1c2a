//! The transit gate terminal profile: one whole card interaction per tap,
//! measured against a time budget.

use lamina_card::{Aid, CardChannel, Interface};
use lamina_crypto::sym::SecretKey;
use serde::Serialize;

use super::{Decision, Direction, FareTable, Tap, TransitState};
use crate::purse::{Proof, Sam, read_status};
use crate::record::{RecordClient, RecordKind, Resolution, pay_and_write, resolve_pending};
use crate::terminal::{CardLink, LinkStats, Stopwatch, TerminalError};

/// What one tap did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TapReport {
    /// The fare engine's decision.
    pub decision: Decision,
    /// Amount charged for this tap (0 if refused).
    pub charged: u32,
    /// A pending payment from an earlier interrupted tap: `"recovered"` (it had
    /// been paid) or `"charged"` (paid now), with its amount.
    pub resolved: Option<(&'static str, u32)>,
    /// Purse balance after the tap.
    pub balance: u32,
    /// True if the gate opens.
    pub open: bool,
    /// APDUs and bytes exchanged.
    pub stats: LinkStats,
    /// Processing time of the whole card interaction (µs), from the injected stopwatch.
    pub processing_us: u64,
    /// True if `processing_us` is within the gate's budget.
    pub within_budget: bool,
}

/// The issue's budget for a whole gate interaction, radio time at 106 kbit/s
/// included (µs). [`TapReport::processing_us`] measures the processing part;
/// the ISO/IEC 14443-4 transport adds the radio time from [`TapReport::stats`].
pub const GATE_BUDGET_US: u64 = 300_000;

/// A transit gate: station, direction, fare table, transit key, purse SAM.
pub struct GateTerminal {
    /// Station id.
    pub station: u16,
    /// Entry or exit.
    pub direction: Direction,
    /// Time budget for the whole card interaction (µs).
    pub budget_us: u64,
    table: FareTable,
    client: RecordClient,
    sam: Sam,
    purse_aid: Aid,
    stopwatch: Box<dyn Stopwatch + Send>,
}

impl std::fmt::Debug for GateTerminal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GateTerminal")
            .field("station", &self.station)
            .field("direction", &self.direction)
            .field("budget_us", &self.budget_us)
            .field("sam", &self.sam)
            .finish_non_exhaustive()
    }
}

impl GateTerminal {
    /// A gate. `transit_master` is the transit master key, `sam` the purse SAM
    /// (its terminal id is the gate's), `budget_us` the interaction budget.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        station: u16,
        direction: Direction,
        table: FareTable,
        transit_master: SecretKey,
        transit_aid: Aid,
        sam: Sam,
        budget_us: u64,
        stopwatch: Box<dyn Stopwatch + Send>,
    ) -> Self {
        let purse_aid = sam.aid().clone();
        GateTerminal {
            station,
            direction,
            budget_us,
            table,
            client: RecordClient::new(RecordKind::Transit, transit_master, transit_aid),
            sam,
            purse_aid,
            stopwatch,
        }
    }

    /// The SAM (proofs to upload).
    pub fn sam_mut(&mut self) -> &mut Sam {
        &mut self.sam
    }

    /// The fare table.
    pub fn table(&self) -> &FareTable {
        &self.table
    }

    /// One tap at `time`: field on, purse balance, transit state, pending
    /// resolution, fare decision, payment and state write, field off.
    pub fn tap(&mut self, ch: &mut dyn CardChannel, time: u32) -> Result<TapReport, TerminalError> {
        let start = self.stopwatch.now_us();
        ch.power_on(Interface::Contactless)?;
        let res = self.interact(ch, time);
        ch.power_off();
        let (decision, charged, resolved, balance, stats) = res?;
        let processing_us = self.stopwatch.now_us().saturating_sub(start);
        Ok(TapReport {
            open: decision.opens(),
            decision,
            charged,
            resolved,
            balance,
            stats,
            processing_us,
            within_budget: processing_us <= self.budget_us,
        })
    }

    #[allow(clippy::type_complexity)]
    fn interact(
        &mut self,
        ch: &mut dyn CardChannel,
        time: u32,
    ) -> Result<(Decision, u32, Option<(&'static str, u32)>, u32, LinkStats), TerminalError> {
        let mut link = CardLink::new(ch);
        let mut balance = read_status(&mut link, &self.purse_aid)?.balance;
        let mut sess = self.client.read::<TransitState>(&mut link)?;
        let unpaid = sess.state.pending;
        let resolution = match resolve_pending(&mut link, &mut sess, &mut self.sam, time) {
            Err(TerminalError::Status { sw, .. }) if sw == crate::sw::INSUFFICIENT_FUNDS => {
                // The earlier fare cannot be paid: refuse, keep the marker.
                let amount = unpaid.map_or(0, |p| p.amount);
                let decision = Decision {
                    kind: super::TapKind::Refused,
                    charge: 0,
                    uncapped: amount,
                    by_pass: false,
                    new_state: None,
                    refusal: Some(super::Refusal::UnpaidFare { amount, balance }),
                };
                return Ok((decision, 0, None, balance, link.stats));
            }
            r => r?,
        };
        let resolved = match resolution {
            Resolution::Nothing => None,
            Resolution::Recovered(d) => {
                balance = d.balance;
                Some(("recovered", d.proof.entry.amount))
            }
            Resolution::Charged(d) => {
                balance = d.balance;
                Some(("charged", d.proof.entry.amount))
            }
        };
        let tap = Tap {
            time,
            station: self.station,
            direction: self.direction,
        };
        let decision = self
            .table
            .decide(&sess.state, &tap, balance)
            .map_err(|e| TerminalError::Refused(e.to_string()))?;
        let mut charged = 0;
        match &decision.new_state {
            Some(new) => {
                if let Some(d) = pay_and_write(
                    &mut link,
                    &self.client,
                    &mut sess,
                    &mut self.sam,
                    new.clone(),
                    decision.charge,
                    time,
                )? {
                    balance = d.balance;
                    charged = d.proof.entry.amount;
                }
            }
            None if resolved.is_some() => {
                // Clear the resolved marker on the card.
                let cleared = sess.state.clone();
                self.client.write(&mut link, &mut sess, cleared)?;
            }
            None => {}
        }
        Ok((decision, charged, resolved, balance, link.stats))
    }

    /// Sells a pass (ticket machine function on the same terminal): pays the
    /// product price from the purse and adds the pass to the transit state,
    /// tearing-safe like a fare.
    pub fn sell_pass(
        &mut self,
        ch: &mut dyn CardChannel,
        product: &str,
        time: u32,
    ) -> Result<super::Pass, TerminalError> {
        let product = self
            .table
            .pass_product(product)
            .map_err(|e| TerminalError::Refused(e.to_string()))?
            .clone();
        ch.power_on(Interface::Contactless)?;
        let res = (|| {
            let mut link = CardLink::new(&mut *ch);
            let mut sess = self.client.read::<TransitState>(&mut link)?;
            resolve_pending(&mut link, &mut sess, &mut self.sam, time)?;
            let mut new = sess.state.clone();
            new.passes.retain(|p| p.valid_until > time);
            if new.passes.len() >= super::MAX_PASSES {
                return Err(TerminalError::Refused("pass slots full".into()));
            }
            let pass = self.table.issue_pass(&product, time);
            new.passes.push(pass);
            pay_and_write(
                &mut link,
                &self.client,
                &mut sess,
                &mut self.sam,
                new,
                product.price,
                time,
            )?;
            Ok(pass)
        })();
        ch.power_off();
        res
    }

    /// Takes the stored purse proofs for upload.
    pub fn take_proofs(&mut self) -> Vec<Proof> {
        self.sam.take_proofs()
    }
}
