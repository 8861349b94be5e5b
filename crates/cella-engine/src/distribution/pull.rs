//! `cella pull`: images from registries. Short names are searched as
//! registries.conf says (docker.io by default), mirrors tried first;
//! indexes give the platform's manifest; layers the store already has are
//! skipped and the others download a few at a time, each blob's digest
//! checked while it streams to disk (never a whole layer in memory). The
//! image is stored only when all of it arrived intact.

use crate::distribution::registries::{Endpoint, Registries};
use crate::distribution::registry::{Access, Body, Client, Reference};
use crate::error::{At, Error, Result};
use crate::image::content::{self, Descriptor};
use crate::image::intake::Layer;
use crate::image::layer::Prepared;
use crate::image::Image;
use crate::store::paths::Paths;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// How to reach registries, for pull, push and login alike.
#[derive(Debug, Default)]
pub struct Options {
    /// false: plain HTTP to every registry (`--tls-verify=false`).
    pub tls_verify: bool,
    /// --creds, before any credentials file.
    pub credentials: Option<(String, String)>,
    /// --authfile
    pub authfile: Option<PathBuf>,
    pub registries: Registries,
}

/// What a pull is doing, for a progress display.
pub enum Event<'a> {
    /// The manifest came from this place.
    Resolved {
        from: &'a str,
    },
    /// Bytes of a blob arrived (`done` of `size`).
    Bytes {
        digest: &'a str,
        size: u64,
        done: u64,
    },
    Done {
        digest: &'a str,
        size: u64,
    },
    /// An earlier, interrupted pull left `from` bytes; the rest is coming.
    Resumed {
        digest: &'a str,
        from: u64,
    },
    /// The store has it already.
    Skipped {
        digest: &'a str,
    },
    /// Unpacking and storing.
    Storing,
}

pub type Progress<'a> = &'a (dyn Fn(Event) + Sync);

/// Layers downloaded at once (docker's default).
const JOBS: usize = 3;

const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// Plain HTTP or not, and the credentials, for one endpoint.
pub fn access_for(opts: &Options, ep: &Endpoint) -> Result<Access> {
    let credentials = match &opts.credentials {
        Some(c) => Some(c.clone()),
        None => crate::distribution::auth::lookup(opts.authfile.as_deref(), &ep.registry, &ep.repository)?,
    };
    Ok(Access {
        insecure: !opts.tls_verify || ep.insecure,
        credentials,
    })
}

/// A small JSON document (manifest, index, config), its digest checked.
fn document(c: &mut Client, path: &str, accept: Option<&str>, digest: Option<&str>) -> Result<(Vec<u8>, String)> {
    let mut resp = c.get(path, accept)?;
    let media = crate::distribution::registry::header(&resp, "content-type");
    let bytes = resp
        .body_mut()
        .with_config()
        .limit(crate::safefs::inroot::MAX_DOCUMENT)
        .read_to_vec()
        .map_err(crate::distribution::registry::net_err(path))?;
    if let Some(d) = digest {
        content::verify(d, &format!("sha256:{}", crate::image::digest::sha256_hex(&bytes)), path)?;
    }
    Ok((bytes, media))
}

/// A blob streamed to disk, its digest checked as it arrives, then moved to
/// `file`. Bytes land in partial/sha256-HEX first, which outlives a killed
/// pull: the next pull of the blob asks only for the rest (an HTTP range)
/// after hashing what is there. A blob another pull is fetching right now
/// (its partial file locked) is fetched whole into `file` instead.
fn blob_to(paths: &Paths, c: &mut Client, blob: &Descriptor, file: &Path, progress: Progress) -> Result<u64> {
    let digest = blob.digest.as_str();
    let dir = paths.partial();
    std::fs::create_dir_all(&dir).at("create directory", &dir)?;
    let part = dir.join(digest.replace(':', "-"));
    let out = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&part)
        .at("open", &part)?;
    let (target, mut out) = match cella_sys::fd::flock_exclusive(std::os::fd::AsFd::as_fd(&out), true) {
        Ok(()) => (part.as_path(), out),
        Err(_) => (file, std::fs::File::create(file).at("create", file)?),
    };
    let mut h = Sha256::new();
    let mut have = 0u64;
    if target == part {
        // Hash what an earlier pull left; ask for the rest.
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = out.read(&mut buf).at("read", &part)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            have += n as u64;
        }
    }
    let range = format!("bytes={have}-");
    let url = c.url(&format!("blobs/{digest}"));
    let headers: Vec<(&str, &str)> = if have > 0 { vec![("Range", &range)] } else { vec![] };
    let mut resp = c.send("GET", &url, &headers, &Body::Empty)?;
    match resp.status().as_u16() {
        206 => progress(Event::Resumed { digest, from: have }),
        416 => {} // all of it is here already
        _ if have > 0 => {
            // No range: start over.
            out.set_len(0).at("truncate", target)?;
            std::io::Seek::seek(&mut out, std::io::SeekFrom::Start(0)).at("seek", target)?;
            (h, have) = (Sha256::new(), 0);
            resp = c.expect("GET", &url, &[], &Body::Empty)?;
        }
        _ => resp = c.ensure(resp, "GET", &url)?,
    }
    let mut total = have;
    if resp.status() != 416 {
        let mut reader = resp.body_mut().with_config().limit(u64::MAX).reader();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = reader
                .read(&mut buf)
                .map_err(|e| Error::Invalid(format!("blob {digest}: {e} (pull again to resume)")))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            out.write_all(&buf[..n]).at("write", target)?;
            total += n as u64;
            progress(Event::Bytes {
                digest,
                size: blob.size,
                done: total,
            });
        }
    }
    let got = format!("sha256:{}", crate::image::digest::hex(&h.finalize()));
    if let Err(e) = content::verify(digest, &got, &format!("blob {digest}")) {
        let _ = std::fs::remove_file(target);
        return Err(e);
    }
    if target == part {
        std::fs::rename(&part, file).at("move into place", file)?;
    }
    progress(Event::Done { digest, size: total });
    Ok(total)
}

