use std::process::Command;

use anyhow::{bail, Context as _, Result};

use super::Context;
use crate::container::Container;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The container's id
    pub id: String,
    /// Arguments for ps(1) (default -ef)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
    /// table or json (a JSON array of pids)
    #[arg(short, long, default_value = "table")]
    pub format: String,
}

pub fn run(ctx: &Context, args: Args) -> Result<i32> {
    let c = Container::load_unlocked(&ctx.root, &args.id)?;
    let pids: Vec<i32> = match c.init_running().then(|| c.recorded_pid()).flatten() {
        Some(init) if c.no_cgroup() => crate::rootless::pidns_members(init)
            .with_context(|| format!("cannot list the processes of PID namespace of {init}"))?,
        _ if c.no_cgroup() => Vec::new(),
        _ => c.cgroups()?.pids().into_iter().collect(),
    };
    match args.format.as_str() {
        "json" => println!("{}", serde_json::to_string(&pids)?),
        "table" => print!("{}", table(&pids, &args.ps_args)?),
        other => bail!("invalid format option {other:?}: table or json"),
    }
    Ok(0)
}

/// ps(1)'s output, header and the lines whose PID column is one of `pids`.
fn table(pids: &[i32], ps_args: &[String]) -> Result<String> {
    let ps_args: Vec<String> = if ps_args.is_empty() {
        vec!["-ef".into()]
    } else {
        ps_args.to_vec()
    };
    let out = Command::new("ps")
        .args(&ps_args)
        .output()
        .context("cannot run ps")?;
    if !out.status.success() {
        bail!(
            "ps {}: {}",
            ps_args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let Some(col) = header.split_whitespace().position(|h| h == "PID") else {
        bail!("ps output has no PID column");
    };
    let mut result = format!("{header}\n");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            result.push_str(line);
            result.push('\n');
        }
    }
    Ok(result)
}
