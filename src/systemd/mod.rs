//! Containers under `--systemd-cgroup`: which scope unit and cgroup libcontainer's systemd
//! driver made for a `cgroupsPath` of the form `slice:prefix:name`, and systemd's side of a
//! teardown (stop the unit, wait until systemd has removed it). Knows nothing of the command
//! line.
//!
//! libcgroups uses its systemd driver only on a pure cgroup v2 host booted with systemd, and
//! only for a relative `cgroupsPath`; elsewhere `--systemd-cgroup` means cgroupfs, and the path
//! is a directory name like any other.

mod bus;

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

pub use bus::Systemd;

/// A container's transient (scope) unit and its cgroup, relative to the cgroup2 root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    /// `prefix-name.scope` (or `name` itself when it is a `.slice`).
    pub name: String,
    /// `/system.slice/prefix-name.scope`: the slice expanded as systemd nests it.
    pub cgroup: PathBuf,
}

impl Unit {
    /// libcgroups' reading of a systemd `cgroupsPath` for the system instance: `slice:prefix:name`
    /// or `prefix:name`; an empty slice is `system.slice`. `None` where libcgroups would not use
    /// systemd at all (an absolute path).
    pub fn parse(cgroups_path: &Path) -> Result<Option<Unit>> {
        if cgroups_path.is_absolute() {
            return Ok(None);
        }
        let text = cgroups_path.to_string_lossy();
        let parts: Vec<&str> = text.split(':').collect();
        let (slice, prefix, name) = match parts[..] {
            [prefix, name] => ("", prefix, name),
            [slice, prefix, name] => (slice, prefix, name),
            _ => bail!(
                "cgroupsPath {text:?} is not of the form \"slice:prefix:name\" that --systemd-cgroup needs"
            ),
        };
        if name.is_empty() || name.contains('/') || prefix.contains('/') {
            bail!("cgroupsPath {text:?}: the unit name part is not valid");
        }
        let slice = if slice.is_empty() {
            "system.slice"
        } else {
            slice
        };
        let unit = if name.ends_with(".slice") {
            name.to_string()
        } else {
            format!("{prefix}-{name}.scope")
        };
        // libcontainer passes the name to systemd as it is, and systemd refuses what it does not
        // allow (a `+` in a container id, say) with a bare "Invalid unit name or type".
        if let Some(c) = unit.chars().find(|c| !valid_unit_char(*c)) {
            bail!(
                "{unit:?} (from cgroupsPath {text:?}) is not a valid systemd unit name: systemd does not allow {c:?}"
            );
        }
        let cgroup = expand_slice(slice)?.join(&unit);
        Ok(Some(Unit { name: unit, cgroup }))
    }
}

/// The scope libcontainer's systemd driver makes for `cgroups_path` when `--systemd-cgroup` is
/// given: only on a pure cgroup v2 host booted with systemd (elsewhere libcgroups falls back to
/// cgroupfs and the path is a plain directory name), and not for an absolute path.
pub fn in_use(systemd_cgroup: bool, cgroups_path: &Path) -> Result<Option<Unit>> {
    if !systemd_cgroup || !host_is_systemd_v2() {
        return Ok(None);
    }
    if crate::rootless::true_root() {
        return Unit::parse(cgroups_path);
    }
    // A user's containers are units of the user's own systemd: libcgroups' driver puts them
    // in `user.slice` (unless the path names a slice) below that manager's cgroup.
    let text = cgroups_path.to_string_lossy();
    let path = match text.split(':').collect::<Vec<_>>()[..] {
        [prefix, name] => PathBuf::from(format!("user.slice:{prefix}:{name}")),
        ["", prefix, name] => PathBuf::from(format!("user.slice:{prefix}:{name}")),
        _ => cgroups_path.to_path_buf(),
    };
    let Some(mut unit) = Unit::parse(&path)? else {
        return Ok(None);
    };
    let root = Systemd::connect(std::time::Duration::from_secs(10))?.control_group()?;
    unit.cgroup = root.join(unit.cgroup.strip_prefix("/").unwrap_or(&unit.cgroup));
    Ok(Some(unit))
}

/// The scope unit whose cgroup is `cgroup` (an absolute path found by its name, for a
/// container whose records cannot be read), on a host where berth's scopes are systemd's.
pub fn scope_at(cgroup: &Path) -> Option<Unit> {
    let name = cgroup.file_name()?.to_str()?;
    (name.ends_with(".scope") && cgroup.is_absolute() && host_is_systemd_v2()).then(|| Unit {
        name: name.to_string(),
        cgroup: cgroup.to_path_buf(),
    })
}

/// A host where libcgroups uses its systemd driver.
pub fn host_is_systemd_v2() -> bool {
    use libcgroups::common::{get_cgroup_setup, CgroupSetup};
    libcgroups::systemd::booted() && matches!(get_cgroup_setup(), Ok(CgroupSetup::Unified))
}

/// What systemd allows in a unit name (unit_name_is_valid: letters, digits, `:-_.\`, and `@`
/// for templates).
fn valid_unit_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || ":-_.\\@".contains(c)
}

/// systemd nests slices by their dashes: `a-b.slice` is `/a.slice/a-b.slice`; `-.slice` is the
/// root.
fn expand_slice(slice: &str) -> Result<PathBuf> {
    let Some(stem) = slice.strip_suffix(".slice").filter(|s| !s.is_empty()) else {
        bail!("cgroupsPath: {slice:?} is not a slice name (NAME.slice)");
    };
    if slice.contains('/') {
        bail!("cgroupsPath: {slice:?} is not a slice name (NAME.slice)");
    }
    let mut path = PathBuf::from("/");
    if stem == "-" {
        return Ok(path);
    }
    let mut prefix = String::new();
    for part in stem.split('-') {
        if part.is_empty() {
            bail!("cgroupsPath: {slice:?} is not a valid slice name");
        }
        path.push(format!("{prefix}{part}.slice"));
        prefix = format!("{prefix}{part}-");
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(path: &str) -> Unit {
        Unit::parse(Path::new(path)).unwrap().unwrap()
    }

    #[test]
    fn slice_prefix_name() {
        let s = unit("system.slice:test:abc");
        assert_eq!(s.name, "test-abc.scope");
        assert_eq!(s.cgroup, Path::new("/system.slice/test-abc.scope"));
    }

    #[test]
    fn nested_slice_and_defaults() {
        assert_eq!(
            unit("kubepods-besteffort-pod1.slice:cri-containerd:x").cgroup,
            Path::new(
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-x.scope"
            )
        );
        assert_eq!(
            unit(":youki:x").cgroup,
            Path::new("/system.slice/youki-x.scope")
        );
        assert_eq!(unit("-.slice:p:x").cgroup, Path::new("/p-x.scope"));
        assert_eq!(unit("machine.slice:p:x.slice").name, "x.slice");
    }

    #[test]
    fn refuses_what_is_not_a_systemd_path() {
        assert!(Unit::parse(Path::new("/abs/path")).unwrap().is_none());
        for bad in [
            "onlyone",
            "a:b:c:d",
            "nota-slice:p:x",
            "a--b.slice:p:x",
            "s.slice:p:",
            ":youki:a+b",
        ] {
            assert!(Unit::parse(Path::new(bad)).is_err(), "{bad}");
        }
    }
}
