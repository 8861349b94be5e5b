//! Which unit a container gets: runc's `slice:prefix:name` cgroupsPath for
//! the systemd driver, and systemd's slice naming (`a-b.slice` lives in
//! `a.slice/a-b.slice`).

use crate::{Error, Result};

/// A container's transient scope and the slice it goes in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopePath {
    /// `system.slice`, `kubepods-besteffort-pod1.slice`, ...
    pub slice: String,
    /// `runc-ID.scope`, `cri-containerd-ID.scope`, ...
    pub unit: String,
}

impl ScopePath {
    /// Parses a cgroupsPath for the systemd driver. Empty means the default
    /// slice (`system.slice`, or `user.slice` for a user's manager) and the
    /// prefix `cella`; an empty slice field means the default slice too.
    pub fn parse(cgroups_path: Option<&str>, id: &str, user_manager: bool) -> Result<ScopePath> {
        let default_slice = if user_manager { "user.slice" } else { "system.slice" };
        let (slice, prefix, name) = match cgroups_path.filter(|p| !p.is_empty()) {
            None => (default_slice, "cella", id),
            Some(p) => {
                let parts: Vec<&str> = p.split(':').collect();
                let [slice, prefix, name] = parts[..] else {
                    return Err(Error::BadPath(format!(
                        "{p} (the systemd driver wants \"slice:prefix:name\", such as \"system.slice:cella:{id}\")"
                    )));
                };
                (if slice.is_empty() { default_slice } else { slice }, prefix, name)
            }
        };
        expand_slice(slice)?;
        if name.ends_with(".slice") {
            return Err(Error::Unsupported(format!(
                "cgroupsPath names a slice ({name}) as the container's unit; cella puts containers in scopes: \
                 use \"{slice}:PREFIX:NAME\""
            )));
        }
        // runc's unit name, including its dash when the prefix is empty.
        let unit = format!("{prefix}-{name}.scope");
        check_unit_name(&unit)?;
        Ok(ScopePath {
            slice: slice.to_string(),
            unit,
        })
    }
}

/// The characters systemd allows in a unit name.
fn check_unit_name(unit: &str) -> Result<()> {
    let ok = unit.len() <= 255
        && unit
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'-' | b'_' | b'.' | b'\\' | b'@'));
    if ok {
        Ok(())
    } else {
        Err(Error::BadPath(format!(
            "{unit}: not a valid systemd unit name (letters, digits and \":-_.\\@\", at most 255 bytes)"
        )))
    }
}

/// The cgroup path of a slice below the manager's root:
/// `a-b.slice` → `/a.slice/a-b.slice`, `-.slice` → `/`.
pub fn expand_slice(slice: &str) -> Result<String> {
    let bad = |why: &str| Error::BadPath(format!("{slice}: not a slice name ({why})"));
    let name = slice
        .strip_suffix(".slice")
        .ok_or_else(|| bad("it must end in .slice"))?;
    if slice.contains('/') {
        return Err(bad("it must not contain '/'"));
    }
    if name == "-" {
        return Ok("/".into());
    }
    check_unit_name(slice)?;
    let mut path = String::new();
    let mut prefix = String::new();
    for part in name.split('-') {
        if part.is_empty() {
            return Err(bad("a dash at the start, the end or twice in a row"));
        }
        path.push('/');
        path.push_str(&prefix);
        path.push_str(part);
        path.push_str(".slice");
        prefix.push_str(part);
        prefix.push('-');
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_nest_by_dashes_as_systemd_does() {
        assert_eq!(expand_slice("-.slice").unwrap(), "/");
        assert_eq!(expand_slice("system.slice").unwrap(), "/system.slice");
        assert_eq!(
            expand_slice("kubepods-besteffort-pod1.slice").unwrap(),
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice"
        );
        for bad in [
            "system",
            "a--b.slice",
            "-a.slice",
            "a-.slice",
            "a/b.slice",
            ".slice",
            "a b.slice",
        ] {
            assert!(expand_slice(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cgroups_paths_as_runc_reads_them() {
        let p = ScopePath::parse(Some("machine.slice:libpod:abc"), "abc", false).unwrap();
        assert_eq!(
            (p.slice.as_str(), p.unit.as_str()),
            ("machine.slice", "libpod-abc.scope")
        );
        let p = ScopePath::parse(None, "x1", false).unwrap();
        assert_eq!((p.slice.as_str(), p.unit.as_str()), ("system.slice", "cella-x1.scope"));
        let p = ScopePath::parse(Some(":cella:x1"), "x1", true).unwrap();
        assert_eq!(p.slice, "user.slice");
        let p = ScopePath::parse(Some("system.slice::x1"), "x1", false).unwrap();
        assert_eq!(p.unit, "-x1.scope", "runc keeps the dash of an empty prefix");
        for bad in [
            "/cella/x1",
            "a:b",
            "system.slice:cella:x/1",
            "system.slice:cella:k.slice",
            "nope:cella:x",
        ] {
            assert!(ScopePath::parse(Some(bad), "x1", false).is_err(), "{bad}");
        }
    }
}
