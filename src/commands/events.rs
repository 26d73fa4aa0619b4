use std::time::Duration;

use anyhow::{bail, Result};
use libcgroups::common::{create_cgroup_manager, CgroupConfig, CgroupManager};
use serde_json::json;

use super::{parse_duration, Context};
use crate::container::{Container, Status};

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

/// One `{"type":"stats","id":...,"data":{...}}` line per interval while the container runs.
pub fn run(ctx: &Context, args: Args) -> Result<i32> {
    loop {
        let c = Container::load_unlocked(&ctx.root, &args.id)?;
        if c.status() == Status::Stopped {
            bail!("container not running");
        }
        let manager = create_cgroup_manager(CgroupConfig {
            cgroup_path: c.cgroup_path()?,
            systemd_cgroup: c.state.use_systemd,
            container_name: c.id.clone(),
        })?;
        // libcgroups' reader fails where a v2 controller is not enabled (cpu.stat without
        // nr_periods): report what can always be counted rather than nothing.
        let data = match manager.stats() {
            Ok(stats) => serde_json::to_value(stats)?,
            Err(e) => {
                tracing::warn!("cgroup stats incomplete: {e}");
                json!({ "pids": { "current": c.cgroups()?.pids().len() } })
            }
        };
        println!("{}", json!({ "type": "stats", "id": c.id, "data": data }));
        if args.stats {
            return Ok(0);
        }
        std::thread::sleep(args.interval);
    }
}
