//! Hardening: what a container's processes can reach of berth and its caller (descriptors),
//! and what berth does when its own state is overwritten or a cgroup it is given is unusable.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Seek};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::common::*;

// ---------------------------------------------------------------------------------------------
// Descriptors

/// `berth --root ROOT args...` with the test's own `files` open (not close-on-exec) at the
/// given descriptor numbers, as a careless caller would leave them.
fn run_with_fds(rt: &Runtime, args: &[&str], files: &[(i32, &File)]) -> Output {
    let mut command = Command::new(berth_bin());
    command.arg("--root").arg(&rt.root);
    if systemd_driver() {
        command.arg("--systemd-cgroup");
    }
    command.args(args);
    let mut stdout = tempfile::tempfile().unwrap();
    let mut stderr = tempfile::tempfile().unwrap();
    command
        .stdin(Stdio::null())
        .stdout(stdout.try_clone().unwrap())
        .stderr(stderr.try_clone().unwrap())
        .envs(rt.env.iter().map(|(k, v)| (k, v)));
    let raw: Vec<(i32, i32)> = files.iter().map(|(n, f)| (*n, f.as_raw_fd())).collect();
    // SAFETY: between fork and exec the closure makes only dup2/fcntl system calls.
    unsafe {
        command.pre_exec(move || {
            for &(target, source) in &raw {
                if libc::dup2(source, target) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // dup2 onto itself keeps the flags: clear close-on-exec explicitly.
                libc::fcntl(target, libc::F_SETFD, 0);
            }
            Ok(())
        });
    }
    let started = Instant::now();
    let status = command.status().expect("run berth");
    let read = |f: &mut File| {
        let mut s = String::new();
        f.rewind().unwrap();
        f.read_to_string(&mut s).unwrap();
        s
    };
    Output {
        cmd: format!("berth {}", args.join(" ")),
        code: status.code().unwrap_or(128),
        stdout: read(&mut stdout),
        stderr: read(&mut stderr),
        elapsed: started.elapsed(),
    }
}

/// A process's descriptors: number → what /proc/PID/fd/N links to.
fn fds_of(pid: i32) -> BTreeMap<i32, String> {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/fd: {e}"))
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_str()?.parse().ok()?;
            let target = fs::read_link(e.path()).ok()?;
            Some((n, target.display().to_string()))
        })
        .collect()
}

/// The test's marker files, one per descriptor a caller leaves open.
struct Markers {
    files: Vec<(i32, File)>,
    paths: Vec<String>,
}

impl Markers {
    fn new(rt: &Runtime, numbers: &[i32]) -> Markers {
        let mut files = Vec::new();
        let mut paths = Vec::new();
        for n in numbers {
            let path = rt.dir.join(format!("caller-fd-{n}"));
            files.push((*n, File::create(&path).unwrap()));
            paths.push(path.display().to_string());
        }
        Markers { files, paths }
    }

    fn as_args(&self) -> Vec<(i32, &File)> {
        self.files.iter().map(|(n, f)| (*n, f)).collect()
    }

    fn path(&self, n: i32) -> &str {
        let i = self.files.iter().position(|(m, _)| *m == n).unwrap();
        &self.paths[i]
    }
}

/// What berth itself must never hand a container: its --root (state, lock files), its log,
/// and the caller's files other than those preserved.
fn assert_no_foreign(
    what: &str,
    fds: &BTreeMap<i32, String>,
    rt: &Runtime,
    markers: &Markers,
    preserved: usize,
) {
    let root = rt.root.display().to_string();
    for (n, target) in fds {
        let preserved_fd = *n >= 3 && (*n as usize) < 3 + preserved;
        assert!(
            !target.starts_with(&root),
            "{what}: fd {n} -> {target} is berth's state\n{fds:?}"
        );
        assert!(
            !target.contains("berth.log"),
            "{what}: fd {n} -> {target} is berth's log\n{fds:?}"
        );
        if !preserved_fd {
            assert!(
                !markers.paths.contains(target),
                "{what}: fd {n} -> {target} is the caller's and not preserved\n{fds:?}"
            );
        }
    }
}

