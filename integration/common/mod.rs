//! The fixture every integration test uses: the berth binary, a shared busybox rootfs, bundles,
//! a private `--root` per test, and helpers that look at processes and cgroups directly (not
//! through berth) to tell whether a container left anything behind.
//!
//! Every container id is registered with its [`Runtime`]; dropping the runtime (also while a
//! test panics) runs `delete -f` for each, then kills and removes whatever berth left in the
//! cgroups, and removes the temporary directories.
//!
//! Nothing here sleeps or polls after a kill or a delete: berth's `kill ID KILL` and `delete -f`
//! are synchronous, so the tests look right after the command returns. The only loops wait for
//! readiness before a test acts ([`Runtime::wait_for_pids`]) or for a process the test itself
//! killed ([`wait_exit`], event driven through a pidfd).

#![allow(dead_code)]

pub mod fuse;
mod leaks;

pub use leaks::*;

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Seek, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// How long one berth command may take before the test gives up on it (and kills it).
const COMMAND_DEADLINE: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// The binary and the rootfs

/// berth: `$BERTH_BIN`, or the binary cargo built for this package.
pub fn berth_bin() -> PathBuf {
    match std::env::var_os("BERTH_BIN") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_berth")),
    }
}

/// Whether `pid` still runs berth's binary (one of libcontainer's forks of berth before it
/// exec'd the container's process) or is gone (exited, or a zombie). Compared by inode: berth
/// runs those forks from a read-only view of its binary, whose path reads differently.
pub fn pre_exec_or_gone(pid: i32) -> bool {
    use std::os::unix::fs::MetadataExt;
    static BERTH: OnceLock<Option<(u64, u64)>> = OnceLock::new();
    let berth = BERTH.get_or_init(|| fs::metadata(berth_bin()).ok().map(|m| (m.dev(), m.ino())));
    match fs::metadata(format!("/proc/{pid}/exe")) {
        Ok(exe) => Some((exe.dev(), exe.ino())) == *berth,
        Err(_) => true,
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A C program of `integration/probes/` built with gcc (`gcc_args` before `-o OUT SOURCE`) at
/// `out`, or copied from the build the environment variable `prebuilt` names: the systemd host
/// has no compiler, so scripts/test.sh builds the probes outside it.
pub fn probe(out: &Path, source: &str, gcc_args: &[&str], prebuilt: &str) -> PathBuf {
    if let Some(built) = std::env::var_os(prebuilt) {
        fs::copy(&built, out).unwrap_or_else(|e| panic!("{prebuilt} names no probe: {e}"));
        return out.to_path_buf();
    }
    let src = repo().join("integration/probes").join(source);
    let built = Command::new("gcc")
        .args(gcc_args)
        .arg("-o")
        .arg(out)
        .arg(&src)
        .output()
        .unwrap_or_else(|e| panic!("gcc is needed to build {source}: {e}"));
    assert!(
        built.status.success(),
        "gcc {source}: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    out.to_path_buf()
}

/// The busybox rootfs every bundle uses (read-only), built once per test run.
pub fn rootfs() -> &'static Path {
    static ROOTFS: OnceLock<PathBuf> = OnceLock::new();
    ROOTFS.get_or_init(|| {
        let dir = match std::env::var_os("BERTH_TEST_ROOTFS") {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => repo().join("target/test-rootfs"),
        };
        let script = repo().join("scripts/rootfs.sh");
        if script.exists() {
            let out = Command::new("sh")
                .arg(&script)
                .arg(&dir)
                .stdin(Stdio::null())
                .output()
                .expect("cannot run scripts/rootfs.sh");
            assert!(
                out.status.success(),
                "scripts/rootfs.sh {} failed: {}",
                dir.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        } else if !dir.join("bin/busybox").exists() {
            build_rootfs(&dir);
        }
        assert!(
            dir.join("bin/sh").exists(),
            "no usable rootfs at {}",
            dir.display()
        );
        dir
    })
}

/// The fallback when scripts/rootfs.sh is missing: /bin/busybox and one symlink per applet,
/// built beside `dir` and renamed into place.
fn build_rootfs(dir: &Path) {
    let tmp = dir.with_extension(format!("new.{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    for sub in ["bin", "proc", "sys", "dev", "tmp", "etc", "root"] {
        fs::create_dir_all(tmp.join(sub)).unwrap();
    }
    fs::copy("/bin/busybox", tmp.join("bin/busybox")).expect("/bin/busybox is needed");
    let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let applet = applet.trim();
        if applet.is_empty() || applet == "busybox" {
            continue;
        }
        let _ = std::os::unix::fs::symlink("busybox", tmp.join("bin").join(applet));
    }
    fs::write(
        tmp.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    fs::write(tmp.join("etc/group"), "root:x:0:\nnobody:x:65534:\n").unwrap();
    if fs::rename(&tmp, dir).is_err() {
        // Someone else won the race.
        let _ = fs::remove_dir_all(&tmp);
    }
}

// ---------------------------------------------------------------------------------------------
// Running berth

/// What one berth command did.
#[derive(Debug, Clone)]
pub struct Output {
    pub cmd: String,
    /// The exit status, or 128+N when signal N ended berth.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// How long the command took.
    pub elapsed: Duration,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == 0
    }

    /// Panics, showing everything, unless the command succeeded.
    #[track_caller]
    pub fn ok(&self) -> &Output {
        assert!(self.code == 0, "expected success:\n{self}");
        self
    }

    /// Panics unless the command failed with `code`.
    #[track_caller]
    pub fn fails_with(&self, code: i32) -> &Output {
        assert!(self.code == code, "expected exit status {code}:\n{self}");
        self
    }

    /// stderr's lines.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr.lines().collect()
    }
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "  command: {}\n  exit status: {}\n  took: {:?}\n  stdout: {:?}\n  stderr: {:?}",
            self.cmd, self.code, self.elapsed, self.stdout, self.stderr
        )
    }
}

