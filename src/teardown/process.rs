//! One process of a container, and what "gone" means for it.
//!
//! A process is gone when it has exited: its pidfd is readable, or `/proc/PID/stat` shows state
//! `Z` or `X`, or the pid no longer exists, or the pid now belongs to a process with another
//! start time (it was reused). A zombie is gone: its parent reaps it, not berth.

use std::fs;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use rustix::event::{poll, PollFd, PollFlags};
use rustix::process::{pidfd_open, Pid, PidfdFlags};

/// What `/proc/PID/stat` says about a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// The state letter: R, S, D, T, Z, X, ...
    pub state: char,
    /// Start time in clock ticks since boot (field 22): with the pid, it names one process.
    pub start_time: u64,
}

impl Stat {
    pub fn read(pid: i32) -> Option<Stat> {
        let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name may hold spaces and parentheses: the fields start after the last ')'.
        let rest = &text[text.rfind(')')? + 1..];
        let mut fields = rest.split_whitespace();
        let state = fields.next()?.chars().next()?;
        // After the state come fields 4..; the start time is field 22, the 19th after state.
        let start_time = fields.nth(18)?.parse().ok()?;
        Some(Stat { state, start_time })
    }

    pub fn exited(&self) -> bool {
        matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// A handle on one process that stays valid when its pid is reused.
#[derive(Debug)]
pub struct Proc {
    pub pid: i32,
    /// From /proc/PID/stat; 0 for a pidfd handle opened without an expected start time.
    pub start_time: u64,
    /// Present with the pidfd strategy; signals go through it, and it turns readable on exit.
    pidfd: Option<OwnedFd>,
}

impl Proc {
    /// Opens a handle on the process that has `pid` now. `None` when it is already gone.
    /// With `expected_start`, a process with another start time is a reused pid: gone too.
    pub fn open(
        pid: i32,
        use_pidfd: bool,
        expected_start: Option<u64>,
    ) -> io::Result<Option<Proc>> {
        let pidfd = if use_pidfd {
            match Pid::from_raw(pid).map(|p| pidfd_open(p, PidfdFlags::empty())) {
                Some(Ok(fd)) => Some(fd),
                Some(Err(rustix::io::Errno::SRCH)) | None => return Ok(None),
                Some(Err(e)) => return Err(e.into()),
            }
        } else {
            None
        };
        // With a pidfd, the pidfd itself names the process: its start time is only needed to
        // tell whether a pid is still the one expected (init). Skipping the /proc read halves
        // the cost of a handle, which counts when a container has a thousand processes.
        let start_time = if pidfd.is_none() || expected_start.is_some() {
            let Some(stat) = Stat::read(pid) else {
                return Ok(None);
            };
            if stat.exited() || expected_start.is_some_and(|s| s != stat.start_time) {
                return Ok(None);
            }
            stat.start_time
        } else {
            0
        };
        let proc = Proc {
            pid,
            start_time,
            pidfd,
        };
        // A zombie (or, with a stat read, a process that exited since) is gone already.
        Ok((!proc.gone()).then_some(proc))
    }

    pub fn has_pidfd(&self) -> bool {
        self.pidfd.is_some()
    }

    pub fn pidfd(&self) -> Option<&OwnedFd> {
        self.pidfd.as_ref()
    }

    /// Sends `sig` (0 included). A process that is already gone is not an error.
    pub fn signal(&self, sig: i32) -> io::Result<()> {
        let res = match &self.pidfd {
            Some(fd) => pidfd_send_signal(fd, sig),
            None => {
                // Without a pidfd, check the start time right before the signal: the window
                // for a reused pid is as small as it can be made.
                if self.gone() {
                    return Ok(());
                }
                // SAFETY: kill(2) takes plain integers.
                if unsafe { libc::kill(self.pid, sig) } == 0 {
                    Ok(())
                } else {
                    Err(io::Error::last_os_error())
                }
            }
        };
        match res {
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
            other => other,
        }
    }

    pub fn gone(&self) -> bool {
        match &self.pidfd {
            Some(fd) => pidfd_readable(fd, 0),
            None => match Stat::read(self.pid) {
                None => true,
                Some(s) => s.exited() || s.start_time != self.start_time,
            },
        }
    }
}

/// Whether a pidfd reports its process exited, waiting at most `timeout_ms`.
pub fn pidfd_readable(fd: &OwnedFd, timeout_ms: i64) -> bool {
    let mut fds = [PollFd::new(fd, PollFlags::IN)];
    let timeout = rustix::event::Timespec {
        tv_sec: timeout_ms / 1000,
        tv_nsec: (timeout_ms % 1000) * 1_000_000,
    };
    matches!(poll(&mut fds, Some(&timeout)), Ok(n) if n > 0)
}

/// pidfd_send_signal(2). rustix's wrapper takes its `Signal` type, which cannot express signal 0
/// or every real-time signal that `kill` accepts, so the raw syscall is used here.
fn pidfd_send_signal(fd: &impl AsFd, sig: i32) -> io::Result<()> {
    // SAFETY: the fd is a live pidfd; a null siginfo and zero flags are what the kernel expects.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_fd().as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether this kernel has pidfd_open(2) (Linux 5.3+).
pub fn pidfd_supported() -> bool {
    let me = Pid::from_raw(std::process::id() as i32).expect("own pid is positive");
    pidfd_open(me, PidfdFlags::empty()).is_ok()
}
