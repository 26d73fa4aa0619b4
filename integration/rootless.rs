//! berth run by an unprivileged user (issue 13): the test user (`BERTH_TEST_USER`, default
//! `berthtest`, with /etc/subuid and /etc/subgid ranges: scripts/test-user.sh makes it) runs the
//! built binary through setpriv, its state under an `XDG_RUNTIME_DIR` the test makes.
//!
//! Where the user has no writable cgroup (the machine's hybrid layout, cgroup v2 or v1 alone
//! from scripts/cgroup-view, the systemd host without delegation) the container has none:
//! `kill KILL` and `delete -f` are synchronous through init's PID namespace, and what berth
//! cannot do without a cgroup is refused. Every test skips, saying why, where the test user does
//! not exist.

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use crate::common::{
    assert_all_gone, berth_bin, rootfs, run_command, snapshot, unique_id, Output, Snap,
};

/// The test user, if this machine has one with subordinate ids.
struct User {
    uid: u32,
    gid: u32,
}

fn test_user() -> Option<User> {
    let name = std::env::var("BERTH_TEST_USER").unwrap_or_else(|_| "berthtest".into());
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, &name]).output().ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    let (Some(uid), Some(gid)) = (id("-u"), id("-g")) else {
        eprintln!("skipped: no test user {name:?} (scripts/test-user.sh makes one)");
        return None;
    };
    let listed = |file: &str| {
        fs::read_to_string(file)
            .is_ok_and(|t| t.lines().any(|l| l.starts_with(&format!("{name}:"))))
    };
    if !listed("/etc/subuid") || !listed("/etc/subgid") {
        eprintln!("skipped: test user {name:?} has no /etc/subuid and /etc/subgid ranges");
        return None;
    }
    Some(User { uid, gid })
}

/// A scratch directory owned by the test user, with its `XDG_RUNTIME_DIR`, and berth run as
/// that user. Dropping it deletes (as the user) every container it made.
struct Rootless {
    user: User,
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    xdg: PathBuf,
    env: Vec<(String, String)>,
    /// What runs berth as the user: setpriv, and `systemd-run --user --scope` with delegation.
    prefix: Vec<OsString>,
    /// With delegation: the state root (the user's XDG_RUNTIME_DIR is systemd's) and the
    /// delegated cgroup the containers go below.
    root: Option<PathBuf>,
    delegated: Option<PathBuf>,
    /// Global flags after `--root` (`--systemd-cgroup`).
    flags: Vec<OsString>,
    ids: std::cell::RefCell<Vec<String>>,
    bundles: std::cell::Cell<u32>,
}

impl Rootless {
    fn new(strategy: &str) -> Option<Rootless> {
        let user = test_user()?;
        let _ = rootfs();
        let tmp = tempfile::Builder::new()
            .prefix("berth-rootless.")
            .tempdir()
            .unwrap();
        let dir = tmp.path().to_path_buf();
        let xdg = dir.join("xdg");
        fs::create_dir(&xdg).unwrap();
        for d in [&dir, &xdg] {
            std::os::unix::fs::chown(d, Some(user.uid), Some(user.gid)).unwrap();
            fs::set_permissions(d, fs::Permissions::from_mode(0o700)).unwrap();
        }
        let env = vec![
            ("XDG_RUNTIME_DIR".to_string(), xdg.display().to_string()),
            ("BERTH_WAIT".to_string(), strategy.to_string()),
        ];
        let prefix = vec![
            format!("--reuid={}", user.uid).into(),
            format!("--regid={}", user.gid).into(),
            "--clear-groups".into(),
            "--".into(),
        ];
        Some(Rootless {
            user,
            _tmp: tmp,
            dir,
            xdg,
            env,
            prefix,
            root: None,
            delegated: None,
            flags: Vec::new(),
            ids: Default::default(),
            bundles: Default::default(),
        })
    }

