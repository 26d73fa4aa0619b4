//! kill and delete of one container: the container's lock, state and cgroups around the
//! teardown engine. Knows nothing of the command line.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use libc::SIGKILL;
use libcontainer::config::YoukiConfig;
use libcontainer::container::ContainerStatus;

use crate::container::{create_unfinished, default_cgroup_path, Container, Meta, Root, Status};
use crate::systemd::{self, Systemd, Unit};
use crate::teardown::{
    self, wait, Cgroups, Options, Outcome, Proc, Scope, Strategy, Target, Timeout,
};

#[derive(Debug, Clone, Copy)]
pub struct KillOptions {
    pub signal: i32,
    /// Signal every process of the container, not init alone.
    pub all: bool,
    /// Return only when no process of the container is left (always so for SIGKILL).
    pub wait: bool,
    pub timeout: Duration,
}

/// `kill`: see CONTRACT.md. SIGKILL reaches every process of the container, also when init is
/// gone, and returns only when all have exited.
pub fn kill(root: &Root, id: &str, opts: KillOptions) -> Result<()> {
    let _lock = root.lock(id)?;
    let topts = Options::new(opts.timeout);
    let mut c = match Container::load(root, id) {
        Ok(c) => c,
        Err(e)
            if root.dir(id).join("state.json").exists() && (opts.signal == SIGKILL || opts.all) =>
        {
            return kill_unreadable(&root.dir(id), id, opts, &topts, e);
        }
        Err(e) => return Err(e),
    };
    let started = Instant::now();
    let cgroups = c.cgroups()?;
    let kill = opts.signal == SIGKILL;
    if c.no_cgroup() && opts.all && !kill {
        // KILL reaches every process (init's death takes its PID namespace along); any other
        // signal would reach init alone while claiming to reach all.
        bail!(
            "cannot send a signal to every process: the container has no cgroup (rootless \
             without a delegated cgroup), so berth cannot know every process; signal init, \
             or send KILL"
        );
    }
    let target = target(&c, &cgroups, &topts);
    if target.init.is_none() && (!kill && !opts.all || cgroups.pids().is_empty()) {
        if opts.all {
            return Ok(());
        }
        bail!("container not running");
    }
    let wait = opts.wait || kill;
    let scope = if kill || opts.all {
        Scope::All
    } else {
        Scope::Init
    };
    let outcome = teardown::signal(target, opts.signal, scope, wait, &topts).map_err(kept)?;
    if wait {
        finish_scope(c.unit(), &cgroups, &topts)?;
    }
    debug_outcome("kill", &topts, &outcome, started);
    if wait && c.state.status != ContainerStatus::Stopped {
        c.set_status(ContainerStatus::Stopped)?;
    }
    Ok(())
}

/// `kill` of a container whose state cannot be read: init is unknown, so only a signal to every
/// process (KILL, or `--all`) can be sent, to whatever runs in the cgroups [`Placement::recover`]
/// finds. state.json stays as it is, for `delete -f`; berth.json records where the processes
/// were.
fn kill_unreadable(
    dir: &Path,
    id: &str,
    opts: KillOptions,
    topts: &Options,
    state_error: anyhow::Error,
) -> Result<()> {
    let placement = Placement::recover(dir, id).map_err(|e| {
        e.context(format!(
            "cannot read container state {}",
            dir.join("state.json").display()
        ))
    })?;
    tracing::warn!("{id}: {state_error:#}; signalling every process of its cgroups");
    let cgroups =
        Cgroups::locate(&placement.cgroup).context("cannot find the container's cgroups")?;
    if cgroups.pids().is_empty() {
        if opts.all {
            return Ok(());
        }
        bail!("container not running");
    }
    let wait = opts.wait || opts.signal == SIGKILL;
    teardown::signal(
        Target::cgroups_only(&cgroups),
        opts.signal,
        Scope::All,
        wait,
        topts,
    )
    .map_err(kept)?;
    if wait {
        finish_scope(placement.unit.as_ref(), &cgroups, topts)?;
        // What was found is recorded, so that `delete -f` knows the container is gone even
        // when its cgroup went with it (systemd removes an empty scope).
        let meta = Meta {
            cgroup_path: placement.cgroup.clone(),
            systemd: placement.unit.clone(),
            ..Meta::default()
        };
        Container::save_meta(dir, &meta)?;
    }
    Ok(())
}

