//! What confines a container's processes beyond its namespaces: the seccomp filter berth loads
//! (init's and that of processes started by `exec`: libcontainer's exec loads none), runc's
//! `ENOSYS` for syscalls newer than the profile, `startContainer` hooks under the filter, the
//! filter's hand-over to a seccomp agent, and device rules under cgroup v2 (an eBPF program
//! berth attaches).

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use serde_json::{json, Value};

use crate::common::*;

/// `mkdir` fails with EDQUOT under the filter: no other cause gives that error here.
const FILTER_ERRNO: i64 = 122;
const FILTER_MESSAGE: &str = "Disk quota exceeded";
/// The agent's answer to `mkdir`: ENOMEDIUM.
const AGENT_ERRNO: i32 = 123;
const AGENT_MESSAGE: &str = "No medium found";

/// One line of /proc/self/status as the process sees it, e.g. "Seccomp:\t2".
fn status_line<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(key))
        .unwrap_or_else(|| panic!("no {key} in:\n{text}"))
}

#[test]
fn exec_runs_under_the_containers_seccomp_filter() {
    let rt = Runtime::new("confine-seccomp");
    for nnp in [true, false] {
        let mut b = rt.bundle(&["sleep", "1000"]);
        b.edit(|c| {
            c["process"]["noNewPrivileges"] = json!(nnp);
            c["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                              "errnoRet": FILTER_ERRNO}]
            });
        });
        let id = rt.id(&format!("nnp-{nnp}"));
        let init = rt.run_detached(&id, &b);
        let init_status = std::fs::read_to_string(format!("/proc/{init}/status")).unwrap();
        let out = rt.run(&[
            "exec",
            &id,
            "sh",
            "-c",
            "cat /proc/self/status; mkdir /dev/shm/x",
        ]);
        assert_ne!(out.code, 0, "mkdir succeeded under the filter:\n{out}");
        assert!(out.stderr.contains(FILTER_MESSAGE), "nnp {nnp}:\n{out}");
        assert_eq!(status_line(&out.stdout, "Seccomp:"), "Seccomp:\t2", "{out}");
        // The capability berth lends to load the filter without no_new_privs is gone: the
        // exec'd process has exactly init's capabilities and no_new_privs.
        for key in [
            "CapInh:",
            "CapPrm:",
            "CapEff:",
            "CapBnd:",
            "CapAmb:",
            "NoNewPrivs:",
        ] {
            assert_eq!(
                status_line(&out.stdout, key),
                status_line(&init_status, key),
                "nnp {nnp}: {key} differs from init's"
            );
        }
        // A second user, with no capabilities at all.
        let out = rt.run(&[
            "exec",
            "--user",
            "1000:1000",
            &id,
            "sh",
            "-c",
            "cat /proc/self/status; mkdir /dev/shm/y",
        ]);
        assert!(out.stderr.contains(FILTER_MESSAGE), "nnp {nnp}:\n{out}");
        assert_eq!(
            status_line(&out.stdout, "CapEff:"),
            "CapEff:\t0000000000000000"
        );
        assert_eq!(
            status_line(&out.stdout, "CapPrm:"),
            "CapPrm:\t0000000000000000"
        );
        rt.run(&["delete", "-f", &id]).ok();
    }
}

/// A static program that makes each syscall its arguments number (with zero arguments) and
/// prints "NUMBER ERRNO" for each (0 when it succeeded): `integration/probes/syscall-probe.c`
/// built with gcc in `dir`, or the build `BERTH_SYSCALL_PROBE` names (the systemd host has no
/// compiler: scripts/test.sh builds it outside).
fn syscall_probe(dir: &Path) -> PathBuf {
    probe(
        &dir.join("probe"),
        "syscall-probe.c",
        &["-static", "-O1"],
        "BERTH_SYSCALL_PROBE",
    )
}

