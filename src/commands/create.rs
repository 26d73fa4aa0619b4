use std::path::PathBuf;

use anyhow::Result;

use super::{Context, MAX_PRESERVE_FDS};
use crate::launch::{self, CreateOptions};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The container's id
    pub id: String,
    #[command(flatten)]
    pub create: CreateArgs,
}

/// The flags `create` and `run` share.
#[derive(clap::Args, Debug, Clone)]
pub struct CreateArgs {
    /// Path to the bundle (the directory holding config.json)
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Write init's pid to this file
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Send the pseudoterminal's master to this AF_UNIX socket
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Use chroot instead of pivot_root
    #[arg(long)]
    pub no_pivot: bool,
    /// Accepted for runc compatibility; a new session keyring is not created either way
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Pass this many extra file descriptors (3 and up) to the container
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(..=MAX_PRESERVE_FDS))]
    pub preserve_fds: u32,
    /// Accepted for runc compatibility; not supported
    #[arg(long)]
    pub pidfd_socket: Option<PathBuf>,
}

impl CreateArgs {
    pub fn options(&self, ctx: &Context, foreground: bool) -> CreateOptions {
        CreateOptions {
            bundle: self.bundle.clone(),
            pid_file: self.pid_file.clone(),
            console_socket: self.console_socket.clone(),
            no_pivot: self.no_pivot,
            preserve_fds: self.preserve_fds as i32,
            systemd_cgroup: ctx.systemd_cgroup,
            foreground,
            rootless: ctx.rootless,
        }
    }
}

pub fn run(ctx: &Context, args: Args) -> Result<i32> {
    launch::create(&ctx.root, &args.id, &args.create.options(ctx, false))?;
    Ok(0)
}
