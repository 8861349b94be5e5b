//! Talking to a registry (the OCI distribution protocol) over a blocking
//! HTTP client: docker's reference rules, and requests that answer the
//! registry's 401 challenges with basic auth or a bearer token.

use crate::error::{At, Error, Result};
use base64::Engine as _;
use std::path::Path;

/// registry, repository, tag or digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub registry: String,
    pub repository: String,
    /// "latest", a tag, or "sha256:…".
    pub reference: String,
}

/// Whether the first component of `name` names a registry (docker's rule).
pub fn names_registry(name: &str) -> bool {
    match name.split_once('/') {
        Some((first, _)) => first.contains('.') || first.contains(':') || first == "localhost",
        None => false,
    }
}

/// A registry host as docker's grammar has it: dot-separated labels of
/// letters, digits and inner dashes, and an optional port.
fn valid_domain(d: &str) -> bool {
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (d, None),
    };
    let label = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    !host.is_empty()
        && host.split('.').all(label)
        && port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Repository path components: lower-case letters and digits, joined by one
/// `.` or `_`, two `_`, or dashes (docker's `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`).
pub fn valid_repository(r: &str) -> bool {
    fn component(c: &str) -> bool {
        let b = c.as_bytes();
        let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
        if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
            return false;
        }
        let mut i = 0;
        while i < b.len() {
            if alnum(b[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < b.len() && !alnum(b[i]) {
                i += 1;
            }
            let sep = &c[start..i];
            if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
                return false;
            }
        }
        true
    }
    !r.is_empty() && r.split('/').all(component)
}

/// A tag: a word character, then up to 127 word characters, dots and dashes.
pub fn valid_tag(t: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let b = t.as_bytes();
    !b.is_empty() && b.len() <= 128 && word(b[0]) && b.iter().all(|&x| word(x) || x == b'.' || x == b'-')
}

impl Reference {
    /// docker's rules: no registry means docker.io, one path component
    /// there means library/NAME, no tag means latest.
    pub fn parse(s: &str) -> Result<Reference> {
        Reference::parse_in(s, "docker.io")
    }

    /// As `parse`, with `registry` for a name that names none.
    pub fn parse_in(s: &str, registry: &str) -> Result<Reference> {
        let bad = || Error::Invalid(format!("invalid image reference {s:?}"));
        let (name, reference) = match s.split_once('@') {
            Some((n, d)) if d.starts_with("sha256:") && d.len() == 71 => (n, d.to_string()),
            Some(_) => return Err(bad()),
            None => match s.rsplit_once(':') {
                Some((n, t)) if !t.contains('/') => (n, t.to_string()),
                _ => (s, "latest".to_string()),
            },
        };
        if name.is_empty() || name.ends_with('/') {
            return Err(bad());
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest)) if names_registry(name) => (first.to_string(), rest.to_string()),
            _ => (registry.to_string(), name.to_string()),
        };
        let repository = if registry == "docker.io" && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        let reference_ok = match reference.strip_prefix("sha256:") {
            Some(hex) => hex.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
            None => valid_tag(&reference),
        };
        if !valid_domain(&registry) || !valid_repository(&repository) || !reference_ok || name.len() > 255 {
            return Err(bad());
        }
        Ok(Reference {
            registry,
            repository,
            reference,
        })
    }

    /// The name images are stored under: docker.io names short, as docker shows them.
    pub fn tag(&self) -> String {
        let name = if self.registry == "docker.io" {
            self.repository.trim_start_matches("library/").to_string()
        } else {
            format!("{}/{}", self.registry, self.repository)
        };
        if self.reference.starts_with("sha256:") {
            format!("{name}@{}", self.reference)
        } else {
            format!("{name}:{}", self.reference)
        }
    }
}

/// How to reach a registry: which host, plain HTTP or not, as whom.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// Plain HTTP (`--tls-verify=false`, an insecure registry).
    pub insecure: bool,
    /// user and password (or identity token) for basic auth or a token.
    pub credentials: Option<(String, String)>,
}

/// The host that serves `registry` (Docker Hub's API lives elsewhere).
pub fn api_host(registry: &str) -> &str {
    if registry == "docker.io" {
        "registry-1.docker.io"
    } else {
        registry
    }
}

/// base64 of "user:password", as basic auth and auth.json carry it.
pub fn user_password(user: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

pub fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", user_password(user, password))
}

