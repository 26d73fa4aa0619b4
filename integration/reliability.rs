//! Reliability: many containers at once in one `--root` (and a longer soak, on demand), racing
//! commands on one container, and berth itself SIGKILLed in the middle of `create`, `start`,
//! `delete -f` and `kill KILL`. Every
//! test ends with a leak check ([`Leaks`]): processes, cgroup directories, mounts and state
//! entries named after the test's containers must be exactly what they were before.
//!
//! Nothing sleeps after a kill or a delete. The only waits are readiness waits before the test
//! acts, and a short randomized delay before the test SIGKILLs berth (it picks the point of
//! interruption). Every berth command runs under a deadline.

use std::ffi::OsString;
use std::fs;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use crate::common::*;

/// The deadline of one berth command in these tests; kill/delete's own deadline is 10 s.
const LIMIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// Helpers

/// `berth --root ROOT args...` under [`LIMIT`], callable from any thread (a [`Runtime`] is not
/// `Sync`). Panics when the command hangs.
fn berth(root: &Path, env: &[(String, String)], args: &[&str]) -> Output {
    let (out, hung) = berth_spawn(root, env, args).finish(LIMIT);
    assert!(!hung, "berth hung for {LIMIT:?} and was killed:\n{out}");
    out
}

fn berth_spawn(root: &Path, env: &[(String, String)], args: &[&str]) -> Background {
    let mut all: Vec<OsString> = vec!["--root".into(), root.into()];
    all.extend(args.iter().map(OsString::from));
    Background::spawn(&berth_bin(), &all, env, None)
}

/// A small deterministic RNG (xorshift64*), seeded per test so that a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform-ish in 0..n.
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

/// Runs `a` and `b` in two threads released together by a barrier.
fn race(root: &Path, env: &[(String, String)], a: Vec<String>, b: Vec<String>) -> (Output, Output) {
    let barrier = Arc::new(Barrier::new(2));
    let spawn = |args: Vec<String>| {
        let barrier = barrier.clone();
        let root = root.to_path_buf();
        let env = env.to_vec();
        std::thread::spawn(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            barrier.wait();
            berth(&root, &env, &args)
        })
    };
    let ta = spawn(a);
    let tb = spawn(b);
    (ta.join().expect("thread a"), tb.join().expect("thread b"))
}

fn v(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// The container is gone: its state directory and `state` both say so.
#[track_caller]
fn assert_gone(rt: &Runtime, id: &str, what: &str) {
    assert!(
        !rt.state_dir(id).exists(),
        "{what}: state directory of {id} left"
    );
    let out = rt.run(&["state", id]);
    assert!(
        out.code == 1 && out.stderr.contains("container does not exist"),
        "{what}: state still answers:\n{out}"
    );
}

/// A running container `id` whose init is `sleep 1000`; `host` without its own pid namespace.
fn start_sleeper(rt: &Runtime, id: &str, host: bool) {
    let mut b = rt.bundle(&["sleep", "1000"]);
    if host {
        b.host_pidns();
    }
    rt.create_start(id, &b);
}

// ---------------------------------------------------------------------------------------------
// 2. Load: many concurrent lifecycles in one root.

/// `workers` threads, each running `rounds` lifecycles one after another (create, start, exec
/// -d, kill KILL, delete), half of the workers' containers in the host's pid namespace. Every
/// call must succeed, leave no state directory, and nothing may leak. Returns the number of
/// lifecycles and how long they took (reported, never asserted).
fn load(name: &str, workers: usize, rounds: usize) -> (usize, Duration) {
    let rt = Runtime::new(name);
    let prefix = prefix_of(&rt);
    let before = Leaks::take(&rt, &prefix);
    let mut jobs = Vec::new();
    for w in 0..workers {
        let host = w % 2 == 1;
        let mut b = rt.bundle(&["sleep", "1000"]);
        if host {
            b.host_pidns();
        }
        let ids: Vec<String> = (0..rounds).map(|r| rt.id(&format!("w{w}r{r}"))).collect();
        jobs.push((ids, b.path().to_string(), host));
    }
    let started = Instant::now();
    let barrier = Arc::new(Barrier::new(jobs.len()));
    let threads: Vec<_> = jobs
        .into_iter()
        .map(|(ids, bundle, host)| {
            let root = rt.root.clone();
            let env = rt.env.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || -> Vec<String> {
                barrier.wait();
                let mut errors = Vec::new();
                for id in &ids {
                    let steps: [Vec<&str>; 5] = [
                        vec!["create", "--bundle", &bundle, id],
                        vec!["start", id],
                        vec!["exec", "-d", id, "sleep", "1000"],
                        vec!["kill", id, "KILL"],
                        vec!["delete", id],
                    ];
                    for args in steps.iter() {
                        let out = berth(&root, &env, args);
                        if !out.success() {
                            let pidns = if host { "host" } else { "private" };
                            errors.push(format!("({pidns} pidns)\n{out}"));
                            let _ = berth(&root, &env, &["delete", "-f", id]);
                            break;
                        }
                    }
                    if root.join(id).exists() {
                        errors.push(format!("{id}: state directory left after delete"));
                    }
                }
                errors
            })
        })
        .collect();
    let errors: Vec<String> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("lifecycle thread"))
        .collect();
    let elapsed = started.elapsed();
    let n = workers * rounds;
    assert!(
        errors.is_empty(),
        "{} unexpected error(s) in {n} lifecycles:\n{}",
        errors.len(),
        errors.join("\n")
    );
    assert_no_leaks(&rt, &prefix, &before, &format!("after {n} lifecycles"));
    eprintln!(
        "reliability: {n} lifecycles ({workers} at once) in {elapsed:.1?}: {:.1} lifecycles/s, 0 errors, 0 leaks",
        n as f64 / elapsed.as_secs_f64()
    );
    (n, elapsed)
}

