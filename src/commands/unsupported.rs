use anyhow::{bail, Result};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Whatever the runc command takes
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub rest: Vec<String>,
}

pub fn run(what: &str) -> Result<i32> {
    bail!("{what} is not supported by berth (no CRIU support)")
}