/// The errno `probe` printed for syscall `nr`.
fn probe_errno(stdout: &str, nr: i64) -> i32 {
    stdout
        .lines()
        .find_map(|l| {
            let (n, e) = l.split_once(' ')?;
            (n.parse::<i64>().ok()? == nr).then(|| e.trim().parse().ok())?
        })
        .unwrap_or_else(|| panic!("no result for syscall {nr} in:\n{stdout}"))
}

/// runc's stub in front of the filter: a syscall numbered above every syscall the profile names
/// (for the calling architecture, x32 apart from x86-64) fails with ENOSYS instead of the
/// profile's default action, so that a C library falls back from a syscall newer than the
/// profile; below that, the default action still applies. In init, with and without
/// no_new_privs (the capability lent to load the filter then is given back).
#[test]
fn syscalls_newer_than_the_profile_get_enosys() {
    use libseccomp::{ScmpArch, ScmpSyscall};
    const DEFAULT_ERRNO: i32 = 122; // EDQUOT
    let rt = Runtime::new("confine-enosys");
    let host = rt.dir.join("probe-dir");
    std::fs::create_dir_all(&host).unwrap();
    syscall_probe(&host);
    // Every x86-64 syscall libseccomp knows is allowed, except getppid.
    let names: Vec<String> = (0..1024)
        .filter_map(|n| ScmpSyscall::from(n).get_name_by_arch(ScmpArch::X8664).ok())
        .filter(|n| n != "getppid")
        .collect();
    let getppid = i64::from(i32::from(
        ScmpSyscall::from_name_by_arch("getppid", ScmpArch::X8664).unwrap(),
    ));
    let x32_getppid = i64::from(i32::from(
        ScmpSyscall::from_name_by_arch("getppid", ScmpArch::X32).unwrap(),
    ));
    let x32_bit = 0x4000_0000_i64;
    let getpid = i64::from(i32::from(
        ScmpSyscall::from_name_by_arch("getpid", ScmpArch::X8664).unwrap(),
    ));
    let numbers = [getpid, getppid, 1000, x32_getppid, x32_bit + 1000];
    let mut args = vec!["/probe/probe".to_string()];
    args.extend(numbers.iter().map(|n| n.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut caps_without_filter = None;
    for nnp in [true, false] {
        let mut b = rt.bundle(&["cat", "/proc/self/status"]);
        b.edit(|c| {
            c["process"]["noNewPrivileges"] = json!(nnp);
            c["mounts"].as_array_mut().unwrap().push(json!({
                "destination": "/probe", "type": "bind",
                "source": host, "options": ["bind", "ro"]
            }));
        });
        // The same container without a filter: the capabilities init should end with.
        if caps_without_filter.is_none() {
            let id = rt.id("plain");
            rt.adopt(&id);
            let out = rt.run(&["run", "--bundle", b.path(), &id]);
            out.ok();
            caps_without_filter = Some(out.stdout.clone());
        }
        b.edit(|c| {
            c["process"]["args"] = json!([
                "sh",
                "-c",
                format!("cat /proc/self/status; {}", args.join(" "))
            ]);
            c["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ERRNO",
                "defaultErrnoRet": DEFAULT_ERRNO,
                "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}]
            });
        });
        let id = rt.id(&format!("nnp-{nnp}"));
        rt.adopt(&id);
        let out = rt.run(&["run", "--bundle", b.path(), &id]);
        out.ok();
        assert_eq!(probe_errno(&out.stdout, getpid), 0, "nnp {nnp}: {out}");
        assert_eq!(
            probe_errno(&out.stdout, getppid),
            DEFAULT_ERRNO,
            "nnp {nnp}: {out}"
        );
        assert_eq!(
            probe_errno(&out.stdout, 1000),
            libc::ENOSYS,
            "nnp {nnp}: {out}"
        );
        assert_eq!(
            probe_errno(&out.stdout, x32_getppid),
            DEFAULT_ERRNO,
            "nnp {nnp}: {out}"
        );
        assert_eq!(
            probe_errno(&out.stdout, x32_bit + 1000),
            libc::ENOSYS,
            "nnp {nnp}: {out}"
        );
        let plain = caps_without_filter.as_deref().unwrap_or_default();
        assert_eq!(status_line(&out.stdout, "Seccomp:"), "Seccomp:\t2", "{out}");
        for key in ["CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:"] {
            assert_eq!(
                status_line(&out.stdout, key),
                status_line(plain, key),
                "nnp {nnp}: {key} differs from the container's without a filter"
            );
        }
    }
}

/// A `startContainer` hook runs in the container under its filter, with the container's state
/// on stdin; when it fails, `run` fails with runc's words and the program never runs.
#[test]
fn start_container_hooks_run_under_the_filter() {
    let rt = Runtime::new("confine-hooks");
    let profile = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL"}]
    });
    // A hook that succeeds: what it read on stdin is there for the program.
    let mut b = rt.bundle(&["cat", "/dev/shm/state"]);
    b.edit(|c| {
        c["linux"]["seccomp"] = profile.clone();
        c["hooks"] = json!({"startContainer": [
            {"path": "/bin/sh", "args": ["sh", "-c", "cat > /dev/shm/state"]}
        ]});
    });
    let id = rt.id("ok");
    rt.adopt(&id);
    let out = rt.run(&["run", "--bundle", b.path(), &id]);
    out.ok();
    let state: Value = serde_json::from_str(out.stdout.trim()).unwrap_or(Value::Null);
    assert_eq!(state["id"], json!(id), "{out}");
    assert_eq!(state["status"], json!("created"), "{out}");
    assert_eq!(state["pid"], json!(1), "{out}");
    assert_eq!(state["bundle"], json!(b.path()), "{out}");
    // A hook the filter kills.
    let mut b = rt.bundle(&["echo", "the program ran"]);
    b.edit(|c| {
        c["linux"]["seccomp"] = profile.clone();
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_CORE", "soft": 0, "hard": 0}]);
        c["hooks"] = json!({"startContainer": [
            {"path": "/bin/true"},
            {"path": "/bin/sh", "args": ["sh", "-c", "mkdir /dev/shm/foo"]}
        ]});
    });
    let id = rt.id("killed");
    rt.adopt(&id);
    let out = rt.run(&["run", "--bundle", b.path(), &id]);
    assert_ne!(out.code, 0, "{out}");
    assert!(
        out.stderr.contains(
            "error running startContainer hook #1: error running hook: signal: bad system call"
        ),
        "{out}"
    );
    assert!(!out.stdout.contains("the program ran"), "{out}");
}

