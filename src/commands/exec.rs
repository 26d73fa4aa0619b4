use std::path::PathBuf;

use anyhow::{anyhow, Result};

use super::{Context, MAX_PRESERVE_FDS};
use crate::launch::{self, ExecOptions, ProcessFile};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The container's id
    pub id: String,
    /// The command and its arguments (unless --process is given)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
    /// A JSON file with the process to run (an OCI process object)
    #[arg(short, long, value_parser = read_process_file)]
    pub process: Option<ProcessFile>,
    /// Set an environment variable (NAME=value), may repeat
    #[arg(short, long)]
    pub env: Vec<String>,
    /// Working directory inside the container
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// UID[:GID] to run as
    #[arg(short, long)]
    pub user: Option<String>,
    /// Additional group ids, may repeat
    #[arg(short = 'g', long)]
    pub additional_gids: Vec<u32>,
    /// Allocate a pseudoterminal
    #[arg(short, long)]
    pub tty: bool,
    /// Return once the process has started
    #[arg(short, long)]
    pub detach: bool,
    /// Write the process's pid to this file
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Send the pseudoterminal's master to this AF_UNIX socket
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Pass this many extra file descriptors (3 and up) to the process
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(..=MAX_PRESERVE_FDS))]
    pub preserve_fds: u32,
    /// Run in this sub-cgroup of the container: PATH, or CONTROLLER[,CONTROLLER...]:PATH
    /// (cgroup v1), may repeat
    #[arg(long)]
    pub cgroup: Vec<String>,
    /// Add a capability, may repeat
    #[arg(short, long)]
    pub cap: Vec<String>,
    /// Set no_new_privs
    #[arg(long)]
    pub no_new_privs: bool,
    /// AppArmor profile
    #[arg(long)]
    pub apparmor: Option<String>,
    /// Accepted for runc compatibility; SELinux labels are not applied
    #[arg(long)]
    pub process_label: Option<String>,
    /// Exec into a paused container
    #[arg(long)]
    pub ignore_paused: bool,
}

/// runc's exit status for exec's own failures (not the process's).
const EXEC_FAILED: i32 = 255;

pub fn run(ctx: &Context, args: Args) -> Result<i32> {
    // Read already (no re-exec followed): nothing of it may reach the container's processes.
    std::env::remove_var(CARRIED);
    let id = args.id.clone();
    match options(args).and_then(|opts| launch::exec(&ctx.root, &id, &opts)) {
        Ok(status) => Ok(status),
        Err(e) => {
            // libcontainer words every failure of an exec'd process as a failed create.
            let line = crate::one_line(&e.context(id));
            crate::report_line(&line.replace("failed to create container", "cannot exec"));
            Ok(EXEC_FAILED)
        }
    }
}

fn options(args: Args) -> Result<ExecOptions> {
    let user = args.user.as_deref().map(parse_user).transpose()?;
    Ok(ExecOptions {
        process_file: args.process,
        args: args.command,
        env: args.env,
        cwd: args.cwd,
        user,
        additional_gids: args.additional_gids,
        tty: args.tty,
        detach: args.detach,
        pid_file: args.pid_file,
        console_socket: args.console_socket,
        preserve_fds: args.preserve_fds as i32,
        cgroups: args.cgroup,
        caps: args.cap,
        no_new_privs: args.no_new_privs,
        apparmor: args.apparmor,
        ignore_paused: args.ignore_paused,
    })
}

/// Carries what the first berth read of `--process FILE` to the berth it re-executes from a
/// read-only view of its binary (`exe`): FILE may be a descriptor the first one closed.
const CARRIED: &str = "_BERTH_EXEC_PROCESS";

/// Reads `--process FILE` while the command line is parsed: berth closes the descriptors it
/// inherited right after, and FILE may be one of them (`/dev/fd/N`, a shell's process
/// substitution). A failure to read is reported by exec itself.
fn read_process_file(path: &str) -> Result<ProcessFile, String> {
    let file = |contents| ProcessFile {
        path: PathBuf::from(path),
        contents,
    };
    if let Some(carried) = std::env::var_os(CARRIED) {
        std::env::remove_var(CARRIED);
        if let Some((p, text)) = carried.to_str().and_then(|c| c.split_once('\n')) {
            if p == path {
                return Ok(file(Ok(text.as_bytes().to_vec())));
            }
        }
    }
    let contents = std::fs::read(path).map_err(|e| e.to_string());
    if let Some(text) = contents
        .as_ref()
        .ok()
        .and_then(|t| std::str::from_utf8(t).ok())
    {
        if !path.contains('\n') && !text.contains('\0') {
            std::env::set_var(CARRIED, format!("{path}\n{text}"));
        }
    }
    Ok(file(contents))
}

fn parse_user(text: &str) -> Result<(u32, Option<u32>)> {
    let bad = || anyhow!("invalid --user {text:?}: want UID[:GID]");
    let (uid, gid) = match text.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (text, None),
    };
    let uid = uid.parse().map_err(|_| bad())?;
    let gid = gid.map(|g| g.parse().map_err(|_| bad())).transpose()?;
    Ok((uid, gid))
}
