//! What "nothing of the pod remains" means, looked at from outside: processes (by the marker in
//! their command line, and the sandbox's pause by pid and start time), cgroups in every mounted
//! hierarchy, systemd units, mounts, the runtime's state directories, containerd's containers,
//! tasks and shims, and CRI's own lists.

use std::path::{Path, PathBuf};

/// (pid, state letter, command line with spaces) of every process but this one.
pub fn processes() -> Vec<(i32, char, String)> {
    let me = std::process::id() as i32;
    let mut v = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return v;
    };
    for e in rd.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        v.push((pid, state(pid).unwrap_or('X'), cmd.trim_end().to_string()));
    }
    v
}

/// The state letter of /proc/PID/stat (None: gone).
pub fn state(pid: i32) -> Option<char> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s.rsplit_once(") ").and_then(|(_, r)| r.chars().next())
}

/// Field 22 of /proc/PID/stat: the start time (to tell a reused pid).
pub fn start_time(pid: i32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s.rsplit_once(") ")?.1.split(' ').nth(19)?.parse().ok()
}

/// Alive (not a zombie) and the same process as when `start` was read.
pub fn alive(pid: i32, start: Option<u64>) -> bool {
    matches!(state(pid), Some(c) if c != 'Z' && c != 'X')
        && (start.is_none() || start_time(pid) == start)
}

pub fn pids_matching(needles: &[&str]) -> Vec<i32> {
    processes()
        .into_iter()
        .filter(|(_, _, c)| needles.iter().all(|n| c.contains(n)))
        .map(|(p, _, _)| p)
        .collect()
}

/// Live (non-zombie) processes whose command line contains `marker`.
pub fn live_with(marker: &str) -> Vec<(i32, char, String)> {
    processes()
        .into_iter()
        .filter(|(_, s, c)| *s != 'Z' && *s != 'X' && c.contains(marker))
        .collect()
}

/// Mount points of every cgroup hierarchy (v1 controllers, name=systemd, the unified one).
pub fn cgroup_mounts() -> Vec<PathBuf> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let sep = f.iter().position(|x| *x == "-")?;
            let fstype = f.get(sep + 1)?;
            (*fstype == "cgroup" || *fstype == "cgroup2").then(|| PathBuf::from(f[4]))
        })
        .collect()
}

/// Every directory below `rel` (relative to each hierarchy's root), in every hierarchy.
pub fn cgroup_subdirs(rel: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for m in cgroup_mounts() {
        let base = m.join(rel.trim_start_matches('/'));
        walk(&base, &mut found);
    }
    found
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            out.push(e.path());
            walk(&e.path(), out);
        }
    }
}

/// Every existing directory named `rel` in any hierarchy.
pub fn cgroup_dirs(rel: &str) -> Vec<PathBuf> {
    cgroup_mounts()
        .into_iter()
        .map(|m| m.join(rel.trim_start_matches('/')))
        .filter(|p| p.is_dir())
        .collect()
}

/// Mount points whose line in mountinfo mentions `id`.
pub fn mounts_with(id: &str) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(id))
        .map(|l| l.split(' ').nth(4).unwrap_or("").to_string())
        .collect()
}

/// "UNIT ACTIVE SUB" of each unit systemd has loaded whose name contains `pat`.
pub fn units_with(pat: &str) -> Vec<String> {
    let out = std::process::Command::new("systemctl")
        .args([
            "list-units",
            "--all",
            "--plain",
            "--no-legend",
            "--full",
            "--no-pager",
        ])
        .arg(format!("*{pat}*"))
        .output();
    match out {
        Ok(o) => String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .filter(|f| f.len() >= 4)
            .map(|f| format!("{} {} {}", f[0], f[2], f[3]))
            .collect(),
        Err(_) => Vec::new(),
    }
}
