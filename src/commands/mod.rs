//! One module per subcommand: its clap arguments and a short function that calls the work in
//! `launch`, `lifecycle` or `container`. Each returns the exit status on success.

use std::time::Duration;

use clap::Subcommand;

use crate::container::Root;
use crate::rootless;

pub mod create;
pub mod delete;
pub mod events;
pub mod exec;
pub mod features;
pub mod generate;
pub mod kill;
pub mod list;
pub mod pause;
pub mod ps;
pub mod resume;
pub mod run;
pub mod spec;
pub mod start;
pub mod state;
pub mod stop;
pub mod unsupported;
pub mod update;

/// What every subcommand gets from the global flags.
pub struct Context {
    pub root: Root,
    pub systemd_cgroup: bool,
    /// `--rootless` after runc's rules (auto: not root).
    pub rootless: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a container (it waits for `start`)
    Create(create::Args),
    /// Start a created container
    Start(start::Args),
    /// Create and start a container
    Run(run::Args),
    /// Print the state of a container as JSON
    State(state::Args),
    /// List containers
    List(list::Args),
    /// Send a signal to a container; KILL returns only when every process has exited
    Kill(kill::Args),
    /// Stop a container: TERM to every process, KILL after a grace period, all synchronous
    Stop(stop::Args),
    /// Delete a container and everything it holds
    Delete(delete::Args),
    /// Run a new process in a container
    Exec(exec::Args),
    /// List the processes of a container
    Ps(ps::Args),
    /// Suspend every process of a container
    Pause(pause::Args),
    /// Resume a paused container
    Resume(resume::Args),
    /// Write a default config.json
    Spec(spec::Args),
    /// Print what this runtime supports, as JSON
    Features(features::Args),
    /// Print a container's resource usage
    Events(events::Args),
    /// Change a container's resource limits
    Update(update::Args),
    /// Not supported by berth
    Checkpoint(unsupported::Args),
    /// Not supported by berth
    Restore(unsupported::Args),
    /// Write man pages or a shell completion script (for packagers)
    #[command(hide = true)]
    Generate(generate::Args),
}

impl Command {
    /// How many descriptors from 3 up the caller hands to the container's process
    /// (`--preserve-fds`); every other descriptor above stderr is closed at start.
    pub fn preserved_fds(&self) -> u32 {
        match self {
            Command::Create(a) => a.create.preserve_fds,
            Command::Run(a) => a.create.preserve_fds,
            Command::Exec(a) => a.preserve_fds,
            _ => 0,
        }
    }

    /// Whether berth forks processes that join the container (libcontainer's init and exec
    /// forks): then it must first run from a view of its binary a container cannot write.
    pub fn enters_container(&self) -> bool {
        matches!(
            self,
            Command::Create(_) | Command::Run(_) | Command::Exec(_)
        )
    }

    /// What berth must do to itself before a rootless create or exec (see [`rootless::enter`]).
    pub fn rootless_entry(&self, ctx: &Context) -> rootless::Enter {
        if !ctx.rootless || nix::unistd::geteuid().is_root() {
            return rootless::Enter::Nothing;
        }
        match self {
            Command::Create(_) | Command::Run(_) if !rootless::cgroup_v2() => {
                rootless::Enter::Create
            }
            Command::Exec(a) => {
                match crate::container::Container::load_unlocked(&ctx.root, &a.id) {
                    Ok(c) => match c.recorded_pid() {
                        Some(init) if rootless::has_own_user_namespace(init) => {
                            rootless::Enter::Exec {
                                init,
                                no_cgroup: c.no_cgroup(),
                            }
                        }
                        _ => rootless::Enter::Nothing,
                    },
                    Err(_) => rootless::Enter::Nothing,
                }
            }
            _ => rootless::Enter::Nothing,
        }
    }

    pub fn run(self, ctx: &Context) -> anyhow::Result<i32> {
        match self {
            Command::Create(a) => create::run(ctx, a),
            Command::Start(a) => start::run(ctx, a),
            Command::Run(a) => run::run(ctx, a),
            Command::State(a) => state::run(ctx, a),
            Command::List(a) => list::run(ctx, a),
            Command::Kill(a) => kill::run(ctx, a),
            Command::Stop(a) => stop::run(ctx, a),
            Command::Delete(a) => delete::run(ctx, a),
            Command::Exec(a) => exec::run(ctx, a),
            Command::Ps(a) => ps::run(ctx, a),
            Command::Pause(a) => pause::run(ctx, a),
            Command::Resume(a) => resume::run(ctx, a),
            Command::Spec(a) => spec::run(ctx, a),
            Command::Features(a) => features::run(ctx, a),
            Command::Events(a) => events::run(ctx, a),
            Command::Update(a) => update::run(ctx, a),
            Command::Checkpoint(a) => {
                crate::checkpoint::check_parent_path(&a.rest)?;
                unsupported::run("checkpoint")
            }
            Command::Restore(_) => unsupported::run("restore"),
            Command::Generate(a) => generate::run(ctx, a),
        }
    }
}

/// Durations on the command line: `10s`, `500ms`, `2m`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    if let Ok(secs) = text.parse::<f64>() {
        if secs >= 0.0 && secs.is_finite() {
            return Ok(Duration::from_secs_f64(secs));
        }
    }
    humantime::parse_duration(text).map_err(|e| format!("invalid duration {text:?}: {e}"))
}

/// The most descriptors `--preserve-fds` can name (the kernel's default `nr_open`).
pub const MAX_PRESERVE_FDS: i64 = 1 << 20;

/// The default deadline of every teardown wait.
pub const DEFAULT_TIMEOUT: &str = "10s";
