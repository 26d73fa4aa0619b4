//! What runc's own integration suite checks and berth once did differently: exec into a paused
//! container while it is resumed, exec into a created container, exec's sub-cgroups, the
//! terminal's owner and size, seccomp profiles as runc reads them, and the container's lock,
//! which never makes a command wait forever.

use std::fs::{self, OpenOptions};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use serde_json::json;

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

/// The exec'd process's pid, through `--pid-file`.
fn exec_detached(rt: &Runtime, id: &str, extra: &[&str]) -> i32 {
    let pid_file = rt.dir.join(format!("exec-{}.pid", extra.join("-")));
    let pid_file = pid_file.to_str().unwrap();
    let mut args = vec!["exec", "-d", "--pid-file", pid_file];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[id, "sleep", "1000"]);
    rt.run(&args).ok();
    fs::read_to_string(pid_file).unwrap().parse().unwrap()
}

/// In every cgroup hierarchy mounted here (the hybrid layout's cgroup2 hierarchy and
/// `name=systemd` included, which libcontainer leaves alone), init and exec'd processes are in
/// the container's cgroup.
#[test]
fn every_hierarchy_holds_init_and_exec() {
    if systemd_driver() {
        return;
    }
    let rt = Runtime::new("join-all");
    let id = rt.id("");
    let mut b = rt.bundle(&["sleep", "1000"]);
    b.edit(|c| c["linux"]["cgroupsPath"] = json!(format!("/{id}")));
    let init = rt.create_start(&id, &b);
    let exec = exec_detached(&rt, &id, &[]);
    for (what, pid) in [("init", init), ("exec", exec)] {
        let dirs = cgroup_dirs_of(pid);
        assert!(!dirs.is_empty(), "{what}: no cgroup directories");
        for d in dirs {
            assert!(d.ends_with(&id), "{what} ({pid}) is in {}", d.display());
        }
    }
}

/// `exec --cgroup SUB` joins the sub-cgroup in every hierarchy; one that does not exist, or a
/// path above the container's cgroup, is an error (runc never creates exec's cgroups).
#[test]
fn exec_sub_cgroups() {
    if systemd_driver() {
        return;
    }
    let rt = Runtime::new("exec-subcg");
    let id = rt.id("");
    let mut b = rt.bundle(&["sleep", "1000"]);
    b.edit(|c| c["linux"]["cgroupsPath"] = json!(format!("/{id}")));
    let init = rt.create_start(&id, &b);

    let out = rt.run(&["exec", "--cgroup", "nonexistent", &id, "true"]);
    out.fails_with(255);
    assert!(
        out.stderr
            .contains("/nonexistent/cgroup.procs: no such file or directory"),
        "{out}"
    );
    let out = rt.run(&["exec", "--cgroup", "..", &id, "true"]);
    out.fails_with(255);
    assert!(out.stderr.contains(".. is not a sub cgroup path"), "{out}");
    assert!(!cgroup_dirs_with(&id)
        .iter()
        .any(|d| d.ends_with("nonexistent")));

    for d in cgroup_dirs_of(init) {
        fs::create_dir(d.join("sub")).unwrap();
    }
    let exec = exec_detached(&rt, &id, &["--cgroup", "sub"]);
    let dirs = cgroup_dirs_of(exec);
    assert!(!dirs.is_empty());
    for d in dirs {
        assert!(
            d.ends_with(format!("{id}/sub")),
            "exec ({exec}) is in {}",
            d.display()
        );
    }
}

/// runc lets a process be exec'd into a created container (its init waits for `start`);
/// the container stays created, and starts as usual afterwards.
#[test]
fn exec_into_created_container() {
    let rt = Runtime::new("exec-created");
    let id = rt.id("");
    let b = rt.bundle(&["sleep", "1000"]);
    rt.adopt(&id);
    rt.run(&["create", "--bundle", b.path(), &id]).ok();
    let out = rt.run(&["exec", &id, "echo", "hello"]);
    out.ok();
    assert_eq!(out.stdout, "hello\n", "{out}");
    assert_eq!(rt.status(&id), "created");
    rt.run(&["start", &id]).ok();
    assert_eq!(rt.status(&id), "running");
    assert_eq!(
        rt.state(&id)["bundle"].as_str(),
        Some(b.path()),
        "state names the caller's bundle"
    );
}

