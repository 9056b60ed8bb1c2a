//! Non-volatile memory with a transaction journal and a power-loss simulator.
//!
//! The model follows Java Card's persistent memory (Java Card 3 Runtime
//! Environment Specification §7 "Atomicity and Transactions"):
//!
//! * **Atomic single writes.** Outside a transaction every [`Namespace::write`] is
//!   atomic: after a power loss the record holds either the old or the new value.
//! * **Transactions.** [`Namespace::begin`] … [`Namespace::commit`] makes a group of
//!   writes all-or-nothing; [`Namespace::abort`] (or a power loss, or returning from
//!   `process` with the transaction still open) discards them.
//! * **Writes that must land first.** [`Namespace::write_now`] commits one record on
//!   its own *immediately*, even while a transaction is open (Java Card's
//!   non-atomic `Util.arrayCopyNonAtomic` use for counters). Use it for values that
//!   must never repeat or roll back: the Application Transaction Counter is
//!   incremented with `write_now` *before* the cryptogram is computed, and the PIN
//!   try counter is decremented with `write_now` *before* the PIN is compared
//!   (EMV Book 3 §6.5.5.4, §6.5.12.4; a tear after the comparison must not give the
//!   attacker a free try).
//!
//! ## Physical model and the write count
//!
//! The store has three areas, each changed by *low-level writes* that either
//! happen completely or not at all:
//!
//! | area | content |
//! |---|---|
//! | records | committed `(namespace, key) → bytes` |
//! | journal | redo log of the open transaction, plus a commit mark |
//! | atomic buffer | one pending single write |
//!
//! | operation | low-level writes |
//! |---|---|
//! | atomic write / `write_now` | 3: buffer ← entry, record ← value, buffer ← empty |
//! | write inside a transaction | 1: append to the journal |
//! | commit with *n* entries | *n* + 2: commit mark, *n* records, journal ← empty (0 if *n* = 0) |
//! | abort | 1: journal ← empty (0 if the journal is empty) |
//!
//! Recovery at power-up ([`Nvm::recover`]) applies a present atomic buffer, rolls a
//! journal with a commit mark *forward* and one without it *back*. Recovery is
//! idempotent, so a power loss during recovery is harmless.
//!
//! [`PowerCut::after_writes`]`(k)` lets *k* low-level writes land and loses power
//! on the next one: that write does not happen, every later write fails with
//! [`NvmError::PowerLost`], and the OS drops the command's response and all
//! volatile state. [`Nvm::writes`] counts the low-level writes, so a test can run a
//! command once to count its writes *n*, then re-run it with a cut at every
//! `k in 0..n`.

use std::collections::BTreeMap;

use lamina_apdu::StatusWord;
use serde::{Deserialize, Serialize};

/// Longest record key, in bytes.
pub const MAX_KEY_LEN: usize = 64;
/// Largest record value, in bytes.
pub const MAX_VALUE_LEN: usize = 4096;
/// Most writes one transaction may hold (Java Card's commit capacity).
pub const MAX_JOURNAL_ENTRIES: usize = 64;

/// Why an NVM operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NvmError {
    /// The card lost power (simulated tear): nothing more can be written until the
    /// next power-up.
    #[error("power lost during an NVM write")]
    PowerLost,
    /// A key that is empty, longer than [`MAX_KEY_LEN`], or not printable ASCII
    /// without spaces.
    #[error("invalid record key {0:?}: expected 1..=64 printable ASCII characters")]
    BadKey(String),
    /// A value longer than [`MAX_VALUE_LEN`].
    #[error("record value of {len} bytes exceeds {MAX_VALUE_LEN}")]
    ValueTooLong {
        /// The value's length.
        len: usize,
    },
    /// `begin` while a transaction is open (Java Card: no nesting).
    #[error("a transaction is already in progress")]
    TransactionInProgress,
    /// `commit` or `abort` without `begin`.
    #[error("no transaction in progress")]
    NoTransaction,
    /// More than [`MAX_JOURNAL_ENTRIES`] writes in one transaction.
    #[error("transaction journal full ({MAX_JOURNAL_ENTRIES} entries)")]
    JournalFull,
    /// A record holds a value of the wrong size for the typed accessor.
    #[error("record {key:?} is {len} bytes, expected {expected}")]
    WrongSize {
        /// The key.
        key: String,
        /// Stored length.
        len: usize,
        /// Length the accessor expects.
        expected: usize,
    },
}

