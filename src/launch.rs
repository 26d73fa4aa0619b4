//! Starting processes: create, start, run and exec over libcontainer, and the foreground wait
//! that forwards signals and returns the process's exit status. Knows nothing of the command
//! line.

use std::collections::HashMap;
use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container as LcContainer;
use libcontainer::oci_spec::runtime::{LinuxNamespaceType, Process, Spec};
use libcontainer::syscall::syscall::SyscallType;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use rustix::event::{PollFd, PollFlags};

use crate::attach;
use crate::capabilities::{self, InheritableForChild};
use crate::cgroup_view::CgroupView;
use crate::container::{default_cgroup_path, Container, Meta, Root, Status};
use crate::devices;
use crate::finish;
use crate::fsutil::write_atomic;
use crate::hooks::{self, When};
use crate::join::{Joined, SubCgroups};
use crate::lifecycle::{self, Placement};
use crate::panic;
use crate::prepare::{self, ExecView, PreparedBundle};
use crate::reach::Reach;
use crate::resources;
use crate::rootfs;
use crate::rootless;
use crate::seccomp;
use crate::signal;
use crate::systemd::Systemd;
use crate::teardown::process::Stat;
use crate::teardown::{Cgroups, Options, Proc};
use crate::tty::{self, ConsoleSocket, TtySetup};
use crate::validate;
use crate::workload::{self, RuncExecutor};

/// Everything `create` and `run` take.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub no_pivot: bool,
    pub preserve_fds: i32,
    pub systemd_cgroup: bool,
    /// The caller waits for init (foreground `run`): init stays berth's child.
    pub foreground: bool,
    /// `--rootless` (runc's rules): a user without a writable cgroup gets none.
    pub rootless: bool,
}

/// Times the stages of `create` for `--debug`: one line per stage, so that where create's time
/// goes can be read from any run without a profiler.
struct Stages {
    start: std::time::Instant,
    last: std::time::Instant,
}

impl Stages {
    fn new() -> Self {
        let now = std::time::Instant::now();
        Stages {
            start: now,
            last: now,
        }
    }

    fn done(&mut self, stage: &str) {
        let now = std::time::Instant::now();
        tracing::debug!(
            "create: {stage} took {:.2} ms ({:.2} ms in all)",
            (now - self.last).as_secs_f64() * 1e3,
            (now - self.start).as_secs_f64() * 1e3
        );
        self.last = now;
    }
}

/// How long cleaning up after a failed create may take.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(10);

/// How long systemd may take to answer one D-Bus call of `create`'s.
const SYSTEMD_TIMEOUT: Duration = Duration::from_secs(10);

/// `create`: the container's processes and cgroups, waiting for `start`. On failure nothing is
/// left behind: no state directory, no cgroup, no process.
pub fn create(root: &Root, id: &str, opts: &CreateOptions) -> Result<i32> {
    create_with(root, id, opts, None)
}

