//! Seccomp profile translation: parse, compile with libseccomp, export the BPF.
#![no_main]
use std::sync::OnceLock;
static NULL: OnceLock<std::fs::File> = OnceLock::new();
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(p) = serde_json::from_slice::<cella_spec::seccomp::Seccomp>(data) {
        if let Ok(f) = cella_seccomp::compile(&p) {
            let null = NULL.get_or_init(|| std::fs::File::create("/dev/null").unwrap());
            let _ = f.export(null);
        }
    }
});
