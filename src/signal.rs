//! Signal names and numbers, parsed the way runc parses them; and the early catch of the
//! signals a foreground `run` or `exec` forwards.

use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

use anyhow::{bail, Result};

const NAMES: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGIOT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("POLL", libc::SIGPOLL),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

/// The highest signal number the kernel accepts (SIGRTMAX).
const MAX_SIGNAL: i32 = 64;

/// Parses a decimal number (0 included) or a name in any case with or without `SIG`
/// (`KILL`, `kill`, `SIGKILL`, `9`, `RTMIN+3`). Anything else: `unknown signal "X"`.
pub fn parse(text: &str) -> Result<i32> {
    if let Ok(n) = text.parse::<i32>() {
        if (0..=MAX_SIGNAL).contains(&n) {
            return Ok(n);
        }
        bail!("unknown signal {text:?}");
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(&(_, n)) = NAMES.iter().find(|(n, _)| *n == name) {
        return Ok(n);
    }
    let rt = |base: i32, off: &str| off.parse::<i32>().ok().map(|o| base + o);
    let rtmin = libc::SIGRTMIN();
    let rtmax = libc::SIGRTMAX();
    let n = match name {
        "RTMIN" => Some(rtmin),
        "RTMAX" => Some(rtmax),
        _ => name
            .strip_prefix("RTMIN+")
            .and_then(|o| rt(rtmin, o))
            .or_else(|| {
                name.strip_prefix("RTMAX-")
                    .and_then(|o| rt(rtmax, &format!("-{o}")))
            }),
    };
    match n {
        Some(n) if (rtmin..=rtmax).contains(&n) => Ok(n),
        _ => bail!("unknown signal {text:?}"),
    }
}

/// Signals caught by [`catch_early`] and not yet taken: bit N-1 for signal N.
static CAUGHT: AtomicU64 = AtomicU64::new(0);
/// berth's pid when it installed the handlers: libcontainer's forks of berth inherit them.
static OWNER: AtomicI32 = AtomicI32::new(0);

extern "C" fn record(sig: libc::c_int) {
    // SAFETY: getpid, signal and raise are async-signal-safe.
    unsafe {
        if libc::getpid() != OWNER.load(Ordering::SeqCst) {
            // A fork of berth (a container process before its execve): the signal acts as if
            // berth had never caught it.
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
            return;
        }
    }
    if (1..=MAX_SIGNAL).contains(&sig) {
        CAUGHT.fetch_or(1 << (sig - 1), Ordering::SeqCst);
    }
}

/// From here until the foreground wait blocks them, the signals berth would forward are caught
/// and remembered rather than killing berth (runc installs its handler before it starts the
/// process, too), and forwarded once the wait begins: a caller that signals `run` while the
/// container is being set up must not kill berth half-way. Not caught: KILL and STOP (cannot
/// be), CHLD, and the faults a bug raises. The container's processes get the default actions:
/// in a fork of berth the handler restores them and re-raises, and execve resets them.
pub fn catch_early() {
    // SAFETY: getpid cannot fail.
    OWNER.store(unsafe { libc::getpid() }, Ordering::SeqCst);
    let not_caught = [
        libc::SIGKILL,
        libc::SIGSTOP,
        libc::SIGCHLD,
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGILL,
        libc::SIGFPE,
        libc::SIGTRAP,
        libc::SIGSYS,
    ];
    let handler: extern "C" fn(libc::c_int) = record;
    for sig in (1..=libc::SIGRTMAX()).filter(|s| !not_caught.contains(s)) {
        // SAFETY: a zeroed sigaction with an async-signal-safe handler (one atomic operation)
        // and an empty mask; signals glibc reserves for itself fail with EINVAL, harmlessly.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = handler as libc::sighandler_t;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// The signals caught since [`catch_early`] (or the last call), lowest first; clears them.
pub fn take_caught() -> Vec<i32> {
    let bits = CAUGHT.swap(0, Ordering::SeqCst);
    (1..=MAX_SIGNAL)
        .filter(|s| bits & (1 << (s - 1)) != 0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_and_case() {
        for s in ["KILL", "kill", "SIGKILL", "sigkill", "9"] {
            assert_eq!(parse(s).unwrap(), libc::SIGKILL, "{s}");
        }
        assert_eq!(parse("0").unwrap(), 0);
        assert_eq!(parse("term").unwrap(), libc::SIGTERM);
        assert_eq!(parse("RTMIN+1").unwrap(), libc::SIGRTMIN() + 1);
    }

    #[test]
    fn unknown_signals_name_the_input() {
        for s in ["FOO", "65", "-1", "SIG", "", "RTMIN+99"] {
            let err = parse(s).unwrap_err().to_string();
            assert_eq!(err, format!("unknown signal {s:?}"));
        }
    }
}