/// [`create`]; `own_console` is the console socket of berth's own that `opts.console_socket`
/// names (a foreground `run`'s), whose terminal must be set up before `create` returns. The
/// fuzz targets run its checks and preparation without the rest (`fuzzing::create_checks`):
/// a step added before the build belongs there too.
fn create_with(
    root: &Root,
    id: &str,
    opts: &CreateOptions,
    own_console: Option<&mut ConsoleSocket>,
) -> Result<i32> {
    let mut stages = Stages::new();
    let grace = attach::start_grace_period();
    // A user's container on a cgroup v1 host has no cgroup, hence no scope unit either.
    let cgroupfs;
    let opts = if opts.systemd_cgroup && rootless::v1_hidden() {
        cgroupfs = CreateOptions {
            systemd_cgroup: false,
            ..opts.clone()
        };
        &cgroupfs
    } else {
        opts
    };
    let _lock = root.lock(id)?;
    stages.done("lock");
    let dir = root.dir(id);
    if dir.exists() {
        bail!("container with given ID already exists");
    }
    let bundle = fs::canonicalize(&opts.bundle)
        .with_context(|| format!("bundle {}", opts.bundle.display()))?;
    let spec = load_spec(&bundle)?;
    validate::spec(&spec, &bundle).context("invalid config.json")?;
    stages.done("config.json read and checked");
    let cgroup_path = cgroup_path_of(&spec, id, opts.systemd_cgroup)?;
    let placement =
        Placement::new(&cgroup_path, opts.systemd_cgroup).context("invalid cgroupsPath")?;
    let private_pidns = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| {
            ns.iter()
                .any(|n| n.typ() == LinuxNamespaceType::Pid && n.path().is_none())
        });
    let no_cgroup = opts.rootless
        && !nix::unistd::geteuid().is_root()
        && !rootless::cgroup_access(&cgroup_path, placement.unit.is_some());
    if no_cgroup {
        rootless::check_without_cgroup(&spec, private_pidns)?;
    }
    let mut prepared_spec = prepare::spec(&spec, &bundle, &cgroup_path)?;
    // libcontainer must not look init's user up itself: berth's executor finds its HOME.
    let home_from_passwd = prepared_spec
        .process_mut()
        .as_mut()
        .is_some_and(workload::stand_in_home);
    if no_cgroup {
        // Nothing for libcontainer's cgroup manager to do (device rules are not enforceable
        // without a cgroup: runc ignores them for a rootless container too).
        if let Some(linux) = prepared_spec.linux_mut() {
            linux.set_resources(None);
        }
        // A cgroup filesystem mount has no cgroup of the container's to show, and libcontainer
        // fails to make one without a cgroup namespace; /sys (bound from the host in a rootless
        // config) shows the host's.
        if let Some(mounts) = prepared_spec.mounts().clone() {
            let kept = mounts
                .into_iter()
                .filter(|m| {
                    m.typ().as_deref() != Some("cgroup") && m.typ().as_deref() != Some("cgroup2")
                })
                .collect();
            prepared_spec.set_mounts(Some(kept));
        }
    }
    // The cgroup v1 view that berth mounts itself, faster than libcontainer (see `cgroup_view`).
    let cgroup_view = match &placement.unit {
        None if !no_cgroup => CgroupView::plan(
            &mut prepared_spec,
            &placement.cgroup,
            &rootfs_of(&spec, &bundle),
        ),
        _ => None,
    };
    let reach = Reach::plan(&mut prepared_spec)?;
    let prepared = PreparedBundle::write(root, id, &prepared_spec)?;
    prepared.keep_seccomp(&spec)?;
    stages.done("prepared config written");
    // The caller's console socket gets the terminal once berth has set it up.
    let mut relay =
        match (&own_console, &opts.console_socket, spec.process()) {
            (None, Some(caller), Some(p)) if p.terminal() == Some(true) => Some(
                own_console_socket(root, id, tty_setup(p, Some(&spec)), Some(caller), None)?,
            ),
            _ => None,
        };
    let console = own_console.or(relay.as_mut());
    let console_path = console
        .as_ref()
        .map(|c| c.path().to_path_buf())
        .or(opts.console_socket.clone());
    if !no_cgroup {
        let existing = Cgroups::locate(&placement.cgroup).context("invalid cgroupsPath")?;
        check_existing_cgroup(&existing)?;
    }
    seccomp::check_agent(&spec)?;
    // The filter and the startContainer hooks, which berth's executor loads and runs in init.
    let runner = RuncExecutor::new(true, home_from_passwd);
    let init = seccomp::plan_init(&spec, id, &bundle, runner)?;
    if let Some(pid_file) = &opts.pid_file {
        check_parent_dir(pid_file, "pid file")?;
    }
    rootfs::clear_dev(&spec, &rootfs_of(&spec, &bundle));
    rootfs::create_bind_targets(&prepared_spec, &rootfs_of(&spec, &bundle));
    stages.done("cgroups and rootfs checked");
    let forked = std::cell::Cell::new(None);
    let result = panic::catch(|| {
        // The hierarchies libcontainer leaves alone: init inherits them from berth.
        let joined = match &placement.unit {
            _ if no_cgroup => Joined::default(),
            None => Joined::enter(
                &cgroup_path,
                &SubCgroups::default(),
                Some(&prepared.cgroups_record()),
            )?,
            Some(_) => Joined::default(),
        };
        let entered = reach.enter()?;
        let inheritable = InheritableForChild::raise(spec.process().as_ref());
        stages.done("cgroups joined");
        let built = init.around(|| {
            build_init(
                root,
                id,
                prepared.path(),
                &rootfs_of(&spec, &bundle),
                console_path.as_deref(),
                opts,
                init.executor(),
            )
        });
        drop(inheritable);
        drop(entered);
        drop(joined);
        grace.end();
        stages.done("libcontainer built init");
        built
    })
    .and_then(|pid| {
        forked.set(Some(pid));
        if opts.rootless && !no_cgroup && !rootless::true_root() {
            rootless::check_placed(pid, &placement.cgroup)?;
        }
        if let Some(console) = console {
            // init has sent its terminal (libcontainer returns once it has): it waits for
            // `start` while berth sets the terminal up.
            console.ready()?;
        }
        // The prepared config: without a cgroup it has no cgroup mount to make read-only.
        finish::mounts(&prepared_spec, pid, cgroup_view.as_ref())?;
        stages.done("mounts finished");
        prepared.install(root, id, &bundle)?;
        let meta = Meta {
            init_start_time: Stat::read(pid).map(|s| s.start_time),
            rootfs: rootfs_of(&spec, &bundle),
            cgroup_path: cgroup_path.clone(),
            systemd: placement.unit.clone(),
            private_pidns,
            no_cgroup,
        };
        Container::save_meta(&dir, &meta)?;
        // Device rules on cgroup v2, which libcontainer leaves out (see `devices`).
        if !no_cgroup {
            devices::limit_create(&placement.cgroup, &spec)?;
        }
        if let Some(r) = spec.linux().as_ref().and_then(|l| l.resources().as_ref()) {
            if !no_cgroup {
                resources::complete_create(&placement.cgroup, r)?;
            }
        }
        if let Some(unit) = &placement.unit {
            Systemd::connect(SYSTEMD_TIMEOUT)?
                .set_description(&unit.name, &format!("berth container {id}"))?;
            if let Some(r) = spec.linux().as_ref().and_then(|l| l.resources().as_ref()) {
                resources::write_scope_cgroup(unit, r)?;
            }
        }
        if let Some(pid_file) = &opts.pid_file {
            write_pid_file(pid_file, pid)?;
        }
        stages.done("state and limits written");
        Ok(pid)
    });
    result
        .inspect_err(|_| {
            // libcontainer removes what it made when the build itself fails, but a process that
            // already runs, or a later failure here, needs the teardown engine.
            let cleanup = Options::new(CLEANUP_TIMEOUT);
            if no_cgroup || (opts.rootless && !rootless::true_root()) {
                // No cgroup to scan (or init may not be in it: see `rootless::check_placed`):
                // init, still berth's fork waiting for `start`, has no children yet; with a PID
                // namespace of its own its death would take them along anyway.
                let init = forked.get().or_else(|| {
                    libcontainer::container::State::load(&dir)
                        .ok()
                        .and_then(|s| s.pid)
                });
                lifecycle::kill_init(init, &cleanup);
                // libcontainer's forks of a create that failed inside them (the intermediate
                // process, an init that never exec'd) may still be exiting: no cgroup to wait
                // on, so they are found by their command line, as for an interrupted create.
                let _ = lifecycle::kill_interrupted_launch(root, id, &cleanup);
            }
            if no_cgroup {
                let _ = lifecycle::purge(&dir, &Placement::none(), &cleanup);
            } else {
                let _ = lifecycle::purge(&dir, &placement, &cleanup);
            }
        })
        .map_err(|e| hooks::explain(e, &spec, When::Create))
}