/// `stop`: TERM to every process, up to `grace`, then KILL; returns when all are gone.
pub fn stop(root: &Root, id: &str, grace: Duration, timeout: Duration) -> Result<()> {
    let _lock = root.lock(id)?;
    let mut c = Container::load(root, id)?;
    let topts = Options::new(grace + timeout);
    let started = Instant::now();
    let cgroups = c.cgroups()?;
    if c.no_cgroup() {
        // TERM to init, which takes its PID namespace along when it exits; KILL after `grace`.
        if let Some(init) = c.init(topts.strategy) {
            let _ = init.signal(libc::SIGTERM);
            wait::wait_gone(vec![&init], (started + grace).min(topts.deadline));
        }
    }
    let outcome = if c.no_cgroup() {
        teardown::signal(
            target(&c, &cgroups, &topts),
            SIGKILL,
            Scope::All,
            true,
            &topts,
        )
    } else {
        teardown::stop(target(&c, &cgroups, &topts), grace, &topts)
    }
    .map_err(kept)?;
    finish_scope(c.unit(), &cgroups, &topts)?;
    debug_outcome("stop", &topts, &outcome, started);
    if c.state.status != ContainerStatus::Stopped {
        c.set_status(ContainerStatus::Stopped)?;
    }
    Ok(())
}

/// `delete [-f]`: kill what is left (a created container, leftovers of a container whose
/// init is gone, or anything with `force`), remove the cgroups in every hierarchy, run the
/// poststop hooks, remove the state. A failure keeps the state, so that a retry can finish.
pub fn delete(root: &Root, id: &str, force: bool, timeout: Duration) -> Result<()> {
    let _lock = root.lock(id)?;
    let topts = Options::new(timeout);
    let started = Instant::now();
    let dir = root.dir(id);
    let c = match Container::load(root, id) {
        Ok(c) => c,
        Err(e) if !dir.exists() => {
            // A create killed before libcontainer made the state may have left berth's own.
            crate::prepare::remove_leftovers(&dir);
            return if force { Ok(()) } else { Err(e) };
        }
        Err(e) => {
            // A half-made container (no state yet: `container does not exist`, but its
            // directory is removed) or a corrupt state file (only `-f` cleans that up): what
            // can be found from the directory alone is killed and removed.
            let half_made = !dir.join("state.json").exists();
            if !force && !half_made {
                return Err(e);
            }
            kill_interrupted_launch(root, id, &topts)?;
            let placement = match Placement::recover(&dir, id) {
                Ok(p) => p,
                // Nothing recorded and nothing found: an interrupted create.
                Err(_) if half_made || create_unfinished(&dir) => Placement {
                    cgroup: default_cgroup_path(id),
                    unit: None,
                },
                Err(p) => {
                    return Err(p.context(format!(
                        "cannot read container state {}",
                        dir.join("state.json").display()
                    )))
                }
            };
            purge(&dir, &placement, &topts)?;
            return if force { Ok(()) } else { Err(e) };
        }
    };
    if c.state.status == ContainerStatus::Creating {
        kill_interrupted_launch(root, id, &topts)?;
    }
    let status = c.status();
    if !force && matches!(status, Status::Running | Status::Paused) {
        bail!(
            "cannot delete container {id} that is not stopped: {}",
            status.as_str()
        );
    }
    let cgroups = c.cgroups()?;
    let outcome = teardown::signal(
        target(&c, &cgroups, &topts),
        SIGKILL,
        Scope::All,
        true,
        &topts,
    )
    .map_err(kept)?;
    finish_scope(c.unit(), &cgroups, &topts)?;
    teardown::remove_cgroups(&cgroups, &topts).context(KEPT)?;
    run_poststop_hooks(&c);
    fs::remove_dir_all(&c.dir)
        .with_context(|| format!("cannot remove state directory {}", c.dir.display()))?;
    crate::prepare::remove_leftovers(&c.dir);
    debug_outcome("delete", &topts, &outcome, started);
    Ok(())
}

