//! The image archive reader on hostile archives: whatever the bytes, only
//! regular members are ever written (as numbered files of the reader's own
//! directory), and a lookup by any name gives one of those files or an
//! error, never a path elsewhere.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("cella-fuzz-archive-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // The names to look up come from the end of the input; the archive is the rest.
    let split = data.iter().rposition(|&b| b == 0xff).unwrap_or(data.len());
    let (archive, names) = data.split_at(split);
    if let Ok(m) = cella_engine::image::archive::Members::read(archive, &dir) {
        let names = String::from_utf8_lossy(names);
        for name in names.split(['\n', '\u{fffd}']).chain(["manifest.json", "index.json"]) {
            if let Ok(p) = m.file(name) {
                assert_eq!(p.parent(), Some(dir.as_path()), "{name:?} resolved to {p:?}");
                assert!(std::fs::symlink_metadata(&p).unwrap().is_file());
            }
            let _ = m.bytes(name, 1 << 16);
        }
    }
    for e in std::fs::read_dir(&dir).unwrap() {
        let e = e.unwrap();
        assert!(e.file_name().to_string_lossy().parse::<usize>().is_ok(), "{:?}", e.path());
        assert!(e.file_type().unwrap().is_file());
    }
    let _ = std::fs::remove_dir_all(&dir);
});