/// Pulls `reference` into the store; returns the stored image.
pub fn pull(paths: &Paths, reference: &str, platform: &str, opts: &Options, progress: Progress) -> Result<Image> {
    let mut errors = Vec::new();
    for r in opts.registries.candidates(reference)? {
        for ep in opts.registries.endpoints(&r, true)? {
            match pull_from(paths, &r, &ep, platform, opts, progress) {
                Ok(image) => return Ok(image),
                Err(e) => errors.push((format!("{}/{}", ep.registry, ep.repository), e)),
            }
        }
    }
    if errors.len() == 1 {
        return Err(errors.remove(0).1);
    }
    let tried: Vec<String> = errors.iter().map(|(at, e)| format!("{at}: {e}")).collect();
    Err(Error::NotFound(format!(
        "pulling {reference} failed everywhere it was looked for:\n  {}",
        tried.join("\n  ")
    )))
}

/// Chooses `platform` ("os/arch[/variant]") from an index.
fn choose(index: &serde_json::Value, platform: &str, reference: &str) -> Result<String> {
    let (os, rest) = platform.split_once('/').unwrap_or(("linux", platform));
    let (arch, variant) = rest.split_once('/').map_or((rest, None), |(a, v)| (a, Some(v)));
    let manifests = index["manifests"].as_array().cloned().unwrap_or_default();
    let pick = manifests
        .iter()
        .find(|m| {
            let p = &m["platform"];
            // arm64 without a variant is v8 (docker's normalization).
            let listed = p["variant"].as_str().or((p["architecture"] == "arm64").then_some("v8"));
            p["os"] == os && p["architecture"] == arch && variant.is_none_or(|v| listed == Some(v))
        })
        .ok_or_else(|| {
            let have: Vec<String> = manifests
                .iter()
                .filter_map(|m| {
                    let p = &m["platform"];
                    Some(format!("{}/{}", p["os"].as_str()?, p["architecture"].as_str()?))
                })
                .collect();
            Error::NotFound(format!(
                "{reference} has no image for platform {platform} (it has {}): choose one with --platform",
                have.join(", ")
            ))
        })?;
    Ok(pick["digest"].as_str().unwrap_or_default().to_string())
}

