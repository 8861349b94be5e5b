//! The images the CRI test runs, made here from Debian's busybox-static
//! (nothing is pulled): an OCI image layout in a tar, as `ctr images import`
//! takes it.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

fn put(blobs: &Path, data: &[u8]) -> serde_json::Value {
    let hex: String = Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(blobs.join(&hex), data).unwrap();
    serde_json::json!({"digest": format!("sha256:{hex}"), "size": data.len()})
}

fn with_media_type(mut d: serde_json::Value, media_type: &str) -> serde_json::Value {
    d["mediaType"] = media_type.into();
    d
}

/// A one-layer busybox image named `name` whose command is `cmd`; returns the archive.
pub fn busybox_archive(dir: &Path, name: &str, cmd: &[&str]) -> PathBuf {
    let work = dir.join(cella_testsupport::unique("image"));
    let rootfs = work.join("rootfs");
    cella_testsupport::busybox_rootfs(&rootfs);
    for d in ["mnt", "run", "var"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    let mut layer = tar::Builder::new(Vec::new());
    layer.follow_symlinks(false);
    layer.append_dir_all(".", &rootfs).unwrap();
    let layer = layer.into_inner().unwrap();
    let layout = work.join("layout");
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let layer_d = put(&blobs, &layer);
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": cmd, "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [layer_d["digest"]]},
    });
    let config_d = put(&blobs, config.to_string().as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": with_media_type(config_d, "application/vnd.oci.image.config.v1+json"),
        "layers": [with_media_type(layer_d, "application/vnd.oci.image.layer.v1.tar")],
    });
    let mut manifest_d = with_media_type(
        put(&blobs, manifest.to_string().as_bytes()),
        "application/vnd.oci.image.manifest.v1+json",
    );
    manifest_d["annotations"] = serde_json::json!({"io.containerd.image.name": name});
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [manifest_d]});
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
    std::fs::write(layout.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let archive = work.with_extension("tar");
    let mut b = tar::Builder::new(std::fs::File::create(&archive).unwrap());
    b.append_dir_all(".", &layout).unwrap();
    b.finish().unwrap();
    let _ = std::fs::remove_dir_all(&work);
    archive
}
