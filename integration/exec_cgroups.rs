//! `exec --cgroup CONTROLLER:PATH` with cgroup v1: a sub-cgroup per controller (runc's
//! `exec.bats: runc exec --cgroup sub-cgroups [v1]`). libcontainer joins one path in every
//! hierarchy; berth has the process move itself into the others before its program runs.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::common::*;

/// Whether this layout has cgroup v1 controllers (hybrid or legacy), with a memory and a cpu
/// hierarchy at runc's usual places.
fn v1_controllers() -> bool {
    Path::new("/sys/fs/cgroup/memory/cgroup.procs").exists()
        && Path::new("/sys/fs/cgroup/cpu/cgroup.procs").exists()
}

/// Runs `sleep 1000` exec'd and detached, with `extra` arguments; returns its pid.
fn exec_detached(rt: &Runtime, id: &str, extra: &[&str]) -> i32 {
    let pid_file = rt.dir.join("exec.pid");
    let _ = fs::remove_file(&pid_file);
    let pid_file = pid_file.to_str().unwrap();
    let mut args = vec!["exec", "-d", "--pid-file", pid_file];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[id, "sleep", "1000"]);
    rt.run(&args).ok();
    fs::read_to_string(pid_file).unwrap().parse().unwrap()
}

/// (controllers, path) of each line of /proc/PID/cgroup, for the hierarchies mounted here: the
/// kernel lists the cgroup2 hierarchy once it is mounted anywhere, also where this view (the
/// legacy one of scripts/cgroup-view) does not mount it.
fn cgroups_of(pid: i32) -> Vec<(String, String)> {
    let cgroup2_here = fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.contains(" - cgroup2 "));
    fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap()
        .lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, c, p) = (parts.next()?, parts.next()?, parts.next()?);
            Some((c.to_string(), p.to_string()))
        })
        .filter(|(c, _)| !c.is_empty() || cgroup2_here)
        .collect()
}

/// A running container in cgroup `/ID` with a sub-cgroup `sub` made in the hierarchies of
/// `controllers`; returns the runtime, the id and init's pid.
fn container_with_subs(name: &str, subs: &[(&str, &str)]) -> (Runtime, String, i32) {
    let rt = Runtime::new(name);
    let id = rt.id("");
    let mut b = rt.bundle(&["sleep", "1000"]);
    b.edit(|c| c["linux"]["cgroupsPath"] = json!(format!("/{id}")));
    let init = rt.create_start(&id, &b);
    for (controller, sub) in subs {
        let dir = PathBuf::from(format!("/sys/fs/cgroup/{controller}/{id}/{sub}"));
        fs::create_dir_all(&dir).unwrap();
    }
    (rt, id, init)
}

/// A sub-cgroup per controller: the process is in each one named, and in the container's
/// cgroup in every other hierarchy (named ones and the hybrid layout's cgroup2 one included).
/// Controllers named together (`cpu,cpuacct:`) share the path, whether mounted together or not.
#[test]
fn exec_cgroup_per_controller() {
    if systemd_driver() || !v1_controllers() {
        return;
    }
    let (rt, id, _init) = container_with_subs(
        "exec-cg-ctrl",
        &[
            ("memory", "submem"),
            ("cpu", "subcpu"),
            ("cpuacct", "subcpu"),
        ],
    );
    let exec = exec_detached(
        &rt,
        &id,
        &[
            "--cgroup",
            "memory:submem",
            "--cgroup",
            "cpu,cpuacct:subcpu",
        ],
    );
    let lines = cgroups_of(exec);
    assert!(lines.len() > 2, "{lines:?}");
    for (controllers, path) in &lines {
        let has = |c: &str| controllers.split(',').any(|x| x == c);
        let want = if has("memory") {
            format!("/{id}/submem")
        } else if has("cpu") || has("cpuacct") {
            format!("/{id}/subcpu")
        } else {
            format!("/{id}")
        };
        assert_eq!(path, &want, "hierarchy {controllers:?} of exec ({exec})");
    }
}

