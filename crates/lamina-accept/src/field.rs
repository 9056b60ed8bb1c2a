//! An emulated chip in a contactless reader's field: the ISO/IEC 14443-4 link,
//! the counters of everything exchanged in one tap (the contactless kernel
//! takes the link's counters for its own report; they are added here), and
//! optionally the card identity seen in READ RECORD answers.

use lamina_card::iso14443::{ContactlessLink, LinkConfig, LinkStats};
use lamina_card::{CardChannel, ChannelError, EmulatedCard, Interface};
use lamina_terminal::contactless::ContactlessReader;
use zeroize::Zeroizing;

/// A borrowed chip as a card channel (the contactless link takes its card by
/// value).
#[derive(Debug)]
pub struct Borrowed<'a>(pub &'a mut EmulatedCard);

impl CardChannel for Borrowed<'_> {
    fn power_on(&mut self, interface: Interface) -> Result<Vec<u8>, ChannelError> {
        self.0.power_on(interface)
    }
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ChannelError> {
        self.0.transmit(apdu)
    }
    fn power_off(&mut self) {
        self.0.power_off();
    }
    fn reset(&mut self) -> Result<Vec<u8>, ChannelError> {
        self.0.reset()
    }
}

/// The card identity a gate reader sees in the READ RECORD answers of an EMV
/// application: PAN `5A` (or track 2 `57`) and PAN sequence number `5F34`. Kept
/// only long enough to compute the card token; zeroized on drop.
#[derive(Default)]
pub struct SeenIdentity {
    /// The PAN, digits.
    pub pan: Option<Zeroizing<String>>,
    /// The PAN sequence number.
    pub psn: Option<u8>,
}

impl core::fmt::Debug for SeenIdentity {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SeenIdentity")
            .field("pan", &self.pan.as_ref().map(|_| "REDACTED"))
            .field("psn", &self.psn)
            .finish()
    }
}

impl SeenIdentity {
    /// Takes the PAN and PSN from one READ RECORD response (data ‖ SW1 SW2).
    pub fn observe(&mut self, response: &[u8]) {
        let Some(split) = response.len().checked_sub(2) else {
            return;
        };
        let (data, sw) = response.split_at(split);
        if sw != [0x90, 0x00] {
            return;
        }
        let Ok(list) = lamina_tlv::Tlv::parse_all(data) else {
            return;
        };
        let value = |tag: u32| lamina_tlv::find_recursive(&list, tag).and_then(|t| t.value_bytes());
        if let Some(pan) = value(0x5A).and_then(lamina_terminal::data::pan_digits) {
            self.pan = Some(Zeroizing::new(pan));
        } else if self.pan.is_none()
            && let Some(t2) = value(0x57)
        {
            let digits = hex::encode_upper(t2);
            if let Some(pan) = digits.split('D').next().filter(|p| !p.is_empty()) {
                self.pan = Some(Zeroizing::new(pan.to_owned()));
            }
        }
        if let Some(p) = value(0x5F34).and_then(|v| v.first()) {
            self.psn = Some(*p);
        }
    }
}

/// The chip in the reader's field (see the module docs).
pub struct Field<'a> {
    link: ContactlessLink<Borrowed<'a>>,
    total: LinkStats,
    watch: Option<SeenIdentity>,
}

impl core::fmt::Debug for Field<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Field")
            .field("total", &self.total)
            .field("watching", &self.watch.is_some())
            .finish_non_exhaustive()
    }
}

fn add_stats(a: &mut LinkStats, b: &LinkStats) {
    a.apdus += b.apdus;
    a.activations += b.activations;
    a.frames += b.frames;
    a.pcd_frames += b.pcd_frames;
    a.picc_frames += b.picc_frames;
    a.bytes_on_air += b.bytes_on_air;
    a.radio_cycles += b.radio_cycles;
    a.processing += b.processing;
    a.chip_time += b.chip_time;
    a.wtx += b.wtx;
    a.retransmissions += b.retransmissions;
    a.timeouts += b.timeouts;
}

impl<'a> Field<'a> {
    /// `chip` in a field with this link configuration (bit rate, frame sizes).
    pub fn new(chip: &'a mut EmulatedCard, config: LinkConfig) -> Self {
        Field {
            link: ContactlessLink::with_config(Borrowed(chip), config),
            total: LinkStats::default(),
            watch: None,
        }
    }

    /// Everything exchanged so far in this tap.
    pub fn drain(&mut self) -> LinkStats {
        let s = self.link.take_stats();
        add_stats(&mut self.total, &s);
        self.total
    }

    /// Starts keeping the card identity seen in READ RECORD answers.
    pub fn watch_identity(&mut self) {
        self.watch = Some(SeenIdentity::default());
    }

    /// The identity seen since [`Field::watch_identity`] (and stops watching).
    pub fn take_identity(&mut self) -> SeenIdentity {
        self.watch.take().unwrap_or_default()
    }
}

impl CardChannel for Field<'_> {
    fn power_on(&mut self, interface: Interface) -> Result<Vec<u8>, ChannelError> {
        self.link.power_on(interface)
    }
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ChannelError> {
        let r = self.link.transmit(apdu)?;
        if let Some(w) = self.watch.as_mut()
            && apdu.get(1) == Some(&0xB2)
        {
            w.observe(&r);
        }
        Ok(r)
    }
    fn power_off(&mut self) {
        self.link.power_off();
    }
    fn reset(&mut self) -> Result<Vec<u8>, ChannelError> {
        self.link.reset()
    }
}

impl ContactlessReader for Field<'_> {
    fn take_link_stats(&mut self) -> Option<LinkStats> {
        let s = self.link.take_stats();
        add_stats(&mut self.total, &s);
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_from_a_record_pan_and_psn() {
        let mut id = SeenIdentity::default();
        // 70 { 5A 4761739001010010, 5F34 01 } 9000
        id.observe(&hex::decode("700E5A0847617390010100105F3401019000").unwrap_or_default());
        assert_eq!(
            id.pan.as_deref().map(String::as_str),
            Some("4761739001010010")
        );
        assert_eq!(id.psn, Some(1));
        assert!(
            !format!("{id:?}").contains("4761739001010010"),
            "PAN redacted"
        );
    }

    #[test]
    fn identity_ignores_errors_and_short_answers() {
        let mut id = SeenIdentity::default();
        id.observe(&[0x6A]);
        id.observe(
            &hex::decode("700A5A08476173900101001069 82".replace(' ', "")).unwrap_or_default(),
        );
        assert!(id.pan.is_none());
    }
}
