//! `berth generate man DIR` and `berth generate completion SHELL`: what packagers install
//! (scripts/install.sh runs them). Hidden from help, man pages and completions; it lives in
//! the runtime binary because that is where the clap definitions are, and costs nothing until
//! called.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use clap_complete::Shell;

use super::Context;
use crate::help;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand, Debug)]
enum What {
    /// Write berth.8 and one berth-COMMAND.8 per command into DIR
    Man {
        /// Where to write the pages (created if missing)
        dir: PathBuf,
    },
    /// Print the completion script for SHELL
    Completion {
        #[arg(value_enum)]
        shell: Shell,
    },
}

pub fn run(_ctx: &Context, args: Args) -> Result<i32> {
    match args.what {
        What::Man { dir } => {
            for page in help::write_man_pages(crate::command(), &dir)? {
                println!("{}", page.display());
            }
        }
        What::Completion { shell } => {
            help::write_completion(crate::command(), shell, &mut std::io::stdout().lock())?
        }
    }
    Ok(0)
}
