//! The runtime's log: text or runc-style JSON lines (`level`, `msg`, `time`)
//! to the `--log` file, or to stderr. containerd reads the last JSON line's
//! `msg` when a command fails.

use std::fs::File;
use std::io::Write;
use std::sync::OnceLock;

pub struct Logger {
    file: Option<File>,
    json: bool,
    debug: bool,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Sets up the process-wide logger once; later calls are ignored.
pub fn init(file: Option<File>, json: bool, debug: bool) {
    let _ = LOGGER.set(Logger { file, json, debug });
}

fn logger() -> &'static Logger {
    LOGGER.get_or_init(|| Logger {
        file: None,
        json: false,
        debug: false,
    })
}

pub fn debug_enabled() -> bool {
    logger().debug
}

/// Writes one line at `level`. Errors also go to stderr when a log file is set,
/// so that a person at a terminal sees them too.
pub fn log(level: &str, msg: &str) {
    let l = logger();
    let line = if l.json {
        let obj = serde_json::json!({"level": level, "msg": msg, "time": rfc3339_now()});
        format!("{obj}\n")
    } else {
        format!("{} {level}: {msg}\n", rfc3339_now())
    };
    match &l.file {
        Some(f) => {
            let _ = (&*f).write_all(line.as_bytes());
            if level == "error" {
                let _ = writeln!(std::io::stderr(), "cella-runtime: {msg}");
            }
        }
        None => {
            let _ = if l.json {
                std::io::stderr().write_all(line.as_bytes())
            } else {
                writeln!(std::io::stderr(), "cella-runtime: {level}: {msg}")
            };
        }
    }
}

pub fn error(msg: &str) {
    log("error", msg)
}

pub fn warn(msg: &str) {
    log("warning", msg)
}

pub fn debug(msg: impl FnOnce() -> String) {
    if logger().debug {
        log("debug", &msg())
    }
}

/// The current UTC time as RFC 3339 with nanoseconds, as Go's time.RFC3339Nano.
pub fn rfc3339_now() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(d.as_secs() as i64, d.subsec_nanos())
}

/// Formats seconds since the epoch (UTC) as RFC 3339.
pub fn rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_known_instants() {
        assert_eq!(super::rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(super::rfc3339(1_700_000_000, 5), "2023-11-14T22:13:20.000000005Z");
        assert_eq!(super::rfc3339(951_782_400, 0), "2000-02-29T00:00:00.000000000Z");
    }
}