impl From<NvmError> for StatusWord {
    /// Maps NVM failures to ISO/IEC 7816-4 §5.6 status words: a full journal is
    /// `6A84` (not enough memory space), a wrong record size `6F00`, anything else
    /// `6581` (memory failure). (After [`NvmError::PowerLost`] the OS sends no
    /// response at all.)
    fn from(e: NvmError) -> StatusWord {
        match e {
            NvmError::JournalFull => StatusWord(0x6A84),
            NvmError::WrongSize { .. } => StatusWord(0x6F00),
            _ => StatusWord(0x6581),
        }
    }
}

/// A simulated power loss: see the [module documentation](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PowerCut {
    after: u64,
}

impl PowerCut {
    /// Let `k` low-level writes land, then lose power on the next one.
    pub const fn after_writes(k: u64) -> Self {
        PowerCut { after: k }
    }

    /// Lose power *on* the `n`-th low-level write (1-based): that write and all
    /// later ones do not happen. `on_write(n)` is `after_writes(n - 1)`.
    pub const fn on_write(n: u64) -> Self {
        PowerCut {
            after: n.saturating_sub(1),
        }
    }

    /// Number of writes allowed to land.
    pub const fn writes_allowed(self) -> u64 {
        self.after
    }
}

/// One journal or atomic-buffer entry: a record's new value (`None` = removed).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Namespace (`"os"` or an applet AID in hex).
    pub ns: String,
    /// Record key.
    pub key: String,
    /// New value in hex, or `null` for a removal.
    #[serde(with = "opt_hex")]
    pub value: Option<Vec<u8>>,
}

impl core::fmt::Debug for Entry {
    /// Shows the value's length only: records may hold keys or PINs.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Entry")
            .field("ns", &self.ns)
            .field("key", &self.key)
            .field(
                "value",
                &self.value.as_ref().map(|v| format!("<{} bytes>", v.len())),
            )
            .finish()
    }
}

/// The transaction journal as stored in NVM.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Journal {
    /// True once the commit mark is written: recovery rolls forward.
    pub committed: bool,
    /// Redo entries in write order.
    pub entries: Vec<Entry>,
}

impl Journal {
    fn is_empty(&self) -> bool {
        !self.committed && self.entries.is_empty()
    }
}

/// The persistent content of the NVM (what a card image stores).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NvmContent {
    /// Committed records: namespace → key → value (hex in the image).
    pub records: BTreeMap<String, BTreeMap<String, HexBytes>>,
    /// Journal of an interrupted transaction (empty on a clean image).
    #[serde(default, skip_serializing_if = "Journal::is_empty")]
    pub journal: Journal,
    /// An interrupted atomic write (absent on a clean image).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atomic: Option<Entry>,
}

/// Bytes that serialize as an upper-case hex string.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct HexBytes(pub Vec<u8>);

impl HexBytes {
    /// True if there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl core::fmt::Debug for HexBytes {
    /// Shows only the length: records may hold keys or PIN data.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "<{} bytes>", self.0.len())
    }
}

impl Serialize for HexBytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode_upper(&self.0))
    }
}

impl<'de> Deserialize<'de> for HexBytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(&s)
            .map(HexBytes)
            .map_err(serde::de::Error::custom)
    }
}