/// A seccomp agent: takes each listener sent to `path` with its state, reports the state on
/// the channel, and answers every notification with ENOMEDIUM until the filter's processes
/// are gone.
fn agent(path: &Path) -> mpsc::Receiver<Value> {
    let listener = UnixListener::bind(path).unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let mut buf = vec![0u8; 8192];
            let mut cmsg = nix::cmsg_space!([RawFd; 1]);
            let (state, fd) = {
                let mut iov = [IoSliceMut::new(&mut buf)];
                let Ok(msg) = recvmsg::<()>(
                    conn.as_raw_fd(),
                    &mut iov,
                    Some(&mut cmsg),
                    MsgFlags::MSG_CMSG_CLOEXEC,
                ) else {
                    continue;
                };
                let fd = msg
                    .cmsgs()
                    .ok()
                    .into_iter()
                    .flatten()
                    .find_map(|c| match c {
                        ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
                        _ => None,
                    });
                (msg.bytes, fd)
            };
            let Some(fd) = fd else { continue };
            // SAFETY: SCM_RIGHTS just gave this descriptor to this process.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            let state: Value = serde_json::from_slice(&buf[..state]).unwrap_or(Value::Null);
            if tx.send(state).is_err() {
                return;
            }
            thread::spawn(move || answer(fd));
        }
    });
    rx
}