/// The sub-cgroup of one controller, with the others' default (also for a process that is not
/// root); `--cgroup /` and no `--cgroup` are the container's cgroup everywhere.
#[test]
fn exec_cgroup_one_controller_and_top() {
    if systemd_driver() || !v1_controllers() {
        return;
    }
    let (rt, id, _init) = container_with_subs("exec-cg-one", &[("memory", "m")]);
    // Also as a user without privileges: the process moves itself after libcontainer has
    // switched to its user, through files berth opened.
    for extra in [
        &["--cgroup", "memory:m"][..],
        &["--cgroup", "memory:m", "--user", "1000:1000"],
    ] {
        let exec = exec_detached(&rt, &id, extra);
        for (controllers, path) in cgroups_of(exec) {
            let want = if controllers.split(',').any(|c| c == "memory") {
                format!("/{id}/m")
            } else {
                format!("/{id}")
            };
            assert_eq!(path, want, "{extra:?}: hierarchy {controllers:?}");
        }
    }
    for extra in [&["--cgroup", "/"][..], &[]] {
        let exec = exec_detached(&rt, &id, extra);
        for (controllers, path) in cgroups_of(exec) {
            assert_eq!(
                path,
                format!("/{id}"),
                "{extra:?}: hierarchy {controllers:?}"
            );
        }
    }
}

/// runc's errors: a controller no hierarchy has, a missing sub-cgroup of one controller, a path
/// above the container's cgroup; none leaves a process in the container.
#[test]
fn exec_cgroup_per_controller_errors() {
    if systemd_driver() || !v1_controllers() {
        return;
    }
    let (rt, id, init) = container_with_subs("exec-cg-err", &[]);
    let out = rt.run(&["exec", "--cgroup", "whaaat:/", &id, "true"]);
    out.fails_with(255);
    assert!(out.stderr.contains("unknown controller whaaat"), "{out}");
    let out = rt.run(&["exec", "--cgroup", "cpu:nonexistent", &id, "true"]);
    out.fails_with(255);
    assert!(
        out.stderr
            .contains("/nonexistent/cgroup.procs: no such file or directory"),
        "{out}"
    );
    let out = rt.run(&["exec", "--cgroup", "memory:../..", &id, "true"]);
    out.fails_with(255);
    assert!(
        out.stderr.contains("../.. is not a sub cgroup path"),
        "{out}"
    );
    assert_eq!(live_pids(&id), vec![init]);
}

/// A join the kernel refuses once the process exists (a cpuset sub-cgroup without cpus) fails
/// the exec before its program runs, with the kernel's reason, and leaves no process behind.
#[test]
fn exec_cgroup_refused_join_leaves_no_process() {
    if systemd_driver() || !Path::new("/sys/fs/cgroup/cpuset/cgroup.procs").exists() {
        return;
    }
    let (rt, id, init) = container_with_subs("exec-cg-nocpu", &[("cpuset", "nocpus")]);
    let cpus = format!("/sys/fs/cgroup/cpuset/{id}/nocpus/cpuset.cpus");
    assert_eq!(fs::read_to_string(&cpus).unwrap().trim(), "", "{cpus}");
    let out = rt.run(&["exec", "--cgroup", "cpuset:nocpus", &id, "echo", "ran"]);
    out.fails_with(255);
    assert!(
        out.stderr
            .contains("/nocpus/cgroup.procs: no space left on device"),
        "{out}"
    );
    assert!(!out.stdout.contains("ran"), "the program ran: {out}");
    assert_eq!(live_pids(&id), vec![init]);
}

/// The processes in the container's cgroups that are alive (not zombies waiting to be reaped).
fn live_pids(id: &str) -> Vec<i32> {
    cgroup_pids(id)
        .into_iter()
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
                s.rsplit_once(") ")
                    .is_some_and(|(_, rest)| !rest.starts_with('Z'))
            })
        })
        .collect()
}
