//! berth's synchronous teardown: when `kill ID KILL`, `kill --all`, `kill --wait`, `stop` or
//! `delete [-f]` returns, the processes it targeted are gone and (for delete) so are the
//! cgroups and the state. Every scenario runs twice, once per wait strategy (`BERTH_WAIT=pidfd`
//! and `BERTH_WAIT=poll`). Nothing sleeps or polls after the command under test: the checks
//! run the moment it returns.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use crate::common::*;

/// One `#[test]` per strategy for each scenario `fn NAME(strategy: &str)`:
/// `teardown::NAME::pidfd` and `teardown::NAME::poll`.
macro_rules! both_strategies {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn pidfd() {
                super::$name("pidfd")
            }
            #[test]
            fn poll() {
                super::$name("poll")
            }
        }
    )*};
}

both_strategies!(
    private_pidns_0,
    private_pidns_10,
    private_pidns_1000,
    host_pidns_exec_detached,
    host_init_killed_kill_all,
    host_init_killed_kill,
    host_init_killed_delete,
    fork_loop_host_pidns,
    fork_loop_private_pidns,
    paused_kill,
    paused_delete_force,
    delete_force_sub_cgroups,
    kill_wait_term_trapped,
    kill_wait_term_ignored,
    stop_grace_term_ignored,
);

/// After a KILL that returned: every snapshotted process gone, the cgroups hold no process,
/// `ps` lists none and the state reads stopped.
#[track_caller]
fn assert_stopped_and_empty(rt: &Runtime, id: &str, snaps: &[Snap], what: &str) {
    assert_all_gone(snaps, what);
    let pids = cgroup_pids(id);
    assert!(
        pids.is_empty(),
        "{what}: the cgroups of {id} still list {pids:?}"
    );
    let ps = rt.ps(id);
    assert!(ps.is_empty(), "{what}: ps lists {ps:?}");
    let units = live_units(id);
    assert!(units.is_empty(), "{what}: systemd still has {units:?}");
    let st = rt.state(id);
    assert_eq!(st["status"], "stopped", "{what}: {st}");
    assert_eq!(st["pid"], 0, "{what}: {st}");
}

/// Runs a teardown command that must succeed, and well before its deadline (10 s by
/// default): it returns when the processes are gone, not when it gives up waiting.
#[track_caller]
fn teardown_ok(rt: &Runtime, args: &[&str]) -> Output {
    let out = rt.run(args);
    out.ok();
    assert!(
        out.elapsed < Duration::from_secs(5),
        "{} took {:?}:\n{out}",
        args.join(" "),
        out.elapsed
    );
    out
}

/// `delete` (or `delete -f`) returned: nothing of the container is left.
#[track_caller]
fn assert_deleted(rt: &Runtime, id: &str, snaps: &[Snap], what: &str) {
    assert_nothing_left(id, snaps, what);
    assert!(
        !rt.state_dir(id).exists(),
        "{what}: state directory {} left",
        rt.state_dir(id).display()
    );
    let out = rt.run(&["state", id]);
    assert!(
        out.code == 1 && out.stderr.contains("container does not exist"),
        "{what}: state still answers:\n{out}"
    );
}

/// Snapshot of everything in the container now: what `ps` says and what the cgroups hold.
fn snapshot_container(pids: &[i32], id: &str) -> Vec<Snap> {
    let mut all: Vec<i32> = pids.to_vec();
    all.extend(cgroup_pids(id));
    all.sort();
    all.dedup();
    snapshot(all)
}

// ---------------------------------------------------------------------------------------------
// A private pid namespace: init plus N children.

fn private_pidns(strategy: &str, n: usize) {
    let rt = Runtime::with_strategy(&format!("private{n}"), strategy);
    let id = rt.id("");
    let args: Vec<String> = if n == 0 {
        vec!["sleep".into(), "1000".into()]
    } else {
        sleepers(n)
    };
    let b = rt.bundle(&strs(&args));
    rt.create_start(&id, &b);
    let pids = rt.wait_for_pids_within(&id, n + 1, Duration::from_secs(30));
    let snaps = snapshot_container(&pids, &id);
    assert_eq!(snaps.len(), n + 1, "processes before the kill");

    teardown_ok(&rt, &["kill", &id, "KILL"]);
    assert_stopped_and_empty(&rt, &id, &snaps, "after kill KILL");

    teardown_ok(&rt, &["delete", &id]);
    assert_deleted(&rt, &id, &snaps, "after delete");
}

