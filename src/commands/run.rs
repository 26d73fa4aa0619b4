use anyhow::Result;

use super::create::CreateArgs;
use super::Context;
use crate::launch;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The container's id
    pub id: String,
    #[command(flatten)]
    pub create: CreateArgs,
    /// Return after start instead of waiting for the container's init
    #[arg(short, long)]
    pub detach: bool,
    /// Keep the container's state after it exits (foreground only)
    #[arg(long)]
    pub keep: bool,
}

pub fn run(ctx: &Context, args: Args) -> Result<i32> {
    let opts = args.create.options(ctx, !args.detach);
    launch::run(&ctx.root, &args.id, &opts, args.keep)
}
