//! Signal names and numbers as `kill` takes them.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Some(n) = cella_spec::signal::parse(s) {
            assert!((1..=64).contains(&n), "{s:?} parsed to {n}");
        }
    }
});
