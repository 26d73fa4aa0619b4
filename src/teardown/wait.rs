//! Waiting until a set of processes has exited, by a deadline.
//!
//! Two strategies behind one function: pidfds polled together (event driven, kernel 5.3+), or
//! `/proc/PID/stat` polled with an exponential backoff (older kernels, or forced for tests with
//! `BERTH_WAIT=poll`).

use std::os::fd::OwnedFd;
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
    let (with_fd, mut without_fd): (Vec<&Proc>, Vec<&Proc>) =
        procs.into_iter().partition(|p| p.has_pidfd());
    let mut with_fd = PidfdSet::new(with_fd);
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
        if with_fd.left > 0 {
            with_fd.wait(timeout.min(recheck));
            // The kernel can miss a pidfd's wake-up: seen on 6.18 for a pid namespace's init
            // that reaped an exec'd process while dying, whose pidfd was already in the epoll
            // set: it stayed a zombie, unreported, until the deadline. A fresh poll of each
            // pidfd at growing intervals bounds what a missed wake-up costs.
            with_fd.recheck();
            recheck = (recheck * 2).min(BACKOFF_CAP);
        } else if !without_fd.is_empty() && now < deadline {
            std::thread::sleep(timeout);
        }
        if (with_fd.left == 0 && without_fd.is_empty()) || Instant::now() >= deadline {
            without_fd.retain(|p| !p.gone());
            let mut survivors = with_fd.running();
            survivors.extend(without_fd);
            return survivors;
        }
    }
}

/// Processes with pidfds, waited on in one epoll set that lasts the whole wait: each exit is one
/// event, so a thousand exits cost a thousand events, where poll(2) would rescan every remaining
/// fd on each wake-up.
struct PidfdSet<'a> {
    /// None when epoll is unavailable: then only [`PidfdSet::recheck`] finds exits.
    ep: Option<OwnedFd>,
    procs: Vec<&'a Proc>,
    running: Vec<bool>,
    left: usize,
}

impl<'a> PidfdSet<'a> {
    fn new(procs: Vec<&'a Proc>) -> PidfdSet<'a> {
        let ep = epoll::create(epoll::CreateFlags::CLOEXEC).ok();
        if let Some(ep) = &ep {
            for (i, p) in procs.iter().enumerate() {
                let fd = p.pidfd().expect("partitioned on pidfd");
                let _ = epoll::add(
                    ep,
                    fd,
                    epoll::EventData::new_u64(i as u64),
                    epoll::EventFlags::IN,
                );
            }
        }
        PidfdSet {
            ep,
            running: vec![true; procs.len()],
            left: procs.len(),
            procs,
        }
    }

    /// Records process `i` as exited and takes its pidfd out of the set (a pidfd stays readable:
    /// it would be reported again).
    fn exited(&mut self, i: usize) {
        if std::mem::take(&mut self.running[i]) {
            self.left -= 1;
            if let Some(ep) = &self.ep {
                let _ = epoll::delete(ep, self.procs[i].pidfd().expect("partitioned on pidfd"));
            }
        }
    }

    /// Waits until every process has exited or `timeout` passes.
    fn wait(&mut self, timeout: Duration) {
        let until = Instant::now() + timeout;
        let mut events = Vec::with_capacity(256);
        while self.left > 0 {
            let Some(ep) = &self.ep else {
                std::thread::sleep(timeout);
                return;
            };
            let remaining = until.saturating_duration_since(Instant::now());
            let ts = rustix::event::Timespec {
                tv_sec: remaining.as_secs() as i64,
                tv_nsec: remaining.subsec_nanos() as i64,
            };
            events.clear();
            match epoll::wait(ep, spare_capacity(&mut events), Some(&ts)) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => break,
            }
            if events.is_empty() {
                break;
            }
            for event in &events {
                self.exited(event.data.u64() as usize);
            }
        }
    }

    /// Polls every running process's pidfd afresh, not trusting the wake-ups alone.
    fn recheck(&mut self) {
        for i in 0..self.procs.len() {
            if self.running[i] && self.procs[i].gone() {
                self.exited(i);
            }
        }
    }

    fn running(&self) -> Vec<&'a Proc> {
        self.procs
            .iter()
            .zip(&self.running)
            .filter_map(|(p, r)| r.then_some(*p))
            .collect()
    }
}
