//! The eight namespace options shared by `enter` and `unshare`.

use clap::Args;

/// Each with an optional =FILE as in util-linux: `enter` joins the target's
/// namespace or FILE; `unshare` creates one and, with =FILE, persists it there.
#[derive(Args)]
pub struct NamespaceOptions {
    /// Mount namespace [=FILE]
    #[arg(short = 'm', long = "mount", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    mount: Option<String>,
    /// UTS namespace [=FILE]
    #[arg(short = 'u', long = "uts", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    uts: Option<String>,
    /// IPC namespace [=FILE]
    #[arg(short = 'i', long = "ipc", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    ipc: Option<String>,
    /// Network namespace [=FILE]
    #[arg(short = 'n', long = "net", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    net: Option<String>,
    /// PID namespace [=FILE]; applies to children (enter forks; unshare needs -f)
    #[arg(short = 'p', long = "pid", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pid: Option<String>,
    /// User namespace [=FILE]
    #[arg(short = 'U', long = "user", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    user: Option<String>,
    /// Cgroup namespace [=FILE]
    #[arg(short = 'C', long = "cgroup", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    cgroup: Option<String>,
    /// Time namespace [=FILE]; applies to children (enter forks; unshare needs -f)
    #[arg(short = 'T', long = "time", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pub time: Option<String>,
}

impl NamespaceOptions {
    /// (type, value): None when not given, "" when given without =FILE.
    pub fn chosen(&self) -> [(&'static str, &Option<String>); 8] {
        [
            ("mnt", &self.mount),
            ("uts", &self.uts),
            ("ipc", &self.ipc),
            ("net", &self.net),
            ("pid", &self.pid),
            ("user", &self.user),
            ("cgroup", &self.cgroup),
            ("time", &self.time),
        ]
    }
}
