//! The synchronous kill/delete engine. It knows cgroups and processes, not the command line:
//! callers hand it a [`Target`] (the container's cgroups and its init) and [`Options`].
//!
//! The core is [`converge`]: scan the cgroups (frozen for signals other than KILL, so nothing
//! forks past the scan), open a handle on each new process, signal it through that handle, thaw,
//! wait until every handle has exited, and scan again until a scan finds nobody new. Everything runs under one deadline; at
//! the deadline the survivors are reported by pid, state and wchan, and nothing is given up:
//! the caller keeps the container's state so that a retry can finish.

pub mod cgroup;
pub mod process;
pub mod report;
pub mod wait;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::time::{Duration, Instant};

use libc::{SIGKILL, SIGTERM};

pub use cgroup::Cgroups;
pub use process::Proc;
use report::Survivor;
pub use wait::Strategy;

/// How long one teardown may take, and how it waits.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub deadline: Instant,
    pub timeout: Duration,
    pub strategy: Strategy,
}

impl Options {
    pub fn new(timeout: Duration) -> Options {
        Options {
            deadline: Instant::now() + timeout,
            timeout,
            strategy: Strategy::detect(),
        }
    }

    fn use_pidfd(&self) -> bool {
        self.strategy == Strategy::Pidfd
    }
}

/// What a teardown acts on.
pub struct Target<'a> {
    pub cgroups: &'a Cgroups,
    /// The container's init, when it is still running (checked by start time).
    pub init: Option<Proc>,
    /// Init has a PID namespace of its own: when it dies the kernel kills every other process
    /// of the namespace, and init's exit completes only once they are all gone.
    pub private_pidns: bool,
}

impl<'a> Target<'a> {
    /// Whatever runs in `cgroups`, with no init known (a half-made or interrupted container).
    pub fn cgroups_only(cgroups: &'a Cgroups) -> Target<'a> {
        Target {
            cgroups,
            init: None,
            private_pidns: false,
        }
    }
}

/// Processes that outlived the deadline.
#[derive(Debug)]
pub struct Timeout {
    pub waited: Duration,
    pub survivors: Vec<Survivor>,
}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.survivors.len();
        write!(
            f,
            "timed out after {:.1?} waiting for {n} process{} to exit: {}",
            self.waited,
            if n == 1 { "" } else { "es" },
            report::list(&self.survivors)
        )
    }
}

impl std::error::Error for Timeout {}

/// What a teardown did, for `--debug`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Outcome {
    pub processes: usize,
    pub rounds: usize,
    pub used_cgroup_kill: bool,
    /// Time spent freezing, scanning, signalling and thawing.
    pub signalling: Duration,
    /// Time spent waiting for processes to exit.
    pub waiting: Duration,
}

/// The processes seen so far, by pid, and which of them have been seen to exit (so that the
/// next round does not ask a thousand pidfds again). A pid listed again after its process
/// exited is a zombie or a reused pid: a new handle tells which.
#[derive(Default)]
struct Seen {
    procs: HashMap<i32, Proc>,
    exited: HashSet<i32>,
}

impl Seen {
    fn knows(&self, pid: i32) -> bool {
        match self.procs.get(&pid) {
            None => false,
            // A pid cannot be reused before its process is reaped.
            Some(_) if !self.exited.contains(&pid) => true,
            // A zombie's new handle is gone at once and is not counted.
            Some(p) if p.has_pidfd() => false,
            Some(p) => process::Stat::read(pid).is_none_or(|s| s.start_time == p.start_time),
        }
    }

    fn insert(&mut self, p: Proc) {
        self.exited.remove(&p.pid);
        self.procs.insert(p.pid, p);
    }

    /// The processes not yet seen to exit, but `except` (whether they have is the wait's to
    /// find out).
    fn running(&self, except: Option<i32>) -> Vec<&Proc> {
        self.procs
            .values()
            .filter(|p| !self.exited.contains(&p.pid) && Some(p.pid) != except)
            .collect()
    }

    /// Waits for the running processes but `except` until `until`; records who exited,
    /// returns who did not.
    fn wait(&mut self, until: Instant, except: Option<i32>) -> Vec<i32> {
        let running = self.running(except);
        let all: Vec<i32> = running.iter().map(|p| p.pid).collect();
        let survivors: HashSet<i32> = wait::wait_gone(running, until)
            .iter()
            .map(|p| p.pid)
            .collect();
        self.exited
            .extend(all.into_iter().filter(|pid| !survivors.contains(pid)));
        survivors.into_iter().collect()
    }

