//! Security checks: ids never reach outside `--root`, a pid file planted as a symlink is
//! replaced rather than followed, and a container cannot open berth's binary through
//! /proc/PID/exe of a berth process (the CVE-2019-5736 class).

use std::ffi::CString;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

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

/// A copy of berth's binary in the test's scratch directory: what the O_PATH tests try to
/// write is the copy, never the binary every other test runs.
fn berth_copy(rt: &Runtime) -> PathBuf {
    let copy = rt.dir.join("berth-copy");
    fs::copy(berth_bin(), &copy).unwrap();
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).unwrap();
    copy
}

/// `open(/proc/PID/exe, O_PATH)`: what a container process that can see PID holds on to.
fn hold_exe(pid: i32) -> i32 {
    let path = CString::new(format!("/proc/{pid}/exe")).unwrap();
    // SAFETY: open(2) of a NUL-terminated path; the descriptor is closed by the caller.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    assert!(
        fd >= 0,
        "open /proc/{pid}/exe: {}",
        std::io::Error::last_os_error()
    );
    fd
}

/// Reopens a held descriptor for writing through /proc/self/fd (CVE-2019-5736's second step):
/// `Ok` if the kernel let it (the descriptor is closed again at once).
fn reopen_for_writing(fd: i32) -> std::io::Result<()> {
    let path = CString::new(format!("/proc/self/fd/{fd}")).unwrap();
    // SAFETY: as above.
    let w = unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if w < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: our own descriptor.
    unsafe { libc::close(w) };
    Ok(())
}

/// The held descriptor is berth's binary (the copy): same inode.
fn holds(fd: i32, binary: &Path) -> bool {
    let held = fs::metadata(format!("/proc/self/fd/{fd}")).unwrap();
    let bin = fs::metadata(binary).unwrap();
    (held.dev(), held.ino()) == (bin.dev(), bin.ino())
}

/// The O_PATH move against a created container's init (libcontainer's fork of berth, waiting
/// for `start`): hold /proc/INIT/exe, `start` (berth exits, init execs the container's
/// program), reopen the held descriptor for writing. berth runs every process it forks into a
/// container from a read-only view of its binary, so the reopen fails and the binary is
/// unchanged. Without that view the reopen succeeds (runc < 1.1.12 and berth before it).
#[test]
fn created_init_exe_cannot_be_reopened_for_writing() {
    let rt = Runtime::new("sec-opath");
    let copy = berth_copy(&rt);
    let before = fs::read(&copy).unwrap();
    let id = rt.id("");
    let b = rt.bundle(&["sleep", "1000"]);
    rt.run_bin(&copy, &["create", "--bundle", b.path(), &id])
        .ok();
    let init = rt.pid(&id);
    let fd = hold_exe(init);
    assert!(holds(fd, &copy), "/proc/{init}/exe is not berth's binary");
    rt.run_bin(&copy, &["start", &id]).ok();
    let reopened = reopen_for_writing(fd);
    // SAFETY: our own descriptor.
    unsafe { libc::close(fd) };
    assert!(
        reopened.is_err(),
        "berth's binary, held through /proc/{init}/exe of a created container, reopened for writing"
    );
    rt.run(&["delete", "-f", &id]).ok();
    assert!(fs::read(&copy).unwrap() == before, "berth's binary changed");
}

/// The same move against the berth processes of a foreground `run` and `exec` (the processes
/// libcontainer forks from them into the container run from the same view): hold their
/// /proc/PID/exe, end the container (both return), then reopen. While any process runs the
/// binary the kernel refuses to write it (ETXTBSY) whatever berth does; the held descriptor
/// outlives them.
#[test]
fn run_and_exec_processes_exe_cannot_be_reopened_for_writing() {
    let rt = Runtime::new("sec-opath-fg");
    let copy = berth_copy(&rt);
    let before = fs::read(&copy).unwrap();
    let id = rt.id("");
    let b = rt.bundle(&["sleep", "1000"]);
    let run = rt.spawn_bin(&copy, &["run", "--bundle", b.path(), &id]);
    rt.wait_for_status(&id, "running");
    let exec = rt.spawn_bin(&copy, &["exec", &id, "sleep", "1000"]);
    rt.wait_for_pids(&id, 2);
    let held: Vec<(&str, i32)> = [("run", run.pid), ("exec", exec.pid)]
        .into_iter()
        .map(|(what, pid)| {
            let fd = hold_exe(pid);
            assert!(
                holds(fd, &copy),
                "/proc/{pid}/exe of berth {what} is not berth's binary"
            );
            (what, fd)
        })
        .collect();
    rt.run(&["delete", "-f", &id]).ok();
    run.wait();
    exec.wait();
    for (what, fd) in held {
        let reopened = reopen_for_writing(fd);
        // SAFETY: our own descriptor.
        unsafe { libc::close(fd) };
        assert!(
            reopened.is_err(),
            "berth's binary, held through /proc/PID/exe of berth {what}, reopened for writing"
        );
    }
    assert!(fs::read(&copy).unwrap() == before, "berth's binary changed");
}