/// A created container's init (berth's fork, waiting for `start`) holds stdio, the preserved
/// descriptors and libcontainer's own (its channels and notify socket, its handle on the
/// container's root), nothing of berth's or the caller's; after `start` and `exec -d`, the
/// container's processes hold exactly stdio and the preserved ones.
fn descriptors(preserve: usize) {
    let rt = Runtime::new(&format!("hard-fds{preserve}"));
    let markers = Markers::new(&rt, &[3, 4, 7]);
    let log = rt.dir.join("berth.log");
    let id = rt.id("");
    let b = rt.bundle(&["sleep", "1000"]);
    let preserve_arg = preserve.to_string();
    let log_arg = log.display().to_string();
    run_with_fds(
        &rt,
        &[
            "--log",
            &log_arg,
            "--debug",
            "create",
            "--preserve-fds",
            &preserve_arg,
            "--bundle",
            b.path(),
            &id,
        ],
        &markers.as_args(),
    )
    .ok();
    let init = rt.pid(&id);
    let created = fds_of(init);
    assert_no_foreign("created init", &created, &rt, &markers, preserve);
    for n in 0..3 {
        assert!(
            created.contains_key(&n),
            "created init lacks fd {n}: {created:?}"
        );
    }
    for n in 3..3 + preserve as i32 {
        assert_eq!(
            created.get(&n).map(String::as_str),
            Some(markers.path(n)),
            "created init: preserved fd {n}\n{created:?}"
        );
    }
    for (n, target) in &created {
        let libcontainers = target.starts_with("socket:") || target == "/";
        assert!(
            *n < 3 + preserve as i32 || libcontainers,
            "created init: unexpected fd {n} -> {target}\n{created:?}"
        );
    }

    rt.run(&["start", &id]).ok();
    // `start` returns once init may run; init closes libcontainer's descriptors and execs
    // right after. Readiness: init runs the container's program.
    rt.wait_for_pids(&id, 1);
    let expected: Vec<i32> = (0..3 + preserve as i32).collect();
    let running = fds_of(init);
    assert_eq!(
        running.keys().copied().collect::<Vec<_>>(),
        expected,
        "init after start: {running:?}"
    );
    assert_no_foreign("init after start", &running, &rt, &markers, preserve);

    let pid_file = rt.dir.join("exec.pid");
    run_with_fds(
        &rt,
        &[
            "--log",
            &log_arg,
            "exec",
            "-d",
            "--preserve-fds",
            &preserve_arg,
            "--pid-file",
            pid_file.to_str().unwrap(),
            &id,
            "sleep",
            "1000",
        ],
        &markers.as_args(),
    )
    .ok();
    let exec_pid: i32 = fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    rt.wait_for_pids(&id, 2);
    let execd = fds_of(exec_pid);
    assert_eq!(
        execd.keys().copied().collect::<Vec<_>>(),
        expected,
        "exec'd process: {execd:?}"
    );
    assert_no_foreign("exec'd process", &execd, &rt, &markers, preserve);
    rt.run(&["delete", "-f", &id]).ok();
}

#[test]
fn descriptors_not_preserved() {
    descriptors(0);
}

#[test]
fn descriptors_preserve_one() {
    descriptors(1);
}

// ---------------------------------------------------------------------------------------------
// Unreadable state

/// Overwrites every JSON file of the container's state directory (libcontainer's state.json
/// and youki_config.json, berth's berth.json).
fn overwrite_state(rt: &Runtime, id: &str) {
    let mut n = 0;
    for e in fs::read_dir(rt.state_dir(id)).unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "json") {
            fs::write(e.path(), "garbage").unwrap();
            n += 1;
        }
    }
    assert!(
        n >= 3,
        "only {n} JSON files in {}",
        rt.state_dir(id).display()
    );
}