/// The container's cgroup: the config's `cgroupsPath`, else [`default_cgroups_path`].
pub(crate) fn cgroup_path_of(spec: &Spec, id: &str, systemd_cgroup: bool) -> Result<PathBuf> {
    match spec.linux().as_ref().and_then(|l| l.cgroups_path().clone()) {
        Some(path) => Ok(path),
        None => default_cgroups_path(id, systemd_cgroup),
    }
}

/// The cgroup of a container whose config names none: runc's `/ID` (libcontainer's own default
/// is `:youki:ID`), except where that default names a systemd scope unit.
fn default_cgroups_path(id: &str, systemd_cgroup: bool) -> Result<PathBuf> {
    let youki = default_cgroup_path(id);
    Ok(match Placement::new(&youki, systemd_cgroup)?.unit {
        Some(_) => youki,
        None => PathBuf::from(format!("/{id}")),
    })
}

/// runc's rules for a `cgroupsPath` that exists already: a frozen cgroup would hold init
/// frozen forever (and libcontainer would wait for it), and one with processes in it is
/// someone else's.
fn check_existing_cgroup(cgroups: &Cgroups) -> Result<()> {
    if cgroups.is_frozen() {
        bail!("container's cgroup unexpectedly frozen");
    }
    if !cgroups.pids().is_empty() {
        bail!("container's cgroup is not empty");
    }
    Ok(())
}

