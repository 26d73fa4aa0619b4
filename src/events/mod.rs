//! `events`: a running container's resource usage and out-of-memory events, one JSON object a
//! line, as runc prints them: `{"type":"stats","id":ID,"data":{...}}` every interval and
//! `{"type":"oom","id":ID}` each time the container runs out of memory. Knows nothing of the
//! command line.
//!
//! The stream ends (status 0) when the container's init has exited: its pidfd turns readable,
//! so a `delete -f` or an exit ends it at once, whatever the interval. Before it ends, the OOM
//! counter is read once more, so an OOM kill of init itself is reported.

mod oom;
mod stats;

use std::io::{self, Write};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use rustix::event::{poll, PollFd, PollFlags, Timespec};
use serde::Serialize;

use crate::container::{Container, Status};
use crate::teardown::wait::Strategy;

/// One line of `events`, fields in runc's order.
#[derive(Serialize)]
struct Event<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<stats::Stats>,
}

/// How often a process without a pidfd (older kernels) is looked at.
const POLL_WITHOUT_PIDFD: Duration = Duration::from_millis(100);

/// Prints container `c`'s usage once.
pub fn stats_once(c: &Container, out: &mut impl Write) -> Result<()> {
    running(c)?;
    print(out, c, "stats", Some(stats::collect(&c.cgroups()?)))
}

/// Prints `c`'s usage now and every `interval`, and each OOM event as it happens, until the
/// container's init exits.
pub fn watch(c: &Container, interval: Duration, out: &mut impl Write) -> Result<()> {
    if interval.is_zero() {
        bail!("the interval must be greater than 0");
    }
    running(c)?;
    let Some(init) = c.init(Strategy::detect()) else {
        bail!("container not running");
    };
    let cgroups = c.cgroups()?;
    let mut oom = match oom::Watch::new(&cgroups) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!("{e:#}; no out-of-memory events will be reported");
            None
        }
    };
    let mut next = Instant::now();
    loop {
        let now = Instant::now();
        if now >= next {
            print(out, c, "stats", Some(stats::collect(&cgroups)))?;
            next += interval;
            if next <= now {
                next = now + interval;
            }
        }
        let mut wait = next.saturating_duration_since(Instant::now());
        if !init.has_pidfd() {
            wait = wait.min(POLL_WITHOUT_PIDFD);
        }
        let mut fds = Vec::with_capacity(2);
        if let Some(fd) = init.pidfd() {
            fds.push(PollFd::new(fd, PollFlags::IN));
        }
        if let Some(w) = &oom {
            fds.push(PollFd::new(w.fd(), PollFlags::IN));
        }
        let timeout = Timespec {
            tv_sec: wait.as_secs() as i64,
            tv_nsec: i64::from(wait.subsec_nanos()),
        };
        match poll(&mut fds, Some(&timeout)) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(io::Error::from(e).into()),
        }
        drop(fds);
        if let Some(w) = &mut oom {
            for _ in 0..w.take() {
                print(out, c, "oom", None)?;
            }
        }
        if init.gone() {
            return Ok(());
        }
    }
}

fn running(c: &Container) -> Result<()> {
    if c.status() == Status::Stopped {
        bail!("container not running");
    }
    Ok(())
}

/// One event line, flushed at once (the reader may be waiting for it).
fn print(
    out: &mut impl Write,
    c: &Container,
    kind: &str,
    data: Option<stats::Stats>,
) -> Result<()> {
    let event = Event {
        kind,
        id: &c.id,
        data,
    };
    let mut line = serde_json::to_vec(&event)?;
    line.push(b'\n');
    out.write_all(&line)?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_in_runcs_order() {
        let e = Event {
            kind: "oom",
            id: "c1",
            data: None,
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"type":"oom","id":"c1"}"#
        );
        let e = Event {
            kind: "stats",
            id: "c1",
            data: Some(stats::Stats::default()),
        };
        let text = serde_json::to_string(&e).unwrap();
        assert!(
            text.starts_with(r#"{"type":"stats","id":"c1","data":{"cpu":"#),
            "{text}"
        );
    }
}
