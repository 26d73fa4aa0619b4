//! `update` on cgroup v1 (and the hybrid layout): one directory per controller.

use std::path::Path;

use anyhow::{anyhow, bail, Result};

use super::file::{self, failed, set};
use super::Update;
use crate::teardown::cgroup::Cgroups;

const MEMORY_LIMIT: &str = "memory.limit_in_bytes";
const MEMSW_LIMIT: &str = "memory.memsw.limit_in_bytes";

/// Writes `u`, controller by controller in runc's order (cpuset, memory, cpu, pids, blkio).
pub fn apply(cgroups: &Cgroups, u: &Update) -> Result<()> {
    if !u.unified.is_empty() {
        bail!(
            "invalid configuration: unified resources need cgroup v2, and this host has cgroup v1"
        );
    }
    let dir = |controller: &str| controller_dir(cgroups, controller);
    if !u.cpu.cpus.is_empty() || !u.cpu.mems.is_empty() {
        let d = dir("cpuset")?;
        if !u.cpu.cpus.is_empty() {
            set(d, "cpuset.cpus", &u.cpu.cpus)?;
        }
        if !u.cpu.mems.is_empty() {
            set(d, "cpuset.mems", &u.cpu.mems)?;
        }
    }
    if u.memory_set() {
        memory(dir("memory")?, u)?;
    }
    let c = &u.cpu;
    if c.shares != 0
        || c.quota != 0
        || c.period != 0
        || c.realtime_period != 0
        || c.realtime_runtime != 0
    {
        cpu(dir("cpu")?, u)?;
    }
    if u.pids.limit != 0 {
        set(dir("pids")?, "pids.max", &pids_max(u.pids.limit))?;
    }
    if u.block_io.weight != 0 {
        let d = dir("blkio")?;
        set(d, weight_files(d).0, &u.block_io.weight.to_string())?;
    }
    Ok(())
}

/// The container's directory in the hierarchy of `controller`.
fn controller_dir<'a>(cgroups: &'a Cgroups, controller: &str) -> Result<&'a Path> {
    super::v1_dir(cgroups, controller).ok_or_else(|| {
        anyhow!("cannot set {controller} limits: the container has no {controller} cgroup")
    })
}

/// runc's `pids.max` for a limit: positive as it is, negative for none.
pub fn pids_max(limit: i64) -> String {
    if limit > 0 {
        limit.to_string()
    } else {
        "max".to_string()
    }
}

/// Memory, then memory+swap, in the order the kernel accepts: memory+swap may never be below
/// the memory limit, so when it grows (or goes away) it is written first.
fn memory(dir: &Path, u: &Update) -> Result<()> {
    let limit = u.memory.limit;
    let mut swap = u.memory.swap;
    // No memory limit and swap not named: no swap limit either (when the kernel counts swap).
    if limit == -1 && swap == 0 && dir.join(MEMSW_LIMIT).exists() {
        swap = -1;
    }
    let swap_first = if limit != 0 && swap != 0 {
        let current = file::read_u64(dir, MEMORY_LIMIT)?;
        swap == -1 || current < swap as u64
    } else {
        false
    };
    if swap_first {
        set_nonzero(dir, MEMSW_LIMIT, swap)?;
        set_memory(dir, limit)?;
    } else {
        set_memory(dir, limit)?;
        set_nonzero(dir, MEMSW_LIMIT, swap)?;
    }
    set_nonzero(dir, "memory.soft_limit_in_bytes", u.memory.reservation)
}

fn set_nonzero(dir: &Path, name: &str, value: i64) -> Result<()> {
    if value == 0 {
        return Ok(());
    }
    set(dir, name, &value.to_string())
}

/// The memory limit; below what the container uses now the kernel answers EBUSY.
fn set_memory(dir: &Path, limit: i64) -> Result<()> {
    if limit == 0 {
        return Ok(());
    }
    let value = limit.to_string();
    match file::write(dir, MEMORY_LIMIT, &value) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
            let usage = file::read(dir, "memory.usage_in_bytes").unwrap_or_default();
            let peak = file::read(dir, "memory.max_usage_in_bytes").unwrap_or_default();
            bail!("cannot set the memory limit to {limit}: the container uses {usage} bytes (peak {peak})")
        }
        Err(e) => Err(failed(dir, MEMORY_LIMIT, &value, &e)),
    }
}

fn cpu(dir: &Path, u: &Update) -> Result<()> {
    let c = &u.cpu;
    if c.shares != 0 {
        set(dir, "cpu.shares", &c.shares.to_string())?;
        // The kernel clamps shares to its range: say so rather than keep another value.
        let read = file::read_u64(dir, "cpu.shares")?;
        if read < c.shares {
            bail!("cpu shares {} are above the maximum, {read}", c.shares);
        } else if read > c.shares {
            bail!("cpu shares {} are below the minimum, {read}", c.shares);
        }
    }
    pair(
        dir,
        ("cpu.cfs_period_us", c.period as i64),
        ("cpu.cfs_quota_us", c.quota),
    )?;
    pair(
        dir,
        ("cpu.rt_period_us", c.realtime_period as i64),
        ("cpu.rt_runtime_us", c.realtime_runtime),
    )
}

/// A period and the time allowed in it. The period goes first; when the kernel refuses it
/// (EINVAL: with the old time the ratio would exceed what the parent allows) and a new time is
/// coming, the time goes first and the period after it.
fn pair(dir: &Path, period: (&str, i64), time: (&str, i64)) -> Result<()> {
    let mut period_pending = false;
    if period.1 != 0 {
        let value = period.1.to_string();
        match file::write(dir, period.0, &value) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) && time.1 != 0 => {
                period_pending = true;
            }
            Err(e) => return Err(failed(dir, period.0, &value, &e)),
        }
    }
    if time.1 != 0 {
        set(dir, time.0, &time.1.to_string())?;
        if period_pending {
            set(dir, period.0, &period.1.to_string())?;
        }
    }
    Ok(())
}

/// The files of the proportional weight and the per-device weights: CFQ's where the kernel
/// has them, else BFQ's.
fn weight_files(dir: &Path) -> (&'static str, &'static str) {
    if dir.join("blkio.weight").exists() {
        ("blkio.weight", "blkio.weight_device")
    } else {
        ("blkio.bfq.weight", "blkio.bfq.weight_device")
    }
}

/// Per-device weights (`major`, `minor`, weight), one write each.
pub fn weight_devices(cgroups: &Cgroups, weights: &[(i64, i64, u16)]) -> Result<()> {
    let dir = controller_dir(cgroups, "blkio")?;
    let name = weight_files(dir).1;
    for (major, minor, weight) in weights {
        set(dir, name, &format!("{major}:{minor} {weight}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_limits() {
        assert_eq!(pids_max(10), "10");
        assert_eq!(pids_max(-1), "max");
    }

    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (name, value) in files {
            std::fs::write(d.path().join(name), value).unwrap();
        }
        d
    }

    #[test]
    fn period_then_quota() {
        let d = dir_with(&[("p", "100000"), ("q", "50000")]);
        pair(d.path(), ("p", 200000), ("q", 0)).unwrap();
        assert_eq!(file::read(d.path(), "p").unwrap(), "200000");
        assert_eq!(file::read(d.path(), "q").unwrap(), "50000");
        pair(d.path(), ("p", 0), ("q", -1)).unwrap();
        assert_eq!(file::read(d.path(), "q").unwrap(), "-1");
    }
}