/// An image's NSS module: a container whose /etc/nsswitch.conf names a module it ships
/// (`passwd: berthtest files`, libnss_berthtest.so.2 in its /lib) and whose config gives no
/// `HOME`. Looking the user up through the C library would load that module into berth's
/// process in the container, at `create` already, before the seccomp filter and the LSM
/// profile of the exec (libcontainer does it with `getpwuid`). berth reads the container's
/// /etc/passwd itself, as runc does: `HOME` is the user's home, `/` for a user without an
/// entry, and the module's constructor never runs (it would leave a file in /marks; with
/// bcf7ae8's berth it left `loaded-by-1` at `create`). The file is read before init's seccomp
/// filter is loaded, as runc reads it, so a profile that refuses `open` changes nothing.
#[test]
fn image_nss_modules_never_load_into_berths_processes() {
    let rt = Runtime::new("sec-nss");
    let image = rt.dir.join("image");
    let copied = std::process::Command::new("cp")
        .arg("-a")
        .arg(rootfs())
        .arg(&image)
        .status()
        .unwrap();
    assert!(copied.success(), "cannot copy the rootfs");
    let module = probe(
        &rt.dir.join("libnss_berthtest.so.2"),
        "nss-module.c",
        &["-shared", "-fPIC", "-O1"],
        "BERTH_NSS_MODULE",
    );
    for lib in [
        "lib",
        "lib/x86_64-linux-gnu",
        "usr/lib",
        "usr/lib/x86_64-linux-gnu",
    ] {
        let dir = image.join(lib);
        fs::create_dir_all(&dir).unwrap();
        fs::copy(&module, dir.join("libnss_berthtest.so.2")).unwrap();
    }
    fs::write(
        image.join("etc/nsswitch.conf"),
        "passwd: berthtest files\ngroup: berthtest files\n",
    )
    .unwrap();
    let marks = image.join("marks");
    fs::create_dir(&marks).unwrap();
    fs::set_permissions(&marks, fs::Permissions::from_mode(0o1777)).unwrap();
    let loaded = || {
        fs::read_dir(&marks)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
    };
    let id = rt.id("");
    let mut b = rt.bundle(&["sleep", "1000"]);
    b.edit(|c| {
        c["root"] = serde_json::json!({ "path": image, "readonly": false });
        c["process"]["env"] = serde_json::json!(["PATH=/bin", "HOME="]);
    });
    rt.run(&["create", "--bundle", b.path(), &id]).ok();
    assert_eq!(loaded(), Vec::<String>::new(), "loaded at create");
    rt.run(&["start", &id]).ok();
    let home = |user: &[&str]| {
        let mut args = vec!["exec"];
        args.extend(user);
        args.extend([id.as_str(), "sh", "-c", "echo $HOME"]);
        let out = rt.run(&args);
        out.ok();
        out.stdout.trim().to_string()
    };
    assert_eq!(home(&[]), "/root");
    assert_eq!(home(&["--user", "65534"]), "/nonexistent");
    assert_eq!(home(&["--user", "4242"]), "/");
    assert_eq!(home(&["--env", "HOME=/given"]), "/given");
    // A process file without HOME, as containerd passes one.
    let process = rt.dir.join("process.json");
    let mut p = b.config["process"].clone();
    p["args"] = serde_json::json!(["sh", "-c", "echo $HOME"]);
    p["env"] = serde_json::json!(["PATH=/bin"]);
    fs::write(&process, p.to_string()).unwrap();
    let out = rt.run(&["exec", "--process", process.to_str().unwrap(), &id]);
    out.ok();
    assert_eq!(out.stdout.trim(), "/root");
    rt.run(&["delete", "-f", &id]).ok();
    assert_eq!(loaded(), Vec::<String>::new(), "loaded by exec");

    // Under a seccomp profile that refuses every open: berth reads /etc/passwd before it
    // loads init's filter, as runc does, so init's HOME is still the user's.
    let id = rt.id("filtered");
    let mut b = rt.bundle(&["sleep", "1000"]);
    b.edit(|c| {
        c["root"] = serde_json::json!({ "path": image, "readonly": false });
        c["process"]["env"] = serde_json::json!(["PATH=/bin"]);
        c["linux"]["seccomp"] = serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{
                "names": ["open", "openat", "openat2"],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": 1
            }]
        });
    });
    let init = rt.create_start(&id, &b);
    let environ = fs::read(format!("/proc/{init}/environ")).unwrap();
    let environ: Vec<&[u8]> = environ.split(|&c| c == 0).collect();
    assert!(
        environ.contains(&&b"HOME=/root"[..]),
        "init's environment: {:?}",
        String::from_utf8_lossy(&environ.join(&b' '))
    );
    rt.run(&["delete", "-f", &id]).ok();
    assert_eq!(loaded(), Vec::<String>::new(), "loaded under seccomp");
}
