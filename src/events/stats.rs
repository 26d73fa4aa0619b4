//! A container's resource usage in the shape of runc's `events` data: the same field names,
//! nesting and order, the same "omit when zero" rules, the same units (nanoseconds of CPU,
//! bytes of memory).
//!
//! Read straight from the cgroup files, one controller at a time: a controller that is not
//! there (a v2 cgroup whose parent does not delegate it) leaves its part at zero, as in runc,
//! instead of failing the whole reading as libcgroups' `stats()` does.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde::Serialize;

use crate::resources::{layout, v1_dir, v2_dir};
use crate::teardown::cgroup::{Cgroups, Version};

fn is_zero_u64(v: &u64) -> bool {
    *v == 0
}

#[derive(Debug, Default, Serialize)]
pub struct Stats {
    pub cpu: Cpu,
    pub cpuset: CpuSet,
    pub memory: Memory,
    pub pids: Pids,
    pub blkio: Blkio,
    pub hugetlb: BTreeMap<String, Hugetlb>,
    /// Intel RDT is not supported: always empty.
    pub intel_rdt: IntelRdt,
    /// runc fills this only for containers it set up networking for: never here.
    pub network_interfaces: Option<Vec<()>>,
}

#[derive(Debug, Default, Serialize)]
pub struct Cpu {
    pub usage: CpuUsage,
    pub throttling: Throttling,
}

