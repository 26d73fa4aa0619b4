//! berth: a runc-compatible OCI container runtime whose `kill` and `delete -f` are synchronous.
//!
//! The binary (`main.rs`) only calls [`main`]. This file parses the global flags, sets up
//! logging, dispatches to `commands`, and turns an error into runc's form: one line on stderr,
//! the same line in the JSON log, exit status 1. Everything else is private to the crate but
//! [`fuzzing`], the entry point of the coverage-guided fuzz targets in `fuzz/`.

mod attach;
mod capabilities;
mod cgroup_view;
mod checkpoint;
mod commands;
mod container;
mod devices;
mod events;
mod exe;
mod fds;
mod finish;
mod fsutil;
pub mod fuzzing;
mod help;
mod hooks;
mod idmap;
mod join;
mod launch;
mod lifecycle;
mod log;
mod panic;
mod prepare;
mod reach;
mod resources;
mod rootfs;
mod rootless;
mod seccomp;
mod signal;
mod systemd;
mod teardown;
mod tty;
mod validate;
mod workload;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, CommandFactory, FromArgMatches, Parser};

use commands::{Command, Context};
use container::Root;

#[cfg(test)]
mod tests {
    use super::runc_wording;

    #[test]
    fn subcommand_is_found_before_parsing_as_clap_finds_it() {
        use super::{command, subcommand_before_parsing, GLOBAL_VALUE_FLAGS};
        let cli = command();
        for arg in cli.get_arguments() {
            if arg.get_action().takes_values() {
                let long = format!("--{}", arg.get_long().unwrap_or_default());
                assert!(
                    GLOBAL_VALUE_FLAGS.contains(&long.as_str()),
                    "{long} is missing"
                );
            }
        }
        for line in [
            "berth create c1",
            "berth --root /r --log /l --log-format json create --bundle b c1",
            "berth --debug --root=/r run c1",
            "berth --systemd-cgroup --rootless false exec c1 sh",
            "berth --root create run c1",
            "berth state create",
            "berth --version",
        ] {
            let args: Vec<std::ffi::OsString> = line.split(' ').map(Into::into).collect();
            let clap_says = command()
                .try_get_matches_from(&args)
                .ok()
                .and_then(|m| m.subcommand_name().map(String::from));
            assert_eq!(
                subcommand_before_parsing(&args).map(String::from),
                clap_says,
                "{line}"
            );
        }
    }

    #[test]
    fn missing_executable_reads_like_runc() {
        let lib = "c1: failed to create container: exec process failed with error error in \
                   executing process : executable 'nope' not found in $PATH";
        assert_eq!(
            runc_wording(lib),
            "c1: failed to create container: exec: \"nope\": executable file not found in $PATH"
        );
        assert_eq!(
            runc_wording("container does not exist"),
            "container does not exist"
        );
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "berth",
    about = "Open Container Initiative runtime with synchronous kill and delete",
    version,
    disable_version_flag = true
)]
struct Cli {
    /// Where container state lives [default: /run/berth, or $XDG_RUNTIME_DIR/berth for a user]
    #[arg(long)]
    root: Option<PathBuf>,
    /// Append log lines (and every error) to this file
    #[arg(long)]
    log: Option<PathBuf>,
    /// text or json
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    /// Log debug detail (to --log, else to stderr)
    #[arg(long)]
    debug: bool,
    /// Manage cgroups through systemd
    #[arg(long)]
    systemd_cgroup: bool,
    /// Run without privileges: auto (when not root), true or false
    #[arg(long)]
    rootless: Option<String>,
    /// Accepted for runc compatibility; checkpoint and restore are not supported
    #[arg(long)]
    criu: Option<PathBuf>,
    /// Print the version
    #[arg(short = 'v', long = "version", action = ArgAction::SetTrue)]
    version: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

/// berth's command line, run: what the binary does.
pub fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let reexecuted = exe::after_reexec();
    reexec_early(&args, reexecuted);
    let cli = match command()
        .try_get_matches_from(&args)
        .and_then(|m| Cli::from_arg_matches(&m))
    {
        Ok(cli) => cli,
        Err(e) => {
            if let Some(topic) = help::unknown_topic(&e, &args) {
                eprintln!("berth: No help topic for '{topic}'");
                return ExitCode::from(1);
            }
            // --help prints to stdout and succeeds; usage errors exit 1 like runc's.
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    // Before anything opens a descriptor: the caller's extra ones must not reach a container.
    let keep = cli.command.as_ref().map_or(0, Command::preserved_fds);
    fds::close_inherited(keep.saturating_add(fds::listen_fds()));
    panic::install();
    // Library errors must not add backtraces to the one line a user reads.
    std::env::set_var("RUST_LIB_BACKTRACE", "0");
    let format = if cli.log_format == "json" {
        log::Format::Json
    } else {
        log::Format::Text
    };
    if let Err(e) = log::init(cli.log.as_deref(), format, cli.debug) {
        report_error(&e);
        return ExitCode::from(1);
    }
    // However main returns: what libcontainer's forks logged reaches the log.
    let _flush = log::FlushOnDrop;
    if cli.version {
        print_version();
        return ExitCode::SUCCESS;
    }
    let Some(command) = cli.command else {
        let _ = command().print_help();
        return ExitCode::from(1);
    };
    if command.enters_container() && exe::needs_sealing(reexecuted) {
        // The early re-execution failed: this one reports why.
        report_error(&exe::reexec_sealed(&[]));
        // exec's own failures exit 255, as runc's do.
        let code = if matches!(command, Command::Exec(_)) {
            255
        } else {
            1
        };
        return ExitCode::from(code);
    }
    let id = command_id(&command);
    let ctx = match context(&cli.root, cli.rootless.as_deref(), cli.systemd_cgroup) {
        Ok(ctx) => ctx,
        Err(e) => {
            report_error(&e);
            return ExitCode::from(1);
        }
    };
    // Before any thread starts: joining a user namespace needs a single-threaded process.
    if let Err(e) = rootless::enter(command.rootless_entry(&ctx)) {
        report_error(&match &id {
            Some(id) => e.context(id.clone()),
            None => e,
        });
        return ExitCode::from(1);
    }
    match panic::catch(|| command.run(&ctx)) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            report_error(&match id {
                Some(id) => e.context(id),
                None => e,
            });
            ExitCode::from(1)
        }
    }
}

