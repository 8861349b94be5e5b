//! docker's `ps --filter KEY=VALUE`, parsed once: terms of the same key
//! are alternatives (any may match), terms of different keys must all match.

use crate::container::{Container, Status};
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Term {
    /// Part of the name; `^` and `$` anchor it (docker takes a regular
    /// expression: these are the forms scripts use).
    Name(String),
    /// A prefix of the full id.
    Id(String),
    /// One of docker's states; removing and dead never occur here.
    Status(Option<Status>),
    /// Waiting to be started again by its restart policy.
    Restarting,
    /// starting, healthy, unhealthy or none (no check).
    Health(String),
    /// An image reference (name[:tag], id or id prefix).
    Ancestor(String),
    Exited(i32),
    /// `label=KEY` (has it) or `label=KEY=VALUE`; unlike the other keys,
    /// every label term must match, as docker has it.
    Label(String, Option<String>),
}

impl Term {
    fn key(&self) -> &'static str {
        match self {
            Term::Name(_) => "name",
            Term::Id(_) => "id",
            Term::Status(_) | Term::Restarting => "status",
            Term::Ancestor(_) => "ancestor",
            Term::Exited(_) => "exited",
            Term::Label(..) => "label",
            Term::Health(_) => "health",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    terms: Vec<Term>,
}

impl Filter {
    /// `specs` as given to `--filter`/`-f`, each `KEY=VALUE`.
    pub fn parse(specs: &[String]) -> Result<Filter> {
        let mut terms = Vec::with_capacity(specs.len());
        for spec in specs {
            let bad = |why: &str| Error::Invalid(format!("invalid filter {spec:?}: {why}"));
            let (key, value) = spec.split_once('=').ok_or_else(|| bad("use KEY=VALUE"))?;
            terms.push(match key {
                "name" => Term::Name(value.to_string()),
                "id" => Term::Id(value.to_string()),
                "status" if value == "restarting" => Term::Restarting,
                "status" => Term::Status(match value {
                    "created" => Some(Status::Created),
                    "running" => Some(Status::Running),
                    "paused" => Some(Status::Paused),
                    "exited" => Some(Status::Exited),
                    "removing" | "dead" => None,
                    _ => {
                        return Err(bad(
                            "status is one of created, restarting, running, removing, paused, exited, dead",
                        ))
                    }
                }),
                "ancestor" => Term::Ancestor(value.to_string()),
                "health" => match value {
                    "starting" | "healthy" | "unhealthy" | "none" => Term::Health(value.to_string()),
                    _ => return Err(bad("health is one of starting, healthy, unhealthy and none")),
                },
                "exited" => Term::Exited(value.parse().map_err(|_| bad("exited takes an exit code"))?),
                "label" => match value.split_once('=') {
                    Some((k, v)) => Term::Label(k.to_string(), Some(v.to_string())),
                    None => Term::Label(value.to_string(), None),
                },
                _ => return Err(bad("keys are name, id, status, ancestor, exited, label and health")),
            });
        }
        Ok(Filter { terms })
    }

    /// Whether stopped containers are listed without `-a` (docker does so
    /// when the filter asks about states or exit codes).
    pub fn shows_stopped(&self) -> bool {
        self.terms
            .iter()
            .any(|t| matches!(t, Term::Status(_) | Term::Restarting | Term::Exited(_)))
    }

    /// The references of `ancestor` terms, for the caller to resolve.
    pub fn ancestors(&self) -> impl Iterator<Item = &str> {
        self.terms.iter().filter_map(|t| match t {
            Term::Ancestor(r) => Some(r.as_str()),
            _ => None,
        })
    }

