use anyhow::{bail, Result};
use libcontainer::container::Container as LcContainer;

use super::Context;
use crate::container::{Container, Status};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The container's id
    pub id: String,
}

pub fn run(ctx: &Context, args: Args) -> Result<i32> {
    let _lock = ctx.root.lock(&args.id)?;
    let c = Container::load(&ctx.root, &args.id)?;
    c.require_cgroup("resume")?;
    if c.status() != Status::Paused {
        bail!("container not paused");
    }
    LcContainer::load(c.dir)?.resume()?;
    Ok(0)
}
