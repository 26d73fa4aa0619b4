//! berth as a Kubernetes RuntimeClass handler: the CRI calls the kubelet makes, against a private
//! containerd 1.6 (CRI plugin) whose runc shim v2 runs berth ("berth" handler) or Debian's runc
//! ("runc" handler, for contrast). Needs root; run it with integration/cri/run.sh.
//!
//! Its own harness (libtest's output format, "test result:" line at the end): for the cgroup driver
//! of the machine it runs on (cgroupfs on the machine's own layout; systemd inside
//! scripts/systemd-host, or BERTH_CRI_DRIVER=cgroupfs|systemd), for each teardown wait strategy
//! (BERTH_CRI_STRATEGIES, default "pidfd poll": containerd runs with BERTH_WAIT set, the shim
//! passes it to berth), one containerd is started, the images are imported, and each scenario runs
//! for berth (runc: with the first strategy only, BERTH_WAIT means nothing to it). Test names are
//! DRIVER/STRATEGY/HANDLER/SCENARIO. Arguments that do not start with "-" filter by substring.
//! containerd, its shims and whatever they left are torn down at the end, after a failure, and on
//! SIGINT/SIGTERM/SIGHUP.
//!
//! Environment: BERTH_BIN (default target/debug/berth), BERTH_CRI_DRIVER, BERTH_CRI_STRATEGIES,
//! BERTH_CRI_RUNC=0 (berth only), BERTH_CRI_TIMING_RUNS (default 5), BERTH_CRI_KEEP=1 (keep the
//! temporary directory with containerd's log).

mod check;
mod client;
mod containerd;
mod images;
mod scenarios;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Driver {
    Cgroupfs,
    Systemd,
}

impl Driver {
    pub fn name(self) -> &'static str {
        match self {
            Driver::Cgroupfs => "cgroupfs",
            Driver::Systemd => "systemd",
        }
    }
    /// First digits of the pods' markers: a run on the machine's own layout sees the systemd
    /// host's processes and must not take them for its own.
    pub fn marker_prefix(self) -> &'static str {
        match self {
            Driver::Cgroupfs => "3195",
            Driver::Systemd => "3196",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Cleanup registry for the signal thread: (dir, socket, [(runtime, root)]) of live containerds.

type Cleanup = (PathBuf, PathBuf, Vec<(PathBuf, PathBuf)>);
static CLEANUPS: Mutex<Vec<Cleanup>> = Mutex::new(Vec::new());
/// Set by the signal thread: start nothing new.
pub static ABORT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// Held while a containerd is torn down (by the main thread or the signal thread).
pub static TEARDOWN: Mutex<()> = Mutex::new(());
/// Pod cgroups (cgroupfs: path) and slices (systemd) made and not yet removed.
static PODS: Mutex<Vec<(String, Option<String>)>> = Mutex::new(Vec::new());

pub fn register_pod(cgroup: &str, slice: Option<&str>) {
    PODS.lock()
        .unwrap()
        .push((cgroup.to_string(), slice.map(str::to_string)));
}

/// What the kubelet does after RemovePodSandbox: remove the pod's cgroup (cgroupfs, in every
/// hierarchy) or stop its slice (systemd).
pub fn remove_pod_cgroup(cgroup: &str, slice: Option<&str>) {
    match slice {
        None => {
            for d in check::cgroup_dirs(cgroup) {
                let _ = std::fs::remove_dir(&d);
            }
        }
        Some(s) => {
            let _ = std::process::Command::new("systemctl")
                .args(["stop", s])
                .status();
        }
    }
    // Forgotten once gone; else tried again after the teardown (remove_registered_pods).
    if slice.is_some() || check::cgroup_dirs(cgroup).is_empty() {
        PODS.lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|p| p.0 != cgroup);
    }
}

/// After a containerd's teardown (its containers deleted): the pods' cgroups and slices still
/// registered, and the pods' parents (cgroupfs) when empty.
pub fn remove_registered_pods() {
    let pods = PODS.lock().map(|l| l.clone()).unwrap_or_default();
    for (cg, slice) in pods {
        remove_pod_cgroup(&cg, slice.as_deref());
    }
    for rel in ["kubepods/besteffort", "kubepods"] {
        for d in check::cgroup_dirs(rel) {
            let _ = std::fs::remove_dir(d);
        }
    }
}

pub fn register_cleanup(c: &containerd::Containerd) {
    let rts = c
        .handlers
        .iter()
        .map(|h| (h.real.clone(), h.root.clone()))
        .collect();
    CLEANUPS
        .lock()
        .unwrap()
        .push((c.dir.clone(), c.sock.clone(), rts));
}

pub fn unregister_cleanup(dir: &Path) {
    CLEANUPS.lock().unwrap().retain(|c| c.0 != dir);
}

/// SIGINT/SIGTERM/SIGHUP: tear down every containerd (without its help) and exit 130.
fn signal_thread() {
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        std::thread::spawn(move || {
            let mut sig = 0;
            libc::sigwait(&set, &mut sig);
            eprintln!("# cri: signal {sig}: tearing down");
            ABORT.store(true, std::sync::atomic::Ordering::SeqCst);
            let _g = TEARDOWN.lock().unwrap_or_else(|e| e.into_inner());
            let list = CLEANUPS.lock().map(|l| l.clone()).unwrap_or_default();
            for (dir, sock, rts) in list {
                containerd::hard_cleanup(&dir, &sock, &rts);
            }
            remove_registered_pods();
            std::process::exit(130);
        });
    }
}

