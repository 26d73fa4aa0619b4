use std::time::Duration;

use anyhow::Result;

use super::{parse_duration, Context, DEFAULT_TIMEOUT};
use crate::lifecycle::{self, KillOptions};
use crate::signal;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The container's id
    pub id: String,
    /// A signal name (KILL, kill, SIGKILL) or number
    #[arg(default_value = "TERM")]
    pub signal: String,
    /// Send the signal to every process of the container, not init alone
    #[arg(short, long)]
    pub all: bool,
    /// Return only when every process of the container has exited (always so for KILL)
    #[arg(long)]
    pub wait: bool,
    /// How long to wait for the processes to exit before failing
    #[arg(long, default_value = DEFAULT_TIMEOUT, value_parser = parse_duration)]
    pub timeout: Duration,
}

pub fn run(ctx: &Context, args: Args) -> Result<i32> {
    let signal = signal::parse(&args.signal)?;
    let opts = KillOptions {
        signal,
        all: args.all,
        wait: args.wait,
        timeout: args.timeout,
    };
    lifecycle::kill(&ctx.root, &args.id, opts)?;
    Ok(0)
}