/// A config without `cgroupsPath` gets runc's default, a cgroup named after the container at
/// the top of each hierarchy (runc's tests look for it by that name).
#[test]
fn default_cgroup_is_named_after_the_container() {
    if systemd_driver() {
        return;
    }
    let rt = Runtime::new("default-cg");
    let id = rt.id("");
    let b = rt.bundle(&["sleep", "1000"]);
    let init = rt.create_start(&id, &b);
    let dirs = cgroup_dirs_of(init);
    assert!(!dirs.is_empty());
    for d in &dirs {
        assert_eq!(
            d.file_name().and_then(|n| n.to_str()),
            Some(id.as_str()),
            "init is in {}",
            d.display()
        );
    }
    rt.run(&["delete", "-f", &id]).ok();
    assert_eq!(cgroup_dirs_with(&id), Vec::<std::path::PathBuf>::new());
}

/// createContainer hooks run in the container's rootfs (runc's tests use paths relative to it).
#[test]
fn create_container_hook_runs_in_the_rootfs() {
    let rt = Runtime::new("hook-cwd");
    let id = rt.id("");
    let mut b = rt.bundle(&["true"]);
    let out_file = b.dir.join("hook-cwd");
    let script = format!("pwd > {}", out_file.display());
    b.edit(|c| {
        c["hooks"] = json!({
            "createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", script]}]
        })
    });
    rt.adopt(&id);
    rt.run(&["run", "--bundle", b.path(), &id]).ok();
    let cwd = fs::read_to_string(&out_file).expect("the hook ran");
    assert_eq!(
        cwd.trim_end(),
        fs::canonicalize(rootfs()).unwrap().to_str().unwrap()
    );
}

/// A bind mount's relative source is relative to the bundle (runc's reading), whatever
/// directory berth is run from.
#[test]
fn relative_bind_source_is_in_the_bundle() {
    let rt = Runtime::new("rel-bind");
    let id = rt.id("");
    let mut b = rt.bundle(&["cat", "/mnt/file"]);
    fs::create_dir(b.dir.join("data")).unwrap();
    fs::write(b.dir.join("data/file"), "from the bundle\n").unwrap();
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/mnt", "type": "bind", "source": "data", "options": ["rbind", "ro"]
        }))
    });
    rt.adopt(&id);
    let out = rt.run(&["run", "--bundle", b.path(), &id]);
    out.ok();
    assert_eq!(out.stdout, "from the bundle\n", "{out}");
}

/// A console socket as containerd serves one: receives the pty master and reads what the
/// container's process writes to its terminal until the process is gone.
struct ConsoleReceiver {
    path: std::path::PathBuf,
    output: std::sync::mpsc::Receiver<String>,
}

impl ConsoleReceiver {
    fn listen(dir: &std::path::Path) -> ConsoleReceiver {
        use std::io::Read;
        use std::os::fd::{FromRawFd, OwnedFd, RawFd};
        let path = dir.join("console.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let (tx, output) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut buf = [0u8; 256];
            let mut iov = [std::io::IoSliceMut::new(&mut buf)];
            let mut space = nix::cmsg_space!([RawFd; 1]);
            let msg = nix::sys::socket::recvmsg::<()>(
                stream.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                nix::sys::socket::MsgFlags::empty(),
            )
            .unwrap();
            let fd = msg
                .cmsgs()
                .unwrap()
                .find_map(|c| match c {
                    nix::sys::socket::ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
                    _ => None,
                })
                .expect("a descriptor");
            // SAFETY: the kernel installed it for us.
            let mut master = fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
            let mut out = Vec::new();
            let mut chunk = [0u8; 4096];
            // The master reads EIO once the last process holding the terminal has exited.
            while let Ok(n) = master.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&chunk[..n]);
            }
            let _ = tx.send(String::from_utf8_lossy(&out).into_owned());
        });
        ConsoleReceiver { path, output }
    }

    fn path(&self) -> &str {
        self.path.to_str().unwrap()
    }

    /// Everything the process wrote, once it has exited (10 s at most).
    #[track_caller]
    fn output(&self) -> String {
        self.output
            .recv_timeout(Duration::from_secs(10))
            .expect("the terminal was not received, or its process did not exit")
    }
}

/// What runc's init does to a terminal and libcontainer's does not: the terminal belongs to
/// the process's user (its group stays devpts' `gid=5`), and has the process's
/// `consoleSize`, before the process runs.
const TTY_REPORT: &str = "stat -c %u:%g $(tty); stty size";

