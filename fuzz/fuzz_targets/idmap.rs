//! id mappings: `inner:outer:count` lines, then the overlap check of the list.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let maps: Vec<_> = s.lines().filter_map(|l| cella_spec::IdMapping::parse(l).ok()).collect();
        for m in &maps {
            assert!(u64::from(m.host_id) + u64::from(m.size) <= u64::from(u32::MAX));
        }
        let _ = cella_spec::config::check_mappings(&maps);
    }
});
