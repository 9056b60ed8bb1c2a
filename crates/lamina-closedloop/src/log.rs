//! A cyclic log in an applet's NVM namespace: records `<prefix>.<slot>` and a
//! total count `<prefix>.n` (u32). [`append`] writes two records and is meant to
//! run inside the caller's NVM transaction, so an entry and the state change it
//! records land together.

use lamina_apdu::StatusWord;
use lamina_card::{Namespace, NvmError};

fn slot_key(prefix: &str, slot: u32) -> String {
    format!("{prefix}.{slot}")
}

/// Number of entries ever appended.
pub fn count(nvm: &Namespace<'_>, prefix: &str) -> Result<u32, NvmError> {
    Ok(nvm.read_u32(&format!("{prefix}.n"))?.unwrap_or(0))
}

/// Appends an entry (overwriting the oldest once `capacity` entries exist).
pub fn append(
    nvm: &mut Namespace<'_>,
    prefix: &str,
    capacity: u32,
    entry: &[u8],
) -> Result<(), NvmError> {
    let n = count(nvm, prefix)?;
    let slot = n % capacity.max(1);
    nvm.write(&slot_key(prefix, slot), entry)?;
    nvm.write_u32(&format!("{prefix}.n"), n.wrapping_add(1))
}

/// The entry `index` places back from the newest (0 = newest), or `6A83`.
pub fn read(
    nvm: &Namespace<'_>,
    prefix: &str,
    capacity: u32,
    index: u32,
) -> Result<Vec<u8>, StatusWord> {
    let n = count(nvm, prefix)?;
    let held = n.min(capacity);
    if index >= held {
        return Err(StatusWord::RECORD_NOT_FOUND);
    }
    let seq = n - 1 - index;
    nvm.read(&slot_key(prefix, seq % capacity.max(1)))
        .map(<[u8]>::to_vec)
        .ok_or(StatusWord::RECORD_NOT_FOUND)
}

/// All held entries, newest first.
pub fn entries(
    nvm: &Namespace<'_>,
    prefix: &str,
    capacity: u32,
) -> Result<Vec<Vec<u8>>, StatusWord> {
    let n = count(nvm, prefix)?;
    (0..n.min(capacity))
        .map(|i| read(nvm, prefix, capacity, i))
        .collect()
}
