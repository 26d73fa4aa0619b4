//! Security checks: ids never reach outside `--root`, a pid file planted as a symlink is
//! replaced rather than followed, and a container cannot open berth's binary through
//! /proc/PID/exe of a berth process (the CVE-2019-5736 class).

use std::fs;
use std::os::unix::fs::symlink;

use crate::common::*;

/// Every entry of the scratch directory (bundles, root), recursively, but for the root's own
/// state: what an id escaping `--root` would add to.
fn scratch_entries(rt: &Runtime) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![rt.dir.clone()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = e.path();
            if path.starts_with(&rt.root) {
                continue;
            }
            out.push(path.display().to_string());
            if e.file_type().is_ok_and(|t| t.is_dir() && !t.is_symlink()) {
                stack.push(path);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn ids_never_reach_outside_root() {
    let rt = Runtime::new("sec-ids");
    let b = rt.bundle(&["true"]);
    let before = scratch_entries(&rt);
    let root_parent = rt.root.parent().unwrap().to_path_buf();
    for id in ["../x", "..", ".", "a/b", "/abs", "../../tmp/x", "x/../../y"] {
        for args in [
            vec!["create", "--bundle", b.path(), id],
            vec!["run", "-d", "--bundle", b.path(), id],
            vec!["delete", "-f", id],
            vec!["kill", id, "KILL"],
            vec!["state", id],
        ] {
            let out = rt.run(&args);
            assert!(
                out.code != 0 && out.stderr.contains("invalid container ID format"),
                "{args:?}:\n{out}"
            );
        }
    }
    assert_eq!(
        scratch_entries(&rt),
        before,
        "an id reached outside --root ({root_parent:?})"
    );
    assert!(rt.root_entries().is_empty(), "{:?}", rt.root_entries());
}

/// runc writes pid files as a temporary file renamed over the path: a symlink planted at the
/// path is replaced, its target never written. berth does the same.
#[test]
fn pid_file_symlink_is_replaced_not_followed() {
    let rt = Runtime::new("sec-pidfile");
    let victim = rt.dir.join("victim");
    fs::write(&victim, "precious").unwrap();
    let pid_file = rt.dir.join("init.pid");
    symlink(&victim, &pid_file).unwrap();
    let id = rt.id("");
    let b = rt.bundle(&["sleep", "1000"]);
    rt.run(&[
        "create",
        "--bundle",
        b.path(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ])
    .ok();
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    let meta = fs::symlink_metadata(&pid_file).unwrap();
    assert!(
        meta.file_type().is_file(),
        "the pid file is still a symlink"
    );
    assert_eq!(
        fs::read_to_string(&pid_file).unwrap(),
        rt.pid(&id).to_string()
    );
    rt.run(&["delete", "-f", &id]).ok();
}

/// The attack: a process in a container opens /proc/PID/exe of a berth process that has joined
/// the container's namespaces (libcontainer's fork that becomes init, or that runs an exec),
/// and writes berth's binary once berth has exited. libcontainer makes those forks
/// non-dumpable before they join, so a container without CAP_SYS_PTRACE cannot open it. The
/// fork is long-lived between `create` and `start`; another container sharing the host's pid
/// namespace can see it.
#[test]
fn container_cannot_open_berths_binary_through_proc_exe() {
    let rt = Runtime::new("sec-exe");
    let digest = || fs::read(berth_bin()).unwrap();
    let before = digest();
    let attacker = rt.id("attacker");
    let mut a = rt.bundle(&["sleep", "1000"]);
    a.host_pidns();
    rt.create_start(&attacker, &a);
    let target = rt.id("target");
    let mut t = rt.bundle(&["sleep", "1000"]);
    t.host_pidns();
    rt.run(&["create", "--bundle", t.path(), &target]).ok();
    let fork = rt.pid(&target);
    assert!(
        pre_exec_or_gone(fork),
        "the created container's init is not berth's fork"
    );
    let script = format!(
        "cat /proc/{fork}/comm; \
         cat /proc/{fork}/exe >/dev/null 2>&1 && echo opened || echo denied; \
         readlink /proc/{fork}/exe >/dev/null 2>&1 && echo linked || echo nolink; \
         echo x 2>/dev/null >>/proc/{fork}/exe && echo wrote || echo nowrite"
    );
    let out = rt.run(&["exec", &attacker, "sh", "-c", &script]);
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines.first().is_some_and(|c| c.starts_with("youki:")),
        "the attacker did not see berth's fork:\n{out}"
    );
    assert_eq!(&lines[1..], ["denied", "nolink", "nowrite"], "\n{out}");
    rt.run(&["delete", "-f", &target]).ok();
    rt.run(&["delete", "-f", &attacker]).ok();
    assert!(digest() == before, "berth's binary changed");
}