fn pull_from(
    paths: &Paths,
    r: &Reference,
    ep: &Endpoint,
    platform: &str,
    opts: &Options,
    progress: Progress,
) -> Result<Image> {
    let mut c = Client::new(&ep.registry, &ep.repository, &access_for(opts, ep)?, false);
    let digest = r.reference.starts_with("sha256:").then_some(r.reference.as_str());
    let (mut body, mut media) = document(&mut c, &format!("manifests/{}", r.reference), Some(ACCEPT), digest)?;
    let doc: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| Error::Invalid(format!("manifest of {}: {e}", r.tag())))?;
    if media.contains("index") || media.contains("manifest.list") || doc["manifests"].is_array() {
        let d = choose(&doc, platform, &r.tag())?;
        (body, media) = document(&mut c, &format!("manifests/{d}"), Some(ACCEPT), Some(&d))?;
    }
    if media.contains("docker.distribution.manifest.v1") {
        return Err(Error::Invalid(format!(
            "{} has a docker schema 1 manifest, which is not supported: push it again with a current tool",
            r.tag()
        )));
    }
    progress(Event::Resolved {
        from: &format!(
            "{}/{}{}{}",
            ep.registry,
            ep.repository,
            if digest.is_some() { "@" } else { ":" },
            r.reference
        ),
    });
    let manifest = content::parse_manifest(&body, &r.tag())?;
    if let Some(l) = manifest
        .layers
        .iter()
        .find(|l| !l.media_type.is_empty() && !l.media_type.contains("tar"))
    {
        return Err(Error::Invalid(format!(
            "{}: layer {} has media type {}, which is not a layer cella can unpack",
            r.tag(),
            l.digest,
            l.media_type
        )));
    }
    // The same manifest stored already: just the name is new.
    let manifest_digest = format!("sha256:{}", crate::image::digest::sha256_hex(&body));
    if let Some(mut have) = crate::image::list(paths)?
        .into_iter()
        .find(|i| i.id == manifest.config.digest && i.manifest == manifest_digest)
    {
        let _lock = crate::store::lock(paths)?;
        have.repo_tags = vec![r.tag()];
        crate::image::save(paths, &have)?;
        return crate::image::find(paths, &r.tag());
    }
    let config_digest = manifest.config.digest.clone();
    let (config_bytes, _) = document(&mut c, &format!("blobs/{config_digest}"), None, Some(&config_digest))?;
    let diff_ids = crate::image::intake::parse_config(&config_bytes)?
        .rootfs
        .map(|r| r.diff_ids)
        .unwrap_or_default();
    // Layers the store has (blob and unpacked) are not fetched again.
    let mut layers: Vec<Option<Layer>> = Vec::new();
    let mut todo = Vec::new();
    for (i, l) in manifest.layers.iter().enumerate() {
        match diff_ids.get(i) {
            Some(d) if content::has(paths, &l.digest) && crate::image::layer::dir(paths, d).exists() => {
                progress(Event::Skipped { digest: &l.digest });
                layers.push(Some(Layer::Stored {
                    blob: l.clone(),
                    diff_id: d.clone(),
                }));
            }
            _ => {
                layers.push(None);
                todo.push(i);
            }
        }
    }
    // Blobs land in the store's tmp first (without the store lock, so other
    // commands go on meanwhile); layers are unpacked, under the lock, only
    // once every one arrived intact.
    crate::store::ensure(paths)?;
    let tmp = crate::store::tmp_dir(paths, "pull")?;
    let result = (|| -> Result<Image> {
        for (i, p) in download(paths, &c, &manifest.layers, &todo, &tmp, progress)? {
            layers[i] = Some(Layer::Prepared(p));
        }
        progress(Event::Storing);
        let _lock = crate::store::lock(paths)?;
        crate::image::intake::store_image(
            paths,
            &config_bytes,
            Some(&body),
            layers.into_iter().flatten().collect(),
            vec![r.tag()],
        )
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

/// Downloads the layers numbered `todo` into tmp/N, JOBS at a time, each
/// unpacked into tmp/ as soon as it arrived; the first failure stops the
/// others.
fn download(
    paths: &Paths,
    c: &Client,
    layers: &[Descriptor],
    todo: &[usize],
    tmp: &Path,
    progress: Progress,
) -> Result<Vec<(usize, Prepared)>> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let first_error = Mutex::new(None);
    let done = Mutex::new(Vec::new());
    let (next, failed, first_error_ref, done_ref) = (&next, &failed, &first_error, &done);
    std::thread::scope(|s| {
        for _ in 0..JOBS.min(todo.len()) {
            let mut c = c.clone();
            s.spawn(move || loop {
                let k = next.fetch_add(1, Ordering::SeqCst);
                if k >= todo.len() || failed.load(Ordering::SeqCst) {
                    break;
                }
                let i = todo[k];
                let file = tmp.join(i.to_string());
                let d = &layers[i].digest;
                let r = blob_to(paths, &mut c, &layers[i], &file, progress)
                    .and_then(|_| crate::image::layer::prepare_layer(paths, &file, Some(d), true));
                match r {
                    Ok(p) => done_ref.lock().unwrap().push((i, p)),
                    Err(e) => {
                        failed.store(true, Ordering::SeqCst);
                        first_error_ref.lock().unwrap().get_or_insert(e);
                        break;
                    }
                }
            });
        }
    });
    match first_error.into_inner().unwrap() {
        Some(e) => Err(e),
        None => Ok(done.into_inner().unwrap()),
    }
}

/// `cella login`: checks the credentials with the registry, then files them.
pub fn login(registry: &str, user: &str, password: &str, opts: &Options) -> Result<PathBuf> {
    let access = Access {
        insecure: !opts.tls_verify || opts.registries.insecure(registry),
        credentials: Some((user.into(), password.into())),
    };
    crate::distribution::registry::check_login(registry, &access)?;
    crate::distribution::auth::store(opts.authfile.as_deref(), registry, user, password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_are_chosen_from_an_index() {
        let index = serde_json::json!({"manifests": [
            {"digest": "sha256:a", "platform": {"os": "linux", "architecture": "amd64"}},
            {"digest": "sha256:b", "platform": {"os": "linux", "architecture": "arm64"}},
            {"digest": "sha256:c", "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}},
        ]});
        assert_eq!(choose(&index, "linux/amd64", "x").unwrap(), "sha256:a");
        assert_eq!(
            choose(&index, "linux/arm64/v8", "x").unwrap(),
            "sha256:b",
            "arm64 is v8 by default"
        );
        assert_eq!(choose(&index, "linux/arm/v7", "x").unwrap(), "sha256:c");
        let e = choose(&index, "linux/arm/v6", "x").unwrap_err().to_string();
        assert!(e.contains("it has linux/amd64, linux/arm64, linux/arm"), "{e}");
        assert!(
            crate::image::platform::host_architecture() != "x86_64",
            "OCI's names, not Rust's"
        );
    }
}
