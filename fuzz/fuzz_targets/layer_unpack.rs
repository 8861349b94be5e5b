//! The layer unpacker on hostile archives: whatever the bytes (a raw tar
//! stream, or entries decoded from the bytes and written with headers set by
//! hand, `..` names and absolute link targets included), nothing may land
//! outside the layer directory.
//!
//! Runs in a sandbox of its own: a private mount namespace, chrooted into a
//! tmpfs holding `dest/`, `outside/`, `proc/` and, at their own paths, the
//! directories libFuzzer writes to (corpus, artifacts, the working
//! directory). An escape then lands in the sandbox, never on the host, and
//! the check after each input sees any entry that was not there before.
#![no_main]
use std::collections::BTreeSet;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

/// The directories bound into the sandbox at their own paths.
static BOUND: std::sync::OnceLock<(Vec<PathBuf>, BTreeSet<PathBuf>)> = std::sync::OnceLock::new();

/// Every path in the sandbox but what is inside dest/, proc/ and the bound directories.
fn listing(bound: &[PathBuf]) -> BTreeSet<PathBuf> {
    fn walk(dir: &Path, skip: &[PathBuf], out: &mut BTreeSet<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let p = e.path();
            out.insert(p.clone());
            if skip.iter().any(|s| s == &p) {
                continue;
            }
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&p, skip, out);
            }
        }
    }
    let mut skip = bound.to_vec();
    skip.extend([PathBuf::from("/dest"), PathBuf::from("/proc")]);
    let mut out = BTreeSet::new();
    walk(Path::new("/"), &skip, &mut out);
    out
}

fn sandbox() -> &'static (Vec<PathBuf>, BTreeSet<PathBuf>) {
    BOUND.get_or_init(|| {
        let cwd = std::env::current_dir().unwrap();
        let mut bound = vec![cwd.clone()];
        for a in std::env::args().skip(1) {
            let v = a.split_once('=').map_or(a.as_str(), |(_, v)| v);
            let p = Path::new(v);
            let dir = if p.is_dir() { Some(p) } else { p.parent().filter(|d| d.is_dir()) };
            if let Some(d) = dir.and_then(|d| d.canonicalize().ok()) {
                bound.push(d);
            }
        }
        let base = std::env::temp_dir().join(format!("cella-fuzz-unpack-{}", std::process::id()));
        std::fs::create_dir_all(&base).unwrap();
        cella_sys::ns::unshare(cella_sys::ns::CLONE_NEWNS).expect("unshare a mount namespace (run as root)");
        let t = cella_sys::mount::Target::Path(Path::new("/"));
        cella_sys::mount::mount(None, &t, None, libc::MS_PRIVATE | libc::MS_REC, None).unwrap();
        let tb = cella_sys::mount::Target::Path(&base);
        cella_sys::mount::mount(Some(Path::new("tmpfs")), &tb, Some("tmpfs"), 0, Some("size=256m")).unwrap();
        for d in ["dest", "outside", "proc"] {
            std::fs::create_dir_all(base.join(d)).unwrap();
        }
        let mut binds: Vec<(PathBuf, PathBuf)> = vec![(PathBuf::from("/proc"), base.join("proc"))];
        for b in &bound {
            let inside = base.join(b.strip_prefix("/").unwrap());
            std::fs::create_dir_all(&inside).unwrap();
            binds.push((b.clone(), inside));
        }
        for (from, to) in binds {
            let tt = cella_sys::mount::Target::Path(&to);
            cella_sys::mount::mount(Some(&from), &tt, None, libc::MS_BIND | libc::MS_REC, None).unwrap();
        }
        cella_sys::mount::chroot(&base).unwrap();
        cella_sys::process::chdir(&cwd).unwrap();
        let before = listing(&bound);
        (bound, before)
    })
}

/// Entries decoded from the bytes: kind, name, link target, content.
fn structured(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut b = tar::Builder::new(&mut out);
    let mut rest = data;
    let take = |n: usize, rest: &mut &[u8]| -> Vec<u8> {
        let n = n.min(rest.len());
        let (a, z) = rest.split_at(n);
        *rest = z;
        a.to_vec()
    };
    while rest.len() >= 3 {
        let kind = match rest[0] % 7 {
            0 => tar::EntryType::Regular,
            1 => tar::EntryType::Directory,
            2 => tar::EntryType::Symlink,
            3 => tar::EntryType::Link,
            4 => tar::EntryType::Char,
            5 => tar::EntryType::Fifo,
            _ => tar::EntryType::Block,
        };
        let (nl, tl) = ((rest[1] % 100) as usize, (rest[2] % 100) as usize);
        rest = &rest[3..];
        let name = take(nl, &mut rest);
        let target = take(tl, &mut rest);
        let body = take(rest.first().map_or(0, |&n| n as usize % 32), &mut rest);
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(body.len() as u64);
        h.set_mode(0o755);
        let old = h.as_old_mut();
        old.name = [0; 100];
        old.name[..name.len()].copy_from_slice(&name);
        old.linkname = [0; 100];
        old.linkname[..target.len()].copy_from_slice(&target);
        h.set_cksum();
        let _ = b.append(&h, &body[..]);
    }
    drop(b);
    out
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (bound, before) = sandbox();
    let _ = std::fs::remove_dir_all("/dest");
    std::fs::create_dir("/dest").unwrap();
    let input = match data.split_first() {
        Some((&0, raw)) => raw.to_vec(),
        Some((_, rest)) => structured(rest),
        None => return,
    };
    let root = std::fs::File::open("/dest").unwrap();
    let opts = cella_engine::safefs::unpack::Options::layer();
    let _ = cella_engine::safefs::unpack::unpack(&input[..], root.as_fd(), Path::new(""), opts);
    let after = listing(bound);
    let escaped: Vec<_> = after.difference(before).collect();
    assert!(escaped.is_empty(), "entries landed outside the layer: {escaped:?}");
});