#[track_caller]
fn assert_tty_report(output: &str) {
    let lines: Vec<&str> = output.lines().map(str::trim).collect();
    assert_eq!(lines, ["1000:5", "10 110"], "terminal: {output:?}");
}

/// `run -d --console-socket`: init's terminal, passed on to the caller's socket.
#[test]
fn init_terminal_owner_and_size() {
    let rt = Runtime::new("tty-init");
    let id = rt.id("");
    let mut b = rt.bundle(&["sh", "-c", TTY_REPORT]);
    b.edit(|c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["user"] = json!({"uid": 1000, "gid": 100});
        c["process"]["consoleSize"] = json!({"height": 10, "width": 110});
    });
    let console = ConsoleReceiver::listen(&rt.dir);
    rt.adopt(&id);
    rt.run(&[
        "run",
        "-d",
        "--console-socket",
        console.path(),
        "--bundle",
        b.path(),
        &id,
    ])
    .ok();
    assert_tty_report(&console.output());
}

/// `exec -d -t --console-socket` with a process file: the exec'd process is held back until
/// its terminal is set up.
#[test]
fn exec_terminal_owner_and_size() {
    let rt = Runtime::new("tty-exec");
    let id = rt.id("");
    let b = rt.bundle(&["sleep", "1000"]);
    rt.create_start(&id, &b);
    let process = rt.dir.join("process.json");
    fs::write(
        &process,
        json!({
            "terminal": true,
            "user": {"uid": 1000, "gid": 100},
            "consoleSize": {"height": 10, "width": 110},
            "args": ["sh", "-c", TTY_REPORT],
            "env": ["PATH=/bin"],
            "cwd": "/"
        })
        .to_string(),
    )
    .unwrap();
    let console = ConsoleReceiver::listen(&rt.dir);
    rt.run(&[
        "exec",
        "-d",
        "-t",
        "--console-socket",
        console.path(),
        "-p",
        process.to_str().unwrap(),
        &id,
    ])
    .ok();
    assert_tty_report(&console.output());
}

/// A foreground `exec -t` (berth's own console socket): the terminal is the user's too.
#[test]
fn foreground_exec_terminal_owner() {
    let rt = Runtime::new("tty-fg");
    let id = rt.id("");
    let b = rt.bundle(&["sleep", "1000"]);
    rt.create_start(&id, &b);
    let out = rt.run(&[
        "exec",
        "-t",
        "-u",
        "1000:100",
        &id,
        "sh",
        "-c",
        "stat -c %u:%g $(tty)",
    ]);
    out.ok();
    assert_eq!(out.stdout.trim(), "1000:5", "{out}");
}

/// A seccomp profile with `noNewPrivileges: false`: the filter is loaded while init still has
/// its capabilities (the kernel refuses it afterwards), and a denied syscall fails with the
/// rule's errno.
#[test]
fn seccomp_without_no_new_privileges() {
    let rt = Runtime::new("seccomp-nnp");
    let id = rt.id("");
    let mut b = rt.bundle(&["sh", "-c", "mkdir /dev/shm/foo"]);
    b.edit(|c| {
        c["process"]["noNewPrivileges"] = json!(false);
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 100}]
        });
    });
    rt.adopt(&id);
    let out = rt.run(&["run", "--bundle", b.path(), &id]);
    assert_ne!(out.code, 0, "{out}");
    assert!(out.stderr.contains("Network is down"), "{out}");
}

/// `SCMP_CMP_MASKED_EQ` as runc reads it: `value` is the mask, `valueTwo` the value. The rule
/// denies umask(2) when `mask & 077 == 007`: `umask 077` goes through, `umask 007` does not
/// (the umask a child process inherits shows which).
#[test]
fn seccomp_masked_eq() {
    let rt = Runtime::new("seccomp-masked");
    for (mask, expected) in [("077", "0077"), ("007", "0022")] {
        let id = rt.id(mask);
        let script = format!("umask 022; umask {mask}; grep Umask /proc/self/status");
        let mut b = rt.bundle(&["sh", "-c", &script]);
        b.edit(|c| {
            c["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{
                    "names": ["umask"],
                    "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 0, "value": 0o077, "valueTwo": 0o007, "op": "SCMP_CMP_MASKED_EQ"}]
                }]
            });
        });
        rt.adopt(&id);
        let out = rt.run(&["run", "--bundle", b.path(), &id]);
        out.ok();
        assert_eq!(
            out.stdout.split_whitespace().last(),
            Some(expected),
            "umask {mask}: {out}"
        );
    }
}