/// Runs `bin args...` with `env`, stdin from `input` (or /dev/null), to its end (see
/// [`Background::spawn`]). A command still running after [`COMMAND_DEADLINE`] is killed (and
/// the test fails on it).
pub fn run_command<S: AsRef<OsStr>>(
    bin: &Path,
    args: &[S],
    env: &[(String, String)],
    input: Option<&[u8]>,
) -> Output {
    let (out, hung) = run_command_unchecked(bin, args, env, input);
    assert!(
        !hung,
        "berth hung for {COMMAND_DEADLINE:?} and was killed:\n{out}"
    );
    out
}

/// [`run_command`] that does not panic when the command hangs: the second value says it did
/// (and was killed).
fn run_command_unchecked<S: AsRef<OsStr>>(
    bin: &Path,
    args: &[S],
    env: &[(String, String)],
    input: Option<&[u8]>,
) -> (Output, bool) {
    Background::spawn(bin, args, env, input).finish(COMMAND_DEADLINE)
}

/// A berth command running in the background (a foreground `run`, to signal it, say).
pub struct Background {
    cmd: String,
    pub pid: i32,
    rx: mpsc::Receiver<std::io::Result<std::process::ExitStatus>>,
    stdout: fs::File,
    stderr: fs::File,
    started: Instant,
}

impl Background {
    /// Starts `bin args...` with `env`, stdin from `input` (or /dev/null). stdout and stderr go
    /// to anonymous files, not pipes: a detached container inherits them and would hold a pipe
    /// open.
    pub fn spawn<S: AsRef<OsStr>>(
        bin: &Path,
        args: &[S],
        env: &[(String, String)],
        input: Option<&[u8]>,
    ) -> Background {
        let cmd = std::iter::once(bin.display().to_string())
            .chain(
                args.iter()
                    .map(|a| shell_quote(&a.as_ref().to_string_lossy())),
            )
            .collect::<Vec<_>>()
            .join(" ");
        let stdout = tempfile::tempfile().expect("tempfile");
        let stderr = tempfile::tempfile().expect("tempfile");
        let stdin = match input {
            Some(data) => {
                let mut f = tempfile::tempfile().expect("tempfile");
                f.write_all(data).unwrap();
                f.rewind().unwrap();
                Stdio::from(f)
            }
            None => Stdio::null(),
        };
        let mut command = Command::new(bin);
        command
            .args(args)
            .stdin(stdin)
            .stdout(stdout.try_clone().unwrap())
            .stderr(stderr.try_clone().unwrap());
        for (k, v) in env {
            command.env(k, v);
        }
        let started = Instant::now();
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"));
        let pid = child.id() as i32;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        Background {
            cmd,
            pid,
            rx,
            stdout,
            stderr,
            started,
        }
    }