    /// The user with a delegated cgroup: on a systemd host, lingering enabled (here, as root)
    /// so that its manager `user@UID.service` (Delegate=yes) runs; each berth command runs in a
    /// scope of that manager (`systemd-run --user --scope`), as a user's shell or podman would,
    /// and the containers' cgroups are below the manager's. None, saying why, elsewhere.
    fn delegated(strategy: &str) -> Option<Rootless> {
        if !Path::new("/run/systemd/system").is_dir() {
            eprintln!(
                "skipped: no systemd here, so no delegated cgroup (the systemd host has one)"
            );
            return None;
        }
        let mut rt = Rootless::new(strategy)?;
        let uid = rt.user.uid;
        let name = std::env::var("BERTH_TEST_USER").unwrap_or_else(|_| "berthtest".into());
        let unit = format!("user@{uid}.service");
        let linger = Command::new("loginctl")
            .args(["enable-linger", &name])
            .status();
        let active = linger.is_ok_and(|s| s.success())
            && Command::new("systemctl")
                .args(["start", &unit])
                .status()
                .is_ok_and(|s| s.success());
        if !active {
            eprintln!(
                "skipped: {unit} does not run (libpam-systemd and dbus-user-session are needed)"
            );
            return None;
        }
        let out = Command::new("systemctl")
            .args(["show", "-P", "ControlGroup", &unit])
            .output()
            .unwrap();
        let cgroup = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let runtime = format!("/run/user/{uid}");
        rt.env = vec![
            ("XDG_RUNTIME_DIR".into(), runtime.clone()),
            (
                "DBUS_SESSION_BUS_ADDRESS".into(),
                format!("unix:path={runtime}/bus"),
            ),
            ("BERTH_WAIT".into(), strategy.into()),
        ];
        rt.prefix.extend(
            [
                "systemd-run",
                "--user",
                "--scope",
                "--quiet",
                "--collect",
                "--",
            ]
            .map(OsString::from),
        );
        rt.root = Some(rt.dir.join("root"));
        rt.delegated = Some(PathBuf::from(cgroup));
        Some(rt)
    }

    /// berth's root: the default for the user (`$XDG_RUNTIME_DIR/berth`) unless delegated.
    fn root(&self) -> PathBuf {
        self.root.clone().unwrap_or_else(|| self.xdg.join("berth"))
    }

    /// With delegation: the cgroupsPath of container `id`, below the user's manager.
    fn cgroups_path(&self, id: &str) -> Option<String> {
        let d = self.delegated.as_ref()?;
        Some(format!("{}/berth-it-{id}", d.display()))
    }

    fn id(&self, name: &str) -> String {
        let id = unique_id(&format!("rootless-{name}"));
        self.ids.borrow_mut().push(id.clone());
        id
    }

    /// `berth ARGS` as the test user (no `--root`: the default must be the user's).
    fn berth<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Output {
        let mut all = self.prefix.clone();
        all.push(berth_bin().into());
        if let Some(root) = &self.root {
            all.extend([OsString::from("--root"), root.into()]);
        }
        all.extend(self.flags.iter().cloned());
        all.extend(args.iter().map(|a| a.as_ref().to_os_string()));
        run_command(Path::new("setpriv"), &all, &self.env, None)
    }

    /// `berth ARGS` as the test user on a terminal of its own (script(1) makes one).
    fn with_terminal(&self, args: &[&str]) -> Output {
        let mut words = vec!["setpriv".to_string()];
        words.extend(self.prefix.iter().map(|a| a.to_string_lossy().into_owned()));
        words.push(berth_bin().display().to_string());
        if let Some(root) = &self.root {
            words.extend(["--root".to_string(), root.display().to_string()]);
        }
        words.extend(self.flags.iter().map(|a| a.to_string_lossy().into_owned()));
        words.extend(args.iter().map(|a| a.to_string()));
        let line = words
            .iter()
            .map(|w| format!("'{}'", w.replace('\'', "'\\''")))
            .collect::<Vec<_>>()
            .join(" ");
        run_command(
            Path::new("script"),
            &["-qec", &line, "/dev/null"],
            &self.env,
            None,
        )
    }

