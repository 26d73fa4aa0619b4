use anyhow::Result;

use super::Context;
use crate::container::Container;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The container's id
    pub id: String,
}

pub fn run(ctx: &Context, args: Args) -> Result<i32> {
    let c = Container::load_unlocked(&ctx.root, &args.id)?;
    println!("{}", serde_json::to_string_pretty(&c.report())?);
    Ok(0)
}