    /// Sends `signal` to the command (still our unreaped child until `finish`).
    pub fn signal(&self, signal: i32) {
        // SAFETY: plain kill(2). Callers signal a command they know still runs: until it exits
        // and the waiter thread reaps it, the pid cannot be reused.
        unsafe { libc::kill(self.pid, signal) };
    }

    /// Waits for the command, at most `limit` (then kills it); the second value says it hung.
    pub fn finish(mut self, limit: Duration) -> (Output, bool) {
        let (status, hung) = match self.rx.recv_timeout(limit) {
            Ok(s) => (s, false),
            Err(_) => {
                self.signal(libc::SIGKILL);
                (self.rx.recv().expect("waiter thread"), true)
            }
        };
        let elapsed = self.started.elapsed();
        let status = status.expect("wait for berth");
        let code = status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
        let read = |f: &mut fs::File| {
            let mut bytes = Vec::new();
            f.rewind().unwrap();
            f.read_to_end(&mut bytes).unwrap();
            String::from_utf8_lossy(&bytes).into_owned()
        };
        let out = Output {
            cmd: self.cmd.clone(),
            code,
            stdout: read(&mut self.stdout),
            stderr: read(&mut self.stderr),
            elapsed,
        };
        (out, hung)
    }

    /// [`Background::finish`] within the usual deadline; panics when it hung.
    #[track_caller]
    pub fn wait(self) -> Output {
        let (out, hung) = self.finish(COMMAND_DEADLINE);
        assert!(
            !hung,
            "berth hung for {COMMAND_DEADLINE:?} and was killed:\n{out}"
        );
        out
    }
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:+,@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Ids of this test run: "it-NAME-PID" with the pid zero-padded, so that no id is a substring of
/// another (the leak checks find cgroups by substring).
pub fn unique_id(name: &str) -> String {
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_+-.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("it-{name}-{:07}", std::process::id())
}

/// A private state root (`--root`) and scratch directory for one test, plus the containers it
/// made. Dropping it deletes them all and removes whatever berth left behind.
pub struct Runtime {
    pub name: String,
    tmp: Option<tempfile::TempDir>,
    /// The scratch directory (the parent of `root`, holding the bundles).
    pub dir: PathBuf,
    /// `--root`.
    pub root: PathBuf,
    pub env: Vec<(String, String)>,
    ids: RefCell<Vec<String>>,
    bundles: Cell<u32>,
}

impl Runtime {
    pub fn new(name: &str) -> Runtime {
        let _ = rootfs();
        let tmp = tempfile::Builder::new()
            .prefix("berth-it.")
            .tempdir()
            .expect("temp dir");
        let dir = tmp.path().to_path_buf();
        let root = dir.join("root");
        Runtime {
            name: name.to_string(),
            tmp: Some(tmp),
            dir,
            root,
            env: Vec::new(),
            ids: RefCell::new(Vec::new()),
            bundles: Cell::new(0),
        }
    }

    /// A runtime whose every berth command runs with `BERTH_WAIT=strategy`.
    pub fn with_strategy(name: &str, strategy: &str) -> Runtime {
        let mut rt = Runtime::new(&format!("{name}-{strategy}"));
        rt.env.push(("BERTH_WAIT".into(), strategy.into()));
        rt
    }

    /// `--root ROOT`, and `--systemd-cgroup` when the suite runs under systemd's driver.
    fn global_flags(&self) -> Vec<std::ffi::OsString> {
        let mut flags: Vec<std::ffi::OsString> = vec!["--root".into(), self.root.clone().into()];
        if systemd_driver() {
            flags.push("--systemd-cgroup".into());
        }
        flags
    }

