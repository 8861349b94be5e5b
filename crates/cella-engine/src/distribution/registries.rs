//! registries.conf: where short names are searched, which registries are
//! mirrored, insecure (plain HTTP) or blocked. The format is the subset of
//! containers-registries.conf(5) (v2) that says those things:
//!
//! ```toml
//! unqualified-search-registries = ["registry.example:5000", "docker.io"]
//!
//! [[registry]]
//! prefix = "docker.io"          # what references it applies to (default: location)
//! location = "docker.io"        # where they are fetched from
//! insecure = false
//! blocked = false
//! [[registry.mirror]]           # tried first, for pulls
//! location = "127.0.0.1:5000/hub"
//! insecure = true
//! ```
//!
//! The file: $CELLA_REGISTRIES_CONF, else /etc/cella/registries.conf (root)
//! or $XDG_CONFIG_HOME/cella/registries.conf; none means docker's rules.

use crate::distribution::registry::{names_registry, Reference};
use crate::error::{At, Error, Result};
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Registries {
    #[serde(default)]
    pub unqualified_search_registries: Vec<String>,
    #[serde(default)]
    pub registry: Vec<Entry>,
    /// Registries named by `--insecure-registry`.
    #[serde(skip)]
    pub extra_insecure: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    #[serde(default)]
    pub prefix: String,
    #[serde(default)]
    pub location: String,
    #[serde(default)]
    pub insecure: bool,
    #[serde(default)]
    pub blocked: bool,
    #[serde(default)]
    pub mirror: Vec<Mirror>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mirror {
    pub location: String,
    #[serde(default)]
    pub insecure: bool,
}

/// Where to fetch a reference: a mirror or the registry itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub registry: String,
    pub repository: String,
    pub insecure: bool,
}

pub fn default_path() -> PathBuf {
    if let Some(p) = std::env::var_os("CELLA_REGISTRIES_CONF").filter(|p| !p.is_empty()) {
        return p.into();
    }
    if cella_sys::process::geteuid() == 0 {
        return "/etc/cella/registries.conf".into();
    }
    crate::store::paths::user_dir("XDG_CONFIG_HOME", ".config").join("cella/registries.conf")
}

impl Registries {
    /// The configuration in force (empty when there is no file).
    pub fn load() -> Result<Registries> {
        let p = default_path();
        match std::fs::read_to_string(&p) {
            Ok(text) => Registries::parse(&text).map_err(|e| Error::Corrupt {
                path: p,
                message: format!(
                    "{}: fix or remove the file (its format: docs/registries.md)",
                    e.trim_end()
                ),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Registries::default()),
            Err(e) => Err(e).at("read", &p),
        }
    }

    pub fn parse(text: &str) -> Result<Registries, String> {
        let mut r: Registries = toml::from_str(text).map_err(|e| e.to_string())?;
        for e in &mut r.registry {
            if e.prefix.is_empty() {
                e.prefix = e.location.clone();
            }
            if e.location.is_empty() {
                e.location = e.prefix.clone();
            }
            if e.prefix.is_empty() {
                return Err("a [[registry]] needs a prefix or a location".into());
            }
        }
        Ok(r)
    }

    /// The references to try for what the user typed: a short name in each
    /// search registry in turn (docker.io when none is set), else itself.
    pub fn candidates(&self, name: &str) -> Result<Vec<Reference>> {
        let plain = name.split(['@', ':']).next().unwrap_or(name);
        if names_registry(name) || self.unqualified_search_registries.is_empty() || plain.is_empty() {
            return Ok(vec![Reference::parse(name)?]);
        }
        self.unqualified_search_registries
            .iter()
            .map(|reg| Reference::parse_in(name, reg))
            .collect()
    }

    /// The longest matching [[registry]] for "registry/repository".
    fn entry(&self, full: &str) -> Option<&Entry> {
        self.registry
            .iter()
            .filter(|e| {
                full.strip_prefix(e.prefix.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            })
            .max_by_key(|e| e.prefix.len())
    }

    /// Whether `registry` is named insecure (plain HTTP).
    pub fn insecure(&self, registry: &str) -> bool {
        self.extra_insecure.iter().any(|r| r == registry) || self.entry(registry).is_some_and(|e| e.insecure)
    }

    /// Where to fetch `r` from: its mirrors first (pulls only), then its own
    /// location. A blocked registry is refused.
    pub fn endpoints(&self, r: &Reference, pull: bool) -> Result<Vec<Endpoint>> {
        let full = format!("{}/{}", r.registry, r.repository);
        let Some(e) = self.entry(&full) else {
            return Ok(vec![Endpoint {
                registry: r.registry.clone(),
                repository: r.repository.clone(),
                insecure: self.insecure(&r.registry),
            }]);
        };
        if e.blocked {
            return Err(Error::Invalid(format!(
                "{full} is blocked by {}",
                default_path().display()
            )));
        }
        let rest = &full[e.prefix.len()..];
        let at = |location: &str, insecure: bool| -> Endpoint {
            let moved = format!("{location}{rest}");
            let (registry, repository) = moved.split_once('/').unwrap_or((&moved, ""));
            Endpoint {
                registry: registry.into(),
                repository: repository.into(),
                insecure: insecure || self.extra_insecure.iter().any(|x| x == registry),
            }
        };
        let mut out = Vec::new();
        if pull {
            out.extend(e.mirror.iter().map(|m| at(&m.location, m.insecure)));
        }
        out.push(at(&e.location, e.insecure));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = r#"
unqualified-search-registries = ["reg.example:5000", "docker.io"]

[[registry]]
prefix = "docker.io/library"
location = "hub.example/lib"
[[registry.mirror]]
location = "127.0.0.1:5055/mirror"
insecure = true

[[registry]]
location = "reg.example:5000"
insecure = true

[[registry]]
location = "bad.example"
blocked = true
"#;

    #[test]
    fn search_mirrors_and_blocks() {
        let r = Registries::parse(CONF).unwrap();
        let c: Vec<String> = r.candidates("app:1").unwrap().iter().map(|r| r.tag()).collect();
        assert_eq!(c, ["reg.example:5000/app:1", "app:1"]);
        assert_eq!(
            r.candidates("quay.io/x/y").unwrap().len(),
            1,
            "a named registry is not searched"
        );
        let bb = Reference::parse("busybox").unwrap();
        let e = r.endpoints(&bb, true).unwrap();
        assert_eq!(
            e[0],
            Endpoint {
                registry: "127.0.0.1:5055".into(),
                repository: "mirror/busybox".into(),
                insecure: true
            }
        );
        assert_eq!(
            (e[1].registry.as_str(), e[1].repository.as_str()),
            ("hub.example", "lib/busybox")
        );
        assert_eq!(r.endpoints(&bb, false).unwrap().len(), 1, "pushes skip mirrors");
        assert!(r.insecure("reg.example:5000") && !r.insecure("docker.io"));
        assert!(r.endpoints(&Reference::parse("bad.example/x").unwrap(), true).is_err());
        let other = Reference::parse("docker.io/team/x").unwrap();
        assert_eq!(
            r.endpoints(&other, true).unwrap()[0].registry,
            "docker.io",
            "prefixes match whole components"
        );
        assert!(Registries::parse("unknown-key = 1").is_err());
        assert!(Registries::default().candidates("app").unwrap()[0].registry == "docker.io");
    }
}