fn build_init(
    root: &Root,
    id: &str,
    bundle: &Path,
    rootfs: &Path,
    console_socket: Option<&Path>,
    opts: &CreateOptions,
    executor: seccomp::FilterExecutor,
) -> Result<i32> {
    root.ensure()?;
    let console_socket = console_socket.map(std::path::absolute).transpose()?;
    let builder = ContainerBuilder::new(id.to_string(), SyscallType::default())
        .with_root_path(&root.path)?
        .with_console_socket(console_socket.as_ref())
        .with_preserved_fds(opts.preserve_fds)
        .with_executor(executor)
        .validate_id()?
        .as_init(bundle)
        .with_systemd(opts.systemd_cgroup)
        // libcontainer wants a console socket exactly when detached: a foreground run that
        // attaches the caller's terminal goes through berth's own socket, so it counts as one.
        .with_detach(!opts.foreground || console_socket.is_some())
        .with_no_pivot(opts.no_pivot);
    // runc runs the createContainer hooks in the rootfs (before pivot_root): libcontainer runs
    // them where init is, which is where berth is when it forks init.
    let cwd = std::env::current_dir().ok();
    if cwd.is_some() {
        std::env::set_current_dir(rootfs)
            .with_context(|| format!("cannot enter the rootfs {}", rootfs.display()))?;
    }
    let built = builder.build();
    if let Some(cwd) = cwd {
        std::env::set_current_dir(&cwd)
            .with_context(|| format!("cannot return to {}", cwd.display()))?;
    }
    let container = built?;
    let pid = container
        .pid()
        .map(|p| p.as_raw())
        .ok_or_else(|| anyhow!("container has no init process"))?;
    panic::fault("create:init-forked");
    Ok(pid)
}

fn load_spec(bundle: &Path) -> Result<Spec> {
    let path = bundle.join("config.json");
    let text = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    parse_spec(&text, &path)
}

/// The config.json at `path`, whose content is `text`, as a spec: unknown capabilities
/// dropped, `process` and `root` required.
pub fn parse_spec(text: &[u8], path: &Path) -> Result<Spec> {
    // serde_json's own error names the field, line and column; oci-spec's loader loses them.
    let invalid =
        |e: serde_json::Error| anyhow!("{} is not a valid OCI config: {e}", path.display());
    let mut value: serde_json::Value = serde_json::from_slice(text).map_err(invalid)?;
    let unknown = capabilities::drop_unknown(&mut value);
    if !unknown.is_empty() {
        tracing::warn!("ignoring unknown or unavailable capabilities: {unknown:?}");
    }
    let spec: Spec = serde_json::from_value(value).map_err(invalid)?;
    if spec.process().is_none() {
        bail!("{}: process is missing", path.display());
    }
    if spec.root().is_none() {
        bail!("{}: root is missing", path.display());
    }
    Ok(spec)
}

pub(crate) fn rootfs_of(spec: &Spec, bundle: &Path) -> PathBuf {
    let root = spec
        .root()
        .as_ref()
        .map(|r| r.path().clone())
        .unwrap_or_default();
    fs::canonicalize(bundle.join(&root)).unwrap_or(root)
}

fn check_parent_dir(path: &Path, what: &str) -> Result<()> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !parent.is_dir() {
        bail!(
            "{what} {}: directory {} does not exist",
            path.display(),
            parent.display()
        );
    }
    Ok(())
}

/// The bare pid, no newline, written to a temporary file and renamed.
pub fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let path = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()?.join(path)
    };
    write_atomic(&path, pid.to_string().as_bytes())
        .with_context(|| format!("cannot write pid file {}", path.display()))
}