    fn timeout(&self, opts: &Options, pids: &[i32]) -> Timeout {
        let procs: Vec<&Proc> = pids.iter().filter_map(|pid| self.procs.get(pid)).collect();
        timeout(opts, &procs)
    }
}

/// Who gets a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Init alone.
    Init,
    /// Every process of the container, sub-cgroups included, once each.
    All,
}

/// Sends `signal` to `scope` (init first either way: with a private PID namespace its death
/// takes the rest with it) and, with `wait`, returns only when no process is left in the
/// cgroups.
///
/// For SIGKILL to all the container is thawed (frozen tasks cannot die on v1) and v2's
/// `cgroup.kill` is used where it exists. For other signals a paused container stays paused.
pub fn signal(
    target: Target,
    signal: i32,
    scope: Scope,
    wait: bool,
    opts: &Options,
) -> Result<Outcome, Timeout> {
    let mut seen = Seen::default();
    let mut init_wait = Duration::ZERO;
    let mut init_gone = false;
    if let Some(init) = target.init {
        let _ = init.signal(signal);
        if signal == SIGKILL && target.private_pidns && wait {
            // The kernel kills the namespace; init's pidfd turns readable once all are gone.
            // Waiting on it alone leaves both CPUs to the dying instead of racing them with a
            // pidfd per process. Frozen tasks cannot die: thaw a paused container first. If
            // the deadline passes, the scan below names every survivor.
            if target.cgroups.is_frozen() {
                target.cgroups.thaw();
            }
            let started = Instant::now();
            init_gone = wait::wait_gone(vec![&init], opts.deadline).is_empty();
            init_wait = started.elapsed();
        }
        let pid = init.pid;
        seen.insert(init);
        if init_gone {
            // Recorded, so that one scan tells whether anything outside the namespace is left.
            seen.exited.insert(pid);
        }
    }
    let outcome = match scope {
        Scope::All => converge(target.cgroups, Some(signal), wait, None, opts, &mut seen),
        Scope::Init if wait => converge(target.cgroups, None, true, None, opts, &mut seen),
        Scope::Init => Ok(Outcome {
            processes: seen.procs.len(),
            ..Outcome::default()
        }),
    };
    outcome.map(|o| Outcome {
        waiting: o.waiting + init_wait,
        ..o
    })
}

/// A graceful stop: SIGTERM to every process but init, then to init (so that each one runs its
/// own TERM handler instead of dying by the kernel's SIGKILL when a PID-namespace init exits),
/// waiting up to `grace` in all; then SIGKILL to whatever is left, waiting until `opts.deadline`.
pub fn stop(target: Target, grace: Duration, opts: &Options) -> Result<Outcome, Timeout> {
    let grace_opts = Options {
        deadline: (Instant::now() + grace).min(opts.deadline),
        ..*opts
    };
    let mut seen = Seen::default();
    let init_pid = target.init.as_ref().map(|p| p.pid);
    let mut graceful = converge(
        target.cgroups,
        Some(SIGTERM),
        true,
        init_pid,
        &grace_opts,
        &mut seen,
    );
    if graceful.is_ok() {
        if let Some(init) = target.init {
            let _ = init.signal(SIGTERM);
            seen.insert(init);
        }
        graceful = converge(
            target.cgroups,
            Some(SIGTERM),
            true,
            None,
            &grace_opts,
            &mut seen,
        );
    }
    match graceful {
        Ok(outcome) => Ok(outcome),
        Err(_) => {
            // Whoever ignored TERM gets KILL: a fresh set of handles, signalled again.
            let mut fresh = Seen::default();
            converge(target.cgroups, Some(SIGKILL), true, None, opts, &mut fresh)
        }
    }
}

/// How long a freeze may take to settle before signals go out anyway (a task in
/// uninterruptible sleep never freezes on v1, and berth must not hang on it).
const FREEZE_SETTLE: Duration = Duration::from_millis(100);

