//! `run`: create + start, then (unless detached) wait for the container and
//! delete it afterwards.

use anyhow::Result;
use cella_runtime::create::{create, CreateOptions};
use cella_runtime::lifecycle;
use cella_runtime::supervise::Supervisor;

pub fn run(opts: &CreateOptions, detach: bool, keep: bool) -> Result<i32> {
    if detach {
        create(opts)?;
        start_or_remove(opts)?;
        return Ok(0);
    }
    let sup = Supervisor::install()?;
    let created = create(opts)?;
    start_or_remove(opts)?;
    let exit = sup.wait(created.state.pid, created.console_master.as_ref())?;
    if !keep {
        lifecycle::delete(&opts.root, &opts.id, true)?;
    }
    Ok(exit.shell_code())
}

fn start_or_remove(opts: &CreateOptions) -> Result<()> {
    if let Err(e) = lifecycle::start(&opts.root, &opts.id) {
        let _ = lifecycle::delete(&opts.root, &opts.id, true);
        return Err(e.into());
    }
    Ok(())
}