/// With every state file overwritten, `kill KILL` and `delete -f` still find the container's
/// processes, through a cgroup named after it (a `cgroupsPath` of the caller's, as containerd
/// and docker give one, and libcontainer's default), kill them and succeed.
fn unreadable_state(host_pidns: bool, custom_path: bool) {
    let name = format!(
        "hard-state-{}-{}",
        if host_pidns { "host" } else { "priv" },
        if custom_path { "path" } else { "default" }
    );
    let rt = Runtime::new(&name);
    for command in ["kill", "delete"] {
        let id = rt.id(command);
        let mut b = rt.bundle(&strs(&sleepers(3)));
        if host_pidns {
            b.host_pidns();
        }
        if custom_path && !systemd_driver() {
            let path = format!("/berth-it-parent/{id}");
            b.edit(|c| c["linux"]["cgroupsPath"] = serde_json::json!(path));
        }
        rt.create_start(&id, &b);
        let snaps = snapshot(rt.wait_for_pids(&id, 4));
        overwrite_state(&rt, &id);
        if command == "kill" {
            rt.run(&["kill", &id, "KILL"]).ok();
            assert_all_gone(&snaps, "kill KILL with unreadable state");
            assert!(rt.state_dir(&id).exists(), "kill removed the state");
        }
        rt.run(&["delete", "-f", &id]).ok();
        assert_nothing_left(&id, &snaps, "delete -f with unreadable state");
        assert!(!rt.state_dir(&id).exists(), "delete -f kept the state");
    }
    if custom_path {
        let _ = fs::remove_dir_all("/sys/fs/cgroup/unified/berth-it-parent");
        for dir in cgroup_dirs_with("berth-it-parent") {
            let _ = fs::remove_dir(dir);
        }
    }
}

#[test]
fn unreadable_state_private_pidns() {
    unreadable_state(false, false);
    unreadable_state(false, true);
}

#[test]
fn unreadable_state_host_pidns() {
    unreadable_state(true, false);
    unreadable_state(true, true);
}

/// When neither the state nor a cgroup named after the container tells where its processes
/// are, `delete -f` fails, says what it could not read, and keeps the state.
#[test]
fn unreadable_state_and_no_cgroup_is_kept() {
    let rt = Runtime::new("hard-state-lost");
    let id = rt.id("");
    let mut b = rt.bundle(&["sleep", "1000"]);
    // A cgroup whose name does not tell whose it is.
    let cgroup = format!("berth-it-unnamed-{:07}", std::process::id());
    if !systemd_driver() {
        b.edit(|c| c["linux"]["cgroupsPath"] = serde_json::json!(format!("/{cgroup}")));
    }
    rt.create_start(&id, &b);
    let snaps = snapshot([rt.pid(&id)]);
    overwrite_state(&rt, &id);
    let out = rt.run(&["delete", "-f", &id]);
    let kept = rt.state_dir(&id).exists();
    let alive_after = alive(&snaps).len();
    // Clean up before asserting: the test's own container, by its cgroup's name.
    reap_leftovers(&cgroup);
    let _ = fs::remove_dir_all(rt.state_dir(&id));
    if systemd_driver() {
        return; // the scope is named after the container: delete -f finds it.
    }
    out.fails_with(1);
    assert_eq!(out.stderr_lines().len(), 1, "{out}");
    assert!(
        out.stderr.contains("berth.json") && out.stderr.contains("no cgroup named after"),
        "{out}"
    );
    assert!(kept, "the state was removed");
    assert_eq!(alive_after, 1, "init died");
}

// ---------------------------------------------------------------------------------------------
// A cgroup that is already in use