/// `start`: lets a created container's init run its program.
pub fn start(root: &Root, id: &str) -> Result<()> {
    let _lock = root.lock(id)?;
    let c = Container::load(root, id)?;
    match c.status() {
        Status::Created => {}
        Status::Stopped => bail!("cannot start a container that has stopped"),
        Status::Running | Status::Paused => bail!("cannot start an already running container"),
        Status::Creating => bail!("cannot start a container that is still being created"),
    }
    let mut lc = LcContainer::load(c.dir.clone())?;
    lc.start().map_err(|e| {
        // A poststart hook failed: name it (config.json is read only then).
        match load_spec(&c.state.bundle) {
            Ok(spec) => hooks::explain(e.into(), &spec, When::Start),
            Err(_) => e.into(),
        }
    })
}

/// `run`: create and start; in the foreground wait for init, forwarding signals, then delete
/// the container (unless `keep`) and return init's exit status.
pub fn run(root: &Root, id: &str, opts: &CreateOptions, keep: bool) -> Result<i32> {
    if opts.foreground {
        signal::catch_early();
    }
    let mut console = None;
    if opts.foreground && opts.console_socket.is_none() {
        let spec = load_spec(&opts.bundle)?;
        if let Some(p) = spec
            .process()
            .as_ref()
            .filter(|p| p.terminal() == Some(true))
        {
            console = Some(own_console_socket(
                root,
                id,
                tty_setup(p, Some(&spec)),
                None,
                None,
            )?);
        }
    }
    let mut opts = opts.clone();
    if let Some(console) = &console {
        opts.console_socket = Some(console.path().to_path_buf());
    }
    let opts = &opts;
    let pid = create_with(root, id, opts, console.as_mut())?;
    if let Err(e) = start(root, id) {
        let _ = lifecycle::delete(root, id, true, CLEANUP_TIMEOUT);
        return Err(e);
    }
    if !opts.foreground {
        return Ok(0);
    }
    let master = console.map(ConsoleSocket::master).transpose();
    let status = master.and_then(|m| wait_foreground(pid, m));
    if !keep {
        lifecycle::delete(root, id, true, CLEANUP_TIMEOUT)?;
    }
    status
}

/// `exec --process FILE`: its path and what reading it gave. The command line reads it before
/// berth closes the descriptors it inherited, so that `-p /dev/fd/N` (a shell's process
/// substitution) works.
#[derive(Debug, Clone)]
pub struct ProcessFile {
    pub path: PathBuf,
    pub contents: std::result::Result<Vec<u8>, String>,
}

/// Everything `exec` takes beyond the container id.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub process_file: Option<ProcessFile>,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: Option<PathBuf>,
    pub user: Option<(u32, Option<u32>)>,
    pub additional_gids: Vec<u32>,
    pub tty: bool,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub preserve_fds: i32,
    /// `--cgroup` arguments: sub-cgroups of the container's cgroup to join.
    pub cgroups: Vec<String>,
    pub caps: Vec<String>,
    pub no_new_privs: bool,
    pub apparmor: Option<String>,
    pub ignore_paused: bool,
}

