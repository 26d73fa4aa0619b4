//! Out-of-memory notifications for a container's memory cgroup, as a descriptor to poll.
//!
//! - cgroup v1: an eventfd registered for `memory.oom_control` through `cgroup.event_control`;
//!   the kernel counts one on it each time the cgroup runs out of memory (and once more when the
//!   cgroup is removed, which is told apart by `memory.oom_control` being gone).
//! - cgroup v2: inotify on `memory.events`, whose `oom_kill` counter grows by one for each
//!   process the OOM killer kills in the cgroup (or below it). The counter itself is the truth:
//!   the watch only says when to read it again.

use std::fs::{self, File};
use std::io::{self, ErrorKind};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use rustix::event::{eventfd, EventfdFlags};
use rustix::fs::inotify;

use crate::resources::{layout, memory_dir};
use crate::teardown::cgroup::{Cgroups, Version};

pub enum Watch {
    V1 {
        eventfd: OwnedFd,
        /// Held open: the registration lasts as long as both descriptors.
        _oom_control: File,
        dir: PathBuf,
    },
    V2 {
        inotify: OwnedFd,
        dir: PathBuf,
        /// `oom_kill` as last read.
        seen: u64,
    },
}

impl Watch {
    /// A watch on the memory cgroup of `cgroups`; `None` where the container has none (its
    /// memory controller is not there): then there is nothing to report.
    pub fn new(cgroups: &Cgroups) -> Result<Option<Watch>> {
        let Some(dir) = memory_dir(cgroups) else {
            return Ok(None);
        };
        let watch = match layout(cgroups) {
            Some(Version::V1) => Self::v1(dir),
            Some(Version::V2) => Self::v2(dir),
            None => return Ok(None),
        };
        match watch {
            Ok(w) => Ok(Some(w)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| {
                format!("cannot watch {} for out-of-memory events", dir.display())
            }),
        }
    }

    fn v1(dir: &Path) -> io::Result<Watch> {
        let oom_control = File::open(dir.join("memory.oom_control"))?;
        let eventfd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        let line = format!("{} {}", eventfd.as_raw_fd(), oom_control.as_raw_fd());
        fs::write(dir.join("cgroup.event_control"), line)?;
        Ok(Watch::V1 {
            eventfd,
            _oom_control: oom_control,
            dir: dir.to_path_buf(),
        })
    }

    fn v2(dir: &Path) -> io::Result<Watch> {
        let events = dir.join("memory.events");
        let inotify =
            inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK)?;
        inotify::add_watch(&inotify, &events, inotify::WatchFlags::MODIFY)?;
        // Read after the watch is in place: a kill between the two is counted once.
        let seen = oom_kills(dir)?;
        Ok(Watch::V2 {
            inotify,
            dir: dir.to_path_buf(),
            seen,
        })
    }

    /// The descriptor that turns readable when there may be news.
    pub fn fd(&self) -> &OwnedFd {
        match self {
            Watch::V1 { eventfd, .. } => eventfd,
            Watch::V2 { inotify, .. } => inotify,
        }
    }

    /// How many out-of-memory events happened since the last call (without waiting).
    pub fn take(&mut self) -> u64 {
        match self {
            Watch::V1 { eventfd, dir, .. } => {
                let mut buf = [0u8; 8];
                let count = match rustix::io::read(&*eventfd, &mut buf) {
                    Ok(8) => u64::from_ne_bytes(buf),
                    _ => 0,
                };
                // The last count of a removed cgroup is its removal, not an OOM.
                if count > 0 && !dir.join("memory.oom_control").exists() {
                    return 0;
                }
                count
            }
            Watch::V2 {
                inotify, dir, seen, ..
            } => {
                let mut buf = [0u8; 4096];
                while matches!(rustix::io::read(&*inotify, &mut buf), Ok(n) if n > 0) {}
                let Ok(now) = oom_kills(dir) else {
                    return 0;
                };
                let new = now.saturating_sub(*seen);
                *seen = now.max(*seen);
                new
            }
        }
    }
}

/// The `oom_kill` count of v2's `memory.events`.
fn oom_kills(dir: &Path) -> io::Result<u64> {
    let text = fs::read_to_string(dir.join("memory.events"))?;
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0))
}