#[test]
fn load_100_concurrent_lifecycles() {
    load("rload", 100, 1);
}

/// The long soak, on demand: `BERTH_SOAK=2000 cargo test --test integration soak -- --ignored
/// --nocapture` (BERTH_SOAK lifecycles, 20 at a time; the default is 2000).
#[test]
#[ignore]
fn soak() {
    let total: usize = std::env::var("BERTH_SOAK")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let workers = 20.min(total.max(1));
    load("rsoak", workers, total.div_ceil(workers));
}

// ---------------------------------------------------------------------------------------------
// 3. Races on one container.

const REPS: usize = 5;

/// kill says the container is gone or not running: what a kill that lost the race may say.
fn kill_lost_race(out: &Output) -> bool {
    out.code == 1
        && (out.stderr.contains("container does not exist")
            || out.stderr.contains("container not running"))
}

#[test]
fn race_kill_vs_delete_force() {
    let rt = Runtime::new("rrace-kd");
    let prefix = prefix_of(&rt);
    let before = Leaks::take(&rt, &prefix);
    for rep in 0..REPS {
        let id = rt.id(&format!("r{rep}"));
        start_sleeper(&rt, &id, rep % 2 == 1);
        let (kill, del) = race(
            &rt.root,
            &rt.env,
            v(&["kill", &id, "KILL"]),
            v(&["delete", "-f", &id]),
        );
        assert!(
            kill.success() || kill_lost_race(&kill),
            "rep {rep}: kill:\n{kill}"
        );
        del.ok();
        assert_gone(&rt, &id, &format!("rep {rep}"));
        assert_no_leaks(
            &rt,
            &prefix,
            &before,
            &format!("rep {rep}: kill vs delete -f"),
        );
    }
}

#[test]
fn race_delete_force_twice() {
    let rt = Runtime::new("rrace-dd");
    let prefix = prefix_of(&rt);
    let before = Leaks::take(&rt, &prefix);
    for rep in 0..REPS {
        let id = rt.id(&format!("r{rep}"));
        start_sleeper(&rt, &id, rep % 2 == 1);
        let (a, b) = race(
            &rt.root,
            &rt.env,
            v(&["delete", "-f", &id]),
            v(&["delete", "-f", &id]),
        );
        a.ok();
        b.ok();
        assert_gone(&rt, &id, &format!("rep {rep}"));
        assert_no_leaks(
            &rt,
            &prefix,
            &before,
            &format!("rep {rep}: delete -f twice"),
        );
    }
}

#[test]
fn race_delete_force_vs_start() {
    let rt = Runtime::new("rrace-ds");
    let prefix = prefix_of(&rt);
    let before = Leaks::take(&rt, &prefix);
    for rep in 0..REPS {
        let id = rt.id(&format!("r{rep}"));
        let mut b = rt.bundle(&["sleep", "1000"]);
        if rep % 2 == 1 {
            b.host_pidns();
        }
        rt.run(&["create", "--bundle", b.path(), &id]).ok();
        let (del, start) = race(
            &rt.root,
            &rt.env,
            v(&["delete", "-f", &id]),
            v(&["start", &id]),
        );
        del.ok();
        assert!(
            start.success()
                || (start.code == 1
                    && start.stderr.lines().count() == 1
                    && start.stderr.contains(&id)),
            "rep {rep}: start must succeed or fail with one line naming the container:\n{start}"
        );
        assert_gone(&rt, &id, &format!("rep {rep}"));
        assert_no_leaks(
            &rt,
            &prefix,
            &before,
            &format!("rep {rep}: delete -f vs start"),
        );
    }
}

