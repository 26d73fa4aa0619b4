//! What is still alive at a deadline: each survivor's pid, state and wchan, in one line.

use std::fmt;
use std::fs;

use super::process::Stat;

#[derive(Debug, Clone)]
pub struct Survivor {
    pub pid: i32,
    pub state: char,
    pub wchan: String,
    pub comm: String,
}

impl Survivor {
    pub fn describe(pid: i32) -> Survivor {
        let read = |f: &str| {
            fs::read_to_string(format!("/proc/{pid}/{f}"))
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        };
        let wchan = read("wchan");
        Survivor {
            pid,
            state: Stat::read(pid).map(|s| s.state).unwrap_or('?'),
            wchan: if wchan.is_empty() || wchan == "0" {
                "-".into()
            } else {
                wchan
            },
            comm: read("comm"),
        }
    }
}

impl fmt::Display for Survivor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.state {
            'D' => " (uninterruptible sleep)",
            'T' | 't' => " (stopped)",
            _ => "",
        };
        write!(
            f,
            "pid {} {} state {}{} wchan {}",
            self.pid, self.comm, self.state, what, self.wchan
        )
    }
}

/// "pid 12 sleep state D (uninterruptible sleep) wchan fuse_wait_answer, pid 13 ..."
pub fn list(survivors: &[Survivor]) -> String {
    survivors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
