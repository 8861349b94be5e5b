//! Images: the built-in `host` image and the images in the store
//! (images/<id>.json naming their layers, bottom first, and their config).

pub mod archive;
pub mod commit;
pub mod content;
pub mod digest;
pub mod import;
pub mod intake;
pub mod layer;
pub mod load;
pub mod platform;
pub mod save;

use crate::error::{Error, Result};
use crate::store;
use crate::store::paths::Paths;
use serde::{Deserialize, Serialize};

/// What an image says about how to run it (the subset of the OCI image
/// config that the engine uses), with docker's field names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageConfig {
    pub cmd: Vec<String>,
    pub entrypoint: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
    /// "80/tcp", "53/udp": what -P publishes.
    pub exposed_ports: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Image {
    /// "sha256:<hex>" for stored images, "host" for the built-in one.
    pub id: String,
    pub repo_tags: Vec<String>,
    /// From the image's config (none for the host image).
    #[serde(with = "crate::store::time::optional")]
    pub created: Option<crate::store::time::Timestamp>,
    /// Layer digests ("sha256:<hex>"), bottom first.
    pub layers: Vec<String>,
    pub config: ImageConfig,
    /// Unpacked size in bytes.
    pub size: u64,
    /// The digest of its manifest in the content store ("" for the host
    /// image and for images stored before the store kept manifests).
    #[serde(default)]
    pub manifest: String,
}

pub const HOST_ID: &str = "host";

/// docker's `images --filter`: `dangling=true|false`, `reference=PATTERN`
/// (`*` and `?` globs over `name:tag`, or over the name alone). Terms of
/// the same key are either; different keys all.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    dangling: Vec<bool>,
    references: Vec<String>,
}

impl Filter {
    pub fn parse(specs: &[String]) -> Result<Filter> {
        let mut f = Filter::default();
        for spec in specs {
            let bad = |why: &str| Error::Invalid(format!("invalid filter {spec:?}: {why}"));
            match spec.split_once('=') {
                Some(("dangling", v)) => f.dangling.push(match v {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(bad("dangling is true or false")),
                }),
                Some(("reference", v)) => f.references.push(v.to_string()),
                _ => return Err(bad("keys are dangling and reference")),
            }
        }
        Ok(f)
    }

    /// Whether `tag` (one of the image's names, None for an untagged one)
    /// of `image` passes.
    pub fn matches(&self, image: &Image, tag: Option<&str>) -> bool {
        let dangling = image.repo_tags.is_empty();
        let by_dangling = self.dangling.is_empty() || self.dangling.contains(&dangling);
        let by_reference = self.references.is_empty()
            || tag.is_some_and(|t| {
                let name = t.rsplit_once(':').map_or(t, |(n, _)| n);
                self.references.iter().any(|p| glob(p, t) || glob(p, name))
            });
        by_dangling && by_reference
    }
}

/// `*` any run of characters, `?` one; everything else itself.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

impl Image {
    /// The built-in view of the host, which cannot be removed.
    pub fn is_builtin(&self) -> bool {
        self.id == HOST_ID
    }
}
/// The host directories the `host` image shows (read-only, with a writable
/// layer per container on top), when they exist.
pub const HOST_DIRS: [&str; 9] = ["usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "opt"];

/// The built-in image: a view of the host's own userland.
pub fn host_image() -> Image {
    Image {
        id: HOST_ID.into(),
        repo_tags: vec!["host:latest".into()],
        created: None,
        layers: Vec::new(),
        config: ImageConfig {
            cmd: vec!["/bin/sh".into()],
            env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
            ..ImageConfig::default()
        },
        size: 0,
        manifest: String::new(),
    }
}

/// "name" → "name:latest"; a reference with a tag or digest is kept.
pub fn normalize(reference: &str) -> String {
    let last = reference.rsplit('/').next().unwrap_or(reference);
    if last.contains(':') || reference.contains('@') {
        reference.to_string()
    } else {
        format!("{reference}:latest")
    }
}

/// Checks a NAME[:TAG] given to import, tag or load (an archive's RepoTags):
/// docker's reference grammar, and not the built-in `host`.
pub fn check_reference(reference: &str) -> Result<String> {
    let r = normalize(reference);
    let (name, _) = r.rsplit_once(':').unwrap_or((&r, "latest"));
    let valid = !reference.contains('@') && crate::distribution::registry::Reference::parse_in(&r, "localhost").is_ok();
    if !valid || name == HOST_ID {
        return Err(Error::Invalid(format!(
            "invalid image reference {reference:?}: use NAME[:TAG], a lower-case name (not \"host\") as docker's references have it"
        )));
    }
    Ok(r)
}

fn record_path(paths: &Paths, id: &str) -> std::path::PathBuf {
    paths
        .images()
        .join(format!("{}.json", id.trim_start_matches("sha256:")))
}

/// Every stored image (not the built-in one).
pub fn list(paths: &Paths) -> Result<Vec<Image>> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir(paths.images()) else {
        return Ok(out);
    };
    for e in dir.flatten() {
        if e.path().extension().is_some_and(|x| x == "json") {
            out.push(store::read_json(&e.path())?);
        }
    }
    out.sort_by_key(|i: &Image| std::cmp::Reverse(i.created));
    Ok(out)
}

