//! `cella pull`: the OCI distribution protocol over a blocking HTTP client
//! (ureq): docker's reference rules, bearer-token and basic auth, image
//! indexes with a platform choice, docker v2 and OCI media types, every
//! blob's digest checked while it streams to disk (never a whole layer in
//! memory), and nothing stored unless the whole image arrived intact.

use crate::error::{At, Error, Result};
use crate::image::{Image, ImageConfig};
use crate::paths::Paths;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};

/// registry, repository, tag or digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub registry: String,
    pub repository: String,
    /// "latest", a tag, or "sha256:…".
    pub reference: String,
}

impl Reference {
    /// docker's rules: no registry means docker.io, one path component
    /// there means library/NAME, no tag means latest.
    pub fn parse(s: &str) -> Result<Reference> {
        let bad = || Error::Invalid(format!("invalid image reference {s:?}"));
        let (name, reference) = match s.split_once('@') {
            Some((n, d)) if d.starts_with("sha256:") && d.len() == 71 => (n, d.to_string()),
            Some(_) => return Err(bad()),
            None => match s.rsplit_once(':') {
                Some((n, t)) if !t.contains('/') => (n, t.to_string()),
                _ => (s, "latest".to_string()),
            },
        };
        if name.is_empty() || name.ends_with('/') {
            return Err(bad());
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest)) if first.contains('.') || first.contains(':') || first == "localhost" => {
                (first.to_string(), rest.to_string())
            }
            _ => ("docker.io".to_string(), name.to_string()),
        };
        let repository = if registry == "docker.io" && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        if repository.is_empty()
            || reference.is_empty()
            || !repository
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/".contains(c))
        {
            return Err(bad());
        }
        Ok(Reference {
            registry,
            repository,
            reference,
        })
    }

    /// The name images are stored under: docker.io names short, as docker shows them.
    pub fn tag(&self) -> String {
        let name = if self.registry == "docker.io" {
            self.repository.trim_start_matches("library/").to_string()
        } else {
            format!("{}/{}", self.registry, self.repository)
        };
        if self.reference.starts_with("sha256:") {
            format!("{name}@{}", self.reference)
        } else {
            format!("{name}:{}", self.reference)
        }
    }
}

pub struct Options {
    /// Plain HTTP (`--tls-verify=false`), for registries on loopback.
    pub insecure: bool,
    /// "os/arch[/variant]".
    pub platform: String,
    /// user:password for basic auth or to get a token.
    pub credentials: Option<(String, String)>,
}

const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

struct Client {
    agent: ureq::Agent,
    base: String,
    repository: String,
    token: Option<String>,
    credentials: Option<(String, String)>,
}

fn net_err(what: &str) -> impl Fn(ureq::Error) -> Error + '_ {
    move |e| Error::Invalid(format!("{what}: {e}"))
}

fn basic(user: &str, pass: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let raw = format!("{user}:{pass}");
    let b = raw.as_bytes();
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n =
            (chunk[0] as u32) << 16 | (*chunk.get(1).unwrap_or(&0) as u32) << 8 | *chunk.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    format!("Basic {out}")
}

/// key="value" pairs of a WWW-Authenticate challenge.
fn challenge_params(h: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = h.split_once(' ').map(|x| x.1).unwrap_or("");
    while let Some((k, v)) = rest.split_once('=') {
        let k = k.trim().trim_start_matches(',').trim().to_string();
        let v = v.trim_start();
        let (val, after) = if let Some(stripped) = v.strip_prefix('"') {
            let end = stripped.find('"').unwrap_or(stripped.len());
            (stripped[..end].to_string(), stripped.get(end + 1..).unwrap_or(""))
        } else {
            let end = v.find(',').unwrap_or(v.len());
            (v[..end].to_string(), &v[end..])
        };
        out.push((k, val));
        rest = after;
    }
    out
}

impl Client {
    fn get(&mut self, path: &str, accept: Option<&str>) -> Result<ureq::http::Response<ureq::Body>> {
        let url = format!("{}/v2/{}/{path}", self.base, self.repository);
        for attempt in 0..2 {
            let mut req = self.agent.get(&url);
            if let Some(a) = accept {
                req = req.header("Accept", a);
            }
            if let Some(t) = &self.token {
                req = req.header("Authorization", t);
            }
            let resp = req.call().map_err(net_err(&url))?;
            if resp.status() == 401 && attempt == 0 {
                let h = resp
                    .headers()
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                self.authenticate(&h)?;
                continue;
            }
            if !resp.status().is_success() {
                return Err(Error::Invalid(format!(
                    "{url}: {} {}",
                    resp.status().as_u16(),
                    if resp.status() == 401 {
                        "(log in, or check the credentials)"
                    } else {
                        ""
                    }
                )));
            }
            return Ok(resp);
        }
        Err(Error::Invalid(format!("{url}: refused after authenticating")))
    }

