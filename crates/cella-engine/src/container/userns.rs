//! `--userns auto`: each container gets 65536 host ids of its own, from the
//! ranges /etc/subuid and /etc/subgid give the user "containers" (podman's
//! convention), so that root in one container is nobody in another.

use crate::container::Container;
use crate::error::{Error, Result};
use std::path::Path;

/// Ids per container: 0-65535 inside.
pub const SIZE: u32 = 65536;
/// The user whose subordinate ranges the engine hands out.
pub const OWNER: &str = "containers";

/// The "containers" ranges of a sub[ug]id file, as (start, count).
pub fn ranges(text: &str) -> Vec<(u32, u32)> {
    cella_idmap::subid_ranges(text, OWNER, None)
        .into_iter()
        .map(|r| (r.outer, r.count))
        .collect()
}

/// The first block of SIZE ids that is in both files' ranges and used by no
/// container. The caller holds the store lock.
pub fn allocate(existing: &[Container]) -> Result<u32> {
    let read = |f: &str| std::fs::read_to_string(Path::new(f)).unwrap_or_default();
    let (uids, gids) = (ranges(&read("/etc/subuid")), ranges(&read("/etc/subgid")));
    let used: Vec<u32> = existing.iter().filter_map(|c| c.id_base).collect();
    pick(&uids, &gids, &used).ok_or_else(|| {
        Error::Invalid(format!(
            "--userns auto: no free block of {SIZE} ids for user {OWNER:?} in /etc/subuid and /etc/subgid; \
             add e.g. \"{OWNER}:2147483647:2147483648\" to both"
        ))
    })
}

fn pick(uids: &[(u32, u32)], gids: &[(u32, u32)], used: &[u32]) -> Option<u32> {
    let inside = |r: &[(u32, u32)], base: u32| {
        r.iter()
            .any(|&(s, n)| base >= s && base as u64 + SIZE as u64 <= s as u64 + n as u64)
    };
    for &(start, count) in uids {
        let blocks = count / SIZE;
        for i in 0..blocks {
            let base = start.checked_add(i * SIZE)?;
            if inside(gids, base) && !used.contains(&base) {
                return Some(base);
            }
        }
    }
    None
}

/// Moves ownership of a tree by `base` (uid u becomes base+u), so that the
/// container's root owns its files. Symlinks are changed, not followed.
pub fn shift_ownership(dir: &Path, base: u32) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(dir).map_err(|e| Error::Io {
        what: "stat",
        path: dir.to_path_buf(),
        err: e,
    })?;
    let shift = |p: &Path, m: &std::fs::Metadata| {
        let (u, g) = (m.uid(), m.gid());
        if u < SIZE && g < SIZE {
            let _ = std::os::unix::fs::lchown(p, Some(base + u), Some(base + g));
        }
    };
    shift(dir, &meta);
    if meta.is_dir() {
        for e in std::fs::read_dir(dir)
            .map_err(|e| Error::Io {
                what: "list",
                path: dir.to_path_buf(),
                err: e,
            })?
            .flatten()
        {
            let p = e.path();
            let m = std::fs::symlink_metadata(&p).map_err(|e| Error::Io {
                what: "stat",
                path: p.clone(),
                err: e,
            })?;
            if m.is_dir() {
                shift_ownership(&p, base)?;
            } else {
                shift(&p, &m);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_come_from_the_containers_ranges_and_are_not_shared() {
        let text = "alice:100000:65536\ncontainers:1000000:196608\n";
        let r = ranges(text);
        assert_eq!(r, vec![(1_000_000, 196_608)]);
        assert_eq!(pick(&r, &r, &[]), Some(1_000_000));
        assert_eq!(pick(&r, &r, &[1_000_000]), Some(1_065_536));
        assert_eq!(pick(&r, &r, &[1_000_000, 1_065_536, 1_131_072]), None, "full");
        assert_eq!(pick(&r, &[(0, 10)], &[]), None, "gids must cover it too");
        assert_eq!(pick(&ranges("alice:1:2\n"), &r, &[]), None);
    }
}
