//! Output helpers shared by commands: JSON printing and masking.

use serde::Serialize;

/// Writes text to stdout; a closed pipe (`lamina … | head`) is not an error.
pub fn emit(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json(v: &impl Serialize) -> anyhow::Result<()> {
    emit(&(serde_json::to_string_pretty(v)? + "\n"))
}

/// Appends a formatted line to a `String` buffer (infallible for `String`).
#[macro_export]
macro_rules! outln {
    ($buf:expr) => { $buf.push('\n') };
    ($buf:expr, $($arg:tt)*) => {{
        $buf.push_str(&format!($($arg)*));
        $buf.push('\n');
    }};
}

/// Minor units as a decimal amount with two decimals ("12.34", "-0.05").
pub fn amount(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let m = minor.unsigned_abs();
    format!("{sign}{}.{:02}", m / 100, m % 100)
}

/// Upper-case hex.
pub fn hx(b: &[u8]) -> String {
    hex::encode_upper(b)
}

/// A sensitive value (PAN, track data, PIN data) as it may be shown: masked by the
/// EMV dictionary's renderer (541333******0010, track discretionary data hidden).
pub fn masked_value(tag: u32, value: &[u8]) -> String {
    lamina_emv::dict::render_value(tag, value)
        .unwrap_or_else(|| format!("(hidden, {} bytes)", value.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_pan_and_track2() {
        let pan = hex::decode("5413330000000010").unwrap();
        assert!(masked_value(0x5A, &pan).contains("541333******0010"));
        let t2 = hex::decode("5413330000000010D2512201123456789F").unwrap();
        let m = masked_value(0x57, &t2);
        assert!(m.contains("541333******0010"), "{m}");
        assert!(!m.contains("123456789"), "{m}");
    }
}