    fn authenticate(&mut self, challenge: &str) -> Result<()> {
        if challenge.to_ascii_lowercase().starts_with("basic") {
            let (u, p) = self.credentials.clone().ok_or_else(|| {
                Error::Invalid("the registry wants a user and password (--creds USER:PASSWORD)".into())
            })?;
            self.token = Some(basic(&u, &p));
            return Ok(());
        }
        let params = challenge_params(challenge);
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let realm = get("realm")
            .ok_or_else(|| Error::Invalid(format!("unsupported authentication challenge {challenge:?}")))?;
        let mut url = format!("{realm}?scope=repository:{}:pull", self.repository);
        if let Some(s) = get("service") {
            url += &format!("&service={s}");
        }
        let mut req = self.agent.get(&url);
        if let Some((u, p)) = &self.credentials {
            req = req.header("Authorization", basic(u, p));
        }
        let mut resp = req.call().map_err(net_err(&url))?;
        if !resp.status().is_success() {
            return Err(Error::Invalid(format!(
                "token from {realm}: {}",
                resp.status().as_u16()
            )));
        }
        let v: serde_json::Value = serde_json::from_str(&resp.body_mut().read_to_string().map_err(net_err(&url))?)
            .map_err(|e| Error::Invalid(format!("token from {realm}: {e}")))?;
        let t = v["token"].as_str().or(v["access_token"].as_str()).unwrap_or_default();
        self.token = Some(format!("Bearer {t}"));
        Ok(())
    }

    /// A small JSON document (manifest, index, config), its digest checked.
    fn document(&mut self, path: &str, accept: Option<&str>, digest: Option<&str>) -> Result<(Vec<u8>, String)> {
        let mut resp = self.get(path, accept)?;
        let media = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(16 << 20)
            .read_to_vec()
            .map_err(net_err(path))?;
        if let Some(d) = digest {
            check(d, &hex(&bytes), path)?;
        }
        Ok((bytes, media))
    }

    /// A blob streamed into `file`, its digest checked as it arrives.
    fn blob_to(&mut self, digest: &str, file: &std::path::Path) -> Result<u64> {
        let mut resp = self.get(&format!("blobs/{digest}"), None)?;
        let mut reader = resp.body_mut().with_config().limit(u64::MAX).reader();
        let mut out = std::fs::File::create(file).at("create", file)?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0u64;
        loop {
            let n = reader
                .read(&mut buf)
                .map_err(|e| Error::Invalid(format!("blob {digest}: {e}")))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            out.write_all(&buf[..n]).at("write", file)?;
            total += n as u64;
        }
        let got: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        check(digest, &got, &format!("blob {digest}"))?;
        Ok(total)
    }
}

