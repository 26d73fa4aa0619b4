use std::time::Duration;

use anyhow::Result;

use super::{parse_duration, Context, DEFAULT_TIMEOUT};
use crate::lifecycle;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The container's id
    pub id: String,
    /// How long the processes have to exit after TERM before they get KILL
    #[arg(short, long, default_value = "10s", value_parser = parse_duration)]
    pub grace: Duration,
    /// How long to wait after KILL before failing
    #[arg(long, default_value = DEFAULT_TIMEOUT, value_parser = parse_duration)]
    pub timeout: Duration,
}

pub fn run(ctx: &Context, args: Args) -> Result<i32> {
    lifecycle::stop(&ctx.root, &args.id, args.grace, args.timeout)?;
    Ok(0)
}
