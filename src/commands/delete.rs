use std::time::Duration;

use anyhow::Result;

use super::{parse_duration, Context, DEFAULT_TIMEOUT};
use crate::lifecycle;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The container's id
    pub id: String,
    /// Kill a running or paused container first; a missing container is not an error
    #[arg(short, long)]
    pub force: bool,
    /// How long to wait for the processes to exit and the cgroups to go before failing
    #[arg(long, default_value = DEFAULT_TIMEOUT, value_parser = parse_duration)]
    pub timeout: Duration,
}

pub fn run(ctx: &Context, args: Args) -> Result<i32> {
    lifecycle::delete(&ctx.root, &args.id, args.force, args.timeout)?;
    Ok(0)
}