fn answer(fd: OwnedFd) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    loop {
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, PollTimeout::NONE).is_err() {
            return;
        }
        let revents = fds[0].revents().unwrap_or(PollFlags::POLLHUP);
        if !revents.contains(PollFlags::POLLIN) {
            return; // POLLHUP: no process uses the filter any more.
        }
        let Ok(req) = libseccomp::ScmpNotifReq::receive(fd.as_raw_fd()) else {
            continue;
        };
        let resp = libseccomp::ScmpNotifResp::new_error(
            req.id,
            -AGENT_ERRNO,
            libseccomp::ScmpNotifRespFlags::empty(),
        );
        let _ = resp.respond(fd.as_raw_fd());
    }
}

fn notify_profile(listener: &Path) -> Value {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": listener,
        "listenerMetadata": "berth-test",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
    })
}

#[test]
fn exec_hands_its_filter_to_the_seccomp_agent() {
    let rt = Runtime::new("confine-agent");
    let socket: PathBuf = rt.dir.join("agent.sock");
    let states = agent(&socket);
    let limit = Duration::from_secs(10);
    for nnp in [true, false] {
        let mut b = rt.bundle(&["sleep", "1000"]);
        b.edit(|c| {
            c["process"]["noNewPrivileges"] = json!(nnp);
            c["linux"]["seccomp"] = notify_profile(&socket);
        });
        let id = rt.id(&format!("nnp-{nnp}"));
        let init = rt.run_detached(&id, &b);
        let created = states.recv_timeout(limit).expect("init's listener");
        assert_eq!(created["state"]["id"], json!(id), "{created}");
        assert_eq!(created["state"]["status"], json!("creating"), "{created}");
        assert_eq!(created["state"]["pid"], json!(init), "{created}");
        assert_eq!(created["pid"], json!(init), "{created}");
        assert_eq!(created["state"]["bundle"], json!(b.path()), "{created}");
        assert_eq!(created["metadata"], json!("berth-test"), "{created}");
        let out = rt.run(&["exec", &id, "mkdir", "/dev/shm/x"]);
        assert!(out.stderr.contains(AGENT_MESSAGE), "nnp {nnp}:\n{out}");
        let exec = states
            .recv_timeout(limit)
            .expect("the exec'd process's listener");
        assert_eq!(exec["fds"], json!(["seccompFd"]), "{exec}");
        assert_eq!(exec["metadata"], json!("berth-test"), "{exec}");
        assert_eq!(exec["state"]["id"], json!(id), "{exec}");
        assert_eq!(exec["state"]["status"], json!("running"), "{exec}");
        assert_eq!(exec["state"]["pid"], json!(init), "{exec}");
        let pid = exec["pid"].as_i64().unwrap_or(0);
        assert!(pid > 0 && pid != i64::from(init), "{exec}");
        rt.run(&["delete", "-f", &id]).ok();
    }
}

#[test]
fn an_unreachable_seccomp_agent_is_named_as_runc_names_it() {
    let rt = Runtime::new("confine-noagent");
    let socket: PathBuf = rt.dir.join("agent.sock");
    let mut b = rt.bundle(&["sleep", "1000"]);
    b.edit(|c| c["linux"]["seccomp"] = notify_profile(&socket));
    // create: refused before anything is made.
    let id = rt.id("create");
    let out = rt.run(&["run", "-d", "--bundle", b.path(), &id]);
    assert_ne!(out.code, 0, "{out}");
    assert!(
        out.stderr
            .contains("failed to connect with seccomp agent specified in the seccomp profile"),
        "{out}"
    );
    assert!(rt.root_entries().is_empty(), "{:?}", rt.root_entries());
    // exec: the agent went away after the container started.
    let states = agent(&socket);
    let id = rt.id("exec");
    rt.run_detached(&id, &b);
    states
        .recv_timeout(Duration::from_secs(10))
        .expect("init's listener");
    std::fs::remove_file(&socket).unwrap();
    let before = rt.ps(&id);
    let out = rt.run(&["exec", &id, "true"]);
    assert_ne!(out.code, 0, "{out}");
    assert!(
        out.stderr
            .contains("failed to connect with seccomp agent specified in the seccomp profile"),
        "{out}"
    );
    assert_eq!(rt.ps(&id), before, "the failed exec left a process");
}

