//! Command-line parsing with urfave/cli's conventions, which runc's clients
//! rely on: `-name` and `--name`, `--name value` and `--name=value`, boolean
//! flags with an optional `=true|false`, and `--`. Options may stand before
//! or after the positionals (`create ID --bundle B`, as urfave reorders
//! them for runc), except where a command's own words follow (the global
//! options before the command, `exec ID CMD…`, `ps ID PS-ARGS…`).

use anyhow::{bail, Result};

pub struct Opt {
    names: &'static [&'static str],
    takes_value: bool,
}

impl Opt {
    pub const fn value(names: &'static [&'static str]) -> Opt {
        Opt {
            names,
            takes_value: true,
        }
    }
    pub const fn flag(names: &'static [&'static str]) -> Opt {
        Opt {
            names,
            takes_value: false,
        }
    }
}

#[derive(Debug, Default)]
pub struct Parsed {
    /// (canonical name, value); flags have "true" or "false".
    values: Vec<(&'static str, String)>,
    pub positional: Vec<String>,
}

impl Parsed {
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
    /// Every value of a repeatable option, in order.
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.values
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
    pub fn flag(&self, name: &str) -> bool {
        self.value(name) == Some("true")
    }
    /// `--preserve-fds N` (0 when absent).
    pub fn preserve_fds(&self) -> Result<u32> {
        match self.value("preserve-fds") {
            Some(n) => n
                .parse()
                .map_err(|_| anyhow::anyhow!("--preserve-fds {n:?} is not a number")),
            None => Ok(0),
        }
    }

    /// Where a terminal's pty master goes: `--console-socket`, else to this
    /// process when it stays in the foreground, else nowhere (an error if a
    /// terminal is asked for).
    pub fn console_target(&self, foreground: bool) -> cella_runtime::create::ConsoleTarget {
        use cella_runtime::create::ConsoleTarget;
        match self.value("console-socket") {
            Some(s) => ConsoleTarget::Socket(std::path::PathBuf::from(s)),
            None if foreground => ConsoleTarget::Caller,
            None => ConsoleTarget::None,
        }
    }

    /// Exactly one positional argument: the container ID.
    pub fn one_id(&self) -> Result<&str> {
        match self.positional.as_slice() {
            [id] => Ok(id),
            [] => bail!("a container ID is required"),
            more => bail!("expected one container ID, got {}: {more:?}", more.len()),
        }
    }
}

/// Options anywhere among the positionals, up to `--`.
pub fn parse(args: &[String], opts: &[Opt]) -> Result<Parsed> {
    parse_until(args, opts, usize::MAX)
}

/// As `parse`, but once `words` positionals have been seen, everything left
/// is positional as it stands (a command and its own options).
pub fn parse_until(args: &[String], opts: &[Opt], words: usize) -> Result<Parsed> {
    let mut p = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if p.positional.len() >= words {
            p.positional.extend(args[i..].iter().cloned());
            break;
        }
        if a == "--" {
            p.positional.extend(args[i + 1..].iter().cloned());
            break;
        }
        let Some(body) = a
            .strip_prefix("--")
            .or_else(|| a.strip_prefix('-'))
            .filter(|b| !b.is_empty())
        else {
            p.positional.push(a.clone());
            i += 1;
            continue;
        };
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        let Some(opt) = opts.iter().find(|o| o.names.contains(&name)) else {
            bail!("unknown option {a:?}");
        };
        let canonical = opt.names[0];
        if opt.takes_value {
            let v = match inline {
                Some(v) => v.to_string(),
                None => {
                    i += 1;
                    match args.get(i) {
                        Some(v) => v.clone(),
                        None => bail!("option {a:?} needs a value"),
                    }
                }
            };
            p.values.push((canonical, v));
        } else {
            let v = match inline {
                None | Some("true") | Some("1") => "true",
                Some("false") | Some("0") => "false",
                Some(other) => bail!("option --{name} takes true or false, not {other:?}"),
            };
            p.values.push((canonical, v.to_string()));
        }
        i += 1;
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTS: &[Opt] = &[Opt::value(&["bundle", "b"]), Opt::flag(&["detach", "d"])];

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn urfave_forms() {
        for form in [
            &["--bundle", "/b", "id"][..],
            &["-b", "/b", "id"],
            &["--bundle=/b", "id"],
            &["-bundle", "/b", "id"],
        ] {
            let p = parse(&v(form), OPTS).unwrap();
            assert_eq!(p.value("bundle"), Some("/b"));
            assert_eq!(p.positional, ["id"]);
        }
        assert!(!parse(&v(&["--detach=false", "x"]), OPTS).unwrap().flag("detach"));
    }

    #[test]
    fn options_after_the_id_as_runc_takes_them() {
        for form in [
            &["id", "--bundle", "/b", "-d"][..],
            &["--bundle", "/b", "id", "--detach"],
            &["-d", "id", "-b=/b"],
        ] {
            let p = parse(&v(form), OPTS).unwrap();
            assert_eq!((p.value("bundle"), p.flag("detach")), (Some("/b"), true), "{form:?}");
            assert_eq!(p.positional, ["id"], "{form:?}");
        }
        assert!(parse(&v(&["id", "--not-an-option"]), OPTS).is_err());
        assert_eq!(parse(&v(&["id", "--", "-d"]), OPTS).unwrap().positional, ["id", "-d"]);
        // A command's own words stay as they are once it begins.
        let p = parse_until(&v(&["id", "-d", "sh", "-c", "echo -d"]), OPTS, 2).unwrap();
        assert!(p.flag("detach"));
        assert_eq!(p.positional, ["id", "sh", "-c", "echo -d"]);
        let p = parse_until(&v(&["--root", "x"]), &[Opt::value(&["root"])], 1).unwrap();
        assert_eq!(p.value("root"), Some("x"));
        let p = parse_until(&v(&["create", "--bundle", "b", "id"]), &[], 1).unwrap();
        assert_eq!(p.positional, ["create", "--bundle", "b", "id"]);
    }

    #[test]
    fn errors() {
        assert!(parse(&v(&["--nope"]), OPTS).is_err());
        assert!(parse(&v(&["--bundle"]), OPTS).is_err());
        assert!(parse(&v(&[]), OPTS).unwrap().one_id().is_err());
    }
}