fn private_pidns_0(strategy: &str) {
    private_pidns(strategy, 0)
}

fn private_pidns_10(strategy: &str) {
    private_pidns(strategy, 10)
}

fn private_pidns_1000(strategy: &str) {
    private_pidns(strategy, 1000)
}

// ---------------------------------------------------------------------------------------------
// The host's pid namespace: nothing but berth kills the other processes.

fn host_pidns_exec_detached(strategy: &str) {
    let rt = Runtime::with_strategy("host-exec", strategy);
    let id = rt.id("");
    let mut b = rt.bundle(&["sleep", "1000"]);
    b.host_pidns();
    rt.create_start(&id, &b);
    for _ in 0..5 {
        rt.run(&["exec", "-d", &id, "sleep", "1000"]).ok();
    }
    let pids = rt.wait_for_pids(&id, 6);
    let snaps = snapshot_container(&pids, &id);
    assert_eq!(snaps.len(), 6, "processes before the kill");

    teardown_ok(&rt, &["kill", &id, "KILL"]);
    assert_stopped_and_empty(&rt, &id, &snaps, "after kill KILL");

    teardown_ok(&rt, &["delete", &id]);
    assert_deleted(&rt, &id, &snaps, "after delete");
}

/// A host-pidns container whose init the test SIGKILLs from the host: its children live on in
/// the cgroup ("init gone"). Returns the runtime, the id and the snapshot of the leftovers.
fn init_killed_from_host(name: &str, strategy: &str) -> (Runtime, String, Vec<Snap>) {
    let rt = Runtime::with_strategy(name, strategy);
    let id = rt.id("");
    let mut b = rt.bundle(&strs(&sleepers(5)));
    b.host_pidns();
    let init = rt.create_start(&id, &b);
    let pids = rt.wait_for_pids(&id, 6);
    let snaps = snapshot_container(&pids, &id);
    assert_eq!(snaps.len(), 6, "processes before the kill");

    // SAFETY: kill(2) of the container's init, which the test just saw running.
    assert_eq!(
        unsafe { libc::kill(init, libc::SIGKILL) },
        0,
        "kill -9 {init}"
    );
    // The test's own kill: wait (through a pidfd) until init has exited.
    assert!(
        wait_exit(init, Duration::from_secs(10)),
        "init {init} did not die"
    );
    let leftovers: Vec<Snap> = snaps.iter().copied().filter(|s| s.pid != init).collect();
    assert_eq!(alive(&leftovers).len(), 5, "the children outlive init");
    assert_eq!(
        rt.status(&id),
        "stopped",
        "init is gone: the container reads stopped"
    );
    (rt, id, snaps)
}

fn host_init_killed_kill_all(strategy: &str) {
    let (rt, id, snaps) = init_killed_from_host("init-gone-kill-all", strategy);
    teardown_ok(&rt, &["kill", "--all", &id, "KILL"]);
    assert_stopped_and_empty(&rt, &id, &snaps, "after kill --all KILL");
    teardown_ok(&rt, &["delete", &id]);
    assert_deleted(&rt, &id, &snaps, "after delete");
}

fn host_init_killed_kill(strategy: &str) {
    let (rt, id, snaps) = init_killed_from_host("init-gone-kill", strategy);
    // Without --all too: KILL reaches every process of a host-pidns container.
    teardown_ok(&rt, &["kill", &id, "KILL"]);
    assert_stopped_and_empty(&rt, &id, &snaps, "after kill KILL");
    teardown_ok(&rt, &["delete", &id]);
    assert_deleted(&rt, &id, &snaps, "after delete");
}

fn host_init_killed_delete(strategy: &str) {
    let (rt, id, snaps) = init_killed_from_host("init-gone-delete", strategy);
    let dirs = cgroup_dirs_with(&id);
    assert!(!dirs.is_empty(), "the container has cgroup directories");
    // Plain delete: the container reads stopped, its leftovers are killed first.
    teardown_ok(&rt, &["delete", &id]);
    assert_deleted(&rt, &id, &snaps, "after delete");
    let left: Vec<&PathBuf> = dirs.iter().filter(|d| d.exists()).collect();
    assert!(left.is_empty(), "cgroup directories left: {left:?}");
}