/// Whether every cgroup controller is on cgroup v2 (cgroup2 is mounted and no v1 hierarchy
/// holds a controller): the layout where device rules are berth's program.
fn cgroup_v2_only() -> bool {
    let controllers: Vec<String> = std::fs::read_to_string("/proc/cgroups")
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut v2 = false;
    for line in mountinfo.lines() {
        let Some((_, right)) = line.split_once(" - ") else {
            continue;
        };
        match right.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["cgroup2", ..] => v2 = true,
            ["cgroup", _, opts, ..]
                if opts.split(',').any(|o| controllers.iter().any(|c| c == o)) =>
            {
                return false;
            }
            _ => {}
        }
    }
    v2
}

#[test]
fn denied_devices_cannot_be_opened_on_cgroup_v2() {
    if !cgroup_v2_only() {
        eprintln!(
            "denied_devices_cannot_be_opened_on_cgroup_v2: skipped: needs the pure cgroup v2 \
             layout (scripts/cgroup-view v2); on v1 the devices controller enforces the rules"
        );
        return;
    }
    let rt = Runtime::new("confine-devices");
    let mut b = rt.bundle(&["sleep", "1000"]);
    b.edit(|c| {
        // Deny everything, allow reading /dev/kmsg; /dev/null, listed in linux.devices, loses
        // runc's default allow rule and stays denied; /dev/zero keeps it.
        c["linux"]["resources"]["devices"] = json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "r"},
            {"allow": false, "type": "c", "major": 1, "minor": 3, "access": "rwm"}
        ]);
        c["linux"]["devices"] = json!([
            {"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11},
            {"path": "/dev/null", "type": "c", "major": 1, "minor": 3},
            {"path": "/dev/full", "type": "c", "major": 1, "minor": 7}
        ]);
        c["process"]["capabilities"]["bounding"] = json!(["CAP_SYSLOG", "CAP_MKNOD"]);
        c["process"]["capabilities"]["effective"] = json!(["CAP_SYSLOG", "CAP_MKNOD"]);
        c["process"]["capabilities"]["permitted"] = json!(["CAP_SYSLOG", "CAP_MKNOD"]);
    });
    let id = rt.id("");
    rt.run_detached(&id, &b);
    let sh = |script: &str| rt.run(&["exec", &id, "sh", "-c", script]);
    let denied = |script: &str| {
        let out = sh(script);
        assert!(
            out.code != 0 && out.stderr.contains("Operation not permitted"),
            "not denied: {script}\n{out}"
        );
    };
    denied("head -c 1 /dev/null");
    denied("echo x > /dev/null");
    denied("echo x > /dev/kmsg");
    sh("head -c 4 /dev/zero | wc -c").ok();
    // Read access to /dev/kmsg is allowed: opening it for reading works.
    sh("exec 3</dev/kmsg").ok();
    // /dev/full is listed in linux.devices too: its default rule is gone, so it is denied.
    denied("head -c 1 /dev/full");
    // mknod of any device stays allowed (runc's default), using it does not.
    sh("mknod /dev/n c 1 3").ok();
    denied("head -c 1 /dev/n");
    // update attaches the program anew (its own limits fail here without a pids controller):
    // the rules still hold.
    let _ = rt.run(&["update", "--pids-limit", "42", &id]);
    denied("head -c 1 /dev/null");
    sh("head -c 4 /dev/zero | wc -c").ok();
}