/// `run -d` into an existing cgroup is refused up front, as runc refuses it: a frozen one
/// (init would wait, frozen, forever) and one with processes in it (someone else's). The
/// cgroup is another container's, paused and then running; it is left as it was.
#[test]
fn existing_cgroup_frozen_or_not_empty() {
    if systemd_driver() {
        return; // a scope unit is the container's own: systemd refuses a second one itself.
    }
    let rt = Runtime::new("hard-cgroup");
    let owner = rt.id("owner");
    let path = format!("/{owner}");
    let mut b = rt.bundle(&["sleep", "1000"]);
    b.edit(|c| c["linux"]["cgroupsPath"] = serde_json::json!(path));
    rt.run_detached(&owner, &b);
    let snaps = snapshot(rt.wait_for_pids(&owner, 1));
    let intruder = rt.id("intruder");
    for (state, phrase) in [
        ("paused", "container's cgroup unexpectedly frozen"),
        ("running", "container's cgroup is not empty"),
    ] {
        let verb = if state == "paused" { "pause" } else { "resume" };
        rt.run(&[verb, &owner]).ok();
        let out = rt.run(&["run", "-d", "--bundle", b.path(), &intruder]);
        out.fails_with(1);
        assert_eq!(out.stderr_lines().len(), 1, "{out}");
        assert!(out.stderr.contains(phrase), "{state}: {out}");
        assert!(!rt.state_dir(&intruder).exists(), "{state}: state left");
        assert_eq!(rt.status(&owner), state, "the owner was changed");
        assert!(
            alive(&snaps).len() == snaps.len(),
            "{state}: the owner's processes died"
        );
    }
    rt.run(&["delete", "-f", &owner]).ok();
    assert_nothing_left(&owner, &snaps, "delete -f of the owner");
}

// ---------------------------------------------------------------------------------------------
// Configs berth refuses before libcontainer sees them

/// A change to a config.json.
type Edit = Box<dyn Fn(&mut serde_json::Value)>;