#[derive(Debug, Default, Serialize)]
pub struct CpuUsage {
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub total: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    pub kernel: u64,
    pub user: u64,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Throttling {
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub periods: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub throttled_periods: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub throttled_time: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct CpuSet {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cpus: Vec<u16>,
    pub cpu_exclusive: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mems: Vec<u16>,
    pub mem_hardwall: u64,
    pub mem_exclusive: u64,
    pub memory_migrate: u64,
    pub memory_spread_page: u64,
    pub memory_spread_slab: u64,
    pub memory_pressure: u64,
    pub sched_load_balance: u64,
    pub sched_relax_domain_level: i64,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Memory {
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub cache: u64,
    pub usage: MemoryEntry,
    pub swap: MemoryEntry,
    pub kernel: MemoryEntry,
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

#[derive(Debug, Default, Serialize)]
pub struct MemoryEntry {
    pub limit: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub usage: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub max: u64,
    pub failcnt: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct Pids {
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub current: u64,
    /// 0: no limit.
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub limit: u64,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Blkio {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty", rename = "ioQueueRecursive")]
    pub io_queued_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_service_time_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_wait_time_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_merged_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_time_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sectors_recursive: Vec<BlkioEntry>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct BlkioEntry {
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub major: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub minor: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub op: String,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub value: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct Hugetlb {
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub usage: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub max: u64,
    pub failcnt: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct IntelRdt {}

/// Reads the usage of the container whose cgroups are `cgroups`.
pub fn collect(cgroups: &Cgroups) -> Stats {
    match layout(cgroups) {
        Some(Version::V1) => v1(cgroups),
        Some(Version::V2) => v2_dir(cgroups).map(v2).unwrap_or_default(),
        None => Stats::default(),
    }
}

fn v1(cgroups: &Cgroups) -> Stats {
    let dir = |controller: &str| v1_dir(cgroups, controller);
    let mut s = Stats::default();
    if let Some(d) = dir("cpu") {
        let stat = flat_keyed(d, "cpu.stat");
        s.cpu.throttling = Throttling {
            periods: key(&stat, "nr_periods"),
            throttled_periods: key(&stat, "nr_throttled"),
            throttled_time: key(&stat, "throttled_time"),
        };
    }
    if let Some(d) = dir("cpuacct") {
        s.cpu.usage = cpuacct(d);
    }
    if let Some(d) = dir("cpuset") {
        s.cpuset = cpuset(d);
    }
    if let Some(d) = dir("memory") {
        s.memory = memory_v1(d);
    }
    if let Some(d) = dir("pids") {
        s.pids = Pids {
            current: number(d, "pids.current"),
            limit: limit_or_zero(d, "pids.max"),
        };
    }
    if let Some(d) = dir("blkio") {
        s.blkio = blkio_v1(d);
    }
    if let Some(d) = dir("hugetlb") {
        for size in huge_page_sizes() {
            let entry = Hugetlb {
                usage: number(d, &format!("hugetlb.{size}.usage_in_bytes")),
                max: number(d, &format!("hugetlb.{size}.max_usage_in_bytes")),
                failcnt: number(d, &format!("hugetlb.{size}.failcnt")),
            };
            s.hugetlb.insert(size, entry);
        }
    }
    s
}

fn v2(dir: &Path) -> Stats {
    let mut s = Stats::default();
    // cpu.stat is there whether or not the cpu controller is enabled (usage only, then).
    let stat = flat_keyed(dir, "cpu.stat");
    s.cpu.usage.total = key(&stat, "usage_usec") * 1000;
    s.cpu.usage.user = key(&stat, "user_usec") * 1000;
    s.cpu.usage.kernel = key(&stat, "system_usec") * 1000;
    s.cpu.throttling = Throttling {
        periods: key(&stat, "nr_periods"),
        throttled_periods: key(&stat, "nr_throttled"),
        throttled_time: key(&stat, "throttled_usec") * 1000,
    };
    s.pids = if dir.join("pids.current").exists() {
        Pids {
            current: number(dir, "pids.current"),
            limit: limit_or_zero(dir, "pids.max"),
        }
    } else {
        // Without the pids controller: count the processes.
        let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        Pids {
            current: procs.lines().count() as u64,
            limit: 0,
        }
    };
    if dir.join("memory.stat").exists() {
        s.memory = memory_v2(dir);
    }
    s.blkio = io_v2(dir);
    for size in huge_page_sizes() {
        let current = format!("hugetlb.{size}.current");
        if !dir.join(&current).exists() {
            continue;
        }
        let events = flat_keyed(dir, &format!("hugetlb.{size}.events"));
        let entry = Hugetlb {
            usage: number(dir, &current),
            max: 0,
            failcnt: key(&events, "max"),
        };
        s.hugetlb.insert(size, entry);
    }
    s
}

fn cpuacct(dir: &Path) -> CpuUsage {
    let mut u = CpuUsage {
        total: number(dir, "cpuacct.usage"),
        percpu: numbers(&text(dir, "cpuacct.usage_percpu")),
        ..Default::default()
    };
    // "cpu user system" and one line per CPU, in nanoseconds.
    for line in text(dir, "cpuacct.usage_all").lines().skip(1) {
        let f: Vec<u64> = numbers(line);
        if f.len() == 3 {
            u.percpu_user.push(f[1]);
            u.percpu_kernel.push(f[2]);
        }
    }
    // cpuacct.stat counts clock ticks.
    let stat = flat_keyed(dir, "cpuacct.stat");
    // SAFETY: sysconf reads a constant of the system.
    let ticks = match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
        t if t > 0 => t as u64,
        _ => 100,
    };
    u.user = key(&stat, "user").saturating_mul(1_000_000_000) / ticks;
    u.kernel = key(&stat, "system").saturating_mul(1_000_000_000) / ticks;
    u
}

fn cpuset(dir: &Path) -> CpuSet {
    let n = |name: &str| number(dir, &format!("cpuset.{name}"));
    CpuSet {
        cpus: cpu_list(&text(dir, "cpuset.cpus")),
        cpu_exclusive: n("cpu_exclusive"),
        mems: cpu_list(&text(dir, "cpuset.mems")),
        mem_hardwall: n("mem_hardwall"),
        mem_exclusive: n("mem_exclusive"),
        memory_migrate: n("memory_migrate"),
        memory_spread_page: n("memory_spread_page"),
        memory_spread_slab: n("memory_spread_slab"),
        memory_pressure: n("memory_pressure"),
        sched_load_balance: n("sched_load_balance"),
        sched_relax_domain_level: text(dir, "cpuset.sched_relax_domain_level")
            .trim()
            .parse()
            .unwrap_or(0),
    }
}

fn memory_v1(dir: &Path) -> Memory {
    let raw = flat_keyed(dir, "memory.stat");
    let entry = |prefix: &str| MemoryEntry {
        limit: number(dir, &format!("{prefix}limit_in_bytes")),
        usage: number(dir, &format!("{prefix}usage_in_bytes")),
        max: number(dir, &format!("{prefix}max_usage_in_bytes")),
        failcnt: number(dir, &format!("{prefix}failcnt")),
    };
    Memory {
        cache: key(&raw, "cache"),
        usage: entry("memory."),
        swap: entry("memory.memsw."),
        kernel: entry("memory.kmem."),
        kernel_tcp: entry("memory.kmem.tcp."),
        raw,
    }
}

fn memory_v2(dir: &Path) -> Memory {
    let raw = flat_keyed(dir, "memory.stat");
    let usage = MemoryEntry {
        limit: number(dir, "memory.max"),
        usage: number(dir, "memory.current"),
        ..Default::default()
    };
    // v2 counts swap apart; runc reports memory+swap, as v1 does.
    let swap = if dir.join("memory.swap.current").exists() {
        let limit = number(dir, "memory.swap.max");
        MemoryEntry {
            limit: if limit == u64::MAX {
                limit
            } else {
                limit.saturating_add(usage.limit)
            },
            usage: number(dir, "memory.swap.current").saturating_add(usage.usage),
            ..Default::default()
        }
    } else {
        MemoryEntry::default()
    };
    Memory {
        cache: key(&raw, "file"),
        usage,
        swap,
        raw,
        ..Default::default()
    }
}

/// The first family of v1 blkio files the kernel has data in: BFQ's (with or without its
/// debug files), CFQ's, then the throttling layer's.
fn blkio_v1(dir: &Path) -> Blkio {
    type Field = fn(&mut Blkio) -> &mut Vec<BlkioEntry>;
    let serviced: Field = |b| &mut b.io_serviced_recursive;
    let bytes: Field = |b| &mut b.io_service_bytes_recursive;
    let full = |prefix: &'static str| -> Vec<(String, Field)> {
        let fields: [(&str, Field); 8] = [
            ("sectors_recursive", |b| &mut b.sectors_recursive),
            ("io_service_time_recursive", |b| {
                &mut b.io_service_time_recursive
            }),
            ("io_wait_time_recursive", |b| &mut b.io_wait_time_recursive),
            ("io_merged_recursive", |b| &mut b.io_merged_recursive),
            ("io_queued_recursive", |b| &mut b.io_queued_recursive),
            ("time_recursive", |b| &mut b.io_time_recursive),
            ("io_serviced_recursive", |b| &mut b.io_serviced_recursive),
            ("io_service_bytes_recursive", |b| {
                &mut b.io_service_bytes_recursive
            }),
        ];
        fields
            .into_iter()
            .map(|(name, f)| (format!("{prefix}{name}"), f))
            .collect()
    };
    let families: Vec<Vec<(String, Field)>> = vec![
        full("blkio.bfq."),
        vec![
            ("blkio.bfq.io_serviced_recursive".into(), serviced),
            ("blkio.bfq.io_service_bytes_recursive".into(), bytes),
        ],
        full("blkio."),
        vec![
            ("blkio.throttle.io_serviced_recursive".into(), serviced),
            ("blkio.throttle.io_service_bytes_recursive".into(), bytes),
        ],
        vec![
            ("blkio.throttle.io_serviced".into(), serviced),
            ("blkio.throttle.io_service_bytes".into(), bytes),
        ],
    ];
    for family in families {
        let first = blkio_entries(&text(dir, &family[0].0));
        if first.is_empty() {
            continue;
        }
        let mut b = Blkio::default();
        for (i, (name, field)) in family.iter().enumerate() {
            *field(&mut b) = if i == 0 {
                first.clone()
            } else {
                blkio_entries(&text(dir, name))
            };
        }
        return b;
    }
    Blkio::default()
}

/// v1 blkio lines: `MAJOR:MINOR [OP] VALUE`; the `Total` line is left out.
fn blkio_entries(text: &str) -> Vec<BlkioEntry> {
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split([' ', ':']).filter(|s| !s.is_empty()).collect();
        let (op, value) = match f.len() {
            3 => ("", f[2]),
            4 => (f[2], f[3]),
            _ => continue,
        };
        let (Ok(major), Ok(minor), Ok(value)) = (f[0].parse(), f[1].parse(), value.parse()) else {
            continue;
        };
        out.push(BlkioEntry {
            major,
            minor,
            op: op.to_string(),
            value,
        });
    }
    out
}

/// v2's io.stat, mapped to v1's tables: bytes and operations read and written.
fn io_v2(dir: &Path) -> Blkio {
    let mut b = Blkio::default();
    for line in text(dir, "io.stat").lines() {
        let mut fields = line.split_whitespace();
        let Some((major, minor)) = fields.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse::<u64>(), minor.parse::<u64>()) else {
            continue;
        };
        for item in fields {
            let Some((name, value)) = item.split_once('=') else {
                continue;
            };
            let Ok(value) = value.parse::<u64>() else {
                continue;
            };
            let (table, op) = match name {
                "rbytes" => (&mut b.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut b.io_service_bytes_recursive, "Write"),
                "rios" => (&mut b.io_serviced_recursive, "Read"),
                "wios" => (&mut b.io_serviced_recursive, "Write"),
                _ => continue,
            };
            table.push(BlkioEntry {
                major,
                minor,
                op: op.to_string(),
                value,
            });
        }
    }
    b
}

/// The huge page sizes of this machine as cgroup files name them (`2MB`, `1GB`).
fn huge_page_sizes() -> Vec<String> {
    let Ok(entries) = fs::read_dir("/sys/kernel/mm/hugepages") else {
        return Vec::new();
    };
    let mut sizes: Vec<(u64, String)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let kb: u64 = name
                .strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse()
                .ok()?;
            Some((kb, page_size_name(kb)))
        })
        .collect();
    sizes.sort();
    sizes.into_iter().map(|(_, name)| name).collect()
}

/// A size in KiB in the largest binary unit it is a whole number of.
fn page_size_name(mut kb: u64) -> String {
    let units = ["KB", "MB", "GB", "TB", "PB"];
    let mut unit = 0;
    while kb >= 1024 && kb.is_multiple_of(1024) && unit + 1 < units.len() {
        kb /= 1024;
        unit += 1;
    }
    format!("{kb}{}", units[unit])
}

/// A cpuset list (`0-2,4`) as numbers.
fn cpu_list(text: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>()) {
                    out.extend(a..=b);
                }
            }
            None => out.extend(part.parse::<u16>()),
        }
    }
    out
}

