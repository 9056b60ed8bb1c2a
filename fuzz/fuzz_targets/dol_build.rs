//! DOL parser and builder: never panic; built data always has the DOL's length.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lamina_emv::dol::Dol;
use lamina_tlv::Tag;

fuzz_target!(|data: &[u8]| {
    let (dol_bytes, values) = data.split_at(data.len() / 2);
    if let Ok(dol) = Dol::parse(dol_bytes) {
        if dol.data_len() > 1 << 16 {
            return;
        }
        let source: Vec<(Tag, Vec<u8>)> = dol
            .entries
            .iter()
            .zip(values.chunks(3))
            .map(|(e, v)| (e.tag, v.to_vec()))
            .collect();
        let built = dol.build(source.as_slice());
        assert_eq!(built.len(), dol.data_len());
        assert!(dol.split(&built).is_ok());
    }
});
