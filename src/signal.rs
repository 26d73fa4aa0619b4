//! Signal names and numbers, parsed the way runc parses them.

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
