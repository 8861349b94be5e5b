//! Registry credentials in the files podman and docker keep them in
//! (containers-auth.json(5): `{"auths": {"REGISTRY": {"auth": base64(user:pass)}}}`),
//! and docker's credential helpers (`credHelpers`, `credsStore`).
//!
//! `cella login` writes the first of: --authfile, $REGISTRY_AUTH_FILE,
//! $XDG_RUNTIME_DIR/containers/auth.json, /run/containers/UID/auth.json
//! (podman's place, so that both share logins). Reading also looks in
//! $XDG_CONFIG_HOME/containers/auth.json and docker's config.json
//! ($DOCKER_CONFIG or ~/.docker).

use crate::error::{At, Error, Result};
use base64::Engine as _;
use std::path::{Path, PathBuf};

/// The file `login` writes and `logout` edits.
pub fn auth_file(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.into();
    }
    if let Some(p) = std::env::var_os("REGISTRY_AUTH_FILE").filter(|p| !p.is_empty()) {
        return p.into();
    }
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return Path::new(&d).join("containers/auth.json");
    }
    PathBuf::from(format!("/run/containers/{}/auth.json", cella_sys::process::geteuid()))
}

/// Every file credentials are read from, first match wins.
pub fn read_order(explicit: Option<&Path>) -> Vec<PathBuf> {
    let mut out = vec![auth_file(explicit)];
    if explicit.is_some() {
        return out;
    }
    use crate::store::paths::user_dir;
    out.push(user_dir("XDG_CONFIG_HOME", ".config").join("containers/auth.json"));
    out.push(user_dir("DOCKER_CONFIG", ".docker").join("config.json"));
    out
}

/// The keys a registry may be filed under: "REG/REPO" prefixes, most
/// specific first, then "REG"; docker.io also as docker's own keys.
fn keys(registry: &str, repository: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut path = format!("{registry}/{repository}");
    while !repository.is_empty() && path.len() > registry.len() {
        out.push(path.clone());
        path.truncate(path.rfind('/').unwrap_or(registry.len()));
    }
    out.push(registry.to_string());
    if registry == "docker.io" {
        out.extend(["https://index.docker.io/v1/", "index.docker.io", "registry-1.docker.io"].map(String::from));
    }
    out
}

/// A key as filed, without the scheme and API path docker writes.
fn bare(key: &str) -> &str {
    let k = key.trim_start_matches("https://").trim_start_matches("http://");
    k.trim_end_matches('/').trim_end_matches("/v1").trim_end_matches("/v2")
}

fn decode(auth: &str, file: &Path) -> Result<(String, String)> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| Error::Corrupt {
            path: file.into(),
            message: "an \"auth\" entry is not base64 of USER:PASSWORD".into(),
        })?;
    let (u, p) = raw.split_once(':').unwrap_or((&raw, ""));
    Ok((u.into(), p.into()))
}

fn read_json(file: &Path) -> Result<Option<serde_json::Value>> {
    match std::fs::read(file) {
        Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| Error::Corrupt {
            path: file.into(),
            message: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).at("read", file),
    }
}

/// Asks `docker-credential-HELPER get` for a server's credentials.
fn from_helper(helper: &str, server: &str) -> Result<Option<(String, String)>> {
    use std::io::Write;
    let program = format!("docker-credential-{helper}");
    let mut child = match std::process::Command::new(&program)
        .arg("get")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            return Err(Error::Invalid(format!(
                "credential helper {program} for {server}: {e} (install it, or remove it from the config)"
            )))
        }
    };
    let _ = child.stdin.take().map(|mut i| i.write_all(server.as_bytes()));
    let out = child
        .wait_with_output()
        .map_err(|e| Error::Invalid(format!("credential helper {program}: {e}")))?;
    if !out.status.success() {
        // "credentials not found in native keychain": nothing stored.
        return Ok(None);
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        Error::Invalid(format!(
            "credential helper {program} answered something else than JSON: {e}"
        ))
    })?;
    Ok(Some((
        v["Username"].as_str().unwrap_or_default().into(),
        v["Secret"].as_str().unwrap_or_default().into(),
    )))
}