    /// Whether `c` passes; `image_of(reference)` is the image id an
    /// ancestor reference names (None: no such image, so no match).
    pub fn matches(&self, c: &Container, image_of: &dyn Fn(&str) -> Option<String>) -> bool {
        let mut keys: Vec<&'static str> = self.terms.iter().map(Term::key).collect();
        keys.sort_unstable();
        keys.dedup();
        keys.iter().all(|key| {
            let mut of_key = self.terms.iter().filter(|t| t.key() == *key);
            if *key == "label" {
                of_key.all(|t| term_matches(t, c, image_of))
            } else {
                of_key.any(|t| term_matches(t, c, image_of))
            }
        })
    }
}

fn term_matches(t: &Term, c: &Container, image_of: &dyn Fn(&str) -> Option<String>) -> bool {
    match t {
        Term::Name(pattern) => name_matches(pattern, &c.name),
        Term::Id(prefix) => c.id.starts_with(prefix.as_str()),
        Term::Status(s) => s.is_some_and(|s| s == c.state.status && !c.restarts.restarting),
        Term::Restarting => c.restarts.restarting,
        Term::Health(want) => match &c.health {
            Some(h) => h.status == *want,
            None => want == "none",
        },
        Term::Ancestor(r) => image_of(r).is_some_and(|id| id == c.image_id),
        Term::Exited(code) => c.state.status == Status::Exited && c.state.exit_code == *code,
        Term::Label(k, v) => c
            .config
            .labels
            .get(k)
            .is_some_and(|have| v.as_ref().is_none_or(|want| want == have)),
    }
}

fn name_matches(pattern: &str, name: &str) -> bool {
    let (start, p) = match pattern.strip_prefix('^') {
        Some(p) => (true, p),
        None => (false, pattern),
    };
    let (end, p) = match p.strip_suffix('$') {
        Some(p) => (true, p),
        None => (false, p),
    };
    match (start, end) {
        (true, true) => name == p,
        (true, false) => name.starts_with(p),
        (false, true) => name.ends_with(p),
        (false, false) => name.contains(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(name: &str, status: Status, code: i32) -> Container {
        let mut c: Container = serde_json::from_value(serde_json::json!({
            "Id": "abcdef0123", "Name": name, "Created": "2026-12-02T00:00:00Z",
            "ImageId": "sha256:img", "Config": {}, "State": {}
        }))
        .unwrap();
        c.state.status = status;
        c.state.exit_code = code;
        c
    }

    fn f(specs: &[&str]) -> Filter {
        Filter::parse(&specs.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn same_keys_are_either_and_different_keys_all() {
        let none = |_: &str| None;
        let web = container("web-1", Status::Running, 0);
        assert!(f(&["name=web"]).matches(&web, &none));
        assert!(f(&["name=^web-1$"]).matches(&web, &none));
        assert!(!f(&["name=^eb"]).matches(&web, &none));
        assert!(f(&["name=db", "name=web"]).matches(&web, &none));
        assert!(!f(&["name=web", "status=exited"]).matches(&web, &none));
        assert!(f(&["id=abc", "status=running"]).matches(&web, &none));
        let done = container("job", Status::Exited, 3);
        assert!(f(&["exited=3"]).matches(&done, &none));
        assert!(!f(&["exited=0"]).matches(&done, &none));
        assert!(!f(&["label=a=b"]).matches(&done, &none));
        let mut labelled = done.clone();
        labelled.config.labels = [("a".into(), "b".into()), ("c".into(), "".into())].into();
        assert!(f(&["label=a=b"]).matches(&labelled, &none));
        assert!(f(&["label=a", "label=c"]).matches(&labelled, &none));
        assert!(
            !f(&["label=a", "label=d"]).matches(&labelled, &none),
            "every label term must match"
        );
        assert!(!f(&["label=a=x"]).matches(&labelled, &none));
        let img = |r: &str| (r == "busybox:test").then(|| "sha256:img".to_string());
        assert!(f(&["ancestor=busybox:test"]).matches(&done, &img));
        assert!(!f(&["ancestor=other"]).matches(&done, &img));
    }

    #[test]
    fn bad_filters_are_refused_with_the_keys() {
        for bad in ["nokey", "colour=red", "status=sleeping", "exited=x"] {
            let e = Filter::parse(&[bad.to_string()]).unwrap_err().to_string();
            assert!(e.contains(bad), "{e}");
        }
        assert!(f(&["status=exited"]).shows_stopped() && !f(&["name=x"]).shows_stopped());
    }
}
