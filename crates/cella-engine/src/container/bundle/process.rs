//! The container's process: its command (docker's entrypoint and cmd
//! rules), user (looked up in the image's /etc), working directory,
//! environment and rlimits.

use crate::container::RunConfig;
use crate::error::{At, Error, Result};
use crate::image::{Image, HOST_ID};
use crate::store::paths::Paths;
use cella_spec::Spec;
use std::path::Path;

/// docker's rule: --entrypoint replaces the image's and drops its Cmd;
/// a command given replaces the image's Cmd.
pub fn command(cfg: &RunConfig, image: &Image) -> Result<Vec<String>> {
    let (entry, cmd) = match &cfg.entrypoint {
        Some(e) => (e.clone(), cfg.cmd.clone()),
        None => (
            image.config.entrypoint.clone(),
            if cfg.cmd.is_empty() {
                image.config.cmd.clone()
            } else {
                cfg.cmd.clone()
            },
        ),
    };
    let args: Vec<String> = entry.into_iter().chain(cmd).collect();
    if args.is_empty() {
        return Err(Error::Invalid(
            "no command specified: the image has none, so give one".into(),
        ));
    }
    Ok(args)
}

/// Sets or replaces KEY=VALUE entries.
fn set_env(env: &mut Vec<String>, kv: &str) {
    let key = kv.split('=').next().unwrap_or(kv);
    env.retain(|e| e.split('=').next() != Some(key));
    env.push(kv.to_string());
}

/// The roots whose etc/passwd and etc/group describe the image's users:
/// the host's for `host`, else the image's layers, topmost first.
fn image_roots(paths: &Paths, image: &Image) -> Result<Vec<std::fs::File>> {
    if image.id == HOST_ID {
        return std::fs::File::open("/").at("open", Path::new("/")).map(|f| vec![f]);
    }
    image
        .layers
        .iter()
        .rev()
        .map(|l| {
            let d = crate::image::layer::dir(paths, l);
            std::fs::File::open(&d).at("open layer", &d)
        })
        .collect()
}

/// `--ulimit NAME=SOFT[:HARD]`.
fn ulimit(u: &str) -> Result<cella_spec::Rlimit> {
    let bad = || Error::Invalid(format!("--ulimit {u}: use NAME=SOFT[:HARD], e.g. nofile=1024:2048"));
    let (name, vals) = u.split_once('=').ok_or_else(bad)?;
    let kind = format!("RLIMIT_{}", name.to_ascii_uppercase());
    cella_spec::rlimit::resource(&kind).ok_or_else(bad)?;
    let (soft, hard) = vals.split_once(':').unwrap_or((vals, vals));
    let num = |v: &str| {
        if v == "-1" {
            Ok(u64::MAX)
        } else {
            v.parse::<u64>().map_err(|_| bad())
        }
    };
    Ok(cella_spec::Rlimit {
        kind,
        soft: num(soft)?,
        hard: num(hard)?,
    })
}

/// The process of `spec` for `cfg` on `image`.
pub(super) fn apply(paths: &Paths, cfg: &RunConfig, image: &Image, hostname: &str, spec: &mut Spec) -> Result<()> {
    let roots = image_roots(paths, image)?;
    let etc = crate::container::users::Etc::Layers(&roots);
    let ids = crate::container::users::resolve(&etc, cfg.user.as_deref().unwrap_or(&image.config.user))?;
    let p = spec.process.as_mut().expect("default has a process");
    p.terminal = cfg.tty;
    p.args = command(cfg, image)?;
    p.cwd = cfg
        .workdir
        .clone()
        .filter(|w| !w.is_empty())
        .or_else(|| Some(image.config.working_dir.clone()).filter(|w| !w.is_empty()))
        .unwrap_or_else(|| "/".into());
    if !p.cwd.starts_with('/') {
        return Err(Error::Invalid(format!(
            "-w {}: the working directory must be absolute",
            p.cwd
        )));
    }
    p.user.uid = ids.uid;
    p.user.gid = ids.gid;
    p.user.additional_gids = ids.additional_gids;
    for g in crate::container::users::group_ids(&etc, &cfg.group_add)? {
        if !p.user.additional_gids.contains(&g) {
            p.user.additional_gids.push(g);
        }
    }
    p.env = environment(cfg, image, hostname, &ids.home);
    // docker's default: the caller's limits, not runc's 1024 files.
    p.rlimits.clear();
    for u in &cfg.ulimits {
        p.rlimits.push(ulimit(u)?);
    }
    Ok(())
}

/// docker's environment: PATH, the image's, HOSTNAME, HOME, TERM with a
/// terminal, then -e (`-e NAME` passes the caller's value, if it has one).
fn environment(cfg: &RunConfig, image: &Image, hostname: &str, home: &str) -> Vec<String> {
    let mut env = vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string()];
    for e in &image.config.env {
        set_env(&mut env, e);
    }
    set_env(&mut env, &format!("HOSTNAME={hostname}"));
    set_env(&mut env, &format!("HOME={home}"));
    if cfg.tty {
        set_env(&mut env, "TERM=xterm");
    }
    for e in &cfg.env {
        if !e.contains('=') {
            if let Ok(v) = std::env::var(e) {
                set_env(&mut env, &format!("{e}={v}"));
            }
            continue;
        }
        set_env(&mut env, e);
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::host_image;

    #[test]
    fn entrypoint_and_cmd_follow_dockers_rules() {
        let mut img = host_image();
        img.config.entrypoint = vec!["/init".into()];
        img.config.cmd = vec!["serve".into()];
        let mut cfg = RunConfig::default();
        assert_eq!(command(&cfg, &img).unwrap(), ["/init", "serve"]);
        cfg.cmd = vec!["debug".into()];
        assert_eq!(command(&cfg, &img).unwrap(), ["/init", "debug"]);
        cfg.entrypoint = Some(vec!["sh".into()]);
        cfg.cmd.clear();
        assert_eq!(
            command(&cfg, &img).unwrap(),
            ["sh"],
            "--entrypoint drops the image's Cmd"
        );
        cfg.entrypoint = Some(vec![]);
        assert!(command(&cfg, &img).is_err());
    }

    #[test]
    fn ulimits_parse() {
        let u = ulimit("nofile=100:200").unwrap();
        assert_eq!((u.kind.as_str(), u.soft, u.hard), ("RLIMIT_NOFILE", 100, 200));
        assert!(ulimit("bogus=1").is_err());
    }
}
