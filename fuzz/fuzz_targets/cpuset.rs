//! cpuset lists: sorted, distinct, bounded ids or an error.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(ids) = cella_cgroups::cpuset::parse(s) {
            assert!(ids.windows(2).all(|w| w[0] < w[1]));
            assert!(ids.iter().all(|&i| i <= cella_cgroups::cpuset::MAX_ID));
        }
    }
});