/// `exec`: a new process in a running container. Returns its exit status (foreground) or 0.
pub fn exec(root: &Root, id: &str, opts: &ExecOptions) -> Result<i32> {
    let lock = root.lock(id)?;
    let c = Container::load(root, id)?;
    match c.status() {
        Status::Running | Status::Created => {}
        Status::Paused if opts.ignore_paused => {}
        Status::Paused => bail!("cannot exec in a paused container (use --ignore-paused)"),
        _ => bail!("cannot exec in a stopped container"),
    }
    // The new process joins the container's cgroup and, if it is frozen, stops there until
    // someone thaws it: libcontainer waits for it meanwhile. `resume` needs the lock to thaw,
    // so exec lets go of it first. Otherwise it keeps it until the process runs: a `pause` or
    // `delete` then waits instead of freezing or removing the cgroup under a half-made process.
    let frozen = c.status() == Status::Paused || c.cgroups().is_ok_and(|g| g.is_frozen());
    let lock = (!frozen).then_some(lock);
    if let Some(pid_file) = &opts.pid_file {
        check_parent_dir(pid_file, "pid file")?;
    }
    let sub_cgroups = SubCgroups::parse(&opts.cgroups)?;
    let cgroup_path = c.cgroup_path()?;
    let exec_cgroups = sub_cgroups.resolve(&cgroup_path)?;
    let mut process = exec_process(&c, opts)?;
    validate::process_fields(&process, "the process").context("cannot exec")?;
    let runner = RuncExecutor::new(false, workload::stand_in_home(&mut process));
    // libcontainer's exec loads no seccomp filter: berth does (see `seccomp`).
    let filter = seccomp::plan(&c, &mut process, runner.clone())?;
    if !opts.detach {
        signal::catch_early();
    }
    let view = ExecView::new(root, &c)?;
    // A process that wants a terminal gets it through berth, which sets it up before the
    // process runs: libcontainer writes the process's pid to `gate`, a FIFO, just before it
    // lets the process go on, and waits until berth opens it. Not when the cgroup is frozen:
    // the process sends its terminal only once thawed.
    let wants_terminal =
        process.terminal() == Some(true) && (opts.console_socket.is_some() || !opts.detach);
    let gate = (wants_terminal && !frozen)
        .then(|| {
            let gate = view.dir(id).join("gate");
            nix::unistd::mkfifo(
                &gate,
                nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
            )
            .map(|()| gate)
            .context("cannot make exec's FIFO")
        })
        .transpose()?;
    let mut console = wants_terminal
        .then(|| {
            let spec = load_spec(&c.state.bundle).ok();
            own_console_socket(
                root,
                id,
                tty_setup(&process, spec.as_ref()),
                opts.console_socket.as_deref(),
                gate.clone(),
            )
        })
        .transpose()?;
    let console_path = console
        .as_ref()
        .map(|c| c.path().to_path_buf())
        .or(opts.console_socket.clone());
    let process_path = view.dir(id).join("process.json");
    write_atomic(&process_path, &serde_json::to_vec(&process)?)?;
    let grace = attach::start_grace_period();
    let joined = match c.unit() {
        _ if c.no_cgroup() => Ok(Joined::default()),
        None => Joined::enter(&cgroup_path, &sub_cgroups, None),
        Some(_) => Ok(Joined::default()),
    };
    let inheritable = InheritableForChild::raise(Some(&process));
    let built = joined.and_then(|joined| {
        let build = || {
            let mut b = ContainerBuilder::new(id.to_string(), SyscallType::default())
                .with_root_path(view.root())?
                .with_pid_file(gate.as_ref())?
                .with_console_socket(console_path.as_ref())
                .with_preserved_fds(opts.preserve_fds);
            b = match &filter {
                Some(filter) => b.with_executor(exec_cgroups.executor(filter.executor())),
                None => b.with_executor(exec_cgroups.executor(runner.clone())),
            };
            Ok(b.as_tenant()
                .with_process(Some(&process_path))
                .with_detach(opts.detach || console_path.is_some())
                .with_sub_cgroup(
                    exec_cgroups
                        .libcontainer
                        .as_ref()
                        .map(|p| p.to_string_lossy().into_owned()),
                )
                .with_ignore_paused(opts.ignore_paused)
                .build()?)
        };
        let built = match &filter {
            Some(filter) => filter.around(build),
            None => build(),
        };
        drop(joined);
        built
    });
    drop(inheritable);
    drop(view);
    drop(grace);
    let pid = built?.as_raw();
    if !rootless::true_root() && !c.no_cgroup() && exec_cgroups.is_container_cgroup() {
        // As for create (`rootless::check_placed`): a process libcontainer could not move into
        // the container's cgroup would escape every teardown.
        let expected = c
            .unit()
            .map_or_else(|| cgroup_path.clone(), |u| u.cgroup.clone());
        if let Err(e) = rootless::check_placed(pid, &expected) {
            lifecycle::kill_init(Some(pid), &Options::new(CLEANUP_TIMEOUT));
            return Err(e);
        }
    }
    drop(lock);
    if let Some(Err(e)) = console.as_mut().map(ConsoleSocket::ready) {
        // The process runs without the terminal it was to have: it must not.
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
        return Err(e);
    }
    if let Some(pid_file) = &opts.pid_file {
        write_pid_file(pid_file, pid)?;
    }
    if opts.detach {
        return Ok(0);
    }
    let master = match console {
        Some(c) if opts.console_socket.is_none() => Some(c.master()?),
        _ => None,
    };
    wait_foreground(pid, master)
}

