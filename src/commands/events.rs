use std::time::Duration;

use anyhow::Result;

use super::{parse_duration, Context};
use crate::container::Container;
use crate::events;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The container's id
    pub id: String,
    /// Print the resource usage once and exit
    #[arg(long)]
    pub stats: bool,
    /// How often to print the resource usage
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub interval: Duration,
}

/// runc's `events`: one JSON object a line on stdout (stats every interval, and OOM events),
/// until the container stops; `--stats` prints the usage once.
pub fn run(ctx: &Context, args: Args) -> Result<i32> {
    let c = Container::load_unlocked(&ctx.root, &args.id)?;
    c.require_cgroup("report events")?;
    let mut out = std::io::stdout().lock();
    if args.stats {
        events::stats_once(&c, &mut out)?;
    } else {
        events::watch(&c, args.interval, &mut out)?;
    }
    Ok(0)
}
