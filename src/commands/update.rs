use std::io::Read;

use anyhow::{anyhow, bail, Context as _, Result};
use libcontainer::oci_spec::runtime::LinuxResources;
use serde_json::{json, Value};

use super::Context;
use crate::container::{Container, Status};
use crate::resources;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The container's id
    pub id: String,
    /// A JSON file with the resources (runc's format), or - for stdin
    #[arg(short, long)]
    pub resources: Option<String>,
    /// Memory limit in bytes
    #[arg(short, long)]
    pub memory: Option<i64>,
    /// Memory plus swap limit in bytes
    #[arg(long)]
    pub memory_swap: Option<i64>,
    /// Memory soft limit in bytes
    #[arg(long)]
    pub memory_reservation: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(long)]
    pub cpu_shares: Option<u64>,
    /// CPU CFS period in microseconds
    #[arg(long)]
    pub cpu_period: Option<u64>,
    /// CPU CFS quota in microseconds
    #[arg(long)]
    pub cpu_quota: Option<i64>,
    /// CPUs to use (0-3, 0,1)
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes to use
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// Maximum number of pids
    #[arg(long)]
    pub pids_limit: Option<i64>,
    /// Block IO weight (10-1000)
    #[arg(long)]
    pub blkio_weight: Option<u16>,
}

pub fn run(ctx: &Context, args: Args) -> Result<i32> {
    let _lock = ctx.root.lock(&args.id)?;
    let c = Container::load(&ctx.root, &args.id)?;
    if c.status() == Status::Stopped {
        bail!("container not running");
    }
    let resources = match &args.resources {
        Some(source) => read_resources(source)?,
        None => from_flags(&args)?,
    };
    resources::update(&c, &resources)?;
    Ok(0)
}

fn read_resources(source: &str) -> Result<LinuxResources> {
    let mut text = String::new();
    if source == "-" {
        std::io::stdin().read_to_string(&mut text)?;
    } else {
        text =
            std::fs::read_to_string(source).with_context(|| format!("resources file {source}"))?;
    }
    let mut value: Value = serde_json::from_str(&text)
        .map_err(|e| anyhow!("resources {source} are not valid JSON: {e}"))?;
    drop_zeros(&mut value);
    serde_json::from_value(value).map_err(|e| anyhow!("resources {source} are not valid: {e}"))
}

/// containerd sends every field, with 0 for "unchanged" (as runc reads it): drop them.
fn drop_zeros(v: &mut Value) {
    if let Value::Object(map) = v {
        map.retain(|_, x| !(x.is_null() || x.as_i64() == Some(0) || x.as_str() == Some("")));
        for x in map.values_mut() {
            drop_zeros(x);
        }
        map.retain(|_, x| !x.as_object().is_some_and(|o| o.is_empty()));
    }
}

fn from_flags(a: &Args) -> Result<LinuxResources> {
    let mut value = json!({
        "memory": { "limit": a.memory, "swap": a.memory_swap, "reservation": a.memory_reservation },
        "cpu": { "shares": a.cpu_shares, "period": a.cpu_period, "quota": a.cpu_quota,
                 "cpus": a.cpuset_cpus, "mems": a.cpuset_mems },
        "pids": { "limit": a.pids_limit },
        "blockIO": { "weight": a.blkio_weight },
    });
    drop_zeros(&mut value);
    Ok(serde_json::from_value(value)?)
}