/// The credentials for a repository, from the first file that has any.
pub fn lookup(explicit: Option<&Path>, registry: &str, repository: &str) -> Result<Option<(String, String)>> {
    let wanted = keys(registry, repository);
    for file in read_order(explicit) {
        let Some(doc) = read_json(&file)? else { continue };
        if let Some(helpers) = doc["credHelpers"].as_object() {
            for k in &wanted {
                if let Some(h) = helpers
                    .iter()
                    .find(|(key, _)| bare(key) == bare(k))
                    .and_then(|(_, h)| h.as_str())
                {
                    return from_helper(h, k);
                }
            }
        }
        if let Some(auths) = doc["auths"].as_object() {
            for k in &wanted {
                if let Some((_, entry)) = auths.iter().find(|(key, _)| bare(key) == bare(k)) {
                    if let Some(a) = entry["auth"].as_str().filter(|a| !a.is_empty()) {
                        return decode(a, &file).map(Some);
                    }
                }
            }
        }
        if let Some(h) = doc["credsStore"].as_str() {
            let server = if registry == "docker.io" {
                "https://index.docker.io/v1/"
            } else {
                registry
            };
            if let Some(c) = from_helper(h, server)? {
                return Ok(Some(c));
            }
        }
    }
    Ok(None)
}

fn write(file: &Path, doc: &serde_json::Value) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if let Some(parent) = file.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .at("create directory", parent)?;
    }
    let bytes = serde_json::to_vec_pretty(doc).expect("JSON serializes");
    let tmp = file.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, &bytes).at("write", &tmp)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).at("chmod", &tmp)?;
    std::fs::rename(&tmp, file).at("rename into place", file)
}

/// Files `user:password` for `registry` (as podman does: under the bare name).
pub fn store(explicit: Option<&Path>, registry: &str, user: &str, password: &str) -> Result<PathBuf> {
    let file = auth_file(explicit);
    let mut doc = read_json(&file)?.unwrap_or_else(|| serde_json::json!({}));
    if !doc["auths"].is_object() {
        doc["auths"] = serde_json::json!({});
    }
    let auth = crate::distribution::registry::user_password(user, password);
    doc["auths"][registry] = serde_json::json!({ "auth": auth });
    write(&file, &doc)?;
    Ok(file)
}

/// Removes `registry`'s entry (every registry's with `all`); false when
/// there was none.
pub fn remove(explicit: Option<&Path>, registry: Option<&str>) -> Result<bool> {
    let file = auth_file(explicit);
    let Some(mut doc) = read_json(&file)? else {
        return Ok(false);
    };
    let Some(auths) = doc["auths"].as_object_mut() else {
        return Ok(false);
    };
    let before = auths.len();
    match registry {
        Some(r) => {
            let filed: Vec<String> = keys(bare(r), "").iter().map(|k| bare(k).to_string()).collect();
            auths.retain(|k, _| !filed.iter().any(|f| f == bare(k)));
        }
        None => auths.clear(),
    }
    if auths.len() == before {
        return Ok(false);
    }
    write(&file, &doc)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_found_by_repository_registry_and_dockers_keys() {
        let dir = std::env::temp_dir().join(format!("cella-auth-{}", std::process::id()));
        let f = dir.join("auth.json");
        store(Some(&f), "reg.example:5000", "alice", "pa:ss").unwrap();
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&f).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            lookup(Some(&f), "reg.example:5000", "team/app").unwrap(),
            Some(("alice".into(), "pa:ss".into()))
        );
        assert_eq!(lookup(Some(&f), "other.example", "x").unwrap(), None);
        // docker's own form of a Hub entry, and a more specific repository entry.
        let doc = serde_json::json!({"auths": {
            "https://index.docker.io/v1/": {"auth": "aHViOnNlY3JldA=="},
            "reg.example:5000/team": {"auth": "dGVhbTp0"},
        }});
        std::fs::write(&f, doc.to_string()).unwrap();
        assert_eq!(
            lookup(Some(&f), "docker.io", "library/busybox").unwrap().unwrap().0,
            "hub"
        );
        assert_eq!(
            lookup(Some(&f), "reg.example:5000", "team/app").unwrap().unwrap().0,
            "team"
        );
        assert!(remove(Some(&f), Some("docker.io")).unwrap(), "docker's key for the Hub");
        assert!(!remove(Some(&f), Some("index.docker.io")).unwrap(), "already gone");
        assert!(remove(Some(&f), None).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn keys_go_from_specific_to_general() {
        assert_eq!(keys("r:1", "a/b"), ["r:1/a/b", "r:1/a", "r:1"]);
    }
}