    /// A container id for this test (registered for clean-up). `suffix` tells several apart.
    pub fn id(&self, suffix: &str) -> String {
        let name = if suffix.is_empty() {
            self.name.clone()
        } else {
            format!("{}-{suffix}", self.name)
        };
        let id = unique_id(&name);
        self.adopt(&id);
        id
    }

    /// Registers an id (made elsewhere) for clean-up.
    pub fn adopt(&self, id: &str) {
        let mut ids = self.ids.borrow_mut();
        if !ids.iter().any(|i| i == id) {
            ids.push(id.to_string());
        }
    }

    /// `berth --root ROOT args...`
    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        self.run_global(&[] as &[&str], args, None)
    }

    /// `berth --root ROOT args...` with `input` on stdin.
    pub fn run_input<S: AsRef<OsStr>>(&self, args: &[S], input: &[u8]) -> Output {
        self.run_global(&[] as &[&str], args, Some(input))
    }

    /// `berth --root ROOT args...` in the background.
    pub fn spawn<S: AsRef<OsStr>>(&self, args: &[S]) -> Background {
        self.spawn_bin(&berth_bin(), args)
    }

    /// `BIN --root ROOT args...` in the background: another build (or a copy) of berth.
    pub fn spawn_bin<S: AsRef<OsStr>>(&self, bin: &Path, args: &[S]) -> Background {
        let mut all = self.global_flags();
        all.extend(args.iter().map(|a| a.as_ref().to_os_string()));
        Background::spawn(bin, &all, &self.env, None)
    }

    /// `BIN --root ROOT args...`, to its end.
    pub fn run_bin<S: AsRef<OsStr>>(&self, bin: &Path, args: &[S]) -> Output {
        self.spawn_bin(bin, args).wait()
    }

    /// `berth --root ROOT GLOBAL... args...`
    pub fn run_global<G: AsRef<OsStr>, S: AsRef<OsStr>>(
        &self,
        global: &[G],
        args: &[S],
        input: Option<&[u8]>,
    ) -> Output {
        let mut all = self.global_flags();
        all.extend(global.iter().map(|g| g.as_ref().to_os_string()));
        all.extend(args.iter().map(|a| a.as_ref().to_os_string()));
        run_command(&berth_bin(), &all, &self.env, input)
    }

    /// A new bundle running `args`, in this test's scratch directory.
    pub fn bundle(&self, args: &[&str]) -> Bundle {
        let n = self.bundles.get() + 1;
        self.bundles.set(n);
        Bundle::new(&self.dir.join(format!("bundle{n}")), args)
    }

    /// `create` then `start`; returns init's pid.
    #[track_caller]
    pub fn create_start(&self, id: &str, bundle: &Bundle) -> i32 {
        self.adopt(id);
        let out = self.run(&["create", "--bundle", bundle.path(), id]);
        out.ok();
        assert_eq!(out.stdout, "", "create printed on stdout:\n{out}");
        self.run(&["start", id]).ok();
        let pid = self.pid(id);
        assert!(pid > 0, "no init pid for {id}: {}", self.state(id));
        pid
    }

    /// `run -d`; returns init's pid.
    #[track_caller]
    pub fn run_detached(&self, id: &str, bundle: &Bundle) -> i32 {
        self.adopt(id);
        self.run(&["run", "-d", "--bundle", bundle.path(), id]).ok();
        self.pid(id)
    }

