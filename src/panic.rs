//! A panic (a bug in berth or in a library) is a failure like any other: one line naming the
//! container, exit status 1, no backtrace, and `create` still cleans up after it.
//!
//! The hook prints nothing in berth itself: [`catch`] turns the panic into an error that the
//! caller handles (create's clean-up) and `main` reports. libcontainer's forks of berth (the
//! processes that become a container's init or exec'd process) run on a copy of berth's stack:
//! a panic there must not unwind into berth's frames and run berth's clean-up a second time
//! from the fork, so the hook writes the line and ends the fork at once.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Mutex, OnceLock};

use anyhow::{anyhow, Result};

/// berth's own pid, to tell a fork of libcontainer's from berth.
static BERTH_PID: OnceLock<u32> = OnceLock::new();
/// The last panic's message and place, for [`catch`].
static LAST: Mutex<Option<String>> = Mutex::new(None);

pub fn install() {
    let _ = BERTH_PID.set(std::process::id());
    panic::set_hook(Box::new(|info| {
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let text = format!("internal error: {}{place}", message(info.payload()));
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if BERTH_PID.get() != Some(&std::process::id()) {
            eprintln!("berth: {text}");
            // SAFETY: _exit ends this fork without running anything of berth's.
            unsafe { libc::_exit(1) };
        }
        if let Ok(mut last) = LAST.lock() {
            *last = Some(text);
        }
    }));
}

/// Runs `f`; a panic in it becomes an `internal error: ...` error.
pub fn catch<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let recorded = LAST.lock().ok().and_then(|mut l| l.take());
        Err(anyhow!(recorded.unwrap_or_else(|| format!(
            "internal error: {}",
            message(payload.as_ref())
        ))))
    })
}

fn message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_string())
}

/// A panic on purpose, for the tests of the path above: `BERTH_FAULT=POINT` makes berth panic
/// at `fault(POINT)`. Compiled into debug builds only (the ones the tests run).
#[cfg(debug_assertions)]
#[track_caller]
pub fn fault(point: &str) {
    if std::env::var_os("BERTH_FAULT").is_some_and(|p| p == point) {
        panic!("fault injected at {point} (BERTH_FAULT)");
    }
}

#[cfg(not(debug_assertions))]
pub fn fault(_point: &str) {}
