//! A container's resource limits: `update`, the limits libcontainer leaves out at `create`, and
//! (under systemd) the scope's own cgroup. Knows nothing of the command line.
//!
//! `update` writes the cgroup files itself, as runc does, rather than through libcgroups'
//! managers: those rewrite the device rules and `memory.oom_control` on every call, write the
//! CFS period before the quota (which a parent's quota can refuse), and know neither runc's
//! memory+swap order nor its v2 swap arithmetic. What `update` changes is runc's set of fields
//! ([`Update`]), where 0 (or "") leaves a value as it is and -1 removes a limit.
//!
//! Under `--systemd-cgroup` the limits also go to the scope unit as properties (so systemd,
//! which owns the cgroup, keeps them). A limit the cgroup cannot take (its controller is not
//! enabled there) is an error, not a silent no-op.

mod file;
mod units;
mod v1;
mod v2;

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{anyhow, bail, Context as _, Result};
use libcgroups::common::{create_cgroup_manager, CgroupConfig, CgroupManager, ControllerOpt};
use libcontainer::oci_spec::runtime::LinuxResources;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::container::Container;
use crate::systemd::Unit;
use crate::teardown::cgroup::{Cgroups, Version};

pub use file::parse_u64 as parse_cgroup_u64;
pub use units::memory_bytes;