/// key="value" pairs of a WWW-Authenticate challenge.
fn challenge_params(h: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = h.split_once(' ').map(|x| x.1).unwrap_or("");
    while let Some((k, v)) = rest.split_once('=') {
        let k = k.trim().trim_start_matches(',').trim().to_string();
        let v = v.trim_start();
        let (val, after) = if let Some(stripped) = v.strip_prefix('"') {
            let end = stripped.find('"').unwrap_or(stripped.len());
            (stripped[..end].to_string(), stripped.get(end + 1..).unwrap_or(""))
        } else {
            let end = v.find(',').unwrap_or(v.len());
            (v[..end].to_string(), &v[end..])
        };
        out.push((k, val));
        rest = after;
    }
    out
}

pub fn net_err(what: &str) -> impl Fn(ureq::Error) -> Error + '_ {
    move |e| Error::Invalid(format!("{what}: {e}"))
}

/// What a request sends.
pub enum Body<'a> {
    Empty,
    /// Bytes with their content type.
    Bytes(&'a [u8], &'a str),
    /// A file, streamed (an upload of a layer).
    File(&'a Path),
}

pub type Response = ureq::http::Response<ureq::Body>;

/// A response header as text ("" when missing or not text).
pub fn header(resp: &Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// One repository on one registry; cheap to clone (the connection pool and
/// the token are shared by the clones a concurrent download makes).
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    /// scheme://host
    pub base: String,
    pub repository: String,
    /// "pull" or "pull,push": the token scope asked for.
    actions: &'static str,
    authorization: Option<String>,
    credentials: Option<(String, String)>,
}

impl Client {
    pub fn new(registry: &str, repository: &str, access: &Access, push: bool) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(5)
            .timeout_connect(Some(std::time::Duration::from_secs(30)))
            .timeout_recv_response(Some(std::time::Duration::from_secs(120)))
            .build()
            .into();
        Client {
            agent,
            base: format!(
                "{}://{}",
                if access.insecure { "http" } else { "https" },
                api_host(registry)
            ),
            repository: repository.to_string(),
            actions: if push { "pull,push" } else { "pull" },
            authorization: None,
            credentials: access.credentials.clone(),
        }
    }

    /// /v2/REPOSITORY/PATH
    pub fn url(&self, path: &str) -> String {
        format!("{}/v2/{}/{path}", self.base, self.repository)
    }

    /// Sends a request, answering one 401 challenge; any status comes back.
    pub fn send(&mut self, method: &str, url: &str, headers: &[(&str, &str)], body: &Body) -> Result<Response> {
        for attempt in 0..2 {
            let resp = self.send_once(method, url, headers, body)?;
            if resp.status() == 401 && attempt == 0 {
                self.authenticate(&header(&resp, "www-authenticate"))?;
                continue;
            }
            return Ok(resp);
        }
        unreachable!("the loop returns on its second pass")
    }

    fn send_once(&self, method: &str, url: &str, headers: &[(&str, &str)], body: &Body) -> Result<Response> {
        fn with<B>(mut rb: ureq::RequestBuilder<B>, c: &Client, headers: &[(&str, &str)]) -> ureq::RequestBuilder<B> {
            for (k, v) in headers {
                rb = rb.header(*k, *v);
            }
            if let Some(a) = &c.authorization {
                rb = rb.header("Authorization", a);
            }
            rb
        }
        let a = &self.agent;
        let result = match method {
            "GET" => with(a.get(url), self, headers).call(),
            "HEAD" => with(a.head(url), self, headers).call(),
            "DELETE" => with(a.delete(url), self, headers).call(),
            _ => {
                let rb = with(if method == "PUT" { a.put(url) } else { a.post(url) }, self, headers);
                match body {
                    Body::Empty => rb.header("Content-Length", "0").send_empty(),
                    Body::Bytes(b, ct) => rb.header("Content-Type", *ct).send(*b),
                    Body::File(p) => rb
                        .header("Content-Type", "application/octet-stream")
                        .send(std::fs::File::open(p).at("open", p)?),
                }
            }
        };
        result.map_err(net_err(url))
    }

    /// `send`, and an error (with what to do) unless the answer is a success.
    pub fn expect(&mut self, method: &str, url: &str, headers: &[(&str, &str)], body: &Body) -> Result<Response> {
        let resp = self.send(method, url, headers, body)?;
        self.ensure(resp, method, url)
    }

    /// `resp` if it is a success, else an error that says what to do.
    pub fn ensure(&self, mut resp: Response, method: &str, url: &str) -> Result<Response> {
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let detail = resp
            .body_mut()
            .with_config()
            .limit(4096)
            .read_to_string()
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["errors"][0]["message"].as_str().map(String::from))
            .map(|m| format!(" ({m})"))
            .unwrap_or_default();
        let hint = match status {
            401 => ": log in (cella login), or check the credentials",
            403 => ": these credentials may not do that",
            404 => ": no such image, tag or blob in this registry",
            _ => "",
        };
        Err(Error::Invalid(format!("{method} {url}: {status}{detail}{hint}")))
    }

    /// GET of a success or an error.
    pub fn get(&mut self, path: &str, accept: Option<&str>) -> Result<Response> {
        let url = self.url(path);
        let headers: Vec<(&str, &str)> = accept.map(|a| ("Accept", a)).into_iter().collect();
        self.expect("GET", &url, &headers, &Body::Empty)
    }

    fn authenticate(&mut self, challenge: &str) -> Result<()> {
        if challenge.to_ascii_lowercase().starts_with("basic") {
            let (u, p) = self.credentials.clone().ok_or_else(|| {
                Error::Invalid(format!(
                    "{} wants a user and password: `cella login {}` or --creds USER:PASSWORD",
                    self.base,
                    self.base.split("://").nth(1).unwrap_or_default()
                ))
            })?;
            self.authorization = Some(basic(&u, &p));
            return Ok(());
        }
        let params = challenge_params(challenge);
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let realm = get("realm")
            .ok_or_else(|| Error::Invalid(format!("unsupported authentication challenge {challenge:?}")))?;
        let mut url = realm.clone();
        let mut sep = if realm.contains('?') { '&' } else { '?' };
        if !self.repository.is_empty() {
            url += &format!("{sep}scope=repository:{}:{}", self.repository, self.actions);
            sep = '&';
        }
        if let Some(s) = get("service") {
            url += &format!("{sep}service={s}");
        }
        let mut req = self.agent.get(&url);
        if let Some((u, p)) = &self.credentials {
            req = req.header("Authorization", basic(u, p));
        }
        let mut resp = req.call().map_err(net_err(&url))?;
        if !resp.status().is_success() {
            return Err(Error::Invalid(format!(
                "token from {realm}: {}{}",
                resp.status().as_u16(),
                if resp.status() == 401 {
                    ": check the user name and password"
                } else {
                    ""
                }
            )));
        }
        let body = resp
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_string()
            .map_err(net_err(&url))?;
        let v: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| Error::Invalid(format!("token from {realm}: {e}")))?;
        let t = v["token"].as_str().or(v["access_token"].as_str()).unwrap_or_default();
        self.authorization = Some(format!("Bearer {t}"));
        Ok(())
    }
}