/// A console socket of berth's own for a process that wants a terminal (see [`tty`]): the
/// master goes on to `forward`, or stays with berth (a foreground process).
fn own_console_socket(
    root: &Root,
    id: &str,
    setup: TtySetup,
    forward: Option<&Path>,
    gate: Option<PathBuf>,
) -> Result<ConsoleSocket> {
    root.ensure()?;
    let forward = forward.map(std::path::absolute).transpose()?;
    ConsoleSocket::listen(&console_socket_path(root, id), setup, forward, gate)
}

/// Where berth's own console socket listens: in the root, or in the temporary directory when
/// the root's path is too long for a socket address (docker's runtime root, with a 64-character
/// id, is: `sun_path` holds 107 bytes).
fn console_socket_path(root: &Root, id: &str) -> PathBuf {
    const SUN_PATH_MAX: usize = 107;
    let pid = std::process::id();
    let named = root.path.join(format!(".console-{id}-{pid}.sock"));
    if named.as_os_str().len() <= SUN_PATH_MAX {
        return named;
    }
    let short = root.path.join(format!(".console-{pid}.sock"));
    if short.as_os_str().len() <= SUN_PATH_MAX {
        return short;
    }
    std::env::temp_dir().join(format!(".berth-console-{pid}.sock"))
}

/// What the terminal of `process` needs (in a container whose config is `spec`): its owner is
/// the process's uid as the host sees it (through the user namespace's mappings, if any).
fn tty_setup(process: &Process, spec: Option<&Spec>) -> TtySetup {
    let uid = process.user().uid();
    // A rootless exec runs in the container's user namespace already: its ids are the ones.
    let mappings = spec
        .filter(|_| !rootless::in_container_userns())
        .and_then(|s| s.linux().as_ref())
        .and_then(|l| l.uid_mappings().as_ref())
        .filter(|m| !m.is_empty());
    let owner = match mappings {
        None => Some(uid),
        Some(mappings) => mappings.iter().find_map(|m| {
            let offset = uid.checked_sub(m.container_id())?;
            (offset < m.size()).then(|| m.host_id().saturating_add(offset))
        }),
    };
    let size = process.console_size().as_ref().map(|b| {
        let clamp = |v: u64| u16::try_from(v).unwrap_or(u16::MAX);
        (clamp(b.height()), clamp(b.width()))
    });
    TtySetup { owner, size }
}

/// `exec --process FILE`: the process the file at `path` describes (its content is `text`).
pub fn parse_process(text: &[u8], path: &Path) -> Result<Process> {
    let invalid = |e: serde_json::Error| {
        anyhow!(
            "process file {} is not a valid process: {e}",
            path.display()
        )
    };
    let mut value: serde_json::Value = serde_json::from_slice(text).map_err(invalid)?;
    // runc reads a missing user as uid 0, gid 0; oci-spec requires the field.
    if let Some(obj) = value.as_object_mut() {
        obj.entry("user")
            .or_insert_with(|| serde_json::json!({"uid": 0, "gid": 0}));
    }
    serde_json::from_value(value).map_err(invalid)
}

