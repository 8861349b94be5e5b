//! config.json parsing and validation: any bytes must give a value or an error.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(spec) = serde_json::from_slice::<cella_spec::Spec>(data) {
        let _ = cella_runtime::validate::validate(&spec);
        let _ = serde_json::to_vec(&spec);
    }
});