// ---------------------------------------------------------------------------------------------
// A fork loop: processes appear while berth kills.

fn fork_loop(name: &str, strategy: &str, host: bool) {
    let rt = Runtime::with_strategy(name, strategy);
    let id = rt.id("");
    // Forks until killed, under a pids limit. busybox sh exits when a fork fails, so an inner
    // shell forks until it hits the limit and the outer one starts it again: the loop lives and
    // forks for as long as it is let. Without the pids controller (cgroup2 alone on a machine
    // whose controllers sit in v1) the loop is bounded instead (5000), lest a berth that fails
    // to kill it exhaust the machine's pids.
    let script = if controller_available("pids") {
        "while true; do sh -c 'while true; do sleep 1000 & done' 2>/dev/null; done"
    } else {
        "i=0; while [ $i -lt 5000 ]; do sleep 1000 & i=$((i+1)); done; wait"
    };
    let mut b = rt.bundle(&["sh", "-c", script]);
    if controller_available("pids") {
        b.pids_limit(2000);
    }
    if host {
        b.host_pidns();
    }
    rt.create_start(&id, &b);
    let pids = rt.wait_for_pids(&id, 50);
    let snaps = snapshot_container(&pids, &id);

    teardown_ok(&rt, &["kill", &id, "KILL"]);
    assert_stopped_and_empty(&rt, &id, &snaps, "after kill KILL of a fork loop");

    teardown_ok(&rt, &["delete", &id]);
    assert_deleted(&rt, &id, &snaps, "after delete");
}

fn fork_loop_host_pidns(strategy: &str) {
    fork_loop("forkloop-host", strategy, true)
}

fn fork_loop_private_pidns(strategy: &str) {
    fork_loop("forkloop-private", strategy, false)
}

// ---------------------------------------------------------------------------------------------
// Paused containers: frozen processes must be thawed to die.

fn paused_kill(strategy: &str) {
    let rt = Runtime::with_strategy("paused-kill", strategy);
    let id = rt.id("");
    let b = rt.bundle(&strs(&sleepers(3)));
    rt.create_start(&id, &b);
    let pids = rt.wait_for_pids(&id, 4);
    let snaps = snapshot_container(&pids, &id);
    rt.run(&["pause", &id]).ok();
    assert_eq!(rt.status(&id), "paused");

    teardown_ok(&rt, &["kill", &id, "KILL"]);
    assert_stopped_and_empty(&rt, &id, &snaps, "after kill KILL of a paused container");

    teardown_ok(&rt, &["delete", "-f", &id]);
    assert_deleted(&rt, &id, &snaps, "after delete -f");
}

fn paused_delete_force(strategy: &str) {
    let rt = Runtime::with_strategy("paused-delete", strategy);
    let id = rt.id("");
    let mut b = rt.bundle(&strs(&sleepers(3)));
    b.host_pidns();
    rt.create_start(&id, &b);
    rt.run(&["exec", "-d", &id, "sleep", "1000"]).ok();
    let pids = rt.wait_for_pids(&id, 5);
    let snaps = snapshot_container(&pids, &id);
    rt.run(&["pause", &id]).ok();
    assert_eq!(rt.status(&id), "paused");

    teardown_ok(&rt, &["delete", "-f", "--timeout", "5s", &id]);
    assert_deleted(&rt, &id, &snaps, "after delete -f of a paused container");
}

// ---------------------------------------------------------------------------------------------
// Sub-cgroups made inside the container's cgroups, one process moved into one.

