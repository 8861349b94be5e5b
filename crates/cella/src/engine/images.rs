//! images, import, rmi, tag, image inspect.

use crate::table::Table;
use anyhow::{bail, Context, Result};
use cella_engine::content::short;
use cella_engine::image;
use cella_engine::paths::Paths;
use clap::{Args, Subcommand};

#[derive(Args)]
pub struct ImagesArgs {
    /// Only ids
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
    /// table (default) or json
    #[arg(long = "format", default_value = "table")]
    format: String,
}

pub fn images(paths: &Paths, a: ImagesArgs) -> Result<i32> {
    let mut all = vec![image::host_image()];
    all.extend(image::list(paths)?);
    if a.quiet {
        for i in &all {
            println!("{}", short(&i.id));
        }
        return Ok(0);
    }
    match a.format.as_str() {
        "json" => println!("{}", serde_json::to_string_pretty(&all)?),
        "table" => {
            let mut t = Table::new(
                &["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"],
                &[false, false, false, false, true],
            );
            for i in &all {
                let tags = if i.repo_tags.is_empty() {
                    vec!["<none>:<none>".to_string()]
                } else {
                    i.repo_tags.clone()
                };
                for tag in tags {
                    let (repo, t_) = tag.rsplit_once(':').unwrap_or((&tag, ""));
                    t.rows.push(vec![
                        repo.into(),
                        t_.into(),
                        short(&i.id).to_string(),
                        i.created.get(..19).unwrap_or("built in").replace('T', " "),
                        if i.id == image::HOST_ID {
                            "-".into()
                        } else {
                            crate::table::human_bytes(i.size)
                        },
                    ]);
                }
            }
            t.print(false, false);
        }
        other => bail!("--format {other}: use table or json"),
    }
    Ok(0)
}

#[derive(Args)]
pub struct ImportArgs {
    /// A tar archive (plain or gzip), a directory, or - for stdin
    source: String,
    /// NAME[:TAG]
    reference: String,
    /// Dockerfile-style settings: CMD, ENTRYPOINT, ENV, EXPOSE, WORKDIR, USER
    /// (e.g. --change 'CMD ["/bin/sh"]')
    #[arg(short = 'c', long = "change")]
    change: Vec<String>,
}

pub fn import(paths: &Paths, a: ImportArgs) -> Result<i32> {
    let mut config = cella_engine::image::ImageConfig::default();
    for c in &a.change {
        apply_change(&mut config, c)?;
    }
    let img = cella_engine::import::import(paths, &a.source, &a.reference, config)?;
    println!("{}", img.id);
    Ok(0)
}

/// Dockerfile-style `--change` instructions: CMD, ENTRYPOINT, ENV, WORKDIR, USER.
fn apply_change(cfg: &mut cella_engine::image::ImageConfig, change: &str) -> Result<()> {
    let (word, rest) = change.trim().split_once(char::is_whitespace).unwrap_or((change, ""));
    let rest = rest.trim();
    let list = || -> Vec<String> {
        serde_json::from_str::<Vec<String>>(rest).unwrap_or_else(|_| vec!["/bin/sh".into(), "-c".into(), rest.into()])
    };
    match word.to_ascii_uppercase().as_str() {
        "CMD" => cfg.cmd = list(),
        "ENTRYPOINT" => cfg.entrypoint = list(),
        "ENV" => cfg.env.push(rest.replacen(' ', "=", usize::from(!rest.contains('=')))),
        "WORKDIR" => cfg.working_dir = rest.into(),
        "USER" => cfg.user = rest.into(),
        "EXPOSE" => cfg.exposed_ports.extend(rest.split_whitespace().map(|p| {
            if p.contains('/') {
                p.to_string()
            } else {
                format!("{p}/tcp")
            }
        })),
        other => bail!("--change {other}: use CMD, ENTRYPOINT, ENV, EXPOSE, WORKDIR or USER"),
    }
    Ok(())
}

#[derive(Args)]
pub struct LoadArgs {
    /// The archive (default: stdin), or an OCI layout directory
    #[arg(short = 'i', long = "input", default_value = "-")]
    input: String,
}

pub fn load(paths: &Paths, a: LoadArgs) -> Result<i32> {
    for i in cella_engine::load::load(paths, &a.input)? {
        match i.repo_tags.first() {
            Some(t) => println!("Loaded image: {t}"),
            None => println!("Loaded image ID: {}", i.id),
        }
    }
    Ok(0)
}

#[derive(Args)]
pub struct RmiArgs {
    /// Remove even if containers use it (they are removed too)
    #[arg(short = 'f', long = "force")]
    force: bool,
    images: Vec<String>,
}

pub fn rmi(paths: &Paths, a: RmiArgs) -> Result<i32> {
    super::each(&a.images, |n| {
        let img = image::find(paths, n)?;
        let users = cella_engine::ops::users_of_image(paths, &img.id)?;
        if !users.is_empty() {
            if !a.force {
                bail!(
                    "image {n} is used by container {}: remove it first (or use -f)",
                    users.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
                );
            }
            for c in &users {
                cella_engine::ops::remove(paths, c, true)?;
            }
        }
        let _lock = cella_engine::store::lock(paths)?;
        for line in image::remove(paths, n)? {
            println!("{line}");
        }
        Ok(())
    })
}

pub fn tag(paths: &Paths, source: &str, target: &str) -> Result<i32> {
    let _lock = cella_engine::store::lock(paths)?;
    image::tag(paths, source, target).with_context(|| format!("tag {source} as {target}"))?;
    Ok(0)
}

#[derive(Subcommand)]
pub enum ImageCommand {
    /// List images
    Ls(ImagesArgs),
    /// Image details as JSON
    Inspect { images: Vec<String> },
    /// Remove images
    Rm(RmiArgs),
}

pub fn image(paths: &Paths, cmd: ImageCommand) -> Result<i32> {
    match cmd {
        ImageCommand::Ls(a) => images(paths, a),
        ImageCommand::Rm(a) => rmi(paths, a),
        ImageCommand::Inspect { images } => {
            let mut out = Vec::new();
            for n in &images {
                out.push(serde_json::to_value(image::find(paths, n)?)?);
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(0)
        }
    }
}
