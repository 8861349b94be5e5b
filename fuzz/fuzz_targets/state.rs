//! The state file a runtime reads back: any bytes give a state or an error.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(p) = serde_json::from_slice::<cella_runtime::container::Persisted>(data) {
        let st = p.oci_state(cella_spec::Status::Running);
        let _ = serde_json::to_vec(&st);
    }
});