/// `create`, `run` and `exec` re-execute berth from a sealed view of its binary (`exe.rs`) as
/// the very first thing, before the command line is parsed (the re-executed berth parses it):
/// everything done before the re-execution is done twice. `create` and `run` start the
/// cgroup-attach grace period (`attach.rs`) first, so that it runs while berth re-executes.
/// Returns only if berth needs no re-execution or it failed; the checks after parsing then try
/// again and report the failure in the log's format.
fn reexec_early(args: &[std::ffi::OsString], reexecuted: bool) {
    let Some(sub) = subcommand_before_parsing(args) else {
        return;
    };
    if !matches!(sub, "create" | "run" | "exec") || !exe::needs_sealing(reexecuted) {
        return;
    }
    let grace = if sub == "exec" {
        attach::GracePeriod::none()
    } else {
        attach::start_grace_period()
    };
    let _failed = exe::reexec_sealed(&grace.handover_env());
}

/// Global flags that take a value as the next argument (`--root DIR`).
const GLOBAL_VALUE_FLAGS: [&str; 5] = ["--root", "--log", "--log-format", "--rootless", "--criu"];

/// The subcommand's name, read from the arguments without clap: the first argument that is
/// neither a global flag nor a global flag's value.
fn subcommand_before_parsing(args: &[std::ffi::OsString]) -> Option<&str> {
    let mut rest = args.iter().skip(1);
    while let Some(arg) = rest.next() {
        let arg = arg.to_str()?;
        if arg == "--" {
            return None;
        }
        if GLOBAL_VALUE_FLAGS.contains(&arg) {
            rest.next();
        } else if !arg.starts_with('-') {
            return Some(arg);
        }
    }
    None
}

/// The global flags every command sees: runc's rules for `--rootless` and the default `--root`.
fn context(
    root: &Option<PathBuf>,
    rootless: Option<&str>,
    systemd_cgroup: bool,
) -> anyhow::Result<Context> {
    let rootless = rootless::decide(rootless, systemd_cgroup)?;
    let root = match root {
        Some(root) => root.clone(),
        None => {
            let (root, xdg) = rootless::default_root();
            if xdg {
                rootless::prepare_xdg_root(&root)?;
            }
            root
        }
    };
    Ok(Context {
        root: Root::new(&root),
        systemd_cgroup,
        rootless,
    })
}

/// The container a command is about, to name it in its error.
fn command_id(command: &Command) -> Option<String> {
    let id = match command {
        Command::Create(a) => &a.id,
        Command::Start(a) => &a.id,
        Command::Run(a) => &a.id,
        Command::State(a) => &a.id,
        Command::Kill(a) => &a.id,
        Command::Stop(a) => &a.id,
        Command::Delete(a) => &a.id,
        Command::Ps(a) => &a.id,
        Command::Pause(a) => &a.id,
        Command::Resume(a) => &a.id,
        Command::Events(a) => &a.id,
        Command::Update(a) => &a.id,
        // exec names its container itself (it reports its own errors, exit status 255).
        _ => return None,
    };
    Some(id.clone())
}

/// berth's command line, in runc's help layout.
fn command() -> clap::Command {
    help::layout(Cli::command())
}

fn print_version() {
    println!("berth version {}", env!("CARGO_PKG_VERSION"));
    println!("commit: {}", env!("BERTH_COMMIT"));
    println!("spec: {}", libcontainer::oci_spec::runtime::VERSION);
}

/// The error as one line: its chain joined by ": ", each part once, newlines folded.
pub fn one_line(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if text.is_empty() || parts.iter().any(|p| p.contains(&text)) {
            continue;
        }
        parts.push(text);
    }
    runc_wording(&parts.join(": "))
}

/// libcontainer's words for a missing executable, in runc's: docker and podman map
/// `executable file not found` to exit status 127, and nobody needs "error error in executing".
fn runc_wording(line: &str) -> String {
    let mut line = line.replace(
        "exec process failed with error error in executing process : ",
        "",
    );
    const HEAD: &str = "executable '";
    const TAIL: &str = "' not found in $PATH";
    if let Some(start) = line.find(HEAD) {
        if let Some(len) = line[start + HEAD.len()..].find(TAIL) {
            let name = line[start + HEAD.len()..start + HEAD.len() + len].to_string();
            line.replace_range(
                start..start + HEAD.len() + len + TAIL.len(),
                &format!("exec: {name:?}: executable file not found in $PATH"),
            );
        }
    }
    line
}

/// Prints the error on stderr and appends it to the log as an "error" line.
pub fn report_error(err: &anyhow::Error) {
    report_line(&one_line(err));
}

/// Prints one error line on stderr and appends it to the log as an "error" line.
pub fn report_line(line: &str) {
    log::error(line);
    eprintln!("berth: {line}");
}
