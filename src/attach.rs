//! Starting the kernel's cgroup-attach grace period early.
//!
//! Moving a process into a cgroup (a write to `cgroup.procs`) takes the kernel's global
//! `cgroup_threadgroup_rwsem` for writing. When no attach happened for a while, taking it waits
//! for an RCU grace period (`rcu_sync_enter`): 8–20 ms on a quiet machine, while attaches that
//! follow within a grace period of the last one take microseconds. libcontainer's intermediate
//! process attaches itself only after berth has parsed the bundle and forked, so on a quiet
//! machine that wait starts late and `create` spends it idle.
//!
//! [`start_grace_period`] forks a helper that attaches itself to the cgroup it is already in
//! (`cgroup.procs` ← `0`: it moves nowhere) as soon as `create` begins, so the grace period
//! runs while berth does its own work. The helper then attaches itself again every
//! [`KEEP_WARM`], well within a grace period, until berth ends it: once the write side has
//! been left for a whole grace period the next attach waits for a new one, and `create`
//! attaches more than once, some milliseconds apart (berth joining the hierarchies
//! libcontainer leaves alone, then libcontainer's intermediate process). Without the repeats
//! the second attach paid a second full grace period. The helper makes only raw system calls
//! between fork and `_exit`, gives up by itself after [`KEEP_WARM_MAX`] repeats (should berth
//! die), and berth kills it as soon as its attaches are done (a thread reaps it, off the way).
//! What it saves varies with the grace period's length; right after another attach, when there
//! is nothing to save, it costs a millisecond or two (the README's benchmark compares berth
//! with and without it in both states). Hosts can remove the wait altogether by mounting
//! cgroup2 with `favordynmods`.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::{fork, ForkResult, Pid};

use crate::teardown::cgroup::{mounted_hierarchies, Version};

/// How often the helper attaches itself again: well within an RCU grace period (8–20 ms on a
/// quiet machine), so the write side never goes cold while it runs.
const KEEP_WARM: Duration = Duration::from_millis(2);

/// How many times the helper attaches itself again before it gives up on its own: about a
/// second, longer than any `create` takes to reach its last attach.
const KEEP_WARM_MAX: u32 = 500;

/// The helper; ended (killed and reaped) by [`GracePeriod::end`] or on drop.
pub struct GracePeriod(Option<Pid>);

impl GracePeriod {
    /// Ends the helper: berth's own attaches are done.
    pub fn end(mut self) {
        self.stop();
    }

    /// Kills the helper; a thread of its own reaps it, off `create`'s path (the helper's exit
    /// takes a few hundred microseconds). Should berth exit first, init reaps it.
    fn stop(&mut self) {
        let Some(pid) = self.0.take() else {
            return;
        };
        let _ = kill(pid, Signal::SIGKILL);
        // The reaper takes no signal: a foreground `run` forwards them from the main thread.
        let old = SigSet::all().thread_swap_mask(SigmaskHow::SIG_BLOCK).ok();
        let reaper = std::thread::Builder::new()
            .name("berth-reap".into())
            .spawn(move || waitpid(pid, None));
        if let Some(old) = old {
            let _ = old.thread_set_mask();
        }
        if reaper.is_err() {
            let _ = waitpid(pid, None);
        }
    }
}

impl Drop for GracePeriod {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Passes a helper on to the program this process is about to execute (berth re-executing
/// itself, `exe.rs`): the helper stays this pid's child; the environment entry names it.
const HANDOVER: &str = "_BERTH_GRACE_PERIOD_PID";

impl GracePeriod {
    /// No helper (a command that attaches nothing).
    pub fn none() -> GracePeriod {
        GracePeriod(None)
    }

    /// The environment entry that hands the helper over to the program this process executes
    /// next. Should the execution fail, dropping this value still ends the helper.
    pub fn handover_env(&self) -> Vec<(String, String)> {
        match self.0 {
            Some(pid) => vec![(HANDOVER.to_string(), pid.to_string())],
            None => Vec::new(),
        }
    }
}

/// Forks the helper, or takes over the one handed over before berth re-executed; does nothing
/// (and reports nothing) if there is no cgroup file to write.
pub fn start_grace_period() -> GracePeriod {
    if let Some(pid) = std::env::var_os(HANDOVER) {
        std::env::remove_var(HANDOVER);
        let pid = pid.to_str().and_then(|p| p.parse().ok()).map(Pid::from_raw);
        return GracePeriod(pid);
    }
    if std::env::var_os("BERTH_NO_EARLY_ATTACH").is_some() {
        return GracePeriod(None);
    }
    let Some(path) = own_procs_file().and_then(|p| CString::new(p.as_os_str().as_bytes()).ok())
    else {
        return GracePeriod(None);
    };
    let pause = libc::timespec {
        tv_sec: 0,
        tv_nsec: KEEP_WARM.as_nanos() as libc::c_long,
    };
    // SAFETY: berth is single-threaded here, and the child makes only async-signal-safe
    // system calls on memory prepared before the fork.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => unsafe {
            // berth forks it before closing what the caller passed down, and it may outlive a
            // berth that exits at once (`create --help`): it must hold none of the caller's
            // descriptors (a caller reading berth's output to its end would wait for it).
            libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32);
            let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            if fd >= 0 {
                for _ in 0..=KEEP_WARM_MAX {
                    if libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                        break;
                    }
                    libc::nanosleep(&pause, std::ptr::null_mut());
                }
            }
            libc::_exit(0)
        },
        Ok(ForkResult::Parent { child }) => GracePeriod(Some(child)),
        Err(_) => GracePeriod(None),
    }
}

/// `cgroup.procs` of the cgroup this process is in, in the first hierarchy mounted here.
fn own_procs_file() -> Option<PathBuf> {
    let hierarchies = mounted_hierarchies().ok()?;
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    for line in own.lines() {
        // hierarchy-id:controllers:path; v2 is "0::path"
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let rel = path.trim_start_matches('/');
        let mut own: Vec<&str> = controllers.split(',').filter(|c| !c.is_empty()).collect();
        own.sort_unstable();
        for (mount, version, ctrls) in &hierarchies {
            let same = match version {
                Version::V2 => own.is_empty(),
                Version::V1 => {
                    let mut mounted: Vec<&str> = ctrls.iter().map(String::as_str).collect();
                    mounted.sort_unstable();
                    !own.is_empty() && own == mounted
                }
            };
            let file = mount.join(rel).join("cgroup.procs");
            if same && file.exists() {
                return Some(file);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::own_procs_file;

    #[test]
    fn own_procs_file_lists_this_process() {
        let file = own_procs_file().expect("a cgroup.procs file for this process");
        let pids = std::fs::read_to_string(&file).unwrap();
        let me = std::process::id().to_string();
        assert!(
            pids.lines().any(|l| l == me),
            "{} does not list {me}",
            file.display()
        );
    }
}
