//! Container logs in docker's json-file format: one JSON object per line,
//! {"log": "...\n", "stream": "stdout"|"stderr", "time": RFC 3339}.

use serde::{Deserialize, Serialize};
use std::io::Write;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub log: String,
    pub stream: String,
    pub time: String,
}

/// Cuts output into lines and appends them to the log file.
pub struct Writer {
    file: std::fs::File,
    partial: [Vec<u8>; 2],
}

impl Writer {
    pub fn new(file: std::fs::File) -> Writer {
        Writer {
            file,
            partial: [Vec::new(), Vec::new()],
        }
    }

    fn emit(&mut self, stream: usize, bytes: &[u8]) {
        let e = Entry {
            log: String::from_utf8_lossy(bytes).into_owned(),
            stream: if stream == 0 { "stdout" } else { "stderr" }.into(),
            time: cella_runtime::log::rfc3339_now(),
        };
        if let Ok(mut line) = serde_json::to_vec(&e) {
            line.push(b'\n');
            // A full disk loses log lines, never the container.
            let _ = self.file.write_all(&line);
        }
    }

    /// `stream`: 0 stdout, 1 stderr.
    pub fn write(&mut self, stream: usize, data: &[u8]) {
        self.partial[stream].extend_from_slice(data);
        while let Some(nl) = self.partial[stream].iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial[stream].drain(..=nl).collect();
            self.emit(stream, &line);
        }
        // Very long lines are cut, as docker does at 16 KiB.
        if self.partial[stream].len() >= 16 * 1024 {
            let chunk = std::mem::take(&mut self.partial[stream]);
            self.emit(stream, &chunk);
        }
    }

    /// Writes out unfinished lines (at the end of the container).
    pub fn flush(&mut self) {
        for s in 0..2 {
            if !self.partial[s].is_empty() {
                let chunk = std::mem::take(&mut self.partial[s]);
                self.emit(s, &chunk);
            }
        }
    }
}

/// Every entry of a log file (unreadable lines skipped).
pub fn read(text: &str) -> Vec<Entry> {
    text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

/// What `logs` reads of a log file.
#[derive(Debug, Clone, Copy, Default)]
pub struct Follow {
    /// Only the last N entries of what is there (of those in the window).
    pub tail: Option<usize>,
    /// Then keep reading until `alive` says the container has stopped (or
    /// `until` has passed).
    pub follow: bool,
    /// Only entries written at or after this moment (`--since`).
    pub since: Option<crate::store::time::Timestamp>,
    /// Only entries written before this moment (`--until`).
    pub until: Option<crate::store::time::Timestamp>,
}

impl Follow {
    fn in_window(&self, e: &Entry) -> bool {
        if self.since.is_none() && self.until.is_none() {
            return true;
        }
        let Some(t) = crate::store::time::Timestamp::parse(&e.time) else {
            return false;
        };
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u)
    }
}

/// Hands each entry of the log at `path` to `sink` (none if it does not
/// exist yet); with `follow`, then what comes, until `alive()` is false.
/// Only whole lines: a partial last line is read again on the next round.
pub fn stream(
    path: &std::path::Path,
    how: Follow,
    alive: &mut dyn FnMut() -> bool,
    sink: &mut dyn FnMut(&Entry) -> std::io::Result<()>,
) -> crate::error::Result<()> {
    use crate::error::At;
    use std::io::{Read, Seek};
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).at("open log", path),
    };
    let mut pos = 0u64;
    let mut first = true;
    loop {
        let still = alive();
        file.seek(std::io::SeekFrom::Start(pos)).at("seek log", path)?;
        let mut text = String::new();
        file.read_to_string(&mut text).at("read log", path)?;
        let whole = text.rfind('\n').map_or(0, |i| i + 1);
        let mut entries = read(&text[..whole]);
        entries.retain(|e| how.in_window(e));
        let skip = if first {
            how.tail.map_or(0, |n| entries.len().saturating_sub(n))
        } else {
            0
        };
        for e in &entries[skip..] {
            sink(e).at("write log entry for", path)?;
        }
        pos += whole as u64;
        first = false;
        let past_until = how.until.is_some_and(|u| crate::store::time::Timestamp::now() >= u);
        if !how.follow || !still || past_until {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_cut_into_lines_per_stream() {
        let p = std::env::temp_dir().join(format!("cella-log-{}", std::process::id()));
        let mut w = Writer::new(std::fs::File::create(&p).unwrap());
        w.write(0, b"hel");
        w.write(1, b"oops\n");
        w.write(0, b"lo\nwor");
        w.flush();
        let entries = read(&std::fs::read_to_string(&p).unwrap());
        let got: Vec<(&str, &str)> = entries.iter().map(|e| (e.stream.as_str(), e.log.as_str())).collect();
        assert_eq!(got, [("stderr", "oops\n"), ("stdout", "hello\n"), ("stdout", "wor")]);
        assert!(entries[0].time.ends_with('Z'));
        std::fs::remove_file(&p).unwrap();
    }
}
