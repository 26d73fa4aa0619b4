//! A container's resource limits (`update`, and `create` under systemd). Knows nothing of the
//! command line.
//!
//! Under `--systemd-cgroup` the limits go two ways, as runc sends them: as properties of the
//! scope unit (so that systemd, which owns the cgroup, keeps them) and into the scope's cgroup
//! files (systemd does not know every knob, and the files are what the kernel enforces). A
//! limit the cgroup cannot take (its controller is not enabled there) is an error, not a
//! silent no-op.

use std::path::Path;

use anyhow::{Context as _, Result};
use libcgroups::common::{create_cgroup_manager, CgroupConfig, CgroupManager, ControllerOpt};
use libcontainer::oci_spec::runtime::LinuxResources;

use crate::container::Container;
use crate::systemd::Unit;

/// Changes a running container's limits.
pub fn update(c: &Container, resources: &LinuxResources) -> Result<()> {
    let manager = create_cgroup_manager(CgroupConfig {
        cgroup_path: c.cgroup_path()?,
        systemd_cgroup: c.state.use_systemd,
        container_name: c.id.clone(),
    })?;
    manager.apply(&options(resources))?;
    if let Some(unit) = c.unit() {
        write_scope_cgroup(unit, resources)?;
    }
    Ok(())
}

/// Writes `resources` into the cgroup of a scope unit (libcontainer's systemd driver sets them
/// only as unit properties).
pub fn write_scope_cgroup(unit: &Unit, resources: &LinuxResources) -> Result<()> {
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
