//! `cella push`: an image's blobs and manifest to a registry, exactly as the
//! store keeps them (so the digests a pull gave come back); blobs the
//! repository has already are skipped.

use crate::distribution::pull::{access_for, Options};
use crate::distribution::registry::{Body, Client, Reference};
use crate::error::{Error, Result};
use crate::image::content;
use crate::store::paths::Paths;

/// Pushes `image` as `destination` (default: its own name); returns the
/// manifest digest the registry stored.
pub fn push(
    paths: &Paths,
    image: &str,
    destination: Option<&str>,
    opts: &Options,
    progress: &dyn Fn(&str),
) -> Result<String> {
    let img = crate::image::find(paths, image)?;
    if img.id == crate::image::HOST_ID {
        return Err(Error::Invalid("the built-in host image cannot be pushed".into()));
    }
    let (manifest_bytes, manifest) = crate::image::manifest_of(paths, &img)?;
    let r = Reference::parse(destination.unwrap_or(image))?;
    let ep = opts
        .registries
        .endpoints(&r, false)?
        .pop()
        .expect("a registry's own location is always an endpoint");
    let mut c = Client::new(&ep.registry, &ep.repository, &access_for(opts, &ep)?, true);
    for blob in manifest.layers.iter().chain([&manifest.config]) {
        let d = blob.digest.as_str();
        let head = c.send("HEAD", &c.url(&format!("blobs/{d}")), &[], &Body::Empty)?;
        if head.status().is_success() {
            progress(&format!("Copying blob {} skipped: already exists", content::short(d)));
            continue;
        }
        let file = content::path(paths, d)?;
        let start = c.expect("POST", &c.url("blobs/uploads/"), &[], &Body::Empty)?;
        let location = crate::distribution::registry::header(&start, "location");
        if location.is_empty() {
            return Err(Error::Invalid(format!(
                "{}: the registry gave no upload location",
                c.base
            )));
        }
        let mut url = if location.starts_with('/') {
            format!("{}{location}", c.base)
        } else {
            location
        };
        url.push(if url.contains('?') { '&' } else { '?' });
        url += &format!("digest={d}");
        c.expect("PUT", &url, &[], &Body::File(&file))?;
        progress(&format!(
            "Copying blob {} done ({} bytes)",
            content::short(d),
            blob.size
        ));
    }
    let media = if manifest.media_type.is_empty() {
        content::OCI_MANIFEST
    } else {
        manifest.media_type.as_str()
    };
    let url = c.url(&format!("manifests/{}", r.reference));
    let resp = c.expect("PUT", &url, &[], &Body::Bytes(&manifest_bytes, media))?;
    let digest = Some(crate::distribution::registry::header(&resp, "docker-content-digest"))
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| img.manifest.clone());
    if digest != img.manifest {
        return Err(Error::Invalid(format!(
            "{url}: the registry stored the manifest as {digest}, not {}",
            img.manifest
        )));
    }
    progress(&format!("Writing manifest {digest} to {}", r.tag()));
    Ok(digest)
}