/// The limits `update` changes: runc's fields of an OCI `LinuxResources`. A 0 (or an empty
/// string) leaves the value as it is.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Update {
    pub memory: Memory,
    pub cpu: Cpu,
    #[serde(rename = "blockIO")]
    pub block_io: BlockIo,
    pub pids: Pids,
    /// cgroup v2 files and their values, written last (they override the fields above).
    pub unified: BTreeMap<String, String>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Memory {
    /// Bytes; -1: no limit.
    pub limit: i64,
    /// The soft limit (v1 `memory.soft_limit_in_bytes`, v2 `memory.low`).
    pub reservation: i64,
    /// Memory plus swap, as cgroup v1 counts it; -1: no limit.
    pub swap: i64,
    /// Obsolete: ignored, as runc ignores it.
    pub kernel: i64,
    /// Obsolete: ignored, as runc ignores it.
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: i64,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Cpu {
    pub shares: u64,
    /// Microseconds per period; -1: no limit.
    pub quota: i64,
    pub period: u64,
    pub realtime_runtime: i64,
    pub realtime_period: u64,
    pub cpus: String,
    pub mems: String,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct BlockIo {
    pub weight: u16,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Pids {
    /// -1 (or any negative): no limit.
    pub limit: i64,
}

/// The field names [`Update::from_json`] knows, matched without regard to case as runc's JSON
/// decoder matches them (`"CPU": {"Cpus": "1"}` is `cpu.cpus`).
const FIELDS: &[&str] = &[
    "memory",
    "cpu",
    "blockIO",
    "pids",
    "unified",
    "limit",
    "reservation",
    "swap",
    "kernel",
    "kernelTCP",
    "shares",
    "quota",
    "period",
    "realtimeRuntime",
    "realtimePeriod",
    "cpus",
    "mems",
    "weight",
];

impl Update {
    /// Reads runc's `update -r` input: an OCI `LinuxResources` object, of which runc's fields
    /// count (others are ignored, as runc ignores them; `null` is "unchanged").
    pub fn from_json(text: &str) -> Result<Update> {
        let mut value: Value =
            serde_json::from_str(text).map_err(|e| anyhow!("not valid JSON: {e}"))?;
        if !value.is_object() {
            bail!("not a JSON object of resources");
        }
        canonical(&mut value);
        serde_json::from_value(value).map_err(|e| anyhow!("not valid resources: {e}"))
    }

    fn cpu_set(&self) -> bool {
        let c = &self.cpu;
        c.shares != 0 || c.quota != 0 || c.period != 0 || !c.cpus.is_empty() || !c.mems.is_empty()
    }

    fn memory_set(&self) -> bool {
        let m = &self.memory;
        m.limit != 0 || m.reservation != 0 || m.swap != 0
    }

    /// The same limits as an OCI `LinuxResources` with only the fields that change (for
    /// libcgroups' systemd driver, which turns them into unit properties).
    fn to_oci(&self) -> Result<LinuxResources> {
        let mut value = json!({
            "memory": { "limit": self.memory.limit, "reservation": self.memory.reservation,
                        "swap": self.memory.swap },
            "cpu": { "shares": self.cpu.shares, "quota": self.cpu.quota, "period": self.cpu.period,
                     "cpus": self.cpu.cpus, "mems": self.cpu.mems },
            "pids": { "limit": self.pids.limit },
            "blockIO": { "weight": self.block_io.weight },
            "unified": self.unified,
        });
        drop_unset(&mut value);
        Ok(serde_json::from_value(value)?)
    }
}

/// Removes `null`s and gives known field names their canonical case, except inside `unified`
/// (whose keys are file names).
fn canonical(v: &mut Value) {
    let Value::Object(map) = v else {
        return;
    };
    let entries = std::mem::take(map);
    for (key, mut value) in entries {
        if value.is_null() {
            continue;
        }
        let key = match FIELDS.iter().find(|f| f.eq_ignore_ascii_case(&key)) {
            Some(f) if !map.contains_key(*f) || key == *f => f.to_string(),
            _ => key,
        };
        if key != "unified" {
            canonical(&mut value);
        }
        map.insert(key, value);
    }
}

/// Drops 0, "" and empty objects: what is left is what changes.
fn drop_unset(v: &mut Value) {
    if let Value::Object(map) = v {
        map.retain(|_, x| !(x.is_null() || x.as_i64() == Some(0) || x.as_str() == Some("")));
        for x in map.values_mut() {
            drop_unset(x);
        }
        map.retain(|_, x| !x.as_object().is_some_and(|o| o.is_empty()));
    }
}

/// Changes a running (or paused) container's limits. Device rules are not changed (runc's
/// `update` cannot change them either), nor is anything `update` was not given; on cgroup v2
/// their program is attached anew, as runc's update does (see `devices`).
pub fn update(c: &Container, update: &Update) -> Result<()> {
    if update.memory.kernel != 0 || update.memory.kernel_tcp != 0 {
        tracing::warn!("kernel memory limits are obsolete: ignored");
    }
    if let Some(unit) = c.unit() {
        let manager = create_cgroup_manager(CgroupConfig {
            cgroup_path: c.cgroup_path()?,
            systemd_cgroup: true,
            container_name: c.id.clone(),
        })?;
        let resources = update.to_oci()?;
        manager
            .apply(&options(&resources))
            .with_context(|| format!("cannot set the properties of {}", unit.name))?;
    }
    apply(&c.cgroups()?, update)?;
    crate::devices::limit_update(c)
}

/// Writes `update` into the container's cgroup files.
pub fn apply(cgroups: &Cgroups, update: &Update) -> Result<()> {
    match layout(cgroups) {
        Some(Version::V1) => v1::apply(cgroups, update),
        Some(Version::V2) => v2::apply(
            v2_dir(cgroups).ok_or_else(|| anyhow!("the container has no cgroup v2 directory"))?,
            update,
        ),
        None => bail!("the container has no cgroup"),
    }
}

/// Which driver holds a container's limits: cgroup v1 when any v1 controller hierarchy has its
/// cgroup (v1 and the hybrid layout, as runc sees them), else v2.
pub fn layout(cgroups: &Cgroups) -> Option<Version> {
    let hierarchies = &cgroups.hierarchies;
    if hierarchies
        .iter()
        .any(|h| h.version == Version::V1 && h.controllers.iter().any(|c| !c.starts_with("name=")))
    {
        Some(Version::V1)
    } else if hierarchies.iter().any(|h| h.version == Version::V2) {
        Some(Version::V2)
    } else {
        None
    }
}

/// The container's directory in the v1 hierarchy of `controller`.
pub fn v1_dir<'a>(cgroups: &'a Cgroups, controller: &str) -> Option<&'a Path> {
    cgroups
        .hierarchies
        .iter()
        .find(|h| h.version == Version::V1 && h.controllers.iter().any(|c| c == controller))
        .map(|h| h.dir.as_path())
}

/// The container's cgroup v2 directory.
pub fn v2_dir(cgroups: &Cgroups) -> Option<&Path> {
    cgroups
        .hierarchies
        .iter()
        .find(|h| h.version == Version::V2)
        .map(|h| h.dir.as_path())
}

/// The directory of the container's memory limits (its v1 memory cgroup, or its v2 cgroup).
pub fn memory_dir(cgroups: &Cgroups) -> Option<&Path> {
    match layout(cgroups)? {
        Version::V1 => v1_dir(cgroups, "memory"),
        Version::V2 => v2_dir(cgroups),
    }
}

/// At `create`, after libcontainer has set the config's limits: what it leaves out. On cgroup
/// v1 that is `blockIO.weightDevice` (libcgroups writes no per-device weight there).
pub fn complete_create(cgroup_path: &Path, resources: &LinuxResources) -> Result<()> {
    let Some(block_io) = resources.block_io() else {
        return Ok(());
    };
    let devices = block_io.weight_device().as_deref().unwrap_or_default();
    if devices.is_empty() {
        return Ok(());
    }
    let cgroups = Cgroups::locate(cgroup_path).context("cannot find the container's cgroups")?;
    if layout(&cgroups) != Some(Version::V1) {
        return Ok(());
    }
    let weights: Vec<(i64, i64, u16)> = devices
        .iter()
        .filter_map(|d| d.weight().map(|w| (d.major(), d.minor(), w)))
        .collect();
    v1::weight_devices(&cgroups, &weights)
}

/// Writes `resources` into the cgroup of a scope unit (libcontainer's systemd driver sets them
/// only as unit properties).
pub fn write_scope_cgroup(unit: &Unit, resources: &LinuxResources) -> Result<()> {
    // runc reads a pids limit of 0 as no limit at all (rootless podman sends one); libcgroups
    // would write "max" to a pids.max that a cgroup without the pids controller lacks.
    let mut resources = resources.clone();
    if resources.pids().as_ref().is_some_and(|p| p.limit() == 0) {
        resources.set_pids(None);
    }
    let resources = &resources;
    let manager = libcgroups::v2::manager::Manager::new(
        Path::new(libcgroups::common::DEFAULT_CGROUP_ROOT).to_path_buf(),
        unit.cgroup.clone(),
    )?;
    manager
        .apply(&options(resources))
        .with_context(|| format!("cannot set the limits of {}", unit.cgroup.display()))
}

fn options(resources: &LinuxResources) -> ControllerOpt<'_> {
    ControllerOpt {
        resources,
        disable_oom_killer: false,
        oom_score_adj: None,
        freezer_state: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runcs_json_reads() {
        let u = Update::from_json(
            r#"{"memory": {"limit": 33554432, "reservation": 25165824},
                "cpu": {"shares": 100, "quota": 500000, "period": 1000000, "cpus": "0"},
                "pids": {"limit": 20}}"#,
        )
        .unwrap();
        assert_eq!(u.memory.limit, 33554432);
        assert_eq!(u.memory.reservation, 25165824);
        assert_eq!(u.memory.swap, 0);
        assert_eq!(u.cpu.shares, 100);
        assert_eq!(u.cpu.quota, 500000);
        assert_eq!(u.cpu.period, 1000000);
        assert_eq!(u.cpu.cpus, "0");
        assert_eq!(u.pids.limit, 20);
    }

    #[test]
    fn keys_match_without_case_and_nulls_are_unchanged() {
        let u = Update::from_json(
            r#"{"CPU": {"Cpus": "1", "RealtimeRuntime": 5, "quota": null},
                "blockio": {"Weight": 300}, "unified": {"Pids.max": "10"}}"#,
        )
        .unwrap();
        assert_eq!(u.cpu.cpus, "1");
        assert_eq!(u.cpu.realtime_runtime, 5);
        assert_eq!(u.cpu.quota, 0);
        assert_eq!(u.block_io.weight, 300);
        // unified keys are file names: kept as they are.
        assert_eq!(u.unified.get("Pids.max").map(String::as_str), Some("10"));
    }

    #[test]
    fn bad_json_is_refused() {
        assert!(Update::from_json("").is_err());
        assert!(Update::from_json("[1]").is_err());
        assert!(Update::from_json(r#"{"cpu": {"shares": -1}}"#).is_err());
        assert!(Update::from_json(r#"{"memory": {"limit": "1G"}}"#).is_err());
    }

    #[test]
    fn only_changes_reach_systemd() {
        let mut u = Update::default();
        u.pids.limit = 10;
        u.cpu.quota = -1;
        let r = u.to_oci().unwrap();
        assert_eq!(r.pids().as_ref().map(|p| p.limit()), Some(10));
        assert_eq!(r.cpu().as_ref().and_then(|c| c.quota()), Some(-1));
        assert!(r.memory().is_none());
    }
}
