//! `cella ns pids`: a process's PID at every level, or every member of its
//! PID namespace with host and inner PIDs side by side.

use crate::table::Table;
use anyhow::Result;
use clap::Args;

#[derive(Args)]
pub struct PidsArgs {
    /// A PID or a cella container (its init)
    target: String,
    /// Every process of its PID namespace: host PID and PID inside
    #[arg(long = "members")]
    members: bool,
    /// JSON output
    #[arg(short = 'J', long = "json")]
    json: bool,
}

pub fn run(a: PidsArgs) -> Result<()> {
    let pid = crate::target::pid_of(&a.target)?;
    if a.members {
        let m = cella_ns::pids::members(pid)?;
        if a.json {
            let rows: Vec<_> = m
                .iter()
                .map(|(h, i)| serde_json::json!({"host": h, "inside": i}))
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({ "pids": rows }))?
            );
        } else {
            let mut t = Table::new(&["HOST", "INSIDE"], &[true, true]);
            t.rows = m.iter().map(|(h, i)| vec![h.to_string(), i.to_string()]).collect();
            t.print(false, false);
        }
        return Ok(());
    }
    let chain = cella_ns::pids::chain(pid)?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "levels": chain }))?
        );
    } else {
        let mut t = Table::new(&["LEVEL", "PIDNS", "PID"], &[true, true, true]);
        t.rows = chain
            .iter()
            .map(|l| {
                vec![
                    l.level.to_string(),
                    l.pidns.map(|n| n.to_string()).unwrap_or_default(),
                    l.pid.to_string(),
                ]
            })
            .collect();
        t.print(false, false);
    }
    Ok(())
}
