//! The chip's random number generator, injected so tests are deterministic.
//!
//! Used for GET CHALLENGE (EMV Book 3 §6.5.6) and the ICC Dynamic Number
//! (tag `9F4C`, EMV Book 2 §6.5.1). A production emulator injects a generator
//! backed by the operating system; tests and reproducible simulations use
//! [`SeededRng`].

/// A source of random bytes for the card.
pub trait CardRng: Send {
    /// Fills `out` with random bytes.
    fn fill_bytes(&mut self, out: &mut [u8]);
}

/// A deterministic generator (SplitMix64, Steele–Lea–Flood 2014) for tests and
/// reproducible simulations. **Not cryptographically secure**: never use it where
/// an attacker must not predict the numbers.
#[derive(Debug, Clone)]
pub struct SeededRng {
    state: u64,
}

impl SeededRng {
    /// A generator started from `seed`.
    pub const fn new(seed: u64) -> Self {
        SeededRng { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl CardRng for SeededRng {
    fn fill_bytes(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let v = self.next_u64().to_be_bytes();
            chunk.copy_from_slice(v.get(..chunk.len()).unwrap_or_default());
        }
    }
}

impl<R: CardRng + ?Sized> CardRng for Box<R> {
    fn fill_bytes(&mut self, out: &mut [u8]) {
        (**self).fill_bytes(out);
    }
}

/// A card RNG seen as a `rand` generator, for the chip's cryptographic library
/// calls (`lamina_crypto::pki` takes a `rand::CryptoRng`). The chip's RNG is the
/// card's own source of randomness; the bridge adds nothing and keeps nothing.
pub struct RandBridge<'a>(pub &'a mut dyn CardRng);

impl core::fmt::Debug for RandBridge<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("RandBridge")
    }
}

impl rand::TryRng for RandBridge<'_> {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.0.fill_bytes(&mut b);
        Ok(u32::from_be_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.0.fill_bytes(&mut b);
        Ok(u64::from_be_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.0.fill_bytes(dst);
        Ok(())
    }
}

impl rand::TryCryptoRng for RandBridge<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_reference_output() {
        // Reference values of SplitMix64 seeded with 0 (first outputs of the
        // reference C implementation by Sebastiano Vigna, splitmix64.c).
        let mut r = SeededRng::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        let mut a = SeededRng::new(7);
        let mut b = SeededRng::new(7);
        let (mut x, mut y) = ([0u8; 13], [0u8; 13]);
        a.fill_bytes(&mut x);
        b.fill_bytes(&mut y);
        assert_eq!(x, y);
        assert_ne!(x, [0; 13]);
    }
}