/// Finds an image by tag (NAME[:TAG]), full id or unique id prefix.
pub fn find(paths: &Paths, reference: &str) -> Result<Image> {
    let tag = normalize(reference);
    if tag == "host:latest" || reference == HOST_ID {
        return Ok(host_image());
    }
    // A full id (what containers record): its one record, not every one.
    if let Some(hex) = reference.strip_prefix("sha256:") {
        if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            match store::read_json::<Image>(&record_path(paths, reference)) {
                Ok(img) if img.id == reference => return Ok(img),
                Ok(_) | Err(Error::Io { .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    let all = list(paths)?;
    // docker.io/library/busybox is stored as busybox:latest.
    let full = crate::distribution::registry::Reference::parse(reference)
        .map(|r| r.tag())
        .ok();
    if let Some(i) = all
        .iter()
        .find(|i| i.repo_tags.contains(&tag) || full.as_ref().is_some_and(|f| i.repo_tags.contains(f)))
    {
        return Ok(i.clone());
    }
    if let Some(i) = by_short_name(&all, &tag)? {
        return Ok(i.clone());
    }
    let hex = reference.trim_start_matches("sha256:");
    if hex.len() >= 4 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        let hits: Vec<&Image> = all
            .iter()
            .filter(|i| i.id.trim_start_matches("sha256:").starts_with(hex))
            .collect();
        match hits.len() {
            1 => return Ok(hits[0].clone()),
            n if n > 1 => {
                return Err(Error::Conflict(format!(
                    "image id prefix {reference} is ambiguous ({n} images)"
                )))
            }
            _ => {}
        }
    }
    Err(Error::NotFound(format!(
        "no image {reference:?} here: see `cella images`, or bring one in with `cella import` or `cella load`"
    )))
}

/// docker's `image inspect` document: the record's fields under docker's
/// names (Id, RepoTags, Created, Size, Config.Cmd/Entrypoint/Env/
/// WorkingDir/User/ExposedPorts, RootFS.Layers), with Os and Architecture
/// (this machine's: what import makes and pull chooses by default).
pub fn document(img: &Image) -> serde_json::Value {
    let mut v = serde_json::to_value(img).unwrap_or_default();
    let c = &img.config;
    let ports: serde_json::Map<String, serde_json::Value> = c
        .exposed_ports
        .iter()
        .map(|p| (p.clone(), serde_json::json!({})))
        .collect();
    if let Some(o) = v.as_object_mut() {
        o.insert("Os".into(), "linux".into());
        o.insert("Architecture".into(), crate::system::go_arch().into());
        o.insert(
            "Config".into(),
            serde_json::json!({
                "Cmd": c.cmd, "Entrypoint": c.entrypoint, "Env": c.env,
                "WorkingDir": c.working_dir, "User": c.user, "ExposedPorts": ports,
            }),
        );
        o.insert(
            "RootFS".into(),
            serde_json::json!({"Type": "layers", "Layers": img.layers}),
        );
    }
    v
}

/// One row of `image history`: a step of the image's config history, the
/// layer it made (if any) and that layer's unpacked size.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HistoryEntry {
    /// The image's id on its top row, `<missing>` below (docker's).
    pub id: String,
    pub created: Option<crate::store::time::Timestamp>,
    pub created_by: String,
    pub size: u64,
    pub comment: String,
}

/// `image history`: newest step first, from the image's config (kept in
/// the content store); without a stored config, one row per layer.
pub fn history(paths: &Paths, img: &Image) -> Result<Vec<HistoryEntry>> {
    #[derive(serde::Deserialize, Default)]
    #[serde(default)]
    struct Step {
        created: Option<String>,
        created_by: String,
        comment: String,
        empty_layer: bool,
    }
    #[derive(serde::Deserialize, Default)]
    #[serde(default)]
    struct Config {
        history: Vec<Step>,
    }
    let steps: Vec<Step> = match manifest_of(paths, img) {
        Ok((_, m)) => {
            let bytes = content::read(paths, &m.config.digest)?;
            serde_json::from_slice::<Config>(&bytes)
                .map(|c| c.history)
                .unwrap_or_default()
        }
        Err(_) => Vec::new(),
    };
    let size_of = |l: &String| crate::system_usage::tree_size(&layer::dir(paths, l));
    let mut layers = img.layers.iter();
    let mut rows: Vec<HistoryEntry> = if steps.is_empty() {
        img.layers
            .iter()
            .map(|l| HistoryEntry {
                id: String::new(),
                created: img.created,
                created_by: String::new(),
                size: size_of(l),
                comment: String::new(),
            })
            .collect()
    } else {
        steps
            .iter()
            .map(|s| HistoryEntry {
                id: String::new(),
                created: s.created.as_deref().and_then(crate::store::time::Timestamp::parse),
                created_by: s.created_by.clone(),
                size: if s.empty_layer {
                    0
                } else {
                    layers.next().map(size_of).unwrap_or(0)
                },
                comment: s.comment.clone(),
            })
            .collect()
    };
    rows.reverse();
    for (i, r) in rows.iter_mut().enumerate() {
        r.id = if i == 0 { img.id.clone() } else { "<missing>".into() };
    }
    Ok(rows)
}

/// Whether a reference names no registry (its first component has no
/// `.` or `:` and is not `localhost`): a short name.
fn is_short(tag: &str) -> bool {
    match tag.split_once('/') {
        None => true,
        Some((first, _)) => !(first.contains('.') || first.contains(':') || first == "localhost"),
    }
}

/// Short names as podman resolves them among local images: `NAME:TAG` is
/// `localhost/NAME:TAG` (what podman's save and build name local images,
/// so an archive of theirs loads as that), else the one image whose name
/// ends in `/NAME:TAG` (`quay.io/x/NAME:TAG`); several: ambiguous. And
/// `localhost/NAME:TAG` finds a local `NAME:TAG`.
fn by_short_name<'a>(all: &'a [Image], tag: &str) -> Result<Option<&'a Image>> {
    if let Some(short) = tag.strip_prefix("localhost/") {
        return Ok(all.iter().find(|i| i.repo_tags.iter().any(|t| t == short)));
    }
    if !is_short(tag) {
        return Ok(None);
    }
    let local = format!("localhost/{tag}");
    if let Some(i) = all.iter().find(|i| i.repo_tags.contains(&local)) {
        return Ok(Some(i));
    }
    let suffix = format!("/{tag}");
    let hits: Vec<&Image> = all
        .iter()
        .filter(|i| i.repo_tags.iter().any(|t| t.ends_with(&suffix)))
        .collect();
    match hits[..] {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        _ => Err(Error::Conflict(format!(
            "the short name {tag} matches several images ({}): use the full name",
            hits.iter()
                .flat_map(|i| i.repo_tags.iter().filter(|t| t.ends_with(&suffix)))
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Stores an image record; its tags are taken from any other image that had
/// them, and a record of the same image keeps its own tags too. The caller
/// holds the store lock.
pub fn save(paths: &Paths, image: &Image) -> Result<()> {
    let mut image = image.clone();
    let mut replaced = Vec::new();
    for mut other in list(paths)? {
        if other.id == image.id {
            if image.manifest.is_empty() {
                image.manifest = other.manifest.clone();
            } else if other.manifest != image.manifest {
                replaced = blobs_of(paths, &other);
            }
            for t in other.repo_tags {
                if !image.repo_tags.contains(&t) {
                    image.repo_tags.push(t);
                }
            }
        } else if other.repo_tags.iter().any(|t| image.repo_tags.contains(t)) {
            other.repo_tags.retain(|t| !image.repo_tags.contains(t));
            store::write_json(&record_path(paths, &other.id), &other, store::Durability::Synced)?;
        }
    }
    store::write_json(&record_path(paths, &image.id), &image, store::Durability::Synced)?;
    // The same config under another manifest (another compression): the old
    // manifest goes, its layers stay while the new one names them.
    collect(paths, &replaced, &list(paths)?);
    Ok(())
}

/// `cella tag SOURCE TARGET`. The caller holds the store lock.
pub fn tag(paths: &Paths, source: &str, target: &str) -> Result<()> {
    let target = check_reference(target)?;
    let mut image = find(paths, source)?;
    if image.id == HOST_ID {
        return Err(Error::Invalid("the built-in host image cannot be tagged".into()));
    }
    if !image.repo_tags.contains(&target) {
        image.repo_tags.push(target);
    }
    save(paths, &image)
}

/// `cella rmi`: drops a tag, and the image with its last tag (or when named
/// by id: with more than one tag only with `force`, as docker); layers no
/// other image uses are removed. The caller holds the store lock and has
/// checked that no container uses the image.
/// Whether removing `reference` only takes one of the image's names away
/// (the image stays, with its other names).
pub fn only_untags(image: &Image, reference: &str) -> bool {
    image.repo_tags.len() > 1 && image.repo_tags.contains(&tag_named(image, reference))
}

/// The image's own name that `reference` found it by (a short name is
/// `localhost/NAME:TAG` or `…/NAME:TAG`); else the reference normalized.
fn tag_named(image: &Image, reference: &str) -> String {
    let tag = normalize(reference);
    if image.repo_tags.contains(&tag) {
        return tag;
    }
    by_short_name(std::slice::from_ref(image), &tag)
        .ok()
        .flatten()
        .and_then(|i| {
            let suffix = format!("/{tag}");
            let bare = tag.strip_prefix("localhost/").unwrap_or(&tag);
            i.repo_tags.iter().find(|t| t.ends_with(&suffix) || *t == bare).cloned()
        })
        .unwrap_or(tag)
}

pub fn remove(paths: &Paths, reference: &str, force: bool) -> Result<Vec<String>> {
    let mut image = find(paths, reference)?;
    if image.id == HOST_ID {
        return Err(Error::Invalid("the built-in host image cannot be removed".into()));
    }
    let tag = tag_named(&image, reference);
    let mut removed = Vec::new();
    if only_untags(&image, reference) {
        image.repo_tags.retain(|t| *t != tag);
        store::write_json(&record_path(paths, &image.id), &image, store::Durability::Synced)?;
        return Ok(vec![format!("Untagged: {tag}")]);
    }
    if !image.repo_tags.contains(&tag) && image.repo_tags.len() > 1 && !force {
        return Err(Error::Conflict(format!(
            "unable to delete {reference} (must be forced): the image is tagged {}; remove the tags one by one or use -f",
            image.repo_tags.join(", ")
        )));
    }
    let p = record_path(paths, &image.id);
    std::fs::remove_file(&p).map_err(|e| Error::Io {
        what: "remove",
        path: p,
        err: e,
    })?;
    removed.extend(image.repo_tags.iter().map(|t| format!("Untagged: {t}")));
    removed.push(format!("Deleted: {}", image.id));
    let remaining = list(paths)?;
    collect(paths, &blobs_of(paths, &image), &remaining);
    let still_used: Vec<String> = remaining.into_iter().flat_map(|i| i.layers).collect();
    for layer in &image.layers {
        if !still_used.contains(layer) {
            let dir = crate::image::layer::dir(paths, layer);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    Ok(removed)
}

/// An image's manifest, read back from the store.
pub fn manifest_of(paths: &Paths, image: &Image) -> Result<(Vec<u8>, content::Manifest)> {
    if image.manifest.is_empty() {
        return Err(Error::Invalid(format!(
            "image {} was stored before cella kept images' registry content: pull or load it again",
            image.repo_tags.first().unwrap_or(&image.id)
        )));
    }
    let bytes = content::read(paths, &image.manifest)?;
    let m = content::parse_manifest(&bytes, &image.manifest)?;
    Ok((bytes, m))
}

/// Every blob an image needs: manifest, config, layers.
pub fn blobs_of(paths: &Paths, image: &Image) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok((_, m)) = manifest_of(paths, image) {
        out.push(image.manifest.clone());
        out.push(m.config.digest);
        out.extend(m.layers.into_iter().map(|l| l.digest));
    }
    out
}

/// Removes the blobs of `removed` that no image in `remaining` needs.
pub fn collect(paths: &Paths, removed: &[String], remaining: &[crate::image::Image]) {
    let used: std::collections::HashSet<String> = remaining.iter().flat_map(|i| blobs_of(paths, i)).collect();
    for d in removed {
        if !used.contains(d) {
            if let Ok(p) = content::path(paths, d) {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn short_names_resolve_as_podman_resolves_them() {
        let img = |tags: &[&str]| {
            let mut i = host_image();
            i.repo_tags = tags.iter().map(|t| t.to_string()).collect();
            i
        };
        let all = vec![
            img(&["localhost/web:1"]),
            img(&["quay.io/team/db:2"]),
            img(&["plain:3"]),
            img(&["a.io/x/twice:1"]),
            img(&["b.io/y/twice:1"]),
        ];
        let found = |t: &str| super::by_short_name(&all, t).unwrap().map(|i| i.repo_tags[0].clone());
        assert_eq!(found("web:1").as_deref(), Some("localhost/web:1"));
        assert_eq!(found("db:2").as_deref(), Some("quay.io/team/db:2"));
        assert_eq!(found("team/db:2").as_deref(), Some("quay.io/team/db:2"));
        assert_eq!(found("localhost/plain:3").as_deref(), Some("plain:3"));
        assert_eq!(found("other:1"), None);
        assert_eq!(found("quay.io/web:1"), None, "a registry is never guessed");
        assert!(super::by_short_name(&all, "twice:1").is_err(), "ambiguous");
    }

    #[test]
    fn reference_globs_and_dangling() {
        assert!(super::glob("busy*", "busybox:test") && super::glob("*:latest", "a/b:latest"));
        assert!(super::glob("b?sybox", "busybox") && !super::glob("box", "busybox"));
        let mut img = host_image();
        img.repo_tags = vec!["localhost/web:1".into()];
        let f = |s: &[&str]| Filter::parse(&s.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        assert!(f(&["reference=localhost/web"]).matches(&img, Some("localhost/web:1")));
        assert!(f(&["reference=*web:1"]).matches(&img, Some("localhost/web:1")));
        assert!(!f(&["reference=db*"]).matches(&img, Some("localhost/web:1")));
        assert!(!f(&["dangling=true"]).matches(&img, Some("localhost/web:1")));
        img.repo_tags.clear();
        assert!(f(&["dangling=true"]).matches(&img, None));
        assert!(Filter::parse(&["dangling=maybe".into()]).is_err());
        assert!(Filter::parse(&["label=x".into()]).is_err());
    }
    use super::*;

    #[test]
    fn references_normalize_and_validate() {
        assert_eq!(normalize("busybox"), "busybox:latest");
        assert_eq!(normalize("busybox:1.36"), "busybox:1.36");
        assert_eq!(normalize("localhost:5000/busybox"), "localhost:5000/busybox:latest");
        assert_eq!(check_reference("my/app").unwrap(), "my/app:latest");
        for bad in ["", "Upper", "host", "a:b:c!", "-x", "x:"] {
            assert!(check_reference(bad).is_err(), "{bad:?}");
        }
    }
}
