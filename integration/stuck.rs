//! A process that cannot die. A container process looks up a file on a FUSE server of the test's
//! ([`StuckFuse`]) that reads the request and never answers; once SIGKILLed, the process waits
//! in the kernel uninterruptibly (state `D`) for as long as the server keeps silent. `kill KILL`
//! and `delete -f` must give up at their deadline with exit 1, name the pid, its `D` state and
//! its wchan, and keep the container; once the server answers (or the connection is aborted),
//! `delete -f` must finish the job and leave nothing behind.

use std::time::Duration;

use serde_json::json;

use crate::common::fuse::{StuckFuse, STUCK};
use crate::common::*;

/// How the hung server is brought back.
#[derive(Clone, Copy, Debug)]
enum Resolve {
    /// The server replies to the request it held.
    Answer,
    /// The operator aborts the FUSE connection (`echo 1 > /sys/fs/fuse/connections/N/abort`).
    Abort,
}

/// The survivor of a failed teardown as berth names it in its error.
fn assert_names_stuck(out: &Output, pid: i32, what: &str) {
    assert_eq!(out.code, 1, "{what} must fail at its deadline:\n{out}");
    let line = out.stderr.trim_end();
    assert_eq!(
        line.lines().count(),
        1,
        "{what}: the error is one line:\n{out}"
    );
    eprintln!("{what}: {line}");
    let named = format!("pid {pid} cat state D (uninterruptible sleep) wchan ");
    let at = line
        .find(&named)
        .unwrap_or_else(|| panic!("{what}: the error does not name {named:?}:\n{out}"));
    let wchan = line[at + named.len()..]
        .split([',', ' '])
        .next()
        .unwrap_or("");
    assert!(
        !wchan.is_empty() && wchan != "-",
        "{what}: no wchan for pid {pid}:\n{out}"
    );
}

fn stuck_in_fuse(name: &str, strategy: &str, host_pidns: bool, resolve: Resolve) {
    let rt = Runtime::with_strategy(name, strategy);
    let prefix = prefix_of(&rt);
    let before = Leaks::take(&rt, &prefix);
    // Declared after `rt`, so dropped before it: the server answers before the clean-up.
    let fuse = StuckFuse::mount(&rt.dir.join("fuse"));
    let id = rt.id("");
    let mut b = rt.bundle(&["sh", "-c", &format!("cat /mnt/{STUCK} & wait")]);
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/mnt",
            "type": "bind",
            "source": fuse.mountpoint,
            "options": ["rbind"],
        }))
    });
    if host_pidns {
        b.host_pidns();
    }
    let init = rt.create_start(&id, &b);
    assert!(
        fuse.wait_held(1, Duration::from_secs(20)),
        "the container never looked up /mnt/{STUCK}"
    );
    let cat = *rt
        .wait_for_pids(&id, 2)
        .iter()
        .find(|&&p| p != init)
        .unwrap();

    let out = rt.run(&["kill", "--timeout", "1s", &id, "KILL"]);
    assert_names_stuck(&out, cat, "kill KILL");
    assert!(rt.state_dir(&id).exists(), "kill dropped the state:\n{out}");
    rt.state(&id);

    let out = rt.run(&["delete", "-f", "--timeout", "1s", &id]);
    assert_names_stuck(&out, cat, "delete -f");
    assert!(
        rt.state_dir(&id).exists(),
        "delete -f dropped the state:\n{out}"
    );
    let kept = rt.state(&id);
    assert_eq!(kept["id"], json!(id), "state after the failed delete -f");

    match resolve {
        Resolve::Answer => fuse.answer(),
        Resolve::Abort => fuse.abort(),
    }
    rt.run(&["delete", "-f", &id]).ok();
    let out = rt.run(&["state", &id]);
    assert!(
        out.code == 1 && out.stderr.contains("container does not exist"),
        "state after delete -f:\n{out}"
    );
    drop(fuse); // the test's own mount
    assert_no_leaks(&rt, &prefix, &before, &format!("after {resolve:?}"));
}

#[test]
fn stuck_in_fuse_then_connection_aborted() {
    stuck_in_fuse("fuse-abort", "pidfd", false, Resolve::Abort);
}

#[test]
fn stuck_in_fuse_then_server_answers_host_pidns_poll() {
    stuck_in_fuse("fuse-answer", "poll", true, Resolve::Answer);
}
