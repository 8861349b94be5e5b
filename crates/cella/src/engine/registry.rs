//! Registry commands: pull, push, save, login, logout, and the pull `run`
//! does for a missing image; a progress bar per layer on a terminal, plain
//! lines elsewhere.

use crate::table::human_bytes;
use anyhow::{bail, Context, Result};
use cella_engine::image::content::short;
use cella_engine::{ArchiveFormat, Engine, Image, PullEvent as Event, RegistryOptions};
use clap::Args;
use std::collections::HashMap;
use std::sync::Mutex;

// Plain HTTP or HTTPS, for every registry command.
#[derive(Args, Clone, Default)]
pub struct TransportArgs {
    /// false: plain HTTP (registries on loopback)
    #[arg(long = "tls-verify", default_value_t = true, action = clap::ArgAction::Set)]
    tls_verify: bool,
    /// A registry to reach over plain HTTP (repeatable)
    #[arg(long = "insecure-registry", value_name = "REGISTRY")]
    insecure_registry: Vec<String>,
}

// How to reach registries (podman's flags).
#[derive(Args, Clone, Default)]
pub struct RegistryArgs {
    #[command(flatten)]
    transport: TransportArgs,
    /// USER[:PASSWORD] for the registry (instead of `cella login`'s)
    #[arg(long = "creds")]
    creds: Option<String>,
    /// The credentials file (default: $REGISTRY_AUTH_FILE, podman's auth.json)
    #[arg(long = "authfile", value_name = "FILE")]
    authfile: Option<std::path::PathBuf>,
}

impl RegistryArgs {
    pub fn options(&self, e: &Engine) -> Result<RegistryOptions> {
        let credentials = self.creds.as_deref().map(|c| {
            let (u, p) = c.split_once(':').unwrap_or((c, ""));
            (u.to_string(), p.to_string())
        });
        Ok(e.registry_options(
            self.transport.tls_verify,
            self.transport.insecure_registry.clone(),
            credentials,
            self.authfile.clone(),
        )?)
    }
}

/// Shows a pull: bars on a terminal (stderr), one line per blob elsewhere.
struct Display {
    bars: Option<(indicatif::MultiProgress, Mutex<HashMap<String, indicatif::ProgressBar>>)>,
    quiet: bool,
}

impl Display {
    fn new(quiet: bool) -> Display {
        let on_terminal = !quiet && cella_sys::process::isatty(2);
        Display {
            bars: on_terminal.then(|| (indicatif::MultiProgress::new(), Mutex::new(HashMap::new()))),
            quiet,
        }
    }

    fn line(&self, text: &str) {
        match &self.bars {
            Some((multi, _)) => {
                let _ = multi.println(text);
            }
            None if !self.quiet => eprintln!("{text}"),
            None => {}
        }
    }

    fn bar(&self, digest: &str, size: u64) -> Option<indicatif::ProgressBar> {
        let (multi, bars) = self.bars.as_ref()?;
        let mut bars = bars.lock().unwrap();
        let bar = bars.entry(digest.to_string()).or_insert_with(|| {
            let b = multi.add(indicatif::ProgressBar::new(size));
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12} {msg}",
                )
                .expect("the template is valid")
                .progress_chars("=> "),
            );
            b.set_prefix(format!("Copying blob {}", short(digest)));
            b
        });
        Some(bar.clone())
    }

    fn event(&self, e: Event) {
        match e {
            Event::Resolved { from } => self.line(&format!("Trying to pull {from}...")),
            Event::Bytes { digest, size, done } => {
                if let Some(b) = self.bar(digest, size) {
                    b.set_position(done);
                }
            }
            Event::Done { digest, size } => match self.bar(digest, size) {
                Some(b) => b.finish_with_message("done"),
                None => self.line(&format!("Copying blob {} done ({})", short(digest), human_bytes(size))),
            },
            Event::Resumed { digest, from } => self.line(&format!(
                "Copying blob {} resuming after {} from an interrupted pull",
                short(digest),
                human_bytes(from)
            )),
            Event::Skipped { digest } => self.line(&format!("Copying blob {} skipped: already exists", short(digest))),
            Event::Storing => self.line("Storing the image"),
        }
    }
}

/// Pulls `reference` with a progress display; the stored image.
pub fn pull_image(
    e: &Engine,
    reference: &str,
    platform: Option<&str>,
    registry: &RegistryArgs,
    quiet: bool,
) -> Result<Image> {
    let opts = registry.options(e)?;
    let display = Display::new(quiet);
    let img = e
        .pull(reference, platform, &opts, &|ev| display.event(ev))
        .with_context(|| format!("pull {reference}"))?;
    Ok(img)
}

#[derive(Args)]
pub struct PullArgs {
    #[command(flatten)]
    registry: RegistryArgs,
    /// os/arch[/variant] to take from a multi-platform image (default: this machine's)
    #[arg(long = "platform")]
    platform: Option<String>,
    /// Only the image id when done
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
    reference: String,
}

pub fn pull(e: &Engine, a: PullArgs) -> Result<i32> {
    let img = pull_image(e, &a.reference, a.platform.as_deref(), &a.registry, a.quiet)?;
    println!("{}", img.id);
    Ok(0)
}

#[derive(Args)]
pub struct PushArgs {
    #[command(flatten)]
    registry: RegistryArgs,
    /// Only errors
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
    /// The image (name or id)
    image: String,
    /// Where to push it (default: the image's name)
    destination: Option<String>,
}