/// Each config is refused by `create`: exit status 1, one line naming the field, no panic,
/// nothing left behind (no state, no cgroup, no process).
#[test]
fn invalid_configs_are_refused() {
    use serde_json::json;
    let rt = Runtime::new("hard-invalid");
    let cases: Vec<(&str, Edit)> = vec![
        (
            "process.args",
            Box::new(|c| c["process"]["args"] = json!([])),
        ),
        (
            "process.args[0]",
            Box::new(|c| c["process"]["args"] = json!([""])),
        ),
        (
            "process.env[0]",
            Box::new(|c| c["process"]["env"] = json!([""])),
        ),
        (
            "process.env[0]",
            Box::new(|c| c["process"]["env"] = json!(["=x"])),
        ),
        (
            "process.env[0]",
            Box::new(|c| c["process"]["env"] = json!(["A=b\u{0}c"])),
        ),
        (
            "process.env[0]",
            Box::new(|c| c["process"]["env"] = json!(["NOEQUALS"])),
        ),
        (
            "process.cwd",
            Box::new(|c| c["process"]["cwd"] = json!("relative")),
        ),
        (
            "process.oomScoreAdj",
            Box::new(|c| c["process"]["oomScoreAdj"] = json!(1001)),
        ),
        (
            "process.rlimits",
            Box::new(|c| {
                let r = json!({"type": "RLIMIT_NOFILE", "hard": 10, "soft": 10});
                c["process"]["rlimits"] = json!([r, r]);
            }),
        ),
        (
            "root.path",
            Box::new(|c| c["root"]["path"] = json!("/nonexistent/rootfs")),
        ),
        (
            "linux.namespaces",
            Box::new(|c| {
                c["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"type": "pid"}))
            }),
        ),
        (
            "linux.namespaces",
            Box::new(|c| {
                c["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|n| n["type"] != "mount")
            }),
        ),
        (
            "linux.namespaces",
            Box::new(|c| {
                c["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"type": "user", "path": "relative/ns"}))
            }),
        ),
        (
            "hostname",
            Box::new(|c| {
                c["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|n| n["type"] != "uts")
            }),
        ),
        (
            "linux.uidMappings",
            Box::new(|c| {
                c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 1000, "size": 1}])
            }),
        ),
        (
            "linux.sysctl",
            Box::new(|c| c["linux"]["sysctl"] = json!({"kernel.panic": "1"})),
        ),
        (
            "linux.sysctl",
            Box::new(|c| c["linux"]["sysctl"] = json!({"net/../x": "1"})),
        ),
        (
            "linux.sysctl",
            Box::new(|c| {
                c["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|n| n["type"] != "network");
                c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
            }),
        ),
        (
            "linux.maskedPaths",
            Box::new(|c| c["linux"]["maskedPaths"] = json!(["proc/kcore"])),
        ),
        (
            "mounts[1].destination",
            Box::new(|c| c["mounts"][1]["destination"] = json!("dev")),
        ),
        (
            "mounts[1].destination",
            Box::new(|c| c["mounts"][1]["destination"] = json!("/dev/../../x")),
        ),
        (
            "mounts: a mount at /proc",
            Box::new(|c| {
                c["mounts"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|m| m["destination"] != "/proc")
            }),
        ),
        (
            "hooks.createRuntime[0].path",
            Box::new(|c| c["hooks"] = json!({"createRuntime": [{"path": "true"}]})),
        ),
        ("ociVersion", Box::new(|c| c["ociVersion"] = json!("2.0.0"))),
    ];
    let prefix = prefix_of(&rt);
    let before = Leaks::take(&rt, &prefix);
    let mut failures = Vec::new();
    for (i, (field, edit)) in cases.iter().enumerate() {
        let id = rt.id(&i.to_string());
        let mut b = rt.bundle(&["sleep", "1000"]);
        b.edit(|c| edit(c));
        let out = rt.run(&["create", "--bundle", b.path(), &id]);
        let one_line = out.stderr_lines().len() == 1;
        if out.code != 1
            || !one_line
            || !out.stderr.contains(field)
            || out.stderr.contains("panicked")
        {
            failures.push(format!("case {i} ({field}):\n{out}"));
        }
        if rt.state_dir(&id).exists() {
            failures.push(format!("case {i} ({field}): state directory left"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert_no_leaks(&rt, &prefix, &before, "refused configs");
}

/// A read-only rootfs without a mount at /dev: libcontainer makes /dev's nodes and links in the
/// rootfs itself, and used to fail the second `run` of the same bundle ("failed to prepare
/// rootfs") on what the first had left. runc runs it every time; so does berth.
#[test]
fn readonly_rootfs_without_dev_mount_runs_twice() {
    // Inside the systemd host the test's scratch directory is on systemd's /tmp, a tmpfs mounted
    // nodev: device nodes made in a rootfs there cannot be opened ("failed to reopen
    // /dev/null"), whatever the runtime.
    if systemd_driver() {
        return;
    }
    let rt = Runtime::new("ro-nodev");
    // A private rootfs: this test writes /dev into it.
    let own = rt.dir.join("own-rootfs");
    for sub in ["bin", "dev", "proc", "sys"] {
        fs::create_dir_all(own.join(sub)).unwrap();
    }
    fs::copy(rootfs().join("bin/busybox"), own.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", own.join("bin/sh")).unwrap();
    let mut b = rt.bundle(&[
        "sh",
        "-c",
        "test -c /dev/null && test -L /dev/fd && echo ok",
    ]);
    b.edit(|c| {
        c["root"] = serde_json::json!({"path": own, "readonly": true});
        let mounts = c["mounts"].as_array().unwrap().clone();
        c["mounts"] = mounts
            .into_iter()
            .filter(|m| !m["destination"].as_str().unwrap().starts_with("/dev"))
            .collect();
    });
    for round in ["first", "second"] {
        let id = rt.id(round);
        let out = rt.run(&["run", "--bundle", b.path(), &id]);
        assert!(out.success() && out.stdout == "ok\n", "{round} run:\n{out}");
    }
}