#[test]
fn race_exec_vs_kill() {
    let rt = Runtime::new("rrace-ek");
    let prefix = prefix_of(&rt);
    let before = Leaks::take(&rt, &prefix);
    for rep in 0..REPS {
        let id = rt.id(&format!("r{rep}"));
        start_sleeper(&rt, &id, rep % 2 == 1);
        let (exec, kill) = race(
            &rt.root,
            &rt.env,
            v(&["exec", "-d", &id, "sleep", "1000"]),
            v(&["kill", &id, "KILL"]),
        );
        assert!(
            exec.code == 0 || exec.code == 255,
            "rep {rep}: exec:\n{exec}"
        );
        kill.ok();
        rt.run(&["delete", "-f", &id]).ok();
        assert_gone(&rt, &id, &format!("rep {rep}"));
        assert_no_leaks(&rt, &prefix, &before, &format!("rep {rep}: exec vs kill"));
    }
}

#[test]
fn race_pause_vs_kill() {
    let rt = Runtime::new("rrace-pk");
    let prefix = prefix_of(&rt);
    let before = Leaks::take(&rt, &prefix);
    for rep in 0..REPS {
        let id = rt.id(&format!("r{rep}"));
        start_sleeper(&rt, &id, rep % 2 == 1);
        let (pause, kill) = race(
            &rt.root,
            &rt.env,
            v(&["pause", &id]),
            v(&["kill", &id, "KILL"]),
        );
        assert!(
            pause.success() || (pause.code == 1 && pause.stderr.lines().count() == 1),
            "rep {rep}: pause:\n{pause}"
        );
        kill.ok();
        assert!(
            kill.elapsed < Duration::from_secs(5),
            "rep {rep}: kill took {:?}",
            kill.elapsed
        );
        rt.run(&["delete", "-f", &id]).ok();
        assert_gone(&rt, &id, &format!("rep {rep}"));
        assert_no_leaks(&rt, &prefix, &before, &format!("rep {rep}: pause vs kill"));
    }
}

// ---------------------------------------------------------------------------------------------
// 4. berth SIGKILLed mid-command; a fresh `delete -f` finishes the job.

/// Spawns `args`, waits until `ready` holds (at most 10 s; readiness, before acting), then
/// `delay_us` more, and SIGKILLs berth. Returns berth's output (killed or finished).
fn interrupt(rt: &Runtime, args: &[&str], ready: impl Fn() -> bool, delay_us: u64) -> Output {
    let bg = berth_spawn(&rt.root, &rt.env, args);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ready() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_micros(200));
    }
    std::thread::sleep(Duration::from_micros(delay_us));
    bg.signal(libc::SIGKILL);
    let (out, hung) = bg.finish(LIMIT);
    assert!(!hung, "berth did not end after SIGKILL:\n{out}");
    out
}

/// The cgroup directories named after `id` with the tasks they list, and the processes whose
/// /proc/PID/cgroup names it: for a failure message.
fn describe_left(id: &str) -> String {
    let mut out = Vec::new();
    for top in cgroup_dirs_with(id) {
        for d in dirs_deepest_first(&top) {
            let procs = fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
            let tasks = fs::read_to_string(d.join("tasks")).unwrap_or_default();
            let frozen = fs::read_to_string(d.join("freezer.state"))
                .or_else(|_| fs::read_to_string(d.join("cgroup.freeze")))
                .unwrap_or_default();
            out.push(format!(
                "{} procs [{}] tasks [{}] frozen [{}]",
                d.display(),
                procs.split_whitespace().collect::<Vec<_>>().join(" "),
                tasks.split_whitespace().collect::<Vec<_>>().join(" "),
                frozen.trim()
            ));
        }
    }
    for pid in procs_in_cgroups_named(id) {
        let wchan = fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default();
        out.push(format!("process {} wchan {wchan}", describe(pid)));
    }
    out.join("; ")
}