/// `cella login`'s check: GET /v2/ with the credentials answers 200.
pub fn check_login(registry: &str, access: &Access) -> Result<()> {
    let mut c = Client::new(registry, "", access, false);
    let url = format!("{}/v2/", c.base);
    let resp = c.send("GET", &url, &[], &Body::Empty)?;
    match resp.status().as_u16() {
        200 => Ok(()),
        401 => Err(Error::Invalid(format!(
            "logging in to {registry}: 401 unauthorized: check the user name and password"
        ))),
        s => Err(Error::Invalid(format!("logging in to {registry}: {url} answered {s}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_follow_dockers_rules() {
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.reference.as_str()),
            ("docker.io", "library/busybox", "latest")
        );
        assert_eq!(r.tag(), "busybox:latest");
        let r = Reference::parse("quay.io/org/app:v1").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.reference.as_str()),
            ("quay.io", "org/app", "v1")
        );
        let r = Reference::parse("127.0.0.1:5000/test/bb").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("127.0.0.1:5000", "test/bb")
        );
        assert_eq!(r.tag(), "127.0.0.1:5000/test/bb:latest");
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("user/app@{d}")).unwrap();
        assert_eq!((r.repository.as_str(), r.reference.as_str()), ("user/app", d.as_str()));
        for bad in [
            "",
            "UPPER",
            "x@sha256:12",
            "a/../../x",
            "../../x",
            "x:a\nb",
            "x\ny:latest",
            "x:.tag",
            "a//b",
            "a-:1",
            "bad_host-.io/x",
            "host.io:port/x",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?}");
        }
        let r = Reference::parse_in("team/app", "registry.example:5000").unwrap();
        assert_eq!(r.tag(), "registry.example:5000/team/app:latest");
    }

    #[test]
    fn challenges_and_basic_auth() {
        let p = challenge_params(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull""#,
        );
        assert_eq!(p[0], ("realm".into(), "https://auth.example/token".into()));
        assert_eq!(p[1], ("service".into(), "registry.example".into()));
        assert_eq!(basic("Aladdin", "open sesame"), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    }
}
