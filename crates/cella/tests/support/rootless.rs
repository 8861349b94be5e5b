//! An ordinary user of the test's own, for the rootless tests (included with
//! `#[path]`): passwd, group, subuid and subgid entries written under the
//! test's directory and bound over /etc in a private mount namespace, so the
//! machine's files never change.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub struct User {
    pub uid: u32,
    pub home: PathBuf,
    etc: PathBuf,
    base: PathBuf,
}

impl User {
    /// `name` with `uid`, home `base/home`, and 65536 subordinate ids from `subids`.
    pub fn new(base: &Path, name: &str, uid: u32, subids: u32) -> User {
        let (etc, home) = (base.join("etc"), base.join("home"));
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap()
            + &format!("{name}:x:{uid}:{uid}::{}:/bin/sh\n", home.display());
        let group = std::fs::read_to_string("/etc/group").unwrap() + &format!("{name}:x:{uid}:\n");
        let range = format!("{name}:{subids}:65536\n");
        for (file, text) in [
            ("passwd", passwd),
            ("group", group),
            ("subuid", range.clone()),
            ("subgid", range),
        ] {
            std::fs::write(etc.join(file), text).unwrap();
        }
        User {
            uid,
            home,
            etc,
            base: base.to_path_buf(),
        }
    }

    /// Shell words (ending in `&&`) that give the user its home (with a
    /// run directory) and bind its files over /etc.
    pub fn setup(&self) -> String {
        let mut s = format!(
            "chmod 755 {b} && mkdir -p {h}/run && chown -R {u}:{u} {h} && ",
            b = self.base.display(),
            h = self.home.display(),
            u = self.uid
        );
        for file in ["passwd", "group", "subuid", "subgid"] {
            s += &format!("mount --bind {}/{file} /etc/{file} && ", self.etc.display());
        }
        s
    }

    /// Shell words that run `program` as the user, with its home and
    /// $XDG_RUNTIME_DIR in the test's directory.
    pub fn run(&self, program: &str) -> String {
        format!(
            "setpriv --reuid={u} --regid={u} --clear-groups env HOME={h} XDG_DATA_HOME= XDG_RUNTIME_DIR={h}/run {program}",
            u = self.uid,
            h = self.home.display()
        )
    }
}