    /// `state ID` as JSON (panics when it fails).
    #[track_caller]
    pub fn state(&self, id: &str) -> Value {
        let out = self.run(&["state", id]);
        out.ok();
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("state is not JSON ({e}):\n{out}"))
    }

    #[track_caller]
    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    #[track_caller]
    pub fn pid(&self, id: &str) -> i32 {
        self.state(id)["pid"].as_i64().unwrap_or(0) as i32
    }

    /// `ps --format json ID`.
    #[track_caller]
    pub fn ps(&self, id: &str) -> Vec<i32> {
        let out = self.run(&["ps", "--format", "json", id]);
        out.ok();
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| {
            panic!("ps --format json is not a JSON array of pids ({e}):\n{out}")
        })
    }

    /// Readiness, before the test acts: waits (at most `limit`) until `ps` lists at least `n`
    /// processes that run the container's programs, and returns them. A container not there
    /// yet (a `run` starting in the background) counts as none, and so do libcontainer's forks
    /// of berth that have not yet exec'd the container's process (still berth's binary).
    #[track_caller]
    pub fn wait_for_pids_within(&self, id: &str, n: usize, limit: Duration) -> Vec<i32> {
        let deadline = Instant::now() + limit;
        loop {
            let out = self.run(&["ps", "--format", "json", id]);
            let pids: Vec<i32> = if out.success() {
                serde_json::from_str(&out.stdout).unwrap_or_else(|e| {
                    panic!("ps --format json is not a JSON array of pids ({e}):\n{out}")
                })
            } else {
                Vec::new()
            };
            let pids: Vec<i32> = pids.into_iter().filter(|&p| !pre_exec_or_gone(p)).collect();
            if pids.len() >= n {
                return pids;
            }
            assert!(
                Instant::now() < deadline,
                "{id}: {} processes after {limit:?}, expected {n}; last ps:\n{out}",
                pids.len()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[track_caller]
    pub fn wait_for_pids(&self, id: &str, n: usize) -> Vec<i32> {
        self.wait_for_pids_within(id, n, Duration::from_secs(10))
    }

    /// Readiness: waits (at most 10 s) until `state` reports `status` (a `run` in the
    /// background has finished starting its container, say).
    #[track_caller]
    pub fn wait_for_status(&self, id: &str, status: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = self.run(&["state", id]);
            let now = serde_json::from_str::<Value>(&out.stdout)
                .ok()
                .and_then(|v| v["status"].as_str().map(str::to_string));
            if now.as_deref() == Some(status) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{id}: not {status} after 10s; last state:\n{out}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The container's state directory.
    pub fn state_dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Entries of `--root` other than `.locks` (what a failed command must not leave).
    pub fn root_entries(&self) -> Vec<String> {
        let Ok(entries) = fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != ".locks")
            .collect();
        names.sort();
        names
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let ids: Vec<String> = self.ids.borrow().clone();
        for id in &ids {
            // No panic here: this may run while the test panics.
            let (out, _) = run_command_unchecked(
                &berth_bin(),
                &[
                    OsStr::new("--root"),
                    self.root.as_os_str(),
                    OsStr::new("delete"),
                    OsStr::new("-f"),
                    OsStr::new(id),
                ],
                &self.env,
                None,
            );
            if !out.success() && !std::thread::panicking() {
                eprintln!("clean-up: delete -f {id} failed:\n{out}");
            }
        }
        for id in &ids {
            reap_leftovers(id);
        }
        if let Some(tmp) = self.tmp.take() {
            let _ = tmp.close();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Bundles

/// A bundle directory: config.json from `berth spec`, edited, its root.path the shared
/// read-only rootfs (absolute), and `rootfs` a symlink to it (for `"path": "rootfs"`).
pub struct Bundle {
    pub dir: PathBuf,
    pub config: Value,
}

impl Bundle {
    pub fn new(dir: &Path, args: &[&str]) -> Bundle {
        fs::create_dir_all(dir).unwrap();
        let out = run_command(
            &berth_bin(),
            &[OsStr::new("spec"), OsStr::new("--bundle"), dir.as_os_str()],
            &[],
            None,
        );
        out.ok();
        std::os::unix::fs::symlink(rootfs(), dir.join("rootfs")).unwrap();
        let text = fs::read_to_string(dir.join("config.json")).unwrap();
        let mut config: Value = serde_json::from_str(&text).unwrap();
        config["process"]["terminal"] = json!(false);
        config["process"]["args"] = json!(args);
        // runc wants an absolute root.path that is no symlink; berth takes either.
        config["root"]["path"] = json!(rootfs());
        let mut b = Bundle {
            dir: dir.to_path_buf(),
            config,
        };
        b.save();
        b
    }

    pub fn path(&self) -> &str {
        self.dir.to_str().expect("utf-8 path")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.json")
    }

    /// Edits config.json.
    pub fn edit(&mut self, f: impl FnOnce(&mut Value)) -> &mut Bundle {
        f(&mut self.config);
        self.save();
        self
    }

    /// Without a pid namespace of its own: the container shares the host's.
    pub fn host_pidns(&mut self) -> &mut Bundle {
        self.edit(|c| {
            if let Some(ns) = c["linux"]["namespaces"].as_array_mut() {
                ns.retain(|n| n["type"] != "pid");
            }
        })
    }

    /// A limit on the number of processes (a guard for fork loops).
    pub fn pids_limit(&mut self, limit: i64) -> &mut Bundle {
        self.edit(|c| {
            c["linux"]["resources"]["pids"] = json!({ "limit": limit });
        })
    }

    fn save(&mut self) {
        fs::write(
            self.config_path(),
            serde_json::to_string_pretty(&self.config).unwrap(),
        )
        .unwrap();
    }
}

/// `sh -c 'for i in $(seq N); do sleep 1000 & done; wait'`: init plus N sleeping children.
pub fn sleepers(n: usize) -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        format!("for i in $(seq {n}); do sleep 1000 & done; wait"),
    ]
}

pub fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

// ---------------------------------------------------------------------------------------------
// Processes

/// A process as seen at one moment: its pid and start time (so a reused pid is not taken for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snap {
    pub pid: i32,
    pub start: u64,
}

/// State letter and start time from /proc/PID/stat.
pub fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold anything: fields follow the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

pub fn snap(pid: i32) -> Option<Snap> {
    proc_stat(pid).map(|(_, start)| Snap { pid, start })
}

/// Snapshots of the pids that still exist.
pub fn snapshot(pids: impl IntoIterator<Item = i32>) -> Vec<Snap> {
    pids.into_iter().filter_map(snap).collect()
}

/// Gone: missing, a zombie (Z or X), or another process under the same pid.
pub fn is_gone(s: &Snap) -> bool {
    match proc_stat(s.pid) {
        None => true,
        Some((state, start)) => state == 'Z' || state == 'X' || start != s.start,
    }
}

/// The snapshotted processes still alive, described.
pub fn alive(snaps: &[Snap]) -> Vec<String> {
    snaps
        .iter()
        .filter(|s| !is_gone(s))
        .map(|s| describe(s.pid))
        .collect()
}

pub fn describe(pid: i32) -> String {
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    let state = proc_stat(pid).map(|(s, _)| s).unwrap_or('?');
    format!("{pid} ({}, state {state})", comm.trim())
}

#[track_caller]
pub fn assert_all_gone(snaps: &[Snap], what: &str) {
    let left = alive(snaps);
    assert!(
        left.is_empty(),
        "{what}: {} of {} processes still alive: {}",
        left.len(),
        snaps.len(),
        summarize(&left)
    );
}

fn summarize(items: &[String]) -> String {
    if items.len() <= 20 {
        items.join(", ")
    } else {
        format!(
            "{}, ... ({} more)",
            items[..20].join(", "),
            items.len() - 20
        )
    }
}

/// Waits (event driven, through a pidfd) until `pid` has exited, at most `limit`. For processes
/// the test killed itself; true when it is gone.
pub fn wait_exit(pid: i32, limit: Duration) -> bool {
    let Some(s) = snap(pid) else { return true };
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    if fd < 0 {
        return is_gone(&s);
    }
    let deadline = Instant::now() + limit;
    let mut gone = false;
    while !gone {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, left.as_millis().min(i32::MAX as u128) as i32) };
        gone = n > 0 || is_gone(&s);
        if n == 0 && left.is_zero() {
            break;
        }
    }
    // SAFETY: our fd.
    unsafe { libc::close(fd) };
    gone || is_gone(&s)
}

