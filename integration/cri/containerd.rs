//! A private containerd (Debian's 1.6, CRI plugin enabled) with its own config, root, state dir and
//! sockets under a temporary directory, the settings of integration/clients.sh plus the CRI plugin's.
//! Runtime handlers: "berth" (the binary under test) and "runc" (Debian's), both through the runc
//! shim v2 with a private runtime root each (Root option: the shim passes --root ROOT/k8s.io).
//!
//! Teardown (`Containerd::teardown`, also run from the signal thread in main.rs) works without
//! containerd's help: stop containerd, `RUNTIME --root ROOT delete -f` whatever state is left, kill
//! this containerd's shims, unmount what is left under the directory, remove it.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Driver;

pub struct Handler {
    pub name: &'static str,
    /// What the shim runs (BinaryName); under the systemd driver possibly main.rs's wrapper.
    pub binary: PathBuf,
    /// The runtime itself (for the emergency `delete -f`).
    pub real: PathBuf,
    /// The runtime's --root as the shim passes it.
    pub root: PathBuf,
}

pub struct Containerd {
    pub dir: PathBuf,
    pub sock: PathBuf,
    pub handlers: Vec<Handler>,
    child: Option<Child>,
    pub log: PathBuf,
}

impl Containerd {
    pub fn handler(&self, name: &str) -> &Handler {
        self.handlers
            .iter()
            .find(|h| h.name == name)
            .expect("handler")
    }