    /// A bundle from `berth spec --rootless` (run as the user) running `args`.
    fn bundle(&self, args: &[&str], edit: impl FnOnce(&mut Value)) -> PathBuf {
        let n = self.bundles.get() + 1;
        self.bundles.set(n);
        let dir = self.dir.join(format!("bundle{n}"));
        fs::create_dir(&dir).unwrap();
        std::os::unix::fs::chown(&dir, Some(self.user.uid), Some(self.user.gid)).unwrap();
        self.berth(&[
            OsString::from("spec"),
            "--rootless".into(),
            "-b".into(),
            dir.clone().into(),
        ])
        .ok();
        let path = dir.join("config.json");
        let mut config: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        config["process"]["terminal"] = json!(false);
        config["process"]["args"] = json!(args);
        config["root"]["path"] = json!(rootfs());
        edit(&mut config);
        fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
        dir
    }

    fn run_detached(&self, id: &str, bundle: &Path) -> i32 {
        self.berth(&[
            OsString::from("run"),
            "-d".into(),
            "-b".into(),
            bundle.into(),
            id.into(),
        ])
        .ok();
        self.state(id)["pid"].as_i64().unwrap() as i32
    }

    fn state(&self, id: &str) -> Value {
        let out = self.berth(&["state", id]);
        out.ok();
        serde_json::from_str(&out.stdout).unwrap()
    }

    fn ps(&self, id: &str) -> Vec<i32> {
        let out = self.berth(&["ps", "-f", "json", id]);
        out.ok();
        serde_json::from_str(&out.stdout).unwrap()
    }

    /// Whether any process still runs berth's command line for container `id` (an interrupted
    /// create's forks) or is a process of the user started from a bundle of this test.
    fn processes_of(&self, id: &str) -> Vec<i32> {
        let mut pids = Vec::new();
        for e in fs::read_dir("/proc").unwrap().flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
                continue;
            };
            let Ok(meta) = fs::metadata(format!("/proc/{pid}")) else {
                continue;
            };
            if meta.uid() != self.user.uid {
                continue;
            }
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let zombie = crate::common::proc_stat(pid).is_some_and(|(s, _)| s == 'Z');
            if !zombie && String::from_utf8_lossy(&cmdline).contains(id) {
                pids.push(pid);
            }
        }
        pids
    }
}

impl Drop for Rootless {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            let _ = self.berth(&["delete", "-f", id]);
        }
    }
}

/// Init and the processes `exec` added, as seen from the host.
fn container_snaps(rt: &Rootless, id: &str, at_least: usize) -> Vec<Snap> {
    let pids = rt.ps(id);
    assert!(
        pids.len() >= at_least,
        "ps {id}: {pids:?}, expected at least {at_least} processes"
    );
    snapshot(pids)
}

fn lifecycle(strategy: &str) {
    let Some(rt) = Rootless::new(strategy) else {
        return;
    };
    let id = rt.id(&format!("life-{strategy}"));
    let bundle = rt.bundle(&["sleep", "1000"], |_| {});
    let init = rt.run_detached(&id, &bundle);
    assert_eq!(rt.state(&id)["status"], "running");
    assert!(
        rt.root().join(&id).is_dir(),
        "state not under $XDG_RUNTIME_DIR/berth"
    );
    let mode = fs::metadata(rt.root()).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o1700, "runc's mode for a root under XDG_RUNTIME_DIR");
    // The container's root is the user: exec'd processes are in its user namespace.
    let out = rt.berth(&["exec", &id, "id", "-u"]);
    out.ok();
    assert_eq!(
        out.stdout.trim(),
        "0",
        "exec ran outside the container's user namespace"
    );
    // With a terminal: berth, in the container's user namespace, gives it to the process's
    // user as that namespace sees it.
    let out = rt.with_terminal(&["exec", "-t", &id, "sh", "-c", "tty; stat -c %u $(tty)"]);
    out.ok();
    assert!(out.stdout.contains("/dev/pts/"), "exec -t: {out}");
    // (script(1) may show a NUL the terminal echoes as "^@" first.)
    assert!(
        out.stdout
            .lines()
            .any(|l| l.trim().trim_start_matches("^@") == "0"),
        "exec -t: terminal owner: {out}"
    );
    rt.berth(&["exec", "-d", &id, "sh", "-c", "sleep 1001 & sleep 1002"])
        .ok();
    let list = rt.berth(&["list", "-q"]);
    assert!(
        list.ok().stdout.lines().any(|l| l == id),
        "list -q: {}",
        list.stdout
    );
    let snaps = container_snaps(&rt, &id, 3);
    assert!(snaps.iter().any(|s| s.pid == init));
    rt.berth(&["kill", &id, "KILL"]).ok();
    assert_all_gone(&snaps, "right after kill KILL returned");
    assert_eq!(rt.state(&id)["status"], "stopped");
    rt.berth(&["delete", &id]).ok();
    assert!(!rt.root().join(&id).exists(), "delete left the state");
}

