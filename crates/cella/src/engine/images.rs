//! images, import, rmi, tag, image inspect.

use crate::table::Table;
use anyhow::{bail, Context, Result};
use cella_engine::image::content::short;
use cella_engine::image::HOST_ID;
use cella_engine::{Engine, Image, ImageConfig};
use clap::{Args, Subcommand};

#[derive(Args)]
pub struct ImagesArgs {
    /// Only ids
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
    /// table (default), json, or a Go template as docker's ('{{.Repository}}:{{.Tag}}', 'table {{.ID}}\t{{.Size}}')
    #[arg(long = "format", default_value = "table")]
    format: String,
    /// Only those that match: dangling=true|false, reference=PATTERN (globs); repeatable
    #[arg(short = 'f', long = "filter", value_name = "KEY=VALUE")]
    filter: Vec<String>,
}

pub fn images(e: &Engine, a: ImagesArgs) -> Result<i32> {
    let filter = cella_engine::ImageFilter::parse(&a.filter)?;
    let all = e.images()?;
    // One row per name (an untagged image: one row without a name).
    let rows: Vec<(&Image, Option<&str>)> = all
        .iter()
        .flat_map(|i| {
            let names: Vec<Option<&str>> = match i.repo_tags.is_empty() {
                true => vec![None],
                false => i.repo_tags.iter().map(|t| Some(t.as_str())).collect(),
            };
            names.into_iter().map(move |t| (i, t))
        })
        .filter(|(i, t)| filter.matches(i, *t))
        .collect();
    if a.quiet {
        // Ids to feed `rmi $(cella images -q)`: the built-in host image
        // cannot be removed, so it is left out; each image once.
        let mut seen = std::collections::HashSet::new();
        for (i, _) in rows.iter().filter(|(i, _)| !i.is_builtin()) {
            if seen.insert(&i.id) {
                println!("{}", short(&i.id));
            }
        }
        return Ok(0);
    }
    let split = |t: Option<&str>| -> (String, String) {
        match t.and_then(|t| t.rsplit_once(':')) {
            Some((r, t)) => (r.to_string(), t.to_string()),
            None => ("<none>".into(), "<none>".into()),
        }
    };
    let size = |i: &Image| {
        if i.id == HOST_ID {
            "-".into()
        } else {
            crate::table::human_bytes(i.size)
        }
    };
    match a.format.as_str() {
        "json" => {
            let mut ids = std::collections::HashSet::new();
            let images: Vec<&Image> = rows.iter().map(|(i, _)| *i).filter(|i| ids.insert(&i.id)).collect();
            println!("{}", serde_json::to_string_pretty(&images)?)
        }
        "table" => {
            let mut t = Table::new(
                &["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"],
                &[false, false, false, false, true],
            );
            for (i, tag) in &rows {
                let (repo, t_) = split(*tag);
                t.rows.push(vec![
                    repo,
                    t_,
                    short(&i.id).to_string(),
                    i.created
                        .map_or("built in".into(), |t| t.to_string()[..19].replace('T', " ")),
                    size(i),
                ]);
            }
            t.print(false, false);
        }
        template => {
            let values: Vec<serde_json::Value> = rows
                .iter()
                .map(|(i, tag)| {
                    let (repo, t_) = split(*tag);
                    serde_json::json!({
                        "Repository": repo, "Tag": t_, "ID": short(&i.id),
                        "CreatedAt": i.created.map(|t| t.to_string()).unwrap_or_default(),
                        "Size": size(i),
                        "Digest": "<none>",
                    })
                })
                .collect();
            crate::template::print_all(template, &values)?;
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

#[derive(Args)]
pub struct CommitArgs {
    /// Author of the new image
    #[arg(short = 'a', long = "author", default_value = "")]
    author: String,
    /// Message for the new image's history
    #[arg(short = 'm', long = "message", default_value = "")]
    message: String,
    /// Dockerfile-style settings: CMD, ENTRYPOINT, ENV, EXPOSE, WORKDIR, USER
    #[arg(short = 'c', long = "change")]
    change: Vec<String>,
    /// Freeze the container while its layer is read (default true)
    #[arg(short = 'p', long = "pause", default_value_t = true, action = clap::ArgAction::Set)]
    pause: bool,
    container: String,
    /// REPOSITORY[:TAG] (default: an image without a name)
    reference: Option<String>,
}

/// `commit`: the image's settings, then the container's own (its command,
/// entrypoint, -e variables, working directory, user), then --change.
pub fn commit(e: &Engine, a: CommitArgs) -> Result<i32> {
    let c = e.container(&a.container)?;
    let mut config = e.image(&c.image_id)?.config;
    let run = &c.config;
    if !run.cmd.is_empty() {
        config.cmd = run.cmd.clone();
    }
    if let Some(ep) = &run.entrypoint {
        config.entrypoint = ep.clone();
    }
    for kv in &run.env {
        let key = kv.split('=').next().unwrap_or(kv);
        config.env.retain(|e| e.split('=').next() != Some(key));
        config.env.push(kv.clone());
    }
    if let Some(w) = run.workdir.clone().filter(|w| !w.is_empty()) {
        config.working_dir = w;
    }
    if let Some(u) = run.user.clone().filter(|u| !u.is_empty()) {
        config.user = u;
    }
    for ch in &a.change {
        apply_change(&mut config, ch)?;
    }
    let req = cella_engine::image::commit::Request {
        reference: a.reference,
        config,
        author: a.author,
        message: a.message,
        pause: a.pause,
    };
    println!("{}", e.commit(&c, &req)?.id);
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
    /// Print only the loaded names (there is no progress output to hide)
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
}

pub fn load(e: &Engine, a: LoadArgs) -> Result<i32> {
    let _ = a.quiet;
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

#[derive(Args)]
pub struct ImagePruneArgs {
    /// Every image no container uses, not only those without a name
    #[arg(short = 'a', long = "all")]
    all: bool,
    /// Do not ask
    #[arg(short = 'f', long = "force")]
    force: bool,
}

/// docker's `image` group (the same commands as the top-level ones).
#[derive(Subcommand)]
#[command(defer = true)]
pub enum ImageCommand {
    /// List images
    #[command(visible_alias = "list")]
    Ls(ImagesArgs),
    /// Image details as JSON
    Inspect {
        /// A Go template rendered for each ('{{.Id}}'), or json
        #[arg(short = 'f', long = "format")]
        format: Option<String>,
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Remove images
    #[command(visible_alias = "remove")]
    Rm(RmiArgs),
    /// Remove images no container uses (without a name, or all with -a)
    Prune(ImagePruneArgs),
    /// The steps an image was made by, newest first
    History {
        /// Only image ids
        #[arg(short = 'q', long = "quiet")]
        quiet: bool,
        /// Whole ids and commands
        #[arg(long = "no-trunc")]
        no_trunc: bool,
        /// table (default), json, or a Go template ('{{.CreatedBy}} {{.Size}}')
        #[arg(long = "format", default_value = "table")]
        format: String,
        image: String,
    },
    /// Add a name to an image
    Tag { source: String, target: String },
    /// Import a root filesystem as an image
    Import(ImportArgs),
    /// Load images from an archive
    Load(LoadArgs),
    /// Write images to an archive
    Save(super::registry::SaveArgs),
    /// Pull an image from a registry
    Pull(super::registry::PullArgs),
    /// Push an image to a registry
    Push(super::registry::PushArgs),
}

pub fn image(e: &Engine, cmd: ImageCommand) -> Result<i32> {
    match cmd {
        ImageCommand::Ls(a) => images(e, a),
        ImageCommand::Rm(a) => rmi(e, a),
        ImageCommand::Prune(a) => {
            let what = if a.all {
                "all images without at least one container associated to them"
            } else {
                "all dangling images"
            };
            if !super::manage::confirm(a.force, what)? {
                return Ok(0);
            }
            let lines = e.prune_images(a.all)?;
            if !lines.is_empty() {
                println!("Deleted Images:");
                for l in lines {
                    println!("{l}");
                }
                println!();
            }
            println!("Total reclaimed space: 0B");
            Ok(0)
        }
        ImageCommand::History {
            quiet,
            no_trunc,
            format,
            image,
        } => history(e, &image, quiet, no_trunc, &format),
        ImageCommand::Tag { source, target } => tag(e, &source, &target),
        ImageCommand::Import(a) => import(e, a),
        ImageCommand::Load(a) => load(e, a),
        ImageCommand::Save(a) => super::registry::save(e, a),
        ImageCommand::Pull(a) => super::registry::pull(e, a),
        ImageCommand::Push(a) => super::registry::push(e, a),
        ImageCommand::Inspect { format, images } => super::show::inspect(
            e,
            super::show::InspectArgs {
                names: images,
                kind: Some("image".into()),
                format,
            },
        ),
    }
}

/// `image history`: docker's columns and template fields.
fn history(e: &Engine, reference: &str, quiet: bool, no_trunc: bool, format: &str) -> Result<i32> {
    let img = e.image(reference)?;
    let rows: Vec<serde_json::Value> = e
        .image_history(&img)?
        .into_iter()
        .map(|h| {
            let id = if no_trunc || h.id == "<missing>" {
                h.id.clone()
            } else {
                h.id.trim_start_matches("sha256:").chars().take(12).collect()
            };
            let mut by = h.created_by.clone();
            if !no_trunc && by.chars().count() > 45 {
                by = by.chars().take(44).collect::<String>() + "…";
            }
            serde_json::json!({
                "ID": id,
                "CreatedAt": h.created.map(|t| t.to_string()).unwrap_or_default(),
                "CreatedSince": h.created.map(|t| format!("{} seconds ago", t.age().as_secs())).unwrap_or_default(),
                "CreatedBy": by,
                "Size": crate::table::human_bytes(h.size),
                "Comment": h.comment,
            })
        })
        .collect();
    if quiet {
        for r in &rows {
            println!("{}", r["ID"].as_str().unwrap_or_default());
        }
    } else if format == "table" {
        let mut t = crate::table::Table::new(
            &["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
            &[false, false, false, true, false],
        );
        for r in &rows {
            let cell = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            t.rows
                .push(["ID", "CreatedAt", "CreatedBy", "Size", "Comment"].map(cell).to_vec());
        }
        t.print(false, false);
    } else if format == "json" {
        for r in &rows {
            println!("{}", serde_json::to_string(r)?);
        }
    } else {
        crate::template::print_all(format, &rows)?;
    }
    Ok(0)
}