/// The engine's loop; see the module documentation. `except` (init, in a graceful stop's
/// first phase) is neither signalled nor waited for.
fn converge(
    cgroups: &Cgroups,
    signal: Option<i32>,
    wait: bool,
    except: Option<i32>,
    opts: &Options,
    seen: &mut Seen,
) -> Result<Outcome, Timeout> {
    let mut outcome = Outcome {
        processes: seen.procs.len(),
        ..Outcome::default()
    };
    let was_frozen = cgroups.is_frozen();
    let mut slice = SLICE_START;
    loop {
        outcome.rounds += 1;
        let phase = Instant::now();
        let killed_by_cgroup = signal == Some(SIGKILL) && cgroups.kill_v2();
        outcome.used_cgroup_kill |= killed_by_cgroup;
        // Freeze so that nothing forks past the scan, except for SIGKILL: a task with SIGKILL
        // pending cannot fork (copy_process fails on a fatal signal), so a round can only miss
        // children forked before its signal landed, and the next round's scan finds them.
        // Freezing 1000 tasks on cgroup v1 and thawing them to die costs more than that round.
        let froze = signal.is_some_and(|s| s != SIGKILL)
            && cgroups
                .freeze(FREEZE_SETTLE.min(opts.deadline.saturating_duration_since(Instant::now())));

        let mut fresh = 0;
        for pid in cgroups.pids() {
            if Some(pid) == except || seen.knows(pid) {
                continue;
            }
            // EMFILE and friends: fall back to a handle without a pidfd rather than skip it.
            let opened =
                Proc::open(pid, opts.use_pidfd(), None).or_else(|_| Proc::open(pid, false, None));
            if let Ok(Some(p)) = opened {
                if let (Some(sig), false) = (signal, killed_by_cgroup) {
                    let _ = p.signal(sig);
                }
                seen.insert(p);
                fresh += 1;
            }
        }
        outcome.processes += fresh;
        // Frozen tasks cannot die: thaw after signalling. A container that was paused before
        // stays paused, unless it is being killed.
        let must_thaw = match signal {
            Some(SIGKILL) => froze || was_frozen,
            _ => froze && !was_frozen,
        };
        if must_thaw {
            cgroups.thaw();
        }
        outcome.signalling += phase.elapsed();
        if !wait {
            return Ok(outcome);
        }
        // Every process seen is waited for until it has exited, also one that has left the
        // cgroups: a PID namespace's init leaves its cgroup before it waits, in the kernel, for
        // the namespace's zombies to be reaped (exec'd processes, reaped by the shim), and it
        // is not gone until then. The wait comes in slices so that the cgroups are scanned
        // again meanwhile for processes forked past the last scan.
        if fresh == 0 && seen.running(except).is_empty() {
            return Ok(outcome);
        }
        let phase = Instant::now();
        let survivors = seen.wait((phase + slice).min(opts.deadline), except);
        outcome.waiting += phase.elapsed();
        if !survivors.is_empty() {
            if Instant::now() >= opts.deadline {
                return Err(seen.timeout(opts, &survivors));
            }
            slice = (slice * 2).min(SLICE_CAP);
        }
    }
}

/// How long one wait lasts before the cgroups are scanned again: it starts short and doubles.
const SLICE_START: Duration = Duration::from_millis(1);
const SLICE_CAP: Duration = Duration::from_millis(50);

fn timeout(opts: &Options, survivors: &[&Proc]) -> Timeout {
    let mut survivors: Vec<Survivor> = survivors
        .iter()
        .map(|p| Survivor::describe(p.pid))
        .collect();
    survivors.sort_by_key(|s| s.pid);
    Timeout {
        waited: opts.timeout,
        survivors,
    }
}

/// Removes the cgroups, deepest first, retrying EBUSY until the deadline. The caller has just
/// waited for the cgroups to empty (a `signal` with `wait`); a process that joins them after
/// that (the orphaned fork of an interrupted create) keeps a cgroup busy, so between retries
/// whatever the cgroups hold is killed and waited for too.
pub fn remove_cgroups(cgroups: &Cgroups, opts: &Options) -> anyhow::Result<()> {
    loop {
        let attempt = (Instant::now() + SLICE_CAP).min(opts.deadline);
        match cgroups.remove(attempt) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() != std::io::ErrorKind::ResourceBusy => return Err(e.into()),
            Err(e) if Instant::now() >= opts.deadline => return Err(e.into()),
            Err(_) => {
                signal(
                    Target::cgroups_only(cgroups),
                    SIGKILL,
                    Scope::All,
                    true,
                    opts,
                )?;
            }
        }
    }
}