mod opt_hex {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_some(&hex::encode_upper(b)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        s.map(|s| hex::decode(s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// The card's NVM: persistent content plus the volatile transaction flag, the
/// write counter and the armed power cut. Only the OS holds it; applets get a
/// [`Namespace`] through their context.
#[derive(Debug, Default)]
pub struct Nvm {
    content: NvmContent,
    /// Volatile: a transaction is open (lost at power loss).
    in_tx: bool,
    /// Low-level writes since power-up.
    writes: u64,
    /// Writes since the cut was armed.
    since_arm: u64,
    cut: Option<PowerCut>,
    dead: bool,
}

enum Op<'a> {
    AtomicSet(Entry),
    AtomicClear,
    Apply(&'a str, &'a str, Option<Vec<u8>>),
    JournalAppend(Entry),
    JournalMark,
    JournalClear,
}

impl Nvm {
    /// An empty NVM.
    pub fn new() -> Self {
        Nvm::default()
    }

    /// An NVM holding `content` (recovery has not run yet).
    pub fn from_content(content: NvmContent) -> Self {
        Nvm {
            content,
            ..Nvm::default()
        }
    }

    /// The persistent content.
    pub fn content(&self) -> &NvmContent {
        &self.content
    }

    /// Low-level writes since the last power-up.
    pub fn writes(&self) -> u64 {
        self.writes
    }

    /// True once a simulated power cut has fired (until the next power-up).
    pub fn power_lost(&self) -> bool {
        self.dead
    }

    /// True while a transaction is open.
    pub fn in_transaction(&self) -> bool {
        self.in_tx
    }

    /// Arms a power cut counted from now (see [`PowerCut`]).
    pub fn arm(&mut self, cut: PowerCut) {
        self.cut = Some(cut);
        self.since_arm = 0;
    }

    /// Removes an armed power cut that has not fired.
    pub fn disarm(&mut self) {
        self.cut = None;
    }

    /// True if a power cut is armed and has not fired yet.
    pub fn is_armed(&self) -> bool {
        self.cut.is_some()
    }

    /// Power-up: volatile state is cleared, then the atomic buffer is applied and
    /// the journal rolled forward (commit mark present) or back (absent). An armed
    /// power cut keeps counting, so a test can tear recovery itself.
    pub fn recover(&mut self) -> Result<(), NvmError> {
        self.in_tx = false;
        self.writes = 0;
        self.dead = false;
        if let Some(e) = self.content.atomic.clone() {
            self.low(Op::Apply(&e.ns, &e.key, e.value.clone()))?;
            self.low(Op::AtomicClear)?;
        }
        if self.content.journal.committed {
            let entries = self.content.journal.entries.clone();
            for e in &entries {
                self.low(Op::Apply(&e.ns, &e.key, e.value.clone()))?;
            }
        }
        if !self.content.journal.is_empty() {
            self.low(Op::JournalClear)?;
        }
        Ok(())
    }

    /// Marks power as lost (the card left the field): volatile state is gone.
    pub fn power_off(&mut self) {
        self.in_tx = false;
    }

    fn low(&mut self, op: Op<'_>) -> Result<(), NvmError> {
        if self.dead {
            return Err(NvmError::PowerLost);
        }
        if let Some(cut) = self.cut
            && self.since_arm >= cut.after
        {
            self.dead = true;
            self.cut = None;
            self.in_tx = false;
            return Err(NvmError::PowerLost);
        }
        self.since_arm += 1;
        self.writes += 1;
        let c = &mut self.content;
        match op {
            Op::AtomicSet(e) => c.atomic = Some(e),
            Op::AtomicClear => c.atomic = None,
            Op::Apply(ns, key, Some(v)) => {
                c.records
                    .entry(ns.to_owned())
                    .or_default()
                    .insert(key.to_owned(), HexBytes(v));
            }
            Op::Apply(ns, key, None) => {
                if let Some(m) = c.records.get_mut(ns) {
                    m.remove(key);
                    if m.is_empty() {
                        c.records.remove(ns);
                    }
                }
            }
            Op::JournalAppend(e) => c.journal.entries.push(e),
            Op::JournalMark => c.journal.committed = true,
            Op::JournalClear => c.journal = Journal::default(),
        }
        Ok(())
    }

    /// Reads a record, seeing the open transaction's own writes.
    pub(crate) fn read(&self, ns: &str, key: &str) -> Option<&[u8]> {
        if self.in_tx
            && let Some(e) = self
                .content
                .journal
                .entries
                .iter()
                .rev()
                .find(|e| e.ns == ns && e.key == key)
        {
            return e.value.as_deref();
        }
        self.content
            .records
            .get(ns)
            .and_then(|m| m.get(key))
            .map(|v| v.0.as_slice())
    }

    /// Keys of a namespace (committed records plus the open transaction's writes).
    pub(crate) fn keys(&self, ns: &str) -> Vec<String> {
        let mut keys: Vec<String> = self
            .content
            .records
            .get(ns)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        if self.in_tx {
            for e in &self.content.journal.entries {
                if e.ns == ns && !keys.contains(&e.key) {
                    keys.push(e.key.clone());
                }
            }
            keys.retain(|k| self.read(ns, k).is_some());
            keys.sort();
        }
        keys
    }

    fn check(key: &str, value: Option<&[u8]>) -> Result<(), NvmError> {
        let ok = !key.is_empty()
            && key.len() <= MAX_KEY_LEN
            && key.bytes().all(|b| b.is_ascii_graphic());
        if !ok {
            return Err(NvmError::BadKey(key.to_owned()));
        }
        if let Some(v) = value
            && v.len() > MAX_VALUE_LEN
        {
            return Err(NvmError::ValueTooLong { len: v.len() });
        }
        Ok(())
    }

    /// Writes (or removes, `None`) a record: journaled inside a transaction,
    /// atomic outside.
    pub(crate) fn write(
        &mut self,
        ns: &str,
        key: &str,
        value: Option<&[u8]>,
    ) -> Result<(), NvmError> {
        Self::check(key, value)?;
        if self.in_tx {
            if self.content.journal.entries.len() >= MAX_JOURNAL_ENTRIES {
                return Err(NvmError::JournalFull);
            }
            self.low(Op::JournalAppend(Entry {
                ns: ns.to_owned(),
                key: key.to_owned(),
                value: value.map(<[u8]>::to_vec),
            }))
        } else {
            self.write_now(ns, key, value)
        }
    }

    /// Writes one record atomically and at once, even inside a transaction.
    pub(crate) fn write_now(
        &mut self,
        ns: &str,
        key: &str,
        value: Option<&[u8]>,
    ) -> Result<(), NvmError> {
        Self::check(key, value)?;
        let v = value.map(<[u8]>::to_vec);
        self.low(Op::AtomicSet(Entry {
            ns: ns.to_owned(),
            key: key.to_owned(),
            value: v.clone(),
        }))?;
        self.low(Op::Apply(ns, key, v))?;
        self.low(Op::AtomicClear)
    }

    /// Opens a transaction.
    pub(crate) fn begin(&mut self) -> Result<(), NvmError> {
        if self.dead {
            return Err(NvmError::PowerLost);
        }
        if self.in_tx {
            return Err(NvmError::TransactionInProgress);
        }
        self.in_tx = true;
        Ok(())
    }

    /// Commits the open transaction.
    pub(crate) fn commit(&mut self) -> Result<(), NvmError> {
        if !self.in_tx {
            return Err(NvmError::NoTransaction);
        }
        if self.content.journal.entries.is_empty() {
            self.in_tx = false;
            return Ok(());
        }
        self.low(Op::JournalMark)?;
        let entries = self.content.journal.entries.clone();
        for e in &entries {
            self.low(Op::Apply(&e.ns, &e.key, e.value.clone()))?;
        }
        self.low(Op::JournalClear)?;
        self.in_tx = false;
        Ok(())
    }

    /// Discards the open transaction.
    pub(crate) fn abort(&mut self) -> Result<(), NvmError> {
        if !self.in_tx {
            return Err(NvmError::NoTransaction);
        }
        self.in_tx = false;
        if !self.content.journal.is_empty() {
            self.low(Op::JournalClear)?;
        }
        Ok(())
    }
}

/// An applet's view of the NVM: its own namespace and nothing else (the applet
/// firewall, Java Card 3 Runtime Environment §6). Only the OS can create one.
#[derive(Debug)]
pub struct Namespace<'a> {
    nvm: &'a mut Nvm,
    ns: &'a str,
}

impl<'a> Namespace<'a> {
    pub(crate) fn new(nvm: &'a mut Nvm, ns: &'a str) -> Self {
        Namespace { nvm, ns }
    }

    /// Reads a record (an open transaction sees its own writes).
    pub fn read(&self, key: &str) -> Option<&[u8]> {
        self.nvm.read(self.ns, key)
    }

    /// Keys of this namespace, sorted.
    pub fn keys(&self) -> Vec<String> {
        self.nvm.keys(self.ns)
    }

    /// Writes a record: part of the open transaction, or atomic on its own.
    pub fn write(&mut self, key: &str, value: &[u8]) -> Result<(), NvmError> {
        self.nvm.write(self.ns, key, Some(value))
    }

    /// Removes a record (transactional like [`Namespace::write`]).
    pub fn remove(&mut self, key: &str) -> Result<(), NvmError> {
        self.nvm.write(self.ns, key, None)
    }

    /// Writes a record atomically and *immediately*, outside any open transaction:
    /// an abort or a tear later in the command does not undo it. For counters that
    /// must never repeat (ATC) and PIN try counter decrements, written before the
    /// action they protect.
    ///
    /// Do not also write the same key inside the open transaction: reads inside
    /// the transaction see the journaled value, and a commit would overwrite the
    /// `write_now` value with it.
    pub fn write_now(&mut self, key: &str, value: &[u8]) -> Result<(), NvmError> {
        self.nvm.write_now(self.ns, key, Some(value))
    }

    /// Opens a transaction (`JCSystem.beginTransaction`). Nesting is an error.
    pub fn begin(&mut self) -> Result<(), NvmError> {
        self.nvm.begin()
    }

    /// Commits the open transaction (`JCSystem.commitTransaction`).
    pub fn commit(&mut self) -> Result<(), NvmError> {
        self.nvm.commit()
    }

    /// Discards the open transaction (`JCSystem.abortTransaction`).
    pub fn abort(&mut self) -> Result<(), NvmError> {
        self.nvm.abort()
    }

    /// True while a transaction is open.
    pub fn in_transaction(&self) -> bool {
        self.nvm.in_tx
    }

    fn fixed<const N: usize>(&self, key: &str) -> Result<Option<[u8; N]>, NvmError> {
        match self.read(key) {
            None => Ok(None),
            Some(v) => <[u8; N]>::try_from(v)
                .map(Some)
                .map_err(|_| NvmError::WrongSize {
                    key: key.to_owned(),
                    len: v.len(),
                    expected: N,
                }),
        }
    }

    /// Reads a 1-byte record.
    pub fn read_u8(&self, key: &str) -> Result<Option<u8>, NvmError> {
        Ok(self.fixed::<1>(key)?.map(|[b]| b))
    }

    /// Reads a big-endian 2-byte record (e.g. the ATC, EMV tag `9F36`).
    pub fn read_u16(&self, key: &str) -> Result<Option<u16>, NvmError> {
        Ok(self.fixed::<2>(key)?.map(u16::from_be_bytes))
    }

    /// Reads a big-endian 4-byte record.
    pub fn read_u32(&self, key: &str) -> Result<Option<u32>, NvmError> {
        Ok(self.fixed::<4>(key)?.map(u32::from_be_bytes))
    }

    /// Writes a 1-byte record (transactional like [`Namespace::write`]).
    pub fn write_u8(&mut self, key: &str, v: u8) -> Result<(), NvmError> {
        self.write(key, &[v])
    }

    /// Writes a big-endian 2-byte record.
    pub fn write_u16(&mut self, key: &str, v: u16) -> Result<(), NvmError> {
        self.write(key, &v.to_be_bytes())
    }

    /// Writes a big-endian 4-byte record.
    pub fn write_u32(&mut self, key: &str, v: u32) -> Result<(), NvmError> {
        self.write(key, &v.to_be_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn val(n: &Nvm, k: &str) -> Option<Vec<u8>> {
        n.read("a", k).map(<[u8]>::to_vec)
    }

    #[test]
    fn atomic_write_costs_three_and_tears_all_or_nothing() {
        let mut n = Nvm::new();
        n.write("a", "k", Some(&[1])).unwrap();
        assert_eq!(n.writes(), 3);
        for k in 0..3 {
            let mut m = Nvm::from_content(n.content().clone());
            m.recover().unwrap();
            m.arm(PowerCut::after_writes(k));
            assert_eq!(m.write("a", "k", Some(&[2])), Err(NvmError::PowerLost));
            assert!(m.power_lost());
            m.recover().unwrap();
            let v = val(&m, "k").unwrap();
            // Once the buffer landed (k >= 1) recovery completes the write.
            assert_eq!(v, if k == 0 { vec![1] } else { vec![2] }, "k={k}");
        }
    }

    #[test]
    fn transaction_read_your_writes_commit_abort() {
        let mut n = Nvm::new();
        n.begin().unwrap();
        n.write("a", "x", Some(&[1])).unwrap();
        n.write("a", "y", Some(&[2])).unwrap();
        assert_eq!(val(&n, "x"), Some(vec![1]));
        assert_eq!(n.keys("a"), vec!["x", "y"]);
        assert_eq!(n.begin(), Err(NvmError::TransactionInProgress));
        n.abort().unwrap();
        assert_eq!(val(&n, "x"), None);
        n.begin().unwrap();
        n.write("a", "x", Some(&[3])).unwrap();
        n.write("a", "x", None).unwrap();
        n.write("a", "y", Some(&[4])).unwrap();
        n.commit().unwrap();
        assert_eq!(val(&n, "x"), None);
        assert_eq!(val(&n, "y"), Some(vec![4]));
        assert_eq!(n.commit(), Err(NvmError::NoTransaction));
        assert_eq!(n.abort(), Err(NvmError::NoTransaction));
    }

    #[test]
    fn journal_rolls_forward_or_back() {
        // Count writes of the transaction once.
        let run = |n: &mut Nvm| -> Result<(), NvmError> {
            n.begin()?;
            n.write("a", "x", Some(&[9]))?;
            n.write("a", "y", Some(&[9]))?;
            n.commit()
        };
        let mut probe = Nvm::new();
        run(&mut probe).unwrap();
        let total = probe.writes();
        assert_eq!(total, 2 + 2 + 2);
        for k in 0..total {
            let mut n = Nvm::new();
            n.arm(PowerCut::after_writes(k));
            assert_eq!(run(&mut n), Err(NvmError::PowerLost));
            n.recover().unwrap();
            let (x, y) = (val(&n, "x"), val(&n, "y"));
            assert_eq!(x, y, "k={k}");
            // Commit mark is the 3rd write: from k=3 on the effect survives.
            assert_eq!(x.is_some(), k >= 3, "k={k}");
            assert!(n.content().journal.is_empty());
        }
    }

    #[test]
    fn write_now_survives_abort() {
        let mut n = Nvm::new();
        n.begin().unwrap();
        n.write("a", "x", Some(&[1])).unwrap();
        n.write_now("a", "atc", Some(&[0, 1])).unwrap();
        n.abort().unwrap();
        assert_eq!(val(&n, "atc"), Some(vec![0, 1]));
        assert_eq!(val(&n, "x"), None);
    }

    #[test]
    fn bad_keys_and_sizes() {
        let mut n = Nvm::new();
        assert!(matches!(
            n.write("a", "", Some(&[])),
            Err(NvmError::BadKey(_))
        ));
        assert!(matches!(
            n.write("a", "a b", Some(&[])),
            Err(NvmError::BadKey(_))
        ));
        assert!(matches!(
            n.write("a", "k", Some(&vec![0; MAX_VALUE_LEN + 1])),
            Err(NvmError::ValueTooLong { .. })
        ));
        n.begin().unwrap();
        for i in 0..MAX_JOURNAL_ENTRIES {
            n.write("a", &format!("k{i}"), Some(&[1])).unwrap();
        }
        assert_eq!(n.write("a", "z", Some(&[1])), Err(NvmError::JournalFull));
        assert_eq!(StatusWord::from(NvmError::JournalFull), StatusWord(0x6A84));
    }

    #[test]
    fn tear_during_recovery_is_harmless() {
        let mut n = Nvm::new();
        n.begin().unwrap();
        n.write("a", "x", Some(&[1])).unwrap();
        n.write("a", "y", Some(&[1])).unwrap();
        // Tear right after the commit mark.
        n.arm(PowerCut::after_writes(1));
        assert_eq!(n.commit(), Err(NvmError::PowerLost));
        for k in 0..3 {
            let mut m = Nvm::from_content(n.content().clone());
            m.arm(PowerCut::after_writes(k));
            assert_eq!(m.recover(), Err(NvmError::PowerLost));
            m.recover().unwrap();
            assert_eq!(val(&m, "x"), Some(vec![1]));
            assert_eq!(val(&m, "y"), Some(vec![1]));
        }
    }
}