// ---------------------------------------------------------------------------------------------
// The systemd driver's wrapper (see scenarios::SYSTEMD_NOTE): invoked as BinaryName through a
// symlink named *-cri-wrap to this executable; strips linux.resources from `create`'s config.json
// and execs the runtime named in <argv0>.real.

fn wrapper(argv0: &str) -> ! {
    use std::os::unix::process::CommandExt;
    let real = std::fs::read_to_string(format!("{argv0}.real")).expect("wrapper: .real file");
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "create") {
        if let Some(i) = args.iter().position(|a| a == "--bundle" || a == "-b") {
            let cfg = Path::new(&args[i + 1]).join("config.json");
            if let Ok(s) = std::fs::read(&cfg) {
                if let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&s) {
                    if let Some(l) = v.get_mut("linux").and_then(|l| l.as_object_mut()) {
                        l.remove("resources");
                    }
                    let _ = std::fs::write(&cfg, serde_json::to_vec(&v).unwrap());
                }
            }
        }
    }
    let e = std::process::Command::new(real.trim())
        .arg0(real.trim())
        .args(&args)
        .exec();
    eprintln!("wrapper: exec {real}: {e}");
    std::process::exit(1)
}

// ---------------------------------------------------------------------------------------------

pub enum Outcome {
    Ok,
    Failed(String),
    Ignored(String),
}

pub struct Results {
    pub list: Vec<(String, Outcome)>,
    pub notes: Vec<String>,
}

impl Results {
    pub fn record(&mut self, name: String, o: Outcome) {
        match &o {
            Outcome::Ok => println!("test {name} ... ok"),
            Outcome::Failed(_) => println!("test {name} ... FAILED"),
            Outcome::Ignored(r) => println!("test {name} ... ignored, {r}"),
        }
        self.list.push((name, o));
    }
}

fn detect_driver() -> Driver {
    match std::env::var("BERTH_CRI_DRIVER").as_deref() {
        Ok("systemd") => return Driver::Systemd,
        Ok("cgroupfs") => return Driver::Cgroupfs,
        _ => {}
    }
    let v2 = nix_statfs_is_cgroup2("/sys/fs/cgroup");
    if v2 && Path::new("/run/systemd/system").is_dir() {
        Driver::Systemd
    } else {
        Driver::Cgroupfs
    }
}

fn nix_statfs_is_cgroup2(p: &str) -> bool {
    let c = std::ffi::CString::new(p).unwrap();
    let mut s: libc::statfs = unsafe { std::mem::zeroed() };
    unsafe { libc::statfs(c.as_ptr(), &mut s) == 0 && s.f_type == libc::CGROUP2_SUPER_MAGIC }
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

fn main() {
    let argv0 = std::env::args().next().unwrap_or_default();
    if argv0.ends_with("-cri-wrap") {
        wrapper(&argv0);
    }
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let t0 = Instant::now();
    let mut res = Results {
        list: Vec::new(),
        notes: Vec::new(),
    };

    // Skip only when containerd genuinely cannot run here.
    let skip = if unsafe { libc::geteuid() } != 0 {
        Some("needs root".to_string())
    } else if which("containerd").is_none() || which("ctr").is_none() {
        Some("containerd is not installed (integration/cri/run.sh installs it)".to_string())
    } else {
        None
    };
    if let Some(why) = skip {
        println!("\nrunning 1 test");
        println!("# cri: skipped: {why}");
        res.record("cri::skipped".into(), Outcome::Ok);
        finish(res, t0);
    }

    signal_thread();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(scenarios::run_all(detect_driver(), &filters, &mut res));
    finish(res, t0);
}

fn finish(res: Results, t0: Instant) -> ! {
    let failed: Vec<&(String, Outcome)> = res
        .list
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Failed(_)))
        .collect();
    let ignored = res
        .list
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Ignored(_)))
        .count();
    let passed = res.list.len() - failed.len() - ignored;
    for n in &res.notes {
        println!("# {n}");
    }
    // Per driver/strategy/handler group: counts.
    let mut groups: Vec<(String, usize, usize, usize)> = Vec::new();
    for (name, o) in &res.list {
        let g = name
            .rsplit_once('/')
            .map(|(g, _)| g.to_string())
            .unwrap_or_default();
        if !groups.iter().any(|x| x.0 == g) {
            groups.push((g.clone(), 0, 0, 0));
        }
        let e = groups.iter_mut().find(|x| x.0 == g).unwrap();
        match o {
            Outcome::Ok => e.1 += 1,
            Outcome::Failed(_) => e.2 += 1,
            Outcome::Ignored(_) => e.3 += 1,
        }
    }
    for (g, p, f, i) in &groups {
        println!("# {g}: {p} passed, {f} failed, {i} ignored");
    }
    if !failed.is_empty() {
        println!("\nfailures:\n");
        for (name, o) in &failed {
            if let Outcome::Failed(m) = o {
                println!("---- {name} ----\n{m}\n");
            }
        }
        println!("failures:");
        for (name, _) in &failed {
            println!("    {name}");
        }
    }
    println!(
        "\ntest result: {}. {passed} passed; {} failed; {ignored} ignored; 0 measured; 0 filtered out; finished in {:.2}s\n",
        if failed.is_empty() { "ok" } else { "FAILED" },
        failed.len(),
        t0.elapsed().as_secs_f64()
    );
    let _ = Duration::ZERO;
    std::process::exit(if failed.is_empty() { 0 } else { 101 })
}
