use anyhow::{bail, Result};

use super::Context;
use crate::container::{Container, Report};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print the ids alone
    #[arg(short, long)]
    pub quiet: bool,
    /// table or json
    #[arg(short, long, default_value = "table")]
    pub format: String,
}

pub fn run(ctx: &Context, args: Args) -> Result<i32> {
    if args.format != "table" && args.format != "json" {
        bail!("invalid format option {:?}: table or json", args.format);
    }
    // A container deleted while we read is simply not listed.
    let reports: Vec<Report> = ctx
        .root
        .ids()?
        .iter()
        .filter_map(|id| Container::load_unlocked(&ctx.root, id).ok())
        .map(|c| c.report())
        .collect();
    if args.quiet {
        for r in &reports {
            println!("{}", r.id);
        }
    } else if args.format == "json" {
        println!("{}", serde_json::to_string(&reports)?);
    } else {
        print!("{}", table(&reports));
    }
    Ok(0)
}

/// runc's table: columns padded to the widest cell plus 3, at least 12 wide.
fn table(reports: &[Report]) -> String {
    let mut rows = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from)];
    for r in reports {
        rows.push([
            r.id.clone(),
            r.pid.to_string(),
            r.status.clone(),
            r.bundle.display().to_string(),
            r.created.clone(),
            r.list_owner(),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].len() + 3)
                .max()
                .unwrap_or(0)
                .max(12)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i == 5 {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}", w = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
