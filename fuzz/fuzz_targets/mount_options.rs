//! Mount option parsing (comma-separated, as in fstab and OCI options lists).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let opts: Vec<String> = s.split(',').map(String::from).collect();
        if let Ok(o) = cella_runtime::mountopts::parse(&opts) {
            let _ = cella_runtime::mountopts::ms_to_attr(o.flags);
        }
    }
});