    /// Starts containerd with BERTH_WAIT=`strategy` in its environment (the shim passes its
    /// environment on to the runtime) and waits for its socket.
    /// `handlers`: (name, runtime binary); berth is copied into the directory first (a rebuild
    /// during the run must not swap it). `wrap`: BinaryName is main.rs's wrapper (systemd driver
    /// without controllers).
    pub fn start(
        driver: Driver,
        strategy: &str,
        handlers: Vec<(&'static str, PathBuf)>,
        wrap: bool,
    ) -> Result<Containerd> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_nanos();
        let dir = PathBuf::from(format!(
            "/tmp/berth-cri.{}.{}",
            std::process::id(),
            stamp % 1_000_000_000
        ));
        std::fs::create_dir_all(&dir)?;
        for d in ["cni-bin", "cni-conf", "opt", "logs", "images", "bin"] {
            std::fs::create_dir_all(dir.join(d))?;
        }
        let sock = dir.join("containerd.sock");
        let systemd = driver == Driver::Systemd;
        let mut hs = Vec::new();
        let mut runtimes = String::new();
        for (name, src) in handlers {
            let real = if name == "berth" {
                let dst = dir.join("bin").join(name);
                std::fs::copy(&src, &dst)
                    .with_context(|| format!("{} (cargo build)", src.display()))?;
                dst
            } else {
                src
            };
            let binary = if wrap {
                let w = dir.join("bin").join(format!("{name}-cri-wrap"));
                std::os::unix::fs::symlink(std::env::current_exe()?, &w)?;
                std::fs::write(
                    dir.join("bin").join(format!("{name}-cri-wrap.real")),
                    real.display().to_string(),
                )?;
                w
            } else {
                real.clone()
            };
            let root = dir.join(format!("{name}-root"));
            runtimes += &format!(
                r#"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{name}]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{name}.options]
        BinaryName = "{}"
        Root = "{}"
        SystemdCgroup = {systemd}
"#,
                binary.display(),
                root.display()
            );
            hs.push(Handler {
                name,
                binary,
                real,
                root: root.join("k8s.io"),
            });
        }
        let d = dir.display();
        let config = format!(
            r#"version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
[debug]
  address = "{d}/debug.sock"
  level = "info"
[metrics]
  address = ""
[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "{d}/opt"
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "{pause}"
    restrict_oom_score_adj = true
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    enable_selinux = false
    disable_apparmor = true
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "{d}/cni-bin"
      conf_dir = "{d}/cni-conf"
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
{runtimes}"#,
            pause = crate::images::PAUSE
        );
        std::fs::write(dir.join("config.toml"), config)?;
        let log = dir.join("containerd.log");
        let logf = std::fs::File::create(&log)?;
        let mut cmd = Command::new("containerd");
        cmd.arg("--config")
            .arg(dir.join("config.toml"))
            .env("BERTH_WAIT", strategy)
            .stdin(Stdio::null())
            .stdout(logf.try_clone()?)
            .stderr(logf);
        // Its own process group: a ^C at the terminal reaches the test, which tears down.
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
        let child = cmd
            .spawn()
            .context("containerd (apt-get install containerd)")?;
        let mut c = Containerd {
            dir,
            sock,
            handlers: hs,
            child: Some(child),
            log,
        };
        crate::register_cleanup(&c);
        let t0 = Instant::now();
        loop {
            if c.sock.exists()
                && Command::new("ctr")
                    .arg("--address")
                    .arg(&c.sock)
                    .arg("version")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(false)
            {
                break;
            }
            if let Some(st) = c.child.as_mut().unwrap().try_wait()? {
                let tail = c.log_tail(20);
                c.teardown();
                bail!("containerd exited ({st}):\n{tail}");
            }
            if t0.elapsed() > Duration::from_secs(20) {
                let tail = c.log_tail(20);
                c.teardown();
                bail!("containerd did not answer within 20 s:\n{tail}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(c)
    }

    pub fn log_tail(&self, n: usize) -> String {
        let s = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    pub fn ctr(&self, args: &[&str]) -> Result<String> {
        let out = Command::new("ctr")
            .arg("--address")
            .arg(&self.sock)
            .args(["-n", "k8s.io"])
            .args(args)
            .output()?;
        if !out.status.success() {
            bail!("ctr {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Stops containerd and removes everything it left. Idempotent.
    pub fn teardown(&mut self) {
        let _g = crate::TEARDOWN.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mut child) = self.child.take() {
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let t0 = Instant::now();
            while child.try_wait().ok().flatten().is_none() {
                if t0.elapsed() > Duration::from_secs(5) {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        hard_cleanup(
            &self.dir,
            &self.sock,
            &self
                .handlers
                .iter()
                .map(|h| (h.real.clone(), h.root.clone()))
                .collect::<Vec<_>>(),
        );
        crate::unregister_cleanup(&self.dir);
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// Without containerd: delete -f what the runtimes still hold, kill the shims of this containerd,
/// unmount and remove `dir`. Also called from the signal thread.
pub fn hard_cleanup(dir: &Path, sock: &Path, runtimes: &[(PathBuf, PathBuf)]) {
    // containerd itself (when called from the signal thread): it has the config path in its argv.
    let config = dir.join("config.toml");
    for pid in crate::check::pids_matching(&[&config.to_string_lossy(), "containerd"]) {
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    for (bin, root) in runtimes {
        if let Ok(rd) = std::fs::read_dir(root) {
            for e in rd.flatten() {
                let id = e.file_name().to_string_lossy().into_owned();
                let _ = Command::new(bin)
                    .arg("--root")
                    .arg(root)
                    .args(["delete", "-f", &id])
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
    let addr = sock.to_string_lossy().into_owned();
    for pid in crate::check::pids_matching(&["containerd-shim-runc-v2", &addr]) {
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    // Mounts under dir, deepest first.
    let prefix = format!("{}/", dir.display());
    let mut mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|m| m.starts_with(&prefix))
        .collect();
    mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in &mounts {
        if let Ok(c) = std::ffi::CString::new(m.as_str()) {
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
    let still = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(' ').nth(4).is_some_and(|m| m.starts_with(&prefix)));
    if still {
        eprintln!(
            "# cri: mounts left under {}; not removing it",
            dir.display()
        );
    } else if std::env::var_os("BERTH_CRI_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(dir);
    }
}