/// Where a container's processes are: a cgroup path below each hierarchy's root and, under
/// `--systemd-cgroup` on a systemd host, the scope unit systemd keeps for them.
#[derive(Debug, Clone)]
pub struct Placement {
    pub cgroup: PathBuf,
    pub unit: Option<Unit>,
}

impl Placement {
    /// What libcontainer makes of `cgroups_path` (the cgroup driver decides).
    pub fn new(cgroups_path: &Path, systemd_cgroup: bool) -> Result<Placement> {
        let unit = systemd::in_use(systemd_cgroup, cgroups_path)?;
        Ok(Placement::of(cgroups_path.to_path_buf(), unit))
    }

    /// No cgroup at all (a rootless container without one).
    pub fn none() -> Placement {
        Placement {
            cgroup: PathBuf::new(),
            unit: None,
        }
    }

    /// A scope unit's processes are in its cgroup; without one, in `cgroup_path`.
    fn of(cgroup_path: PathBuf, unit: Option<Unit>) -> Placement {
        let cgroup = unit.as_ref().map_or(cgroup_path, |u| u.cgroup.clone());
        Placement { cgroup, unit }
    }

    /// For a container whose state cannot be read: berth's record if it reads, else the cgroup
    /// path libcontainer recorded, else the cgroup named after the container (see
    /// [`find_cgroup`]). Fails, naming what it could not read, when none of these tells where
    /// the container's processes are: the caller keeps the state then.
    pub fn recover(dir: &Path, id: &str) -> Result<Placement> {
        let meta = fs::read(dir.join("berth.json"))
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_slice::<Meta>(&t).map_err(|e| e.to_string()));
        let meta = match meta {
            Ok(meta) if meta.no_cgroup => return Ok(Placement::none()),
            Ok(meta) => return Ok(Placement::of(meta.cgroup_path, meta.systemd)),
            Err(e) => e,
        };
        let raw = match YoukiConfig::load(dir) {
            Ok(config) => config.cgroup_path,
            Err(youki) => crate::container::find_cgroup(id).map_err(|e| {
                anyhow!(
                    "cannot read berth.json ({meta}) nor youki_config.json ({youki}), and {e}; \
                     the state is kept"
                )
            })?,
        };
        let unit = systemd::in_use(true, &raw)
            .ok()
            .flatten()
            .filter(|u| Cgroups::locate(&u.cgroup).is_ok_and(|c| !c.hierarchies.is_empty()))
            .or_else(|| systemd::scope_at(&raw));
        Ok(Placement::of(raw, unit))
    }
}

/// Kills whatever runs in the placement's cgroups, stops its scope unit, removes its cgroups
/// and the state directory `dir`. For containers whose state cannot be read, and for failed
/// creates.
pub fn purge(dir: &Path, placement: &Placement, topts: &Options) -> Result<()> {
    let cgroups = match placement.cgroup.as_os_str().is_empty() {
        true => Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
        false => Cgroups::locate(&placement.cgroup),
    };
    if let Ok(cgroups) = cgroups {
        teardown::signal(
            Target::cgroups_only(&cgroups),
            SIGKILL,
            Scope::All,
            true,
            topts,
        )?;
        finish_scope(placement.unit.as_ref(), &cgroups, topts)?;
        teardown::remove_cgroups(&cgroups, topts)?;
    }
    crate::prepare::remove_leftovers(dir);
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot remove state directory {}", dir.display()))
        }
        _ => Ok(()),
    }
}

/// Kills `init` (a failed create's, in a PID namespace of its own; or a refused exec's
/// process) and waits until it is gone, which, with its namespace, takes every other process of
/// it along.
pub fn kill_init(init: Option<i32>, topts: &Options) {
    let use_pidfd = topts.strategy == Strategy::Pidfd;
    if let Some(p) = init.and_then(|pid| Proc::open(pid, use_pidfd, None).ok().flatten()) {
        let _ = p.signal(SIGKILL);
        wait::wait_gone(vec![&p], topts.deadline);
    }
}

