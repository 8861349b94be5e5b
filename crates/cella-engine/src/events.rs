//! `events`: what happened to containers, images, volumes and networks, as
//! docker reports it. With no daemon to watch, each command that changes
//! something appends one JSON line to `<root>/events.jsonl` (one write of
//! one line with O_APPEND, so lines from concurrent commands never mix);
//! `events` reads the window asked for and, without --until, follows the
//! file. Past 8 MiB the file is moved to `events.jsonl.old` (one
//! generation kept), so it never grows without bound.

use crate::store::paths::Paths;
use crate::store::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

const FILE: &str = "events.jsonl";
const ROTATE_AT: u64 = 8 << 20;

/// docker's event message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    pub scope: String,
    pub time: i64,
    #[serde(rename = "timeNano")]
    pub time_nano: i128,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes")]
    pub attributes: BTreeMap<String, String>,
}

fn file(paths: &Paths) -> PathBuf {
    paths.root.join(FILE)
}

/// Records an event (best effort: a full disk loses events, never the
/// operation that made them).
pub fn record(paths: &Paths, kind: &str, action: &str, id: &str, attributes: &[(&str, &str)]) {
    let now = Timestamp::now();
    let e = Event {
        kind: kind.into(),
        action: action.into(),
        actor: Actor {
            id: id.into(),
            attributes: attributes.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        },
        scope: "local".into(),
        time: now.unix_secs(),
        time_nano: now.unix_nanos(),
    };
    let Ok(mut line) = serde_json::to_vec(&e) else { return };
    line.push(b'\n');
    let path = file(paths);
    if std::fs::metadata(&path).is_ok_and(|m| m.len() > ROTATE_AT) {
        let _ = std::fs::rename(&path, paths.root.join(format!("{FILE}.old")));
    }
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(&path) {
        let _ = f.write_all(&line);
    }
}

/// A container's event, with docker's attributes: the image as it was
/// asked for (no image lookup on the start path) and the name.
pub fn container(paths: &Paths, c: &crate::container::Container, action: &str, more: &[(&str, &str)]) {
    let mut attrs = vec![("image", c.config.image.as_str()), ("name", c.name.as_str())];
    attrs.extend_from_slice(more);
    record(paths, "container", action, &c.id, &attrs);
}

/// Which events `events` shows.
#[derive(Debug, Clone, Default)]
pub struct Window {
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// KEY=VALUE terms: type, event, container, image, volume, network,
    /// label (the same key twice is either, different keys all).
    pub filters: Vec<(String, String)>,
}

impl Window {
    fn shows(&self, e: &Event) -> bool {
        let nanos = |t: &Timestamp| t.unix_nanos();
        if self.since.is_some_and(|s| e.time_nano < nanos(&s)) || self.until.is_some_and(|u| e.time_nano >= nanos(&u)) {
            return false;
        }
        let mut keys: Vec<&str> = self.filters.iter().map(|(k, _)| k.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        keys.iter().all(|key| {
            self.filters
                .iter()
                .filter(|(k, _)| k == key)
                .any(|(k, v)| match k.as_str() {
                    "type" => e.kind == *v,
                    "event" => e.action == *v || e.action.split(':').next() == Some(v.as_str()),
                    "container" | "image" | "volume" | "network" => {
                        e.kind == *k
                            && (e.actor.id == *v
                                || e.actor.id.starts_with(v.as_str()) && v.len() >= 12
                                || e.actor.attributes.get("name") == Some(v))
                            || (k == "image" && e.actor.attributes.get("image") == Some(v))
                    }
                    _ => false,
                })
        })
    }
}

/// Hands each event of the window to `sink`, then (with `follow`) new ones
/// as they come, until `sink` says stop or `until` passes.
pub fn read(paths: &Paths, w: &Window, follow: bool, sink: &mut dyn FnMut(&Event) -> bool) -> crate::error::Result<()> {
    use std::io::{Read, Seek};
    let path = file(paths);
    let mut pos = 0u64;
    let mut pending = String::new();
    loop {
        if let Ok(mut f) = std::fs::File::open(&path) {
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            if len < pos {
                pos = 0; // rotated
            }
            let _ = f.seek(std::io::SeekFrom::Start(pos));
            let mut text = String::new();
            let _ = f.read_to_string(&mut text);
            pos += text.len() as u64;
            pending.push_str(&text);
            let whole = pending.rfind('\n').map_or(0, |i| i + 1);
            for line in pending[..whole].lines() {
                if let Ok(e) = serde_json::from_str::<Event>(line) {
                    if w.shows(&e) && !sink(&e) {
                        return Ok(());
                    }
                }
            }
            pending.drain(..whole);
        }
        let past = w.until.is_some_and(|u| Timestamp::now() >= u);
        if !follow || past {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