/// proc is never mounted through a symlink in the rootfs: refused up front with runc's phrase.
#[test]
fn proc_through_a_symlink_is_refused() {
    let rt = Runtime::new("proc-symlink");
    let id = rt.id("");
    let mut b = rt.bundle(&["true"]);
    let rootfs = b.dir.join("own-rootfs");
    fs::create_dir(&rootfs).unwrap();
    std::os::unix::fs::symlink("/symlink", rootfs.join("proc")).unwrap();
    let root = rootfs.to_str().unwrap().to_string();
    b.edit(|c| c["root"]["path"] = json!(root));
    let out = rt.run(&["run", "-d", "--bundle", b.path(), &id]);
    out.fails_with(1);
    assert_eq!(out.stderr_lines().len(), 1, "{out}");
    assert!(
        out.stderr.contains("must be mounted on ordinary directory"),
        "{out}"
    );
    assert!(rt.root_entries().is_empty(), "{:?}", rt.root_entries());
}

/// A container with a user namespace of its own bind-mounts sources that its root could not
/// reach (below directories only the host's root may enter), as runc does.
#[test]
fn userns_bind_sources_below_closed_directories() {
    use std::os::unix::fs::PermissionsExt;
    let rt = Runtime::new("userns-binds");
    let id = rt.id("");
    let mut b = rt.bundle(&["sh", "-c", "cat /mnt/foo /tmp/foo"]);
    let mut mounts = Vec::new();
    for (n, dest) in [(1, "/mnt"), (2, "/tmp")] {
        let closed = rt.dir.join(format!("closed-{n}"));
        fs::create_dir_all(closed.join("dir")).unwrap();
        fs::write(closed.join("dir/foo"), format!("{n}\n")).unwrap();
        fs::set_permissions(&closed, fs::Permissions::from_mode(0o700)).unwrap();
        mounts.push(json!({
            "source": closed.join("dir"), "destination": dest, "options": ["bind"]
        }));
    }
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().extend(mounts);
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"hostID": 100000, "containerID": 0, "size": 65534}]);
        c["linux"]["gidMappings"] = json!([{"hostID": 100000, "containerID": 0, "size": 65534}]);
    });
    rt.adopt(&id);
    let before = berth_shm_dirs();
    let out = rt.run(&["run", "--bundle", b.path(), &id]);
    out.ok();
    assert_eq!(out.stdout, "1\n2\n", "{out}");
    let after = berth_shm_dirs();
    assert!(
        after.is_subset(&before),
        "berth left {:?} in /dev/shm",
        after.difference(&before).collect::<Vec<_>>()
    );
}

fn berth_shm_dirs() -> std::collections::BTreeSet<String> {
    fs::read_dir("/dev/shm")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("berth-"))
                .collect()
        })
        .unwrap_or_default()
}

/// Mounts the config asks to be read-only are read-only when the process runs: /dev (which
/// libcontainer fills, then leaves writable) and every cgroup mount (libcontainer mounts the
/// cgroup v1 hierarchies writable).
#[test]
fn read_only_dev_and_cgroup_mounts() {
    let rt = Runtime::new("ro-mounts");
    let id = rt.id("");
    let mut b = rt.bundle(&["sh", "-c", "grep -E ' /dev | /sys/fs/cgroup' /proc/mounts"]);
    b.edit(|c| {
        for m in c["mounts"].as_array_mut().unwrap() {
            if m["destination"] == "/dev" {
                m["options"].as_array_mut().unwrap().push(json!("ro"));
            }
            if m["destination"] == "/sys/fs/cgroup" {
                assert!(m["options"].as_array().unwrap().contains(&json!("ro")));
            }
        }
    });
    rt.adopt(&id);
    let out = rt.run(&["run", "--bundle", b.path(), &id]);
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines.iter().any(|l| l.split(' ').nth(1) == Some("/dev")),
        "{out}"
    );
    assert!(lines.iter().any(|l| l.contains("/sys/fs/cgroup")), "{out}");
    for line in lines {
        let options = line.split(' ').nth(3).unwrap_or_default();
        assert!(
            options.split(',').any(|o| o == "ro"),
            "writable: {line}\n{out}"
        );
    }
}