/// Pids of processes whose /proc/PID/cgroup names a cgroup containing `id`: finds processes of
/// a container even when its cgroup directories are not where the test looks.
pub fn procs_in_cgroups_named(id: &str) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return out;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if let Ok(text) = fs::read_to_string(format!("/proc/{pid}/cgroup")) {
            if text.contains(id) && proc_stat(pid).is_some_and(|(s, _)| s != 'Z' && s != 'X') {
                out.push(pid);
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Cgroups

/// Every directory under /sys/fs/cgroup (at most 4 levels down, symlinks not followed) whose
/// name contains `id`.
pub fn cgroup_dirs_with(id: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    walk(Path::new(CGROUP_ROOT), 0, 4, &mut |p| {
        if p.file_name()
            .is_some_and(|n| n.to_string_lossy().contains(id))
        {
            out.push(p.to_path_buf());
        }
    });
    out
}

fn walk(dir: &Path, depth: usize, max: usize, f: &mut dyn FnMut(&Path)) {
    if depth >= max {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            let p = e.path();
            f(&p);
            walk(&p, depth + 1, max, f);
        }
    }
}

/// `dir` and every directory below it, deepest first.
pub fn dirs_deepest_first(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    fn rec(d: &Path, out: &mut Vec<PathBuf>) {
        if let Ok(entries) = fs::read_dir(d) {
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    rec(&e.path(), out);
                }
            }
        }
        out.push(d.to_path_buf());
    }
    if dir.is_dir() {
        rec(dir, &mut out);
    }
    out
}

