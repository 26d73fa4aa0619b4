//! What runc's own integration suite checks and berth once did differently: exec into a paused
//! container while it is resumed, exec into a created container, exec's sub-cgroups, the
//! terminal's owner and size, seccomp profiles as runc reads them, and the container's lock,
//! which never makes a command wait forever.

use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use crate::common::*;

/// Waits (at most 10 s) until the container's cgroups hold at least `n` processes.
#[track_caller]
fn wait_for_cgroup_pids(id: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while cgroup_pids(id).len() < n {
        assert!(
            Instant::now() < deadline,
            "{id}: fewer than {n} processes in its cgroups after 10 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `exec --ignore-paused` into a paused container: the new process waits, frozen, and `resume`
/// (which takes the container's lock) is not held up by the exec waiting for it.
#[test]
fn exec_ignore_paused_then_resume() {
    let rt = Runtime::new("exec-ign-paused");
    let id = rt.id("");
    let b = rt.bundle(&["sleep", "1000"]);
    rt.create_start(&id, &b);
    rt.run(&["pause", &id]).ok();
    let exec = rt.spawn(&["exec", "--ignore-paused", &id, "echo", "ok"]);
    // The exec's process has joined the frozen cgroup: it waits there for the resume.
    wait_for_cgroup_pids(&id, 2);
    rt.run(&["resume", &id]).ok();
    let out = exec.wait();
    out.ok();
    assert_eq!(out.stdout, "ok\n", "{out}");
    assert_eq!(rt.status(&id), "running");
}

/// Someone holding the container's lock for good makes a command fail, naming the container as
/// busy, once `BERTH_LOCK_TIMEOUT` has passed; once the lock is free the command works.
#[test]
fn lock_wait_has_a_deadline() {
    let mut rt = Runtime::new("lock-deadline");
    let id = rt.id("");
    let b = rt.bundle(&["sleep", "1000"]);
    rt.create_start(&id, &b);
    let lock = OpenOptions::new()
        .read(true)
        .write(true)
        .open(rt.root.join(".locks").join(&id))
        .expect("the container's lock file");
    // SAFETY: a zeroed flock is valid; F_SETLKW reads the struct we own.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    let taken = unsafe { libc::fcntl(lock.as_raw_fd(), libc::F_SETLKW, &fl) };
    assert_eq!(
        taken,
        0,
        "cannot take the lock: {}",
        std::io::Error::last_os_error()
    );
    rt.env.push(("BERTH_LOCK_TIMEOUT".into(), "300ms".into()));
    let out = rt.run(&["pause", &id]);
    out.fails_with(1);
    assert_eq!(out.stderr_lines().len(), 1, "{out}");
    assert!(
        out.stderr.contains(&format!("container {id} is busy")),
        "{out}"
    );
    drop(lock);
    rt.env.retain(|(k, _)| k != "BERTH_LOCK_TIMEOUT");
    rt.run(&["pause", &id]).ok();
    assert_eq!(rt.status(&id), "paused");
}