/// After the interruption: a fresh `delete -f` exits 0 and nothing is left.
#[track_caller]
fn finish_and_check(rt: &Runtime, id: &str, prefix: &str, before: &Leaks, what: &str) {
    let state_files: Vec<String> = fs::read_dir(rt.state_dir(id))
        .map(|e| {
            e.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let left_before = describe_left(id);
    let out = rt.run(&["delete", "-f", id]);
    let what =
        format!("{what}\n  before delete -f: state dir files {state_files:?}; {left_before}");
    let what = what.as_str();
    assert!(
        out.success(),
        "{what}: delete -f after the interruption:\n{out}\n  what is left: {}",
        describe_left(id)
    );
    assert_gone(rt, id, what);
    assert_no_leaks(rt, prefix, before, what);
}

/// `2 * REPS` times: a fresh `sleep 1000` bundle (every other one in the host's pid namespace),
/// then `interrupt_at` runs a command and SIGKILLs berth somewhere in it, returning berth's
/// output and where it was killed; the `delete -f` that follows must finish the job and leave
/// nothing behind.
fn interrupted(
    name: &str,
    seed: u64,
    command: &str,
    interrupt_at: impl Fn(&Runtime, &mut Rng, usize, &str, &Bundle) -> (Output, String),
) {
    let rt = Runtime::new(name);
    let prefix = prefix_of(&rt);
    let before = Leaks::take(&rt, &prefix);
    let mut rng = Rng::new(seed);
    let mut killed = 0;
    for rep in 0..2 * REPS {
        let id = rt.id(&format!("r{rep}"));
        let mut b = rt.bundle(&["sleep", "1000"]);
        if rep % 2 == 1 {
            b.host_pidns();
        }
        let (out, point) = interrupt_at(&rt, &mut rng, rep, &id, &b);
        if out.code == 128 + libc::SIGKILL {
            killed += 1;
        }
        let what = format!(
            "rep {rep}: {command} killed {point} (berth exit {})",
            out.code
        );
        finish_and_check(&rt, &id, &prefix, &before, &what);
    }
    eprintln!(
        "reliability: {command} interrupted {killed} of {} times",
        2 * REPS
    );
}

/// After `create` is SIGKILLed, libcontainer's orphaned intermediate process carries on (makes
/// and joins the cgroups, forks `youki:[2:INIT]`, which then waits forever on its sync socket):
/// the `delete -f` that follows must find and kill it, and leave nothing behind.
#[test]
fn interrupted_create() {
    interrupted(
        "rint-create",
        0x5eed_c4ea7e,
        "create",
        |rt, rng, rep, id, b| {
            let state_dir = rt.state_dir(id);
            // Half the points: as soon as the state directory appears (plus up to 20 ms); the
            // other half: anywhere in the first 40 ms after berth starts.
            let (ready, delay, after): (Box<dyn Fn() -> bool>, u64, &str) = if rep < REPS {
                let delay = rng.below(20_000);
                (
                    Box::new(move || state_dir.exists()),
                    delay,
                    "the state dir appeared",
                )
            } else {
                (Box::new(|| true), rng.below(40_000), "berth started")
            };
            let out = interrupt(rt, &["create", "--bundle", b.path(), id], ready, delay);
            (out, format!("{delay} us after {after}"))
        },
    );
}

/// `start` SIGKILLed anywhere in its first 10 ms (start takes a few): the container is created,
/// running, or half-way; the next `delete -f` must finish the job.
#[test]
fn interrupted_start() {
    interrupted("rint-start", 0x057a_77ed, "start", |rt, rng, _, id, b| {
        rt.run(&["create", "--bundle", b.path(), id]).ok();
        let delay = rng.below(10_000);
        let out = interrupt(rt, &["start", id], || true, delay);
        (out, format!("{delay} us after berth started"))
    });
}

/// A running container of init plus 100 sleeping children; returns when all 101 run.
fn start_hundred(rt: &Runtime, id: &str, host: bool) {
    let mut b = rt.bundle(&strs(&sleepers(100)));
    if host {
        b.host_pidns();
    }
    rt.create_start(id, &b);
    rt.wait_for_pids_within(id, 101, Duration::from_secs(30));
}

fn interrupted_teardown(name: &str, cmd: &[&str], seed: u64) {
    let rt = Runtime::new(name);
    let prefix = prefix_of(&rt);
    let before = Leaks::take(&rt, &prefix);
    let mut rng = Rng::new(seed);
    let mut killed = 0;
    for rep in 0..REPS {
        let id = rt.id(&format!("r{rep}"));
        let host = rep % 2 == 1;
        start_hundred(&rt, &id, host);
        let mut args = cmd.to_vec();
        args.push(&id);
        if cmd[0] == "kill" {
            args.push("KILL");
        }
        // Teardown of 100 processes takes a few ms to a few tens: interrupt somewhere in there.
        let delay = rng.below(30_000);
        let out = interrupt(&rt, &args, || true, delay);
        if out.code == 128 + libc::SIGKILL {
            killed += 1;
        } else {
            assert!(
                out.success(),
                "rep {rep}: {} (not interrupted) failed:\n{out}",
                cmd.join(" ")
            );
        }
        finish_and_check(
            &rt,
            &id,
            &prefix,
            &before,
            &format!(
                "rep {rep} ({} pidns): {} killed after {delay} us (berth exit {})",
                if host { "host" } else { "private" },
                cmd.join(" "),
                out.code
            ),
        );
    }
    eprintln!(
        "reliability: {} interrupted {killed} of {REPS} times",
        cmd.join(" ")
    );
}

#[test]
fn interrupted_delete_force() {
    interrupted_teardown("rint-delete", &["delete", "-f"], 0xde1e7e);
}

#[test]
fn interrupted_kill() {
    interrupted_teardown("rint-kill", &["kill"], 0x4b111);
}