#[test]
fn rootless_lifecycle_pidfd() {
    lifecycle("pidfd");
}

#[test]
fn rootless_lifecycle_poll() {
    lifecycle("poll");
}

fn delete_force(strategy: &str) {
    let Some(rt) = Rootless::new(strategy) else {
        return;
    };
    let id = rt.id(&format!("force-{strategy}"));
    let bundle = rt.bundle(
        &["sh", "-c", "trap '' TERM; sleep 1000 & sleep 1001 & wait"],
        |_| {},
    );
    rt.run_detached(&id, &bundle);
    rt.berth(&["exec", "-d", &id, "sleep", "1003"]).ok();
    let snaps = container_snaps(&rt, &id, 4);
    rt.berth(&["delete", "-f", &id]).ok();
    assert_all_gone(&snaps, "right after delete -f returned");
    assert!(!rt.root().join(&id).exists(), "delete -f left the state");
    rt.berth(&["state", &id]).fails_with(1);
}

#[test]
fn rootless_delete_force_pidfd() {
    delete_force("pidfd");
}

#[test]
fn rootless_delete_force_poll() {
    delete_force("poll");
}

/// What berth cannot promise without a cgroup, it refuses: a container sharing a PID
/// namespace (at create, leaving nothing), `kill --all` with a signal other than KILL, pause.
#[test]
fn rootless_refusals_without_cgroup() {
    let Some(rt) = Rootless::new("pidfd") else {
        return;
    };
    let shared = rt.id("hostpid");
    let bundle = rt.bundle(&["sleep", "1000"], |c| {
        if let Some(ns) = c["linux"]["namespaces"].as_array_mut() {
            ns.retain(|n| n["type"] != "pid");
        }
    });
    let out = rt.berth(&[
        OsString::from("run"),
        "-d".into(),
        "-b".into(),
        bundle.into(),
        shared.clone().into(),
    ]);
    out.fails_with(1);
    assert!(
        out.stderr.contains("needs a PID namespace of its own") && out.stderr.lines().count() == 1,
        "host PID namespace: {out}"
    );
    assert!(
        !rt.root().join(&shared).exists(),
        "a refused create left its state"
    );
    assert!(
        rt.processes_of(&shared).is_empty(),
        "a refused create left processes"
    );

    let limited = rt.id("limits");
    let bundle = rt.bundle(&["sleep", "1000"], |c| {
        c["linux"]["resources"] = json!({ "pids": { "limit": 10 } });
    });
    let out = rt.berth(&[
        OsString::from("run"),
        "-d".into(),
        "-b".into(),
        bundle.into(),
        limited.clone().into(),
    ]);
    out.fails_with(1);
    assert!(
        out.stderr.contains("rootless needs no limits"),
        "limits: {out}"
    );
    assert!(!rt.root().join(&limited).exists());

    let id = rt.id("all");
    let bundle = rt.bundle(&["sleep", "1000"], |_| {});
    rt.run_detached(&id, &bundle);
    let out = rt.berth(&["kill", "--all", &id, "TERM"]);
    out.fails_with(1);
    assert!(
        out.stderr.contains("cannot know every process"),
        "kill --all: {out}"
    );
    assert_eq!(
        rt.state(&id)["status"],
        "running",
        "a refused kill --all signalled"
    );
    let out = rt.berth(&["pause", &id]);
    out.fails_with(1);
    assert!(out.stderr.contains("has no cgroup"), "pause: {out}");
    // KILL to all is sound: init's death takes its PID namespace along.
    let snaps = container_snaps(&rt, &id, 1);
    rt.berth(&["kill", "--all", &id, "KILL"]).ok();
    assert_all_gone(&snaps, "right after kill --all KILL returned");
    rt.berth(&["delete", &id]).ok();
}