fn hex(b: &[u8]) -> String {
    Sha256::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

fn check(want: &str, got_hex: &str, what: &str) -> Result<()> {
    if want.strip_prefix("sha256:") != Some(got_hex) {
        return Err(Error::Corrupt {
            path: what.into(),
            message: format!("content does not match its digest {want} (got sha256:{got_hex}): refusing it"),
        });
    }
    Ok(())
}

/// Pulls `reference` into the store; returns the stored image.
pub fn pull(paths: &Paths, reference: &str, opts: &Options, progress: &mut dyn FnMut(&str)) -> Result<Image> {
    let r = Reference::parse(reference)?;
    let host = if r.registry == "docker.io" {
        "registry-1.docker.io"
    } else {
        &r.registry
    };
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut c = Client {
        agent,
        base: format!("{}://{host}", if opts.insecure { "http" } else { "https" }),
        repository: r.repository.clone(),
        token: None,
        credentials: opts.credentials.clone(),
    };
    let digest = r.reference.starts_with("sha256:").then_some(r.reference.as_str());
    let (mut body, mut media) = c.document(&format!("manifests/{}", r.reference), Some(ACCEPT), digest)?;
    let mut doc: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| Error::Invalid(format!("manifest: {e}")))?;
    if media.contains("index") || media.contains("manifest.list") || doc["manifests"].is_array() {
        let (os, rest) = opts.platform.split_once('/').unwrap_or(("linux", "amd64"));
        let (arch, variant) = rest.split_once('/').map_or((rest, None), |(a, v)| (a, Some(v)));
        let pick = doc["manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| {
                let p = &m["platform"];
                p["os"] == os && p["architecture"] == arch && variant.is_none_or(|v| p["variant"] == v)
            })
            .ok_or_else(|| Error::NotFound(format!("{reference} has no image for platform {}", opts.platform)))?;
        let d = pick["digest"].as_str().unwrap_or_default().to_string();
        (body, media) = c.document(&format!("manifests/{d}"), Some(ACCEPT), Some(&d))?;
        doc = serde_json::from_slice(&body).map_err(|e| Error::Invalid(format!("manifest: {e}")))?;
    }
    let _ = (&body, &media);
    let config_digest = doc["config"]["digest"].as_str().unwrap_or_default().to_string();
    let (config_bytes, _) = c.document(&format!("blobs/{config_digest}"), None, Some(&config_digest))?;
    let layers: Vec<String> = doc["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| l["digest"].as_str().unwrap_or_default().to_string())
        .collect();
    // Blobs land in the store's tmp first (without the store lock, so other
    // commands go on meanwhile); layers are unpacked, under the lock, only
    // once every one arrived intact.
    crate::store::ensure(paths)?;
    let tmp = crate::store::tmp_dir(paths, "pull")?;
    let result = (|| -> Result<Image> {
        let mut files = Vec::new();
        for (i, d) in layers.iter().enumerate() {
            let f = tmp.join(format!("{i}"));
            let n = c.blob_to(d, &f)?;
            progress(&format!("Copying blob {d} ({n} bytes) done"));
            files.push(f);
        }
        let cfg: serde_json::Value =
            serde_json::from_slice(&config_bytes).map_err(|e| Error::Invalid(format!("image config: {e}")))?;
        let sec = &cfg["config"];
        let strings = |v: &serde_json::Value| -> Vec<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        };
        let _lock = crate::store::lock(paths)?;
        let mut stored = Vec::new();
        let mut size = 0;
        for f in &files {
            let (d, s) = crate::layer::import_tar(paths, std::fs::File::open(f).at("open", f)?)?;
            stored.push(d);
            size += s;
        }
        let image = Image {
            id: format!("sha256:{}", hex(&config_bytes)),
            repo_tags: vec![r.tag()],
            created: cfg["created"]
                .as_str()
                .map(String::from)
                .unwrap_or_else(cella_runtime::log::rfc3339_now),
            layers: stored,
            config: ImageConfig {
                cmd: strings(&sec["Cmd"]),
                entrypoint: strings(&sec["Entrypoint"]),
                env: strings(&sec["Env"]),
                working_dir: sec["WorkingDir"].as_str().unwrap_or_default().into(),
                user: sec["User"].as_str().unwrap_or_default().into(),
                exposed_ports: sec["ExposedPorts"]
                    .as_object()
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default(),
            },
            size,
        };
        crate::image::save(paths, &image)?;
        Ok(image)
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_follow_dockers_rules() {
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.reference.as_str()),
            ("docker.io", "library/busybox", "latest")
        );
        assert_eq!(r.tag(), "busybox:latest");
        let r = Reference::parse("quay.io/org/app:v1").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.reference.as_str()),
            ("quay.io", "org/app", "v1")
        );
        let r = Reference::parse("127.0.0.1:5000/test/bb").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("127.0.0.1:5000", "test/bb")
        );
        assert_eq!(r.tag(), "127.0.0.1:5000/test/bb:latest");
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("user/app@{d}")).unwrap();
        assert_eq!((r.repository.as_str(), r.reference.as_str()), ("user/app", d.as_str()));
        for bad in ["", "UPPER", "x@sha256:12"] {
            assert!(Reference::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn challenges_and_basic_auth() {
        let p = challenge_params(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull""#,
        );
        assert_eq!(p[0], ("realm".into(), "https://auth.example/token".into()));
        assert_eq!(p[1], ("service".into(), "registry.example".into()));
        assert_eq!(basic("Aladdin", "open sesame"), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    }
}
