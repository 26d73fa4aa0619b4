use anyhow::Result;

use super::Context;
use crate::launch;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The container's id
    pub id: String,
}

pub fn run(ctx: &Context, args: Args) -> Result<i32> {
    launch::start(&ctx.root, &args.id)?;
    Ok(0)
}