fn text(dir: &Path, name: &str) -> String {
    fs::read_to_string(dir.join(name)).unwrap_or_default()
}

/// A file of one number; `max` is `u64::MAX`; missing or unreadable is 0.
fn number(dir: &Path, name: &str) -> u64 {
    crate::resources::parse_cgroup_u64(text(dir, name).trim()).unwrap_or(0)
}

/// A limit where "no limit" reads as 0 (runc's `pids.limit`).
fn limit_or_zero(dir: &Path, name: &str) -> u64 {
    match number(dir, name) {
        u64::MAX => 0,
        n => n,
    }
}

fn numbers(text: &str) -> Vec<u64> {
    text.split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// `KEY VALUE` lines.
fn flat_keyed(dir: &Path, name: &str) -> BTreeMap<String, u64> {
    text(dir, name)
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

fn key(map: &BTreeMap<String, u64>, name: &str) -> u64 {
    map.get(name).copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_stats_read_like_runcs() {
        let json = serde_json::to_string(&Stats::default()).unwrap();
        assert_eq!(
            json,
            r#"{"cpu":{"usage":{"kernel":0,"user":0},"throttling":{}},"cpuset":{"cpu_exclusive":0,"mem_hardwall":0,"mem_exclusive":0,"memory_migrate":0,"memory_spread_page":0,"memory_spread_slab":0,"memory_pressure":0,"sched_load_balance":0,"sched_relax_domain_level":0},"memory":{"usage":{"limit":0,"failcnt":0},"swap":{"limit":0,"failcnt":0},"kernel":{"limit":0,"failcnt":0},"kernelTCP":{"limit":0,"failcnt":0}},"pids":{},"blkio":{},"hugetlb":{},"intel_rdt":{},"network_interfaces":null}"#
        );
    }

    #[test]
    fn lists_and_sizes() {
        assert_eq!(cpu_list("0-2,4"), vec![0, 1, 2, 4]);
        assert_eq!(cpu_list(""), Vec::<u16>::new());
        assert_eq!(page_size_name(2048), "2MB");
        assert_eq!(page_size_name(1048576), "1GB");
        assert_eq!(page_size_name(64), "64KB");
    }

    #[test]
    fn blkio_lines() {
        let e = blkio_entries("8:0 Read 1282048\n8:0 Write 2\nTotal 3\n8:16 77\n");
        assert_eq!(e.len(), 3);
        assert_eq!(
            (e[0].major, e[0].minor, e[0].op.as_str(), e[0].value),
            (8, 0, "Read", 1282048)
        );
        assert_eq!((e[2].minor, e[2].op.as_str(), e[2].value), (16, "", 77));
    }

    #[test]
    fn io_stat_maps_to_v1_tables() {
        let d = tempfile::tempdir().unwrap();
        fs::write(
            d.path().join("io.stat"),
            "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0\n",
        )
        .unwrap();
        let b = io_v2(d.path());
        assert_eq!(b.io_service_bytes_recursive.len(), 2);
        assert_eq!(b.io_serviced_recursive[1].op, "Write");
        assert_eq!(b.io_serviced_recursive[1].value, 2);
    }
}
