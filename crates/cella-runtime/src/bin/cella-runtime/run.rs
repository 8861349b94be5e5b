//! `run`: create + start, then (unless detached) wait for the container and
//! delete it afterwards.

use anyhow::Result;
use cella_runtime::create::{create, CreateOptions, Created};
use cella_runtime::lifecycle;
use cella_runtime::supervise::Supervisor;

pub fn run(opts: &CreateOptions, detach: bool, keep: bool) -> Result<i32> {
    if detach {
        let mut created = create(opts)?;
        start_or_remove(opts, &mut created)?;
        return Ok(0);
    }
    let sup = Supervisor::install()?;
    let mut created = create(opts)?;
    start_or_remove(opts, &mut created)?;
    let exit = sup.wait(created.state.pid, created.console_master.as_ref())?;
    if !keep {
        lifecycle::delete(&opts.root, &opts.id, true)?;
    }
    Ok(exit.shell_code())
}

fn start_or_remove(opts: &CreateOptions, created: &mut Created) -> Result<()> {
    if let Err(e) = created.start() {
        let _ = lifecycle::delete(&opts.root, &opts.id, true);
        return Err(e.into());
    }
    Ok(())
}
