//! images, import, rmi, tag, image inspect.

use crate::table::Table;
use anyhow::{bail, Context, Result};
use cella_engine::image::content::short;
use cella_engine::image::HOST_ID;
use cella_engine::{Engine, ImageConfig};
use clap::{Args, Subcommand};

#[derive(Args)]
pub struct ImagesArgs {
    /// Only ids
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
    /// table (default), json, or a Go template as docker's ('{{.Names}}', 'table {{.ID}}\t{{.Image}}')
    #[arg(long = "format", default_value = "table")]
    format: String,
}

pub fn images(e: &Engine, a: ImagesArgs) -> Result<i32> {
    let all = e.images()?;
    if a.quiet {
        // Ids to feed `rmi $(cella images -q)`: the built-in host image
        // cannot be removed, so it is left out.
        for i in all.iter().filter(|i| !i.is_builtin()) {
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
                        i.created
                            .map_or("built in".into(), |t| t.to_string()[..19].replace('T', " ")),
                        if i.id == HOST_ID {
                            "-".into()
                        } else {
                            crate::table::human_bytes(i.size)
                        },
                    ]);
                }
            }
            t.print(false, false);
        }
        template => {
            let mut rows = Vec::new();
            for i in &all {
                let tags = if i.repo_tags.is_empty() {
                    vec!["<none>:<none>".to_string()]
                } else {
                    i.repo_tags.clone()
                };
                for tag in tags {
                    let (repo, t_) = tag.rsplit_once(':').unwrap_or((&tag, ""));
                    rows.push(serde_json::json!({
                        "Repository": repo, "Tag": t_, "ID": short(&i.id),
                        "CreatedAt": i.created.map(|t| t.to_string()).unwrap_or_default(),
                        "Size": if i.id == HOST_ID { "-".into() } else { crate::table::human_bytes(i.size) },
                        "Digest": "<none>",
                    }));
                }
            }
            crate::template::print_all(template, &rows)?;
        }
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

pub fn import(e: &Engine, a: ImportArgs) -> Result<i32> {
    let mut config = ImageConfig::default();
    for c in &a.change {
        apply_change(&mut config, c)?;
    }
    let img = e.import(&a.source, &a.reference, config)?;
    println!("{}", img.id);
    Ok(0)
}

/// Dockerfile-style `--change` instructions: CMD, ENTRYPOINT, ENV, WORKDIR, USER.
fn apply_change(cfg: &mut ImageConfig, change: &str) -> Result<()> {
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

pub fn load(e: &Engine, a: LoadArgs) -> Result<i32> {
    for i in e.load(&a.input)? {
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

pub fn rmi(e: &Engine, a: RmiArgs) -> Result<i32> {
    super::each(&a.images, |n| {
        for line in e.remove_image(n, a.force)? {
            println!("{line}");
        }
        Ok(())
    })
}

pub fn tag(e: &Engine, source: &str, target: &str) -> Result<i32> {
    e.tag(source, target)
        .with_context(|| format!("tag {source} as {target}"))?;
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

pub fn image(e: &Engine, cmd: ImageCommand) -> Result<i32> {
    match cmd {
        ImageCommand::Ls(a) => images(e, a),
        ImageCommand::Rm(a) => rmi(e, a),
        ImageCommand::Inspect { images } => {
            let mut out = Vec::new();
            for n in &images {
                out.push(serde_json::to_value(e.image(n)?)?);
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(0)
        }
    }
}