fn delete_force_sub_cgroups(strategy: &str) {
    let rt = Runtime::with_strategy("sub-cgroups", strategy);
    let id = rt.id("");
    let mut b = rt.bundle(&strs(&sleepers(3)));
    b.host_pidns();
    let init = rt.create_start(&id, &b);
    let pids = rt.wait_for_pids(&id, 4);
    let snaps = snapshot_container(&pids, &id);
    let victim = *pids.iter().find(|p| **p != init).expect("a child of init");

    let tops = cgroup_dirs_with(&id);
    assert!(!tops.is_empty(), "the container has cgroup directories");
    let mut made = Vec::new();
    let mut moved = Vec::new();
    for top in &tops {
        let sub = top.join("sub1");
        let subsub = sub.join("sub2");
        fs::create_dir_all(&subsub).unwrap_or_else(|e| panic!("mkdir {}: {e}", subsub.display()));
        made.push(sub.clone());
        made.push(subsub.clone());
        // cpuset sub-cgroups take no task until they have cpus and mems.
        for d in [&sub, &subsub] {
            for f in ["cpuset.cpus", "cpuset.mems"] {
                if let Ok(v) = fs::read_to_string(top.join(f)) {
                    let _ = fs::write(d.join(f), v.trim());
                }
            }
        }
        if fs::write(subsub.join("cgroup.procs"), victim.to_string()).is_ok() {
            moved.push(subsub.clone());
        }
    }
    assert!(
        !moved.is_empty(),
        "could not move {victim} into any sub-cgroup of {tops:?}"
    );
    assert!(
        cgroup_pids(&id).contains(&victim),
        "{victim} is still in the container's cgroups after the move"
    );

    teardown_ok(&rt, &["delete", "-f", &id]);
    assert_deleted(&rt, &id, &snaps, "after delete -f with sub-cgroups");
    let left: Vec<&PathBuf> = tops
        .iter()
        .chain(made.iter())
        .filter(|d| d.exists())
        .collect();
    assert!(left.is_empty(), "cgroup directories left: {left:?}");
}

// ---------------------------------------------------------------------------------------------
// kill --wait and stop: signals other than KILL, waited for under a deadline.

fn kill_wait_term_trapped(strategy: &str) {
    let rt = Runtime::with_strategy("wait-term", strategy);
    let id = rt.id("");
    let b = rt.bundle(&["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]);
    rt.create_start(&id, &b);
    let pids = rt.wait_for_pids(&id, 2);
    let snaps = snapshot_container(&pids, &id);

    teardown_ok(&rt, &["kill", "--wait", "--timeout", "5s", &id, "TERM"]);
    assert_stopped_and_empty(&rt, &id, &snaps, "after kill --wait TERM");

    teardown_ok(&rt, &["delete", &id]);
    assert_deleted(&rt, &id, &snaps, "after delete");
}

fn kill_wait_term_ignored(strategy: &str) {
    let rt = Runtime::with_strategy("wait-ignored", strategy);
    let id = rt.id("");
    let b = rt.bundle(&["sh", "-c", "trap '' TERM; sleep 1000 & wait"]);
    let init = rt.create_start(&id, &b);
    let pids = rt.wait_for_pids(&id, 2);
    let snaps = snapshot_container(&pids, &id);

    let out = rt.run(&["kill", "--wait", "--timeout", "1s", &id, "TERM"]);
    out.fails_with(1);
    assert_eq!(out.stdout, "", "{out}");
    assert_eq!(out.stderr.lines().count(), 1, "one line on stderr:\n{out}");
    assert!(
        out.stderr.contains(&format!("pid {init} ")),
        "the error must name init {init}, which outlived the deadline:\n{out}"
    );
    assert!(
        rt.state_dir(&id).exists(),
        "the state must be kept after a timeout"
    );
    assert_eq!(
        alive(&snaps).len(),
        snaps.len(),
        "TERM is ignored: all still run"
    );
    assert_eq!(rt.status(&id), "running");

    teardown_ok(&rt, &["kill", &id, "KILL"]);
    assert_stopped_and_empty(&rt, &id, &snaps, "after kill KILL");
    teardown_ok(&rt, &["delete", &id]);
    assert_deleted(&rt, &id, &snaps, "after delete");
}

fn stop_grace_term_ignored(strategy: &str) {
    let rt = Runtime::with_strategy("stop-grace", strategy);
    let id = rt.id("");
    let b = rt.bundle(&["sh", "-c", "trap '' TERM; sleep 1000 & wait"]);
    rt.create_start(&id, &b);
    let pids = rt.wait_for_pids(&id, 2);
    let snaps = snapshot_container(&pids, &id);

    teardown_ok(&rt, &["stop", "--grace", "1s", "--timeout", "3s", &id]);
    assert_stopped_and_empty(&rt, &id, &snaps, "after stop --grace 1s");

    teardown_ok(&rt, &["delete", &id]);
    assert_deleted(&rt, &id, &snaps, "after delete");
}
