//! `update` on cgroup v2: one directory, the OCI (v1-minded) values converted as runc converts
//! them.

use std::path::Path;

use anyhow::{bail, Result};

use super::file::{self, set};
use super::v1::pids_max;
use super::Update;

/// Writes `u` in runc's order (pids, memory, io, cpu, cpuset), then the `unified` files.
pub fn apply(dir: &Path, u: &Update) -> Result<()> {
    if u.cpu.realtime_period != 0 || u.cpu.realtime_runtime != 0 {
        bail!("cannot set realtime CPU limits: cgroup v2 has none");
    }
    if u.pids.limit != 0 {
        set(dir, "pids.max", &pids_max(u.pids.limit))?;
    }
    if u.memory_set() {
        memory(dir, u)?;
    }
    if u.block_io.weight != 0 {
        let weight = u.block_io.weight;
        if dir.join("io.bfq.weight").exists() {
            set(dir, "io.bfq.weight", &weight.to_string())?;
        } else {
            set(dir, "io.weight", &io_weight(weight).to_string())?;
        }
    }
    if u.cpu_set() {
        cpu(dir, u)?;
    }
    for (name, value) in &u.unified {
        unified(dir, name, value)?;
    }
    Ok(())
}

/// A v2 memory value: -1 is `max`, 0 is "unchanged" (None).
fn limit_value(v: i64) -> Option<String> {
    match v {
        0 => None,
        -1 => Some("max".to_string()),
        v => Some(v.to_string()),
    }
}

/// v2's `memory.swap.max` for the OCI memory+swap `swap` and memory `limit`: swap alone. None
/// leaves it unchanged.
fn swap_max(swap: i64, limit: i64) -> Result<Option<String>> {
    // No memory limit and swap not named: no swap limit either, as on v1.
    if limit == -1 && swap == 0 {
        return Ok(Some("max".to_string()));
    }
    match swap {
        0 => return Ok(None),
        -1 => return Ok(Some("max".to_string())),
        _ => {}
    }
    if limit == 0 || limit == -1 {
        bail!("cannot set a swap limit without a memory limit (cgroup v2 counts swap apart)");
    }
    if limit < 0 || swap < 0 {
        bail!("invalid memory ({limit}) or memory+swap ({swap}) limit");
    }
    if swap < limit {
        bail!("the memory+swap limit ({swap}) must not be below the memory limit ({limit})");
    }
    Ok(Some((swap - limit).to_string()))
}

fn memory(dir: &Path, u: &Update) -> Result<()> {
    let m = &u.memory;
    if let Some(swap) = swap_max(m.swap, m.limit)? {
        set(dir, "memory.swap.max", &swap)?;
    }
    if let Some(limit) = limit_value(m.limit) {
        set(dir, "memory.max", &limit)?;
    }
    if let Some(low) = limit_value(m.reservation) {
        set(dir, "memory.low", &low)?;
    }
    Ok(())
}

/// cgroup v1's blkio weight (10..1000) on v2's io.weight scale (1..10000).
fn io_weight(weight: u16) -> u64 {
    1 + (u64::from(weight).saturating_sub(10)) * 9999 / 990
}

/// cgroup v1's CPU shares (2..262144) on v2's cpu.weight scale (1..10000).
pub fn cpu_weight(shares: u64) -> u64 {
    1 + (shares.saturating_sub(2)) * 9999 / 262142
}

fn cpu(dir: &Path, u: &Update) -> Result<()> {
    let c = &u.cpu;
    if c.shares != 0 {
        set(dir, "cpu.weight", &cpu_weight(c.shares).to_string())?;
    }
    if c.quota != 0 || c.period != 0 {
        // A value not given stays as it is: read it back from cpu.max ("QUOTA PERIOD").
        let current = file::read(dir, "cpu.max").unwrap_or_default();
        let mut fields = current.split_whitespace();
        let (old_quota, old_period) = (fields.next(), fields.next());
        let quota = match c.quota {
            0 => old_quota.unwrap_or("max").to_string(),
            q if q < 0 => "max".to_string(),
            q => q.to_string(),
        };
        let period = match c.period {
            0 => old_period.unwrap_or("100000").to_string(),
            p => p.to_string(),
        };
        set(dir, "cpu.max", &format!("{quota} {period}"))?;
    }
    if !c.cpus.is_empty() {
        set(dir, "cpuset.cpus", &c.cpus)?;
    }
    if !c.mems.is_empty() {
        set(dir, "cpuset.mems", &c.mems)?;
    }
    Ok(())
}

/// One `unified` entry: a file of the container's cgroup, named `CONTROLLER.PARAMETER`.
fn unified(dir: &Path, name: &str, value: &str) -> Result<()> {
    if name.contains('/') || name.starts_with('.') || !name.contains('.') {
        bail!("unified resource {name:?} must be a file name of the form CONTROLLER.PARAMETER");
    }
    match file::write(dir, name, value) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let controller = name.split('.').next().unwrap_or(name);
            let enabled = file::read(dir, "cgroup.controllers").unwrap_or_default();
            if controller != "cgroup" && !enabled.split_whitespace().any(|c| c == controller) {
                bail!("unified resource {name:?} cannot be set: the {controller} controller is not available in {}", dir.display());
            }
            bail!(
                "unified resource {name:?} cannot be set: {} has no such file",
                dir.display()
            )
        }
        Err(e) => Err(file::failed(dir, name, value, &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_is_converted_as_runc_does() {
        assert_eq!(
            swap_max(96468992, 52428800).unwrap().as_deref(),
            Some("44040192")
        );
        assert_eq!(swap_max(0, -1).unwrap().as_deref(), Some("max"));
        assert_eq!(swap_max(-1, 100).unwrap().as_deref(), Some("max"));
        assert_eq!(swap_max(0, 100).unwrap(), None);
        assert_eq!(swap_max(100, 100).unwrap().as_deref(), Some("0"));
        assert!(swap_max(100, 0).is_err());
        assert!(swap_max(50, 100).is_err());
    }

    #[test]
    fn weights_are_scaled() {
        assert_eq!(cpu_weight(100), 4);
        assert_eq!(cpu_weight(1024), 39);
        assert_eq!(cpu_weight(2), 1);
        assert_eq!(cpu_weight(262144), 10000);
        assert_eq!(io_weight(750), 7475);
        assert_eq!(io_weight(10), 1);
        assert_eq!(io_weight(1000), 10000);
    }

    #[test]
    fn cpu_max_keeps_what_is_not_given() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("cpu.max"), "500000 1000000").unwrap();
        let mut u = Update::default();
        u.cpu.period = 900000;
        cpu(d.path(), &u).unwrap();
        assert_eq!(file::read(d.path(), "cpu.max").unwrap(), "500000 900000");
        u.cpu.period = 0;
        u.cpu.quota = -1;
        cpu(d.path(), &u).unwrap();
        assert_eq!(file::read(d.path(), "cpu.max").unwrap(), "max 900000");
    }

    #[test]
    fn unified_names_are_file_names() {
        let d = tempfile::tempdir().unwrap();
        assert!(unified(d.path(), "../x.max", "1").is_err());
        assert!(unified(d.path(), "pidsmax", "1").is_err());
        let e = unified(d.path(), "pids.max", "1").unwrap_err().to_string();
        assert!(e.contains("pids controller is not available"), "{e}");
    }
}