/// Every pid in the container's cgroups (found by name), sub-cgroups included, all hierarchies.
pub fn cgroup_pids(id: &str) -> BTreeSet<i32> {
    let mut pids = BTreeSet::new();
    for top in cgroup_dirs_with(id) {
        for d in dirs_deepest_first(&top) {
            if let Ok(text) = fs::read_to_string(d.join("cgroup.procs")) {
                pids.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            }
        }
    }
    pids
}

/// The cgroup directories of a running process, one per hierarchy, from /proc/PID/cgroup and
/// the cgroup mounts in /proc/self/mountinfo.
pub fn cgroup_dirs_of(pid: i32) -> Vec<PathBuf> {
    let Ok(text) = fs::read_to_string(format!("/proc/{pid}/cgroup")) else {
        return Vec::new();
    };
    let mounts = cgroup_mounts();
    let mut out = Vec::new();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = match (parts.next(), parts.next(), parts.next()) {
            (Some(a), Some(b), Some(c)) => (a, b, c),
            _ => continue,
        };
        let rel = path.trim_start_matches('/');
        for (mount, opts, v2) in &mounts {
            let matches = if controllers.is_empty() {
                *v2
            } else {
                !*v2 && controllers.split(',').all(|c| opts.iter().any(|o| o == c))
            };
            if matches {
                let d = mount.join(rel);
                if d.is_dir() && !out.contains(&d) {
                    out.push(d);
                }
            }
        }
    }
    out
}

/// Whether cgroup controller `name` (e.g. "pids") can be used: a v1 hierarchy has it, or the
/// cgroup2 root offers it (on a hybrid machine v1 holds the controllers, and a view with
/// cgroup2 alone has none of them).
pub fn controller_available(name: &str) -> bool {
    cgroup_mounts().iter().any(|(mount, opts, v2)| {
        if *v2 {
            fs::read_to_string(mount.join("cgroup.controllers"))
                .is_ok_and(|c| c.split_whitespace().any(|c| c == name))
        } else {
            opts.iter().any(|o| o == name)
        }
    })
}

/// (mount point, super options, is cgroup2) of every cgroup mount.
fn cgroup_mounts() -> Vec<(PathBuf, Vec<String>, bool)> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let l: Vec<&str> = left.split_whitespace().collect();
        let r: Vec<&str> = right.split_whitespace().collect();
        if l.len() < 5 || r.len() < 3 {
            continue;
        }
        let fstype = r[0];
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        let opts = r[2].split(',').map(String::from).collect();
        out.push((PathBuf::from(l[4]), opts, fstype == "cgroup2"));
    }
    out
}