/// A create that fails once libcontainer has forked (the executable is missing) leaves no
/// state, no lock file and no process.
#[test]
fn rootless_failed_create_leaves_nothing() {
    let Some(rt) = Rootless::new("pidfd") else {
        return;
    };
    let id = rt.id("missing");
    let bundle = rt.bundle(&["/nonexistent"], |_| {});
    let out = rt.berth(&[
        OsString::from("run"),
        "-d".into(),
        "-b".into(),
        bundle.into(),
        id.clone().into(),
    ]);
    out.fails_with(1);
    assert!(out.stderr.contains("executable file not found"), "{out}");
    assert!(
        !rt.root().join(&id).exists(),
        "a failed create left its state"
    );
    assert!(
        !rt.root().join(".locks").join(&id).exists(),
        "a failed create left its lock"
    );
    assert!(
        rt.processes_of(&id).is_empty(),
        "a failed create left processes"
    );
    rt.berth(&["delete", &id]).fails_with(1);
}

/// With a delegated cgroup the container is in a cgroup below the user's manager: berth finds
/// every process there, so a container sharing the host's PID namespace is allowed, `kill
/// --all` reaches every process, and `kill KILL`, `delete -f` are synchronous as for root.
fn delegated(strategy: &str) {
    let Some(rt) = Rootless::delegated(strategy) else {
        return;
    };
    let id = rt.id(&format!("deleg-{strategy}"));
    let cgroup = rt.cgroups_path(&id).unwrap();
    let bundle = rt.bundle(&["sh", "-c", "sleep 1000 & sleep 1001 & wait"], |c| {
        c["linux"]["cgroupsPath"] = json!(cgroup);
        if let Some(ns) = c["linux"]["namespaces"].as_array_mut() {
            ns.retain(|n| n["type"] != "pid");
        }
        // A user may not mount a proc of the host's PID namespace: bind the host's.
        if let Some(mounts) = c["mounts"].as_array_mut() {
            for m in mounts.iter_mut().filter(|m| m["destination"] == "/proc") {
                *m = json!({ "destination": "/proc", "type": "bind", "source": "/proc",
                             "options": ["rbind", "nosuid", "noexec", "nodev"] });
            }
        }
    });
    let init = rt.run_detached(&id, &bundle);
    let dir = Path::new("/sys/fs/cgroup").join(cgroup.trim_start_matches('/'));
    let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    assert!(
        procs.lines().any(|l| l.trim() == init.to_string()),
        "init {init} is not in {}: {procs:?}",
        dir.display()
    );
    rt.berth(&["exec", "-d", &id, "sleep", "1002"]).ok();
    let snaps = container_snaps(&rt, &id, 4);
    // TERM to every process: they all die (sleep does not handle it), and berth waits.
    rt.berth(&["kill", "--all", "--wait", &id, "TERM"]).ok();
    assert_all_gone(&snaps, "right after kill --all --wait TERM returned");
    rt.berth(&["delete", &id]).ok();
    assert!(!dir.exists(), "delete left the cgroup {}", dir.display());

    let id = rt.id(&format!("deleg-force-{strategy}"));
    let cgroup = rt.cgroups_path(&id).unwrap();
    let bundle = rt.bundle(&["sh", "-c", "sleep 1000 & sleep 1001 & wait"], |c| {
        c["linux"]["cgroupsPath"] = json!(cgroup);
    });
    rt.run_detached(&id, &bundle);
    rt.berth(&["exec", "-d", &id, "sleep", "1002"]).ok();
    let snaps = container_snaps(&rt, &id, 4);
    rt.berth(&["kill", &id, "KILL"]).ok();
    assert_all_gone(&snaps, "right after kill KILL returned");
    rt.berth(&["delete", "-f", &id]).ok();
    let dir = Path::new("/sys/fs/cgroup").join(cgroup.trim_start_matches('/'));
    assert!(!dir.exists(), "delete -f left the cgroup {}", dir.display());
    assert!(!rt.root().join(&id).exists());

    // berth run outside the user's subtree may not move init into it: refused, nothing left.
    let id = rt.id(&format!("deleg-outside-{strategy}"));
    let cgroup = rt.cgroups_path(&id).unwrap();
    let bundle = rt.bundle(&["sleep", "1000"], |c| {
        c["linux"]["cgroupsPath"] = json!(cgroup);
    });
    let mut all: Vec<OsString> = rt.prefix[..4].to_vec();
    all.extend([
        berth_bin().into(),
        "--root".into(),
        rt.root().into(),
        "run".into(),
        "-d".into(),
        "-b".into(),
        bundle.into(),
        id.clone().into(),
    ]);
    let out = run_command(Path::new("setpriv"), &all, &rt.env, None);
    out.fails_with(1);
    assert!(
        out.stderr.contains("from inside the same delegated cgroup"),
        "{out}"
    );
    assert!(
        !rt.root().join(&id).exists(),
        "a refused create left its state"
    );
    assert!(
        rt.processes_of(&id).is_empty(),
        "a refused create left processes"
    );
    let dir = Path::new("/sys/fs/cgroup").join(cgroup.trim_start_matches('/'));
    assert!(
        !dir.exists(),
        "a refused create left the cgroup {}",
        dir.display()
    );
    // Nor may it add a process to a container that has a cgroup.
    let id = rt.id(&format!("deleg-exec-{strategy}"));
    let cgroup = rt.cgroups_path(&id).unwrap();
    let bundle = rt.bundle(&["sleep", "1000"], |c| {
        c["linux"]["cgroupsPath"] = json!(cgroup);
    });
    rt.run_detached(&id, &bundle);
    let mut all: Vec<OsString> = rt.prefix[..4].to_vec();
    all.extend([
        berth_bin().into(),
        "--root".into(),
        rt.root().into(),
        "exec".into(),
        "-d".into(),
        id.clone().into(),
        "sleep".into(),
        "7345".into(),
    ]);
    let out = run_command(Path::new("setpriv"), &all, &rt.env, None);
    assert!(
        out.stderr.contains("from inside the same delegated cgroup"),
        "{out}"
    );
    assert!(
        rt.processes_of("7345").is_empty(),
        "a refused exec left its process"
    );
    rt.berth(&["delete", "-f", &id]).ok();

    // --systemd-cgroup: a scope unit of the user's own systemd, made over its D-Bus.
    let mut rt = rt;
    rt.flags.push("--systemd-cgroup".into());
    let id = rt.id(&format!("deleg-unit-{strategy}"));
    let bundle = rt.bundle(&["sh", "-c", "sleep 1000 & sleep 1001 & wait"], |_| {});
    let init = rt.run_detached(&id, &bundle);
    let scope = format!("youki-{id}.scope");
    let own = fs::read_to_string(format!("/proc/{init}/cgroup")).unwrap();
    let manager = rt.delegated.clone().unwrap();
    let expected = manager.join("user.slice").join(&scope);
    let v2 = own
        .lines()
        .find(|l| l.starts_with("0::"))
        .unwrap_or_default();
    assert_eq!(
        v2,
        format!("0::{}", expected.display()),
        "init is not in the user's scope unit"
    );
    rt.berth(&["exec", "-d", &id, "sleep", "1002"]).ok();
    let snaps = container_snaps(&rt, &id, 4);
    rt.berth(&["delete", "-f", &id]).ok();
    assert_all_gone(&snaps, "right after delete -f (--systemd-cgroup) returned");
    let dir = Path::new("/sys/fs/cgroup").join(expected.strip_prefix("/").unwrap());
    assert!(
        !dir.exists(),
        "delete -f left the scope's cgroup {}",
        dir.display()
    );
}

#[test]
fn rootless_delegated_cgroup_pidfd() {
    delegated("pidfd");
}

#[test]
fn rootless_delegated_cgroup_poll() {
    delegated("poll");
}
