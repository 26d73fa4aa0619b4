use std::io::Read;

use anyhow::{bail, Context as _, Result};

use super::Context;
use crate::container::{Container, Status};
use crate::resources::{self, memory_bytes, Update};

/// runc's `update` flags. Each one not given (or 0) leaves its limit as it is; -1 removes one.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The container's id
    pub id: String,
    /// A JSON file with the resources (an OCI LinuxResources), or - for stdin; the other flags
    /// are then ignored
    #[arg(short, long)]
    pub resources: Option<String>,
    /// Block IO weight (10-1000)
    #[arg(long)]
    pub blkio_weight: Option<u16>,
    /// CPU CFS period in microseconds
    #[arg(long)]
    pub cpu_period: Option<u64>,
    /// CPU CFS quota in microseconds (-1: no limit)
    #[arg(long, allow_negative_numbers = true)]
    pub cpu_quota: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(long, alias = "cpu-shares")]
    pub cpu_share: Option<u64>,
    /// CPU realtime period in microseconds
    #[arg(long)]
    pub cpu_rt_period: Option<u64>,
    /// CPU realtime runtime in microseconds
    #[arg(long, allow_negative_numbers = true)]
    pub cpu_rt_runtime: Option<i64>,
    /// CPUs to use (0-3, 0,1)
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes to use
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// Memory limit: bytes, or with a unit (50M, 1G); -1: no limit
    #[arg(short, long, allow_hyphen_values = true, value_parser = memory_bytes)]
    pub memory: Option<i64>,
    /// Memory plus swap limit (bytes or with a unit); -1: no limit
    #[arg(long, allow_hyphen_values = true, value_parser = memory_bytes)]
    pub memory_swap: Option<i64>,
    /// Memory soft limit (bytes or with a unit)
    #[arg(long, allow_hyphen_values = true, value_parser = memory_bytes)]
    pub memory_reservation: Option<i64>,
    /// Obsolete, ignored
    #[arg(long, hide = true, allow_hyphen_values = true, value_parser = memory_bytes)]
    pub kernel_memory: Option<i64>,
    /// Obsolete, ignored
    #[arg(long, hide = true, allow_hyphen_values = true, value_parser = memory_bytes)]
    pub kernel_memory_tcp: Option<i64>,
    /// Maximum number of pids (-1: no limit)
    #[arg(long, allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,
    /// Intel RDT L3 cache schema (not supported)
    #[arg(long)]
    pub l3_cache_schema: Option<String>,
    /// Intel RDT memory bandwidth schema (not supported)
    #[arg(long)]
    pub mem_bw_schema: Option<String>,
}

pub fn run(ctx: &Context, args: Args) -> Result<i32> {
    if args.l3_cache_schema.is_some() {
        bail!("Intel RDT/CAT: l3 cache schema is not enabled");
    }
    if args.mem_bw_schema.is_some() {
        bail!("Intel RDT/MBA: memory bandwidth schema is not enabled");
    }
    let update = match &args.resources {
        Some(source) => read_resources(source)?,
        None => from_flags(&args),
    };
    let _lock = ctx.root.lock(&args.id)?;
    let c = Container::load(&ctx.root, &args.id)?;
    c.require_cgroup("update")?;
    if c.status() == Status::Stopped {
        bail!("container not running");
    }
    resources::update(&c, &update)?;
    Ok(0)
}

fn read_resources(source: &str) -> Result<Update> {
    let mut text = String::new();
    if source == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the resources from stdin")?;
    } else {
        text = std::fs::read_to_string(source)
            .with_context(|| format!("cannot read resources file {source}"))?;
    }
    Update::from_json(&text).with_context(|| format!("resources {source}"))
}

fn from_flags(a: &Args) -> Update {
    let mut u = Update::default();
    u.memory.limit = a.memory.unwrap_or(0);
    u.memory.swap = a.memory_swap.unwrap_or(0);
    u.memory.reservation = a.memory_reservation.unwrap_or(0);
    u.memory.kernel = a.kernel_memory.unwrap_or(0);
    u.memory.kernel_tcp = a.kernel_memory_tcp.unwrap_or(0);
    u.cpu.shares = a.cpu_share.unwrap_or(0);
    u.cpu.period = a.cpu_period.unwrap_or(0);
    u.cpu.quota = a.cpu_quota.unwrap_or(0);
    u.cpu.realtime_period = a.cpu_rt_period.unwrap_or(0);
    u.cpu.realtime_runtime = a.cpu_rt_runtime.unwrap_or(0);
    u.cpu.cpus = a.cpuset_cpus.clone().unwrap_or_default();
    u.cpu.mems = a.cpuset_mems.clone().unwrap_or_default();
    u.pids.limit = a.pids_limit.unwrap_or(0);
    u.block_io.weight = a.blkio_weight.unwrap_or(0);
    u
}