/// Last resort after a test: kill what is left in the container's cgroups, remove them.
pub fn reap_leftovers(id: &str) {
    for _round in 0..10 {
        let tops = cgroup_dirs_with(id);
        let mut pids: BTreeSet<i32> = cgroup_pids(id);
        pids.extend(procs_in_cgroups_named(id));
        if pids.is_empty() {
            break;
        }
        eprintln!("clean-up: {id}: killing leftover processes {pids:?}");
        for top in &tops {
            for d in dirs_deepest_first(top) {
                let _ = fs::write(d.join("freezer.state"), "THAWED");
                let _ = fs::write(d.join("cgroup.freeze"), "0");
            }
        }
        let snaps = snapshot(pids.iter().copied());
        for s in &snaps {
            // SAFETY: plain kill(2).
            unsafe { libc::kill(s.pid, libc::SIGKILL) };
        }
        for s in &snaps {
            wait_exit(s.pid, Duration::from_secs(5));
        }
    }
    let tops = cgroup_dirs_with(id);
    if !tops.is_empty() {
        eprintln!("clean-up: {id}: removing leftover cgroups {tops:?}");
    }
    for top in tops {
        for d in dirs_deepest_first(&top) {
            let mut tries = 0;
            while fs::remove_dir(&d).is_err() && d.exists() && tries < 100 {
                tries += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// Whether the suite runs with `--systemd-cgroup` (`BERTH_TEST_CGROUP_DRIVER=systemd`, on a
/// systemd host: scripts/systemd-host).
pub fn systemd_driver() -> bool {
    std::env::var("BERTH_TEST_CGROUP_DRIVER").is_ok_and(|d| d == "systemd")
}

/// Under the systemd driver: the units named after the container that systemd still has in
/// any state but `inactive` (active, deactivating, or failed and lingering), as
/// "UNIT LOAD ACTIVE SUB" lines. Empty elsewhere.
pub fn live_units(id: &str) -> Vec<String> {
    if !systemd_driver() {
        return Vec::new();
    }
    let out = Command::new("systemctl")
        .args(["list-units", "--all", "--plain", "--no-legend", "--full"])
        .arg(format!("*{id}*"))
        .output()
        .expect("systemctl");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.split_whitespace().nth(2) != Some("inactive"))
        .map(|l| l.split_whitespace().take(4).collect::<Vec<_>>().join(" "))
        .collect()
}

/// Everything a container might leave: its cgroup directories (by name), processes in them or
/// naming them, its systemd units, and the snapshotted processes still alive. Empty when
/// nothing is left.
pub fn leftovers(id: &str, snaps: &[Snap]) -> Vec<String> {
    let mut out = Vec::new();
    for unit in live_units(id) {
        out.push(format!("systemd unit {unit}"));
    }
    for d in cgroup_dirs_with(id) {
        out.push(format!("cgroup dir {}", d.display()));
    }
    let pids = cgroup_pids(id);
    if !pids.is_empty() {
        out.push(format!("processes in its cgroups: {pids:?}"));
    }
    let named = procs_in_cgroups_named(id);
    if !named.is_empty() {
        out.push(format!("processes in cgroups named after it: {named:?}"));
    }
    let left = alive(snaps);
    if !left.is_empty() {
        out.push(format!("snapshotted processes alive: {}", summarize(&left)));
    }
    out
}

#[track_caller]
pub fn assert_nothing_left(id: &str, snaps: &[Snap], what: &str) {
    let left = leftovers(id, snaps);
    assert!(
        left.is_empty(),
        "{what}: {id} left behind: {}",
        left.join("; ")
    );
}

/// `s` is an RFC 3339 date-time (`2024-01-02T03:04:05[.frac](Z|+hh:mm)`).
pub fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 20 {
        return false;
    }
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if !(digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && (b[10] == b'T' || b[10] == b't')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19))
    {
        return false;
    }
    let mut i = 19;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match &b[i..] {
        [b'Z'] | [b'z'] => true,
        [s, h1, h2, b':', m1, m2] if (*s == b'+' || *s == b'-') => {
            [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit())
        }
        _ => false,
    }
}
