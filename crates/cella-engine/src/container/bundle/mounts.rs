//! The container's mounts: the host image's root, generated /etc files,
//! -v volumes and --tmpfs.

use crate::container::{Container, RunConfig};
use crate::error::{At, Error, Result};
use crate::image::{Image, HOST_DIRS, HOST_ID};
use crate::store::paths::Paths;
use cella_spec::{Mount, Spec};
use std::path::Path;

fn mount(dest: &str, kind: &str, source: &str, options: &[&str]) -> Mount {
    Mount {
        destination: dest.into(),
        kind: Some(kind.into()),
        source: Some(source.into()),
        options: options.iter().map(|s| s.to_string()).collect(),
    }
}

/// `-v SRC:DST[:OPTS]`: a bind mount of an absolute host path, or of a
/// named volume's directory (made by `create`: see `volume::resolve_all`).
pub fn volume(paths: &Paths, v: &str) -> Result<Mount> {
    let parts: Vec<&str> = v.split(':').collect();
    let (src, dst, opts) = match parts[..] {
        [s, d] => (s, d, ""),
        [s, d, o] => (s, d, o),
        _ => return Err(Error::Invalid(format!("-v {v}: use SRC:DST[:ro|rw,…]"))),
    };
    if !dst.starts_with('/') {
        return Err(Error::Invalid(format!(
            "-v {v}: the destination must be an absolute path"
        )));
    }
    let volume_dir;
    let src = if crate::volume::is_volume_source(src) {
        crate::volume::find(paths, src)?;
        volume_dir = crate::volume::data(paths, src);
        volume_dir.to_str().unwrap_or_default()
    } else if src.starts_with('/') {
        if !Path::new(src).exists() {
            return Err(Error::NotFound(format!("-v {v}: {src} does not exist")));
        }
        src
    } else {
        return Err(Error::Invalid(format!(
            "-v {v}: the source must be an absolute host path or a volume name"
        )));
    };
    let mut options = vec!["rbind".to_string()];
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            // Read-only all the way down, as docker 25+ has it: `-v /:/host:ro`
            // must not leave /host/proc or /host/sys writable.
            "ro" | "rro" => options.extend(["ro".to_string(), "rro".to_string()]),
            "ro-non-recursive" => options.push("ro".into()),
            "rw" | "nosuid" | "nodev" | "noexec" | "private" | "rprivate" | "shared" | "rshared" | "slave"
            | "rslave" => options.push(o.to_string()),
            // nocopy: a new volume is not filled from the image (monitor's copy-up).
            "z" | "Z" | "nocopy" => {}
            other => return Err(Error::Invalid(format!("-v {v}: unknown option {other:?}"))),
        }
    }
    Ok(Mount {
        destination: dst.into(),
        kind: Some("bind".into()),
        source: Some(src.into()),
        options,
    })
}

/// `--tmpfs DST[:OPTS]`.
pub fn tmpfs(t: &str) -> Result<Mount> {
    let (dst, opts) = t.split_once(':').unwrap_or((t, ""));
    if !dst.starts_with('/') {
        return Err(Error::Invalid(format!(
            "--tmpfs {t}: the destination must be an absolute path"
        )));
    }
    let mut options = vec!["nosuid".to_string(), "nodev".to_string(), "noexec".to_string()];
    options.extend(opts.split(',').filter(|o| !o.is_empty()).map(String::from));
    Ok(Mount {
        destination: dst.into(),
        kind: Some("tmpfs".into()),
        source: Some("tmpfs".into()),
        options,
    })
}

/// Every mount of `spec`: the host image's, the defaults, the generated
/// /etc files (written to `dir`), volumes and tmpfs.
pub(super) fn apply(
    paths: &Paths,
    c: &Container,
    image: &Image,
    hostname: &str,
    dir: &Path,
    spec: &mut Spec,
) -> Result<()> {
    let cfg: &RunConfig = &c.config;
    let rootfs = dir.join("rootfs");
    let mut mounts = Vec::new();
    // Without privilege over the host's directories (rootless, or a user
    // namespace of its own), the host image's /etc is a copy and the rest
    // are read-only binds.
    let plain = cella_sys::process::geteuid() != 0 || c.id_base.is_some();
    if image.id == HOST_ID {
        mounts.extend(host_rootfs(dir, &rootfs, plain)?);
        if let Some(base) = c.id_base {
            crate::container::userns::shift_ownership(&rootfs, base)?;
        }
    }
    mounts.append(&mut spec.mounts);
    if let Some(size) = cfg.shm_size {
        for m in mounts.iter_mut().filter(|m| m.destination == "/dev/shm") {
            m.options.retain(|o| !o.starts_with("size="));
            m.options.push(format!("size={size}"));
        }
    }
    // Generated files, bound over the image's.
    let resolv = if cfg.dns.is_empty() {
        resolv_conf()
    } else {
        cfg.dns.iter().map(|d| format!("nameserver {d}\n")).collect()
    };
    let files = [
        ("hostname", format!("{hostname}\n")),
        ("hosts", crate::network::hosts_file(c, hostname, &[])),
        ("resolv.conf", resolv),
    ];
    for (name, text) in files {
        let p = dir.join(name);
        std::fs::write(&p, text).at("write", &p)?;
        mounts.push(mount(
            &format!("/etc/{name}"),
            "bind",
            &p.to_string_lossy(),
            &["rbind", "rprivate"],
        ));
    }
    for v in &cfg.volumes {
        mounts.push(volume(paths, v)?);
    }
    for t in &cfg.tmpfs {
        mounts.push(tmpfs(t)?);
    }
    spec.mounts = mounts;
    Ok(())
}