/// systemd's part of a teardown, once no process is left in the container's cgroups: stop its
/// scope unit, wait until systemd has removed it, then remove what is left of its cgroups
/// (sub-cgroups systemd did not trim). systemd stopping a unit is not proof that its processes
/// have exited, so this comes after the teardown engine's wait, never instead of it.
fn finish_scope(unit: Option<&Unit>, cgroups: &Cgroups, topts: &Options) -> Result<()> {
    let Some(unit) = unit else {
        return Ok(());
    };
    let started = Instant::now();
    let left = topts.deadline.saturating_duration_since(started);
    Systemd::connect(left.max(Duration::from_millis(100)))
        .and_then(|bus| bus.stop(&unit.name, topts.deadline))
        .context(KEPT)?;
    teardown::remove_cgroups(cgroups, topts).context(KEPT)?;
    tracing::debug!(
        "systemd unit {} stopped and removed in {:?}",
        unit.name,
        started.elapsed()
    );
    Ok(())
}

/// Kills what an interrupted `create` (or `exec`) of container `id` left running: libcontainer's
/// forks of berth ("youki:[1:INTER]", "youki:[2:INIT]") keep berth's command line, outlive a
/// SIGKILLed berth, and would create and join the container's cgroups after a delete had
/// looked there.
pub fn kill_interrupted_launch(root: &Root, id: &str, topts: &Options) -> Result<()> {
    let root_arg = root.path.to_string_lossy().into_owned();
    let use_pidfd = topts.strategy == Strategy::Pidfd;
    loop {
        let procs: Vec<Proc> = launch_forks(id, &root_arg)
            .into_iter()
            .filter_map(|pid| Proc::open(pid, use_pidfd, None).ok().flatten())
            .collect();
        if procs.is_empty() {
            return Ok(());
        }
        for p in &procs {
            let _ = p.signal(SIGKILL);
        }
        let survivors = wait::wait_gone(procs.iter().collect(), topts.deadline);
        if let Some(p) = survivors.first() {
            bail!("{}; {KEPT}", teardown::report::Survivor::describe(p.pid));
        }
    }
}

/// Pids of libcontainer's forks of a berth invocation naming container `id` under `root`.
fn launch_forks(id: &str, root: &str) -> Vec<i32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let root_flag = format!("--root={root}");
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.starts_with("youki:["))
        })
        .filter(|pid| {
            let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
                return false;
            };
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            let has = |a: &str| args.contains(&a.as_bytes());
            let same_root = if has("--root") || args.iter().any(|a| a.starts_with(b"--root=")) {
                has(root) || has(&root_flag)
            } else {
                Path::new(root) == crate::rootless::default_root().0
            };
            has(id) && same_root
        })
        .collect()
}

/// What a teardown of container `c` acts on: its cgroups and its init, if still running.
fn target<'a>(c: &Container, cgroups: &'a Cgroups, topts: &Options) -> Target<'a> {
    Target {
        cgroups,
        init: c.init(topts.strategy),
        private_pidns: c.private_pidns(),
    }
}

const KEPT: &str = "the container is kept, retry to finish";

/// A teardown that ran out of time keeps the container: say so, and that a retry finishes it.
fn kept(e: Timeout) -> anyhow::Error {
    anyhow!("{e}; {KEPT}")
}

fn run_poststop_hooks(c: &Container) {
    let Ok(config) = YoukiConfig::load(&c.dir) else {
        return;
    };
    let Some(hooks) = config.hooks.as_ref() else {
        return;
    };
    let mut state = c.state.clone();
    state.status = ContainerStatus::Stopped;
    // runc logs a failing poststop hook and goes on deleting: the container is gone either way.
    if let Err(e) =
        libcontainer::hooks::run_hooks(hooks.poststop().as_ref(), Some(&state), None, None, None)
    {
        tracing::warn!("poststop hook failed: {e}");
    }
}

fn debug_outcome(what: &str, topts: &Options, outcome: &Outcome, started: Instant) {
    tracing::debug!(
        "{what}: strategy {}, {} processes, {} rounds, cgroup.kill {}, signalling {:?}, waiting {:?}, total {:?}",
        topts.strategy.name(),
        outcome.processes,
        outcome.rounds,
        outcome.used_cgroup_kill,
        outcome.signalling,
        outcome.waiting,
        started.elapsed()
    );
}
