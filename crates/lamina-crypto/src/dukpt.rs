//! Derived Unique Key Per Transaction (DUKPT).
//!
//! * [`tdes`] — ANSI X9.24-1:2009 TDES DUKPT: 10-byte KSN with a 21-bit
//!   transaction counter (at most 10 one-bits), IPEK from the BDK, the
//!   non-reversible key generation process, request/response variants.
//! * [`aes`] — ANSI X9.24-3:2017 AES DUKPT: 12-byte KSN (8-byte initial key ID +
//!   32-bit counter with at most 16 one-bits), NIST SP 800-108 style derivation
//!   with AES-ECB over typed derivation data, AES-128/192/256 and TDES working keys.
//!
//! Each module has both sides:
//!
//! * the **receiver** (host/HSM): compute the key of any KSN from the BDK or
//!   initial key by walking the counter's one-bits from the most significant;
//! * the **originator** (PIN pad): a state machine holding one future key per
//!   counter bit, producing keys for successive KSNs without ever holding a key
//!   that can derive a key of an earlier transaction (X9.24-1 A.2, X9.24-3 §6.1),
//!   and refusing to go on once the counter is exhausted.

pub mod aes;
pub mod tdes;

use crate::sym::SecretKey;

/// DUKPT failures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DukptError {
    /// The KSN (or initial key ID) is malformed or names an invalid counter.
    #[error("invalid KSN: {0}")]
    Ksn(&'static str),
    /// The originator has used every valid counter value and must be reloaded.
    #[error("DUKPT transaction counter exhausted")]
    Exhausted,
    /// A key-length or block-cipher error.
    #[error(transparent)]
    Crypto(#[from] crate::Error),
}

/// Result alias for DUKPT operations.
pub type DukptResult<T> = core::result::Result<T, DukptError>;

/// The counter that follows `counter` in an originator (X9.24-1 A.2 "New Key-1",
/// X9.24-3 §6.5): plus one while the counter has fewer than `max_ones` one-bits,
/// otherwise plus its lowest set bit (skipping counters with too many one-bits).
/// `None` when the result would not fit in `bits` bits (exhaustion).
pub fn next_counter(counter: u32, bits: u32, max_ones: u32) -> Option<u32> {
    let c = u64::from(counter);
    let next = if counter == 0 {
        1
    } else if counter.count_ones() < max_ones {
        c + 1
    } else {
        c + (1u64 << counter.trailing_zeros())
    };
    if next >> bits != 0 {
        None
    } else {
        u32::try_from(next).ok()
    }
}

/// Originator key storage shared by both variants: one future key register per
/// counter bit (X9.24-1 "Future Key Registers", X9.24-3 "intermediate derivation
/// key registers").
struct FutureKeys {
    regs: Vec<Option<SecretKey>>,
    /// Counter of the next transaction; `None` once exhausted.
    counter: Option<u32>,
    bits: u32,
    max_ones: u32,
}

impl core::fmt::Debug for FutureKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let valid = self.regs.iter().filter(|r| r.is_some()).count();
        f.debug_struct("FutureKeys")
            .field("counter", &self.counter)
            .field("valid_registers", &valid)
            .finish()
    }
}

impl FutureKeys {
    /// Loads the initial key: fills every register with the key of the counter
    /// that has only that bit set, then forgets the initial key (the caller drops it).
    fn load<F>(initial: &SecretKey, bits: u32, max_ones: u32, derive: F) -> DukptResult<FutureKeys>
    where
        F: Fn(&SecretKey, u32) -> DukptResult<SecretKey>,
    {
        let mut regs = Vec::with_capacity(bits as usize);
        for p in 0..bits {
            regs.push(Some(derive(initial, 1u32 << p)?));
        }
        Ok(FutureKeys {
            regs,
            counter: Some(1),
            bits,
            max_ones,
        })
    }

    /// Returns the counter and key of the next transaction and updates the
    /// registers: derives the future keys below the current bit (when the counter
    /// may still gain a one-bit), erases the used register, advances the counter.
    fn next<F>(&mut self, derive: F) -> DukptResult<(u32, SecretKey)>
    where
        F: Fn(&SecretKey, u32) -> DukptResult<SecretKey>,
    {
        let c = self.counter.ok_or(DukptError::Exhausted)?;
        let p = c.trailing_zeros();
        let key = self
            .regs
            .get_mut(p as usize)
            .and_then(Option::take)
            .ok_or(DukptError::Ksn("future key register empty (corrupt state)"))?;
        if c.count_ones() < self.max_ones {
            for q in (0..p).rev() {
                let k = derive(&key, c | (1u32 << q))?;
                if let Some(slot) = self.regs.get_mut(q as usize) {
                    *slot = Some(k);
                }
            }
        }
        self.counter = next_counter(c, self.bits, self.max_ones);
        if self.counter.is_none() {
            // Exhausted: erase every remaining future key.
            self.regs.iter_mut().for_each(|r| *r = None);
        }
        Ok((c, key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With a transparent "derivation" (append the counter), the key of counter
    /// c is the list of the counter's prefixes: checks that the originator's
    /// register handling yields exactly the receiver's bit walk for every
    /// counter, skips counters with too many one-bits, and stops at exhaustion.
    #[test]
    fn future_keys_agree_with_bit_walk_until_exhaustion() {
        let derive = |k: &SecretKey, c: u32| -> DukptResult<SecretKey> {
            let mut v = k.as_bytes().to_vec();
            v.extend_from_slice(&c.to_be_bytes());
            Ok(SecretKey::new(v))
        };
        let walk = |c: u32| {
            let mut v = vec![0xAA];
            let mut acc = 0u32;
            for bit in (0..12).rev() {
                if c & (1 << bit) != 0 {
                    acc |= 1 << bit;
                    v.extend_from_slice(&acc.to_be_bytes());
                }
            }
            v
        };
        let mut fk = FutureKeys::load(&SecretKey::new(vec![0xAA]), 12, 5, derive).unwrap();
        let mut n = 0;
        loop {
            match fk.next(derive) {
                Ok((c, k)) => {
                    assert!(c.count_ones() <= 5);
                    assert_eq!(k.as_bytes(), &walk(c)[..], "counter {c:#x}");
                    n += 1;
                }
                Err(DukptError::Exhausted) => break,
                Err(e) => panic!("{e}"),
            }
        }
        // Counters of 12 bits with 1 to 5 one-bits.
        assert_eq!(n, 12 + 66 + 220 + 495 + 792);
        assert!(fk.regs.iter().all(Option::is_none));
    }

    #[test]
    fn counter_sequence() {
        assert_eq!(next_counter(0, 21, 10), Some(1));
        assert_eq!(next_counter(1, 21, 10), Some(2));
        // ten one-bits: skip by the lowest set bit
        assert_eq!(next_counter(0x0003FF, 21, 10), Some(0x000400));
        assert_eq!(next_counter(0x1FF800, 21, 10), None);
        assert_eq!(next_counter(0xFFFF_0000, 32, 16), None);
        assert_eq!(next_counter(0xFFFE_8000, 32, 16), Some(0xFFFF_0000));
        assert_eq!(next_counter(0x0001_FFFE, 32, 16), Some(0x0002_0000));
    }
}
