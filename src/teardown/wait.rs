//! Waiting until a set of processes has exited, by a deadline.
//!
//! Two strategies behind one function: pidfds polled together (event driven, kernel 5.3+), or
//! `/proc/PID/stat` polled with an exponential backoff (older kernels, or forced for tests with
//! `BERTH_WAIT=poll`).

use std::time::{Duration, Instant};

use rustix::buffer::spare_capacity;
use rustix::event::epoll;

use super::process::{pidfd_supported, Proc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    Pidfd,
    Poll,
}

impl Strategy {
    /// `BERTH_WAIT=pidfd|poll` forces a strategy; otherwise the kernel is probed.
    pub fn detect() -> Strategy {
        match std::env::var("BERTH_WAIT").as_deref() {
            Ok("poll") => Strategy::Poll,
            Ok("pidfd") => Strategy::Pidfd,
            _ if pidfd_supported() => Strategy::Pidfd,
            _ => Strategy::Poll,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Strategy::Pidfd => "pidfd",
            Strategy::Poll => "poll",
        }
    }
}

const BACKOFF_START: Duration = Duration::from_millis(1);
/// The first interval after which pidfds are polled afresh (see [`wait_gone`]).
const RECHECK_START: Duration = Duration::from_millis(10);
const BACKOFF_CAP: Duration = Duration::from_millis(100);

/// Waits until every process in `procs` is gone or `deadline` passes; returns the survivors.
/// Processes with a pidfd are waited on together by epoll; the others by reading their stat.
pub fn wait_gone(procs: Vec<&Proc>, deadline: Instant) -> Vec<&Proc> {
    let (mut with_fd, mut without_fd): (Vec<&Proc>, Vec<&Proc>) =
        procs.into_iter().partition(|p| p.has_pidfd());
    let mut backoff = BACKOFF_START;
    let mut recheck = RECHECK_START;
    loop {
        without_fd.retain(|p| !p.gone());
        let now = Instant::now();
        let mut timeout = deadline.saturating_duration_since(now);
        if !without_fd.is_empty() {
            timeout = timeout.min(backoff);
            backoff = (backoff * 2).min(BACKOFF_CAP);
        }
        if !with_fd.is_empty() {
            with_fd = still_running(with_fd, timeout.min(recheck));
            // The kernel can miss a pidfd's wake-up: seen on 6.18 for a pid namespace's init
            // that reaped an exec'd process while dying, whose pidfd was already in the epoll
            // set: it stayed a zombie, unreported, until the deadline. A fresh poll of each
            // pidfd at growing intervals bounds what a missed wake-up costs.
            with_fd.retain(|p| !p.gone());
            recheck = (recheck * 2).min(BACKOFF_CAP);
        } else if !without_fd.is_empty() && now < deadline {
            std::thread::sleep(timeout);
        }
        if (with_fd.is_empty() && without_fd.is_empty()) || Instant::now() >= deadline {
            without_fd.retain(|p| !p.gone());
            with_fd.extend(without_fd);
            return with_fd;
        }
    }
}

/// Waits on every pidfd in one epoll set until all are readable or `timeout` passes, and returns
/// the processes still running. Each exit is one event: a thousand exits cost a thousand events,
/// where poll(2) would rescan every remaining fd on each wake-up.
fn still_running(procs: Vec<&Proc>, timeout: Duration) -> Vec<&Proc> {
    let until = Instant::now() + timeout;
    let Ok(ep) = epoll::create(epoll::CreateFlags::CLOEXEC) else {
        return procs;
    };
    let mut running = vec![true; procs.len()];
    let mut left = 0;
    for (i, p) in procs.iter().enumerate() {
        let fd = p.pidfd().expect("partitioned on pidfd");
        let data = epoll::EventData::new_u64(i as u64);
        if epoll::add(&ep, fd, data, epoll::EventFlags::IN).is_ok() {
            left += 1;
        }
    }
    let mut events = Vec::with_capacity(256);
    while left > 0 {
        let remaining = until.saturating_duration_since(Instant::now());
        let ts = rustix::event::Timespec {
            tv_sec: remaining.as_secs() as i64,
            tv_nsec: remaining.subsec_nanos() as i64,
        };
        events.clear();
        match epoll::wait(&ep, spare_capacity(&mut events), Some(&ts)) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => break,
        }
        if events.is_empty() {
            break;
        }
        for event in &events {
            let i = event.data.u64() as usize;
            if std::mem::take(&mut running[i]) {
                left -= 1;
                // A pidfd stays readable: take it out so it is not reported again.
                let _ = epoll::delete(&ep, procs[i].pidfd().expect("partitioned on pidfd"));
            }
        }
    }
    procs
        .into_iter()
        .zip(running)
        .filter_map(|(p, r)| r.then_some(p))
        .collect()
}