/// The process to exec: `--process FILE` as given, or the container's own process with the
/// command line's changes (runc's rule: args, env, cwd, user, terminal, caps).
fn exec_process(c: &Container, opts: &ExecOptions) -> Result<Process> {
    if let Some(file) = &opts.process_file {
        let text = file
            .contents
            .as_ref()
            .map_err(|e| anyhow!("process file {}: {e}", file.path.display()))?;
        return parse_process(text, &file.path);
    }
    if opts.args.is_empty() {
        bail!("exec needs a command to run, or --process");
    }
    let spec = load_spec(&c.state.bundle)?;
    let mut p = spec.process().clone().unwrap_or_default();
    p.set_args(Some(opts.args.clone()));
    p.set_terminal(Some(opts.tty));
    let mut env: Vec<String> = p.env().clone().unwrap_or_default();
    let overrides: HashMap<&str, &String> = opts
        .env
        .iter()
        .map(|e| (e.split('=').next().unwrap_or(""), e))
        .collect();
    env.retain(|e| !overrides.contains_key(e.split('=').next().unwrap_or("")));
    env.extend(opts.env.iter().cloned());
    p.set_env(Some(env));
    if let Some(cwd) = &opts.cwd {
        if !cwd.is_absolute() {
            bail!("--cwd {} must be an absolute path", cwd.display());
        }
        p.set_cwd(cwd.clone());
    }
    if let Some((uid, gid)) = opts.user {
        let mut user = p.user().clone();
        user.set_uid(uid);
        user.set_gid(gid.unwrap_or(0));
        p.set_user(user);
    }
    if !opts.additional_gids.is_empty() {
        let mut user = p.user().clone();
        user.set_additional_gids(Some(opts.additional_gids.clone()));
        p.set_user(user);
    }
    if !opts.caps.is_empty() {
        let caps = p.capabilities().clone().unwrap_or_default();
        let (mut bounding, mut effective, mut permitted, mut ambient) = (
            caps.bounding().clone(),
            caps.effective().clone(),
            caps.permitted().clone(),
            caps.ambient().clone(),
        );
        for name in &opts.caps {
            let cap = capabilities::parse(name)?;
            for set in [&mut bounding, &mut effective, &mut permitted] {
                set.get_or_insert_with(Default::default).insert(cap);
            }
            // runc: ambient only where the config gives inheritable capabilities (a process
            // can hold an ambient capability only if it is also inheritable).
            if caps.inheritable().is_some() {
                ambient.get_or_insert_with(Default::default).insert(cap);
            }
        }
        let mut caps = caps;
        caps.set_bounding(bounding)
            .set_effective(effective)
            .set_permitted(permitted)
            .set_ambient(ambient);
        p.set_capabilities(Some(caps));
    }
    if opts.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(profile) = &opts.apparmor {
        p.set_apparmor_profile(Some(profile.clone()));
    }
    Ok(p)
}

/// Waits for `pid` (berth's child), forwarding every signal berth receives to it through its
/// pidfd, and with `master` attaches the caller's terminal to the process's; returns its exit
/// status, or 128+N when signal N killed it.
pub fn wait_foreground(pid: i32, master: Option<OwnedFd>) -> Result<i32> {
    let proc = Proc::open(pid, true, None)?;
    let mut mask = SigSet::all();
    for s in [Signal::SIGKILL, Signal::SIGSTOP, Signal::SIGCHLD] {
        mask.remove(s);
    }
    mask.thread_block().context("cannot block signals")?;
    let sfd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .context("cannot create signalfd")?;
    // What arrived before the signals were blocked, in the order of their numbers.
    for sig in signal::take_caught() {
        let _ = proc.as_ref().map(|p| p.signal(sig));
    }
    let _raw = master.as_ref().map(|m| {
        tty::copy_window_size(m.as_fd());
        let _ = tty::forward_stdin(m);
        tty::RawTerminal::enter()
    });
    let mut pty_open = master.is_some();
    if let Some(fd) = proc.as_ref().and_then(Proc::pidfd) {
        loop {
            let mut fds = vec![
                PollFd::new(fd, PollFlags::IN),
                PollFd::new(&sfd, PollFlags::IN),
            ];
            if let (Some(m), true) = (&master, pty_open) {
                fds.push(PollFd::new(m, PollFlags::IN));
            }
            let _ = rustix::event::poll(&mut fds, None);
            let pty_ready = fds.get(2).is_some_and(|f| !f.revents().is_empty());
            let exited = !fds[0].revents().is_empty();
            drop(fds);
            while let Ok(Some(info)) = sfd.read_signal() {
                match (info.ssi_signo as i32, &master) {
                    (libc::SIGWINCH, Some(m)) => tty::copy_window_size(m.as_fd()),
                    (sig, _) => {
                        let _ = proc.as_ref().map(|p| p.signal(sig));
                    }
                }
            }
            if pty_ready {
                pty_open = master.as_ref().is_some_and(tty::drain_output);
            }
            if exited {
                break;
            }
        }
    }
    if let Some(m) = &master {
        // What the process wrote just before it exited is still in the pty.
        let _ = rustix::fs::fcntl_setfl(m, rustix::fs::OFlags::NONBLOCK);
        while tty::drain_output(m) {}
    }
    let status = loop {
        match waitpid(Pid::from_raw(pid), None) {
            Ok(WaitStatus::Exited(_, code)) => break code,
            Ok(WaitStatus::Signaled(_, sig, _)) => break 128 + sig as i32,
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            // Not our child (should not happen): its status is lost; report a failure.
            Err(e) => return Err(anyhow!("cannot wait for process {pid}: {e}")),
        }
    };
    let _ = mask.thread_unblock();
    Ok(status)
}