/// Copies what can be read of a host tree (files, directories, symlinks),
/// skipping the rest (e.g. /etc/shadow for an unprivileged user).
fn copy_readable(src: &Path, dst: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if std::fs::create_dir_all(dst).is_err() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(src) else { return };
    for e in entries.flatten() {
        let (from, to) = (e.path(), dst.join(e.file_name()));
        let Ok(meta) = std::fs::symlink_metadata(&from) else {
            continue;
        };
        if meta.file_type().is_symlink() {
            if let Ok(t) = std::fs::read_link(&from) {
                let _ = std::os::unix::fs::symlink(t, &to);
            }
        } else if meta.is_dir() {
            copy_readable(&from, &to);
        } else if meta.is_file() && std::fs::copy(&from, &to).is_ok() {
            let _ = std::fs::set_permissions(&to, std::fs::Permissions::from_mode(meta.permissions().mode() | 0o200));
        }
    }
}

/// The host's resolv.conf, unless it only points at a loopback resolver
/// (which the container's own loopback does not have): then public ones.
fn resolv_conf() -> String {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let servers: Vec<&str> = host
        .lines()
        .filter_map(|l| l.strip_prefix("nameserver"))
        .map(str::trim)
        .collect();
    if !servers.is_empty() && servers.iter().any(|s| !s.starts_with("127.") && *s != "::1") {
        return host;
    }
    "nameserver 8.8.8.8\nnameserver 1.1.1.1\n".into()
}

/// The `host` image's root: an empty skeleton (a writable directory of the
/// container) with the host's /usr, /etc, /lib… mounted as overlays whose
/// upper layers belong to the container.
fn host_rootfs(dir: &Path, rootfs: &Path, plain: bool) -> Result<Vec<Mount>> {
    let mut mounts = Vec::new();
    for d in [
        "proc", "sys", "dev", "run", "root", "home", "var", "mnt", "srv", "media",
    ] {
        let p = rootfs.join(d);
        std::fs::create_dir_all(&p).at("create", &p)?;
    }
    let tmp = rootfs.join("tmp");
    std::fs::create_dir_all(&tmp).at("create", &tmp)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777)).at("chmod", &tmp)?;
    for d in HOST_DIRS {
        let host = Path::new("/").join(d);
        let Ok(meta) = std::fs::symlink_metadata(&host) else {
            continue;
        };
        let inside = rootfs.join(d);
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&host).at("read link", &host)?;
            if std::fs::symlink_metadata(&inside).is_err() {
                std::os::unix::fs::symlink(&target, &inside).at("create link", &inside)?;
            }
            continue;
        }
        if !meta.is_dir() {
            continue;
        }
        if plain {
            // Unprivileged, overlayfs cannot take a host directory as its
            // lower layer ("failed to clone lowerpath"): /etc is copied (what
            // the user may read of it), the rest is bound read-only.
            if d == "etc" {
                if !inside.join("passwd").exists() {
                    copy_readable(&host, &inside);
                }
            } else {
                std::fs::create_dir_all(&inside).at("create", &inside)?;
                mounts.push(mount(
                    &format!("/{d}"),
                    "bind",
                    &host.to_string_lossy(),
                    &["rbind", "ro", "nosuid"],
                ));
            }
            continue;
        }
        let upper = dir.join("diff").join(d);
        let work = dir.join("work").join(d);
        for p in [&inside, &upper, &work] {
            std::fs::create_dir_all(p).at("create", p)?;
        }
        let opts = format!(
            "lowerdir={},upperdir={},workdir={}",
            host.display(),
            upper.display(),
            work.display()
        );
        mounts.push(mount(&format!("/{d}"), "overlay", "overlay", &[&opts]));
    }
    Ok(mounts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_and_tmpfs_parse() {
        let base = std::env::temp_dir().join(format!("cella-mounts-{}", std::process::id()));
        let paths = Paths::new(Some(base.join("root")), Some(base.join("run")));
        let volume = |v: &str| volume(&paths, v);
        let m = volume("/tmp:/data:ro").unwrap();
        assert_eq!(
            (m.destination.as_str(), m.options.clone()),
            ("/data", vec!["rbind".to_string(), "ro".into(), "rro".into()])
        );
        assert_eq!(volume("/tmp:/x:ro-non-recursive").unwrap().options, ["rbind", "ro"]);
        assert!(volume("./relative:/x").is_err());
        assert!(volume("nosuchvolume:/x").is_err(), "a volume must exist by now");
        crate::volume::create(&paths, Some("data"), Default::default()).unwrap();
        let v = volume("data:/x:nocopy").unwrap();
        assert_eq!(
            v.source.as_deref(),
            Some(crate::volume::data(&paths, "data").to_str().unwrap())
        );
        assert!(volume("/tmp:/x:bogus").is_err());
        assert!(volume("/does/not/exist:/x").is_err());
        assert_eq!(tmpfs("/run:size=1m").unwrap().options.last().unwrap(), "size=1m");
        std::fs::remove_dir_all(&base).unwrap();
    }
}