pub fn push(e: &Engine, a: PushArgs) -> Result<i32> {
    let opts = a.registry.options(e)?;
    let quiet = a.quiet;
    let digest = e
        .push(&a.image, a.destination.as_deref(), &opts, &|line| {
            if !quiet {
                eprintln!("{line}");
            }
        })
        .with_context(|| format!("push {}", a.destination.as_deref().unwrap_or(&a.image)))?;
    if !quiet {
        println!("{digest}");
    }
    Ok(0)
}

#[derive(Args)]
pub struct SaveArgs {
    /// The archive to write (default: stdout, if it is not a terminal)
    #[arg(short = 'o', long = "output")]
    output: Option<std::path::PathBuf>,
    /// docker-archive (default) or oci-archive
    #[arg(long = "format", default_value = "docker-archive")]
    format: ArchiveFormat,
    #[arg(required = true)]
    images: Vec<String>,
}

pub fn save(e: &Engine, a: SaveArgs) -> Result<i32> {
    match &a.output {
        Some(p) => {
            // Written beside, renamed into place: never half an archive.
            let tmp = p.with_file_name(format!(
                ".{}.cella-tmp{}",
                p.file_name().map(|n| n.to_string_lossy()).unwrap_or_default(),
                std::process::id()
            ));
            let f = std::fs::File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?;
            let r = e.save(&a.images, a.format, f);
            if let Err(e) = r {
                let _ = std::fs::remove_file(&tmp);
                return Err(e).context("save");
            }
            std::fs::rename(&tmp, p).with_context(|| format!("rename into place {}", p.display()))?;
        }
        None => {
            if cella_sys::process::isatty(1) {
                bail!("stdout is a terminal: name an archive with -o FILE, or redirect the output");
            }
            e.save(&a.images, a.format, std::io::stdout().lock()).context("save")?;
        }
    }
    Ok(0)
}

#[derive(Args)]
pub struct LoginArgs {
    #[command(flatten)]
    transport: TransportArgs,
    /// The credentials file to write (default: $REGISTRY_AUTH_FILE, podman's auth.json)
    #[arg(long = "authfile", value_name = "FILE")]
    authfile: Option<std::path::PathBuf>,
    /// The user name (asked for when missing)
    #[arg(short = 'u', long = "username")]
    username: Option<String>,
    /// The password (asked for when missing; ps shows it: prefer --password-stdin)
    #[arg(short = 'p', long = "password")]
    password: Option<String>,
    /// Read the password from stdin
    #[arg(long = "password-stdin")]
    password_stdin: bool,
    /// The registry (default: docker.io)
    server: Option<String>,
}

/// docker.io for docker's spellings of the Hub; a host otherwise.
fn registry_name(server: Option<&str>) -> String {
    let s = server.unwrap_or("docker.io");
    let s = s.trim_start_matches("https://").trim_start_matches("http://");
    let s = s.split('/').next().unwrap_or(s);
    match s {
        "index.docker.io" | "registry-1.docker.io" | "" => "docker.io".into(),
        other => other.into(),
    }
}

fn prompt(question: &str) -> Result<String> {
    use std::io::Write;
    eprint!("{question}");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

pub fn login(e: &Engine, a: LoginArgs) -> Result<i32> {
    let registry = registry_name(a.server.as_deref());
    let user = match a.username {
        Some(u) => u,
        None if a.password_stdin => bail!("--password-stdin needs --username"),
        None => prompt("Username: ")?,
    };
    let password = match (a.password, a.password_stdin) {
        (Some(_), true) => bail!("give --password or --password-stdin, not both"),
        (Some(p), false) => p,
        (None, true) => {
            let mut p = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut p)?;
            p.trim_end_matches(['\n', '\r']).to_string()
        }
        (None, false) => {
            let echo = cella_sys::process::isatty(0)
                .then(|| cella_sys::process::echo_off(0))
                .transpose()?;
            let p = prompt("Password: ");
            if let Some(saved) = echo {
                cella_sys::process::restore_termios(0, &saved);
                eprintln!();
            }
            p?
        }
    };
    if user.is_empty() || password.is_empty() {
        bail!("logging in to {registry} needs a user name and a password");
    }
    let opts = RegistryArgs {
        transport: a.transport,
        creds: None,
        authfile: a.authfile,
    }
    .options(e)?;
    let file = e.login(&registry, &user, &password, &opts)?;
    eprintln!("Credentials stored in {}", file.display());
    println!("Login Succeeded!");
    Ok(0)
}

#[derive(Args)]
pub struct LogoutArgs {
    /// The credentials file
    #[arg(long = "authfile", value_name = "FILE")]
    authfile: Option<std::path::PathBuf>,
    /// Every registry's credentials
    #[arg(short = 'a', long = "all")]
    all: bool,
    /// The registry (default: docker.io)
    server: Option<String>,
}

pub fn logout(e: &Engine, a: LogoutArgs) -> Result<i32> {
    let registry = registry_name(a.server.as_deref());
    let which = (!a.all).then_some(registry.as_str());
    let (removed, file) = e.logout(a.authfile.as_deref(), which)?;
    if !removed {
        bail!(
            "not logged in to {} (in {})",
            which.unwrap_or("any registry"),
            file.display()
        );
    }
    match which {
        Some(r) => println!("Removed login credentials for {r}"),
        None => println!("Removed login credentials for all registries"),
    }
    Ok(0)
}
