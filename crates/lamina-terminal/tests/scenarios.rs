//! Scenario tests: the kernel against Lamina's EMV applet (lamina-applets) on the
//! in-process card emulator, with the shipped retail configuration and a host
//! double whose cryptography is real.

mod support;

use lamina_emv::bitmaps::{TsiBit, TvrBit};
use lamina_terminal::outcome::Outcome;
use lamina_terminal::ui::Message;
use support::*;

#[test]
fn smoke_dda_online() {
    let cfg = retail();
    let mut card = card(&CardSpec::default());
    let mut host = host();
    let p = pay(&cfg, &mut card, 1234, &[Some("1234")], Some(&mut host));
    println!("{}", trace_text(&p.result));
    println!("{:?}\n{:?}", p.result.outcome, p.result.messages);
    println!(
        "TVR {} TSI {} CVM {}",
        p.result.tvr.hex, p.result.tsi.hex, p.result.cvm_results.hex
    );
    assert_eq!(p.result.outcome, Outcome::ApprovedOnline);
    let _ = (
        TsiBit::OfflineDataAuthenticationPerformed,
        TvrBit::DdaFailed,
        Message::Approved,
    );
}
