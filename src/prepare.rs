//! What libcontainer reads: a bundle of berth's own holding the config as berth settles it, and,
//! for `exec`, a view of the container's state pointing at it.
//!
//! libcontainer reads `config.json` from the bundle it is given, at `create` and again at every
//! `exec` (from the bundle recorded in `state.json`). Where runc reads a config differently
//! from libcontainer, berth writes the config as runc would read it to a bundle of its own
//! ([`PreparedBundle`]) and hands libcontainer that one. After `create` the prepared bundle
//! moves into the container's state directory and `state.json` records the caller's bundle
//! again (for `state`, and for the hooks that `start` and `delete` run). `exec` gives
//! libcontainer a state root of its own ([`ExecView`]) whose `state.json` points at the
//! prepared bundle. The container's seccomp profile and `startContainer` hooks are not in the
//! prepared config: berth loads the one and runs the others itself (see `seccomp`, `hooks`);
//! the profile is kept beside the config, for `exec`. Knows nothing of the command line.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use libcontainer::container::ContainerStatus;
use libcontainer::oci_spec::runtime::{
    LinuxResources, LinuxSeccomp, LinuxSeccompArgBuilder, LinuxSeccompOperator, Mount, Spec,
};

use crate::container::{Container, Root};
use crate::fsutil::write_atomic;

/// The prepared bundle's name in the container's state directory.
const INSTALLED: &str = "berth-bundle";

/// The container's seccomp profile as config.json gives it, in its prepared bundle.
const SECCOMP: &str = "seccomp.json";

/// The list of cgroup directories a create made itself (see `join`), in its prepared bundle.
const CGROUPS_RECORD: &str = "cgroups";

/// Where berth keeps what it gives libcontainer for the time of one command: a name that is not
/// a valid container id, so `list` never shows it.
const TMP: &str = ":tmp";

/// The config as berth hands it to libcontainer; see the module's documentation.
pub fn spec(original: &Spec, bundle: &Path, cgroup_path: &Path) -> Result<Spec> {
    let mut spec = original.clone();
    // The caller's bundle stays the bundle; the prepared one lives elsewhere.
    let mut rootfs_names = Vec::new();
    if let Some(root) = spec.root().clone() {
        let mut root = root;
        let path = bundle.join(root.path());
        let canonical = fs::canonicalize(&path).unwrap_or(path.clone());
        root.set_path(canonical.clone());
        rootfs_names = vec![path, canonical];
        spec.set_root(Some(root));
    }
    if let Some(linux) = spec.linux().clone() {
        let mut linux = linux;
        linux.set_cgroups_path(Some(cgroup_path.to_path_buf()));
        // berth loads the filter itself (see `seccomp`); the profile is kept beside the config
        // ([`PreparedBundle::keep_seccomp`]).
        linux.set_seccomp(None);
        if let Some(resources) = linux.resources().clone() {
            linux.set_resources(Some(device_access_as_runc_reads_it(resources)));
        }
        spec.set_linux(Some(linux));
    }
    crate::seccomp::lend_for_init(&mut spec, original);
    // berth runs them itself, in init's executor (see `hooks::StartContainer`).
    if let Some(mut hooks) = spec.hooks().clone() {
        if hooks.start_container().is_some() {
            hooks.set_start_container(None);
            spec.set_hooks(Some(hooks));
        }
    }
    if let Some(mounts) = spec.mounts().clone() {
        let mounts = mounts
            .into_iter()
            .map(|m| bind_source_in_bundle(m, bundle))
            .map(|m| destination_in_rootfs(m, &rootfs_names))
            .map(|m| match rootfs_names.last() {
                Some(rootfs) => tmpfs_mode_of_existing_dir(m, rootfs),
                None => m,
            })
            .collect();
        spec.set_mounts(Some(mounts));
    }
    Ok(spec)
}

/// Device rules with their access reduced to the letters the kernel knows (`r`, `w`, `m`), as
/// runc reads them: libcgroups writes the string as given, and the kernel refuses `rwa` (runc's
/// own tests use it).
fn device_access_as_runc_reads_it(mut resources: LinuxResources) -> LinuxResources {
    if let Some(devices) = resources.devices().clone() {
        let devices = devices
            .into_iter()
            .map(|mut d| {
                if let Some(access) = d.access().clone() {
                    let known: String = access.chars().filter(|c| "rwm".contains(*c)).collect();
                    d.set_access(Some(known));
                }
                d
            })
            .collect();
        resources.set_devices(Some(devices));
    }
    resources
}

/// The seccomp profile with the arguments of `SCMP_CMP_MASKED_EQ` rules swapped: runc (and the
/// runtime spec) read `value` as the mask and `valueTwo` as the value to compare with;
/// libcontainer hands libseccomp `valueTwo` as the mask. An older berth wrote its prepared
/// config's profile swapped, for libcontainer to load; swapped again, it reads as given.
pub fn swap_masked_eq(mut seccomp: LinuxSeccomp) -> LinuxSeccomp {
    let Some(mut syscalls) = seccomp.syscalls().clone() else {
        return seccomp;
    };
    for syscall in &mut syscalls {
        let Some(mut args) = syscall.args().clone() else {
            continue;
        };
        for arg in args
            .iter_mut()
            .filter(|a| a.op() == LinuxSeccompOperator::ScmpCmpMaskedEq)
        {
            let swapped = LinuxSeccompArgBuilder::default()
                .index(arg.index())
                .op(arg.op())
                .value(arg.value_two().unwrap_or(0))
                .value_two(arg.value())
                .build();
            if let Ok(swapped) = swapped {
                *arg = swapped;
            }
        }
        syscall.set_args(Some(args));
    }
    seccomp.set_syscalls(Some(syscalls));
    seccomp
}

/// runc reads a bind mount's relative source as relative to the bundle; libcontainer resolves
/// it where init runs (the rootfs, see `launch`).
fn bind_source_in_bundle(mut m: Mount, bundle: &Path) -> Mount {
    let bind = m.typ().as_deref() == Some("bind")
        || m.options()
            .iter()
            .flatten()
            .any(|o| o == "bind" || o == "rbind");
    if let Some(source) = m.source().clone().filter(|s| bind && s.is_relative()) {
        m.set_source(Some(bundle.join(source)));
    }
    m
}

/// runc reads a mount destination that already names a place in the rootfs by its host path
/// (`/path/to/bundle/rootfs/mnt`) as that place (`/mnt`); libcontainer would make the host
/// path inside the rootfs. `rootfs_names`: the rootfs's path as the config gives it, and
/// canonical.
fn destination_in_rootfs(mut m: Mount, rootfs_names: &[PathBuf]) -> Mount {
    let dest = lexical_clean(m.destination());
    let inside = rootfs_names
        .iter()
        .map(|r| lexical_clean(r))
        .filter(|r| r.parent().is_some())
        .find_map(|r| dest.strip_prefix(&r).ok().map(Path::to_path_buf));
    if let Some(inside) = inside {
        m.set_destination(Path::new("/").join(inside));
    }
    m
}

/// A tmpfs mounted over a directory of the rootfs takes that directory's mode (set-id and
/// sticky bits too) unless its options give a `mode=`, as runc mounts it; libcontainer leaves
/// tmpfs's default, 1777.
fn tmpfs_mode_of_existing_dir(mut m: Mount, rootfs: &Path) -> Mount {
    use rustix::fs::{openat2, Mode, OFlags, ResolveFlags};
    if m.typ().as_deref() != Some("tmpfs") {
        return m;
    }
    let mut options = m.options().clone().unwrap_or_default();
    if options.iter().any(|o| o.starts_with("mode=")) {
        return m;
    }
    let inside = m.destination().strip_prefix("/").unwrap_or(m.destination());
    let stat = rustix::fs::open(
        rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .and_then(|root| {
        openat2(
            &root,
            inside,
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT,
        )
    })
    .and_then(|fd| rustix::fs::fstat(&fd));
    if let Ok(stat) = stat {
        if rustix::fs::FileType::from_raw_mode(stat.st_mode) == rustix::fs::FileType::Directory {
            options.push(format!("mode={:o}", stat.st_mode & 0o7777));
            m.set_options(Some(options));
        }
    }
    m
}

/// `path` with `.` and `..` components resolved by name only (no file system access), as
/// Go's `filepath.Clean` does.
fn lexical_clean(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// A bundle directory holding the prepared config.json, removed on drop unless installed.
pub struct PreparedBundle {
    dir: Option<PathBuf>,
}

impl PreparedBundle {
    /// Writes `spec` as the config.json of a new bundle under `root`.
    pub fn write(root: &Root, id: &str, spec: &Spec) -> Result<PreparedBundle> {
        let dir = root
            .path
            .join(TMP)
            .join(format!("create-{id}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create directory {}", dir.display()))?;
        let bundle = PreparedBundle {
            dir: Some(dir.clone()),
        };
        write_atomic(&dir.join("config.json"), &serde_json::to_vec(spec)?)
            .context("cannot write the prepared config")?;
        Ok(bundle)
    }

    pub fn path(&self) -> &Path {
        self.dir.as_deref().unwrap_or(Path::new(""))
    }

    /// Keeps `spec`'s seccomp profile, which the prepared config leaves out, beside it (for
    /// `exec`); nothing without one.
    pub fn keep_seccomp(&self, spec: &Spec) -> Result<()> {
        let Some(seccomp) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
            return Ok(());
        };
        write_atomic(&self.path().join(SECCOMP), &serde_json::to_vec(seccomp)?)
            .context("cannot write the container's seccomp profile")
    }

    /// Where `create` lists the cgroup directories it makes before libcontainer runs (see
    /// [`remove_leftovers`]).
    pub fn cgroups_record(&self) -> PathBuf {
        self.path().join(CGROUPS_RECORD)
    }

    /// Moves the bundle into the container's state directory `container_dir`, where exec
    /// finds it, and records `bundle` (the caller's) as the container's bundle again.
    pub fn install(mut self, root: &Root, id: &str, bundle: &Path) -> Result<()> {
        let Some(dir) = self.dir.take() else {
            return Ok(());
        };
        let container_dir = root.dir(id);
        let moved = fs::rename(&dir, container_dir.join(INSTALLED));
        remove_tmp_if_empty(&dir);
        moved.context("cannot move the prepared bundle into the container's state")?;
        let mut c = Container::load(root, id)?;
        c.state.bundle = bundle.to_path_buf();
        c.save_state()
    }
}

impl Drop for PreparedBundle {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            let _ = fs::remove_dir_all(&dir);
            remove_tmp_if_empty(&dir);
        }
    }
}

/// Removes what a berth that was killed in `create` or `exec` of the container whose state
/// directory is `container_dir` left in [`TMP`]: entries of berth processes that no longer run.
/// For `delete`, which holds the container's lock.
pub fn remove_leftovers(container_dir: &Path) {
    let (Some(root), Some(id)) = (
        container_dir.parent(),
        container_dir.file_name().and_then(|n| n.to_str()),
    ) else {
        return;
    };
    let tmp = root.join(TMP);
    let Ok(entries) = fs::read_dir(&tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let pid = ["create-", "exec-"].iter().find_map(|kind| {
            let rest = name
                .strip_prefix(kind)?
                .strip_prefix(id)?
                .strip_prefix('-')?;
            rest.parse::<u32>().ok()
        });
        if pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
            // A create killed before libcontainer made the container's state: the cgroups it
            // had made are empty (nothing was forked into them).
            if let Ok(list) = fs::read_to_string(entry.path().join(CGROUPS_RECORD)) {
                for dir in list.lines().filter(|l| l.starts_with("/sys/fs/cgroup/")) {
                    let _ = fs::remove_dir(dir);
                }
            }
            let _ = fs::remove_dir_all(entry.path());
        }
    }
    let _ = fs::remove_dir(&tmp);
}

/// Removes [`TMP`] (the parent of `dir`) once nothing else is in it.
fn remove_tmp_if_empty(dir: &Path) {
    if let Some(tmp) = dir.parent() {
        let _ = fs::remove_dir(tmp);
    }
}

/// The config.json of the prepared bundle installed in container `c`'s state directory (see
/// [`PreparedBundle::install`]); a container made by an older berth has none.
pub fn installed_config(c: &Container) -> PathBuf {
    c.dir.join(INSTALLED).join("config.json")
}

/// The seccomp profile kept in container `c`'s prepared bundle (see
/// [`PreparedBundle::keep_seccomp`]); a container made by an older berth, or without a profile,
/// has none.
pub fn installed_seccomp(c: &Container) -> PathBuf {
    c.dir.join(INSTALLED).join(SECCOMP)
}

/// A state root of exec's own, holding a copy of the container's `state.json` for libcontainer
/// to read: its bundle is the prepared one, and a created container reads as running (runc
/// execs into a created container, libcontainer refuses). libcontainer puts exec's sockets
/// there too. Removed on drop.
pub struct ExecView {
    top: PathBuf,
}

impl ExecView {
    pub fn new(root: &Root, c: &Container) -> Result<ExecView> {
        let top = root
            .path
            .join(TMP)
            .join(format!("exec-{}-{}", c.id, std::process::id()));
        let _ = fs::remove_dir_all(&top);
        let dir = top.join(&c.id);
        fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create directory {}", dir.display()))?;
        let view = ExecView { top };
        let mut state = c.state.clone();
        let prepared = c.dir.join(INSTALLED);
        if prepared.join("config.json").exists() {
            state.bundle = prepared;
        }
        if state.status == ContainerStatus::Created {
            state.status = ContainerStatus::Running;
        }
        write_atomic(&dir.join("state.json"), &serde_json::to_vec(&state)?)
            .context("cannot write exec's view of the container's state")?;
        Ok(view)
    }

    /// The state root to hand libcontainer.
    pub fn root(&self) -> &Path {
        &self.top
    }

    /// The container's directory in the view (for files of exec's own).
    pub fn dir(&self, id: &str) -> PathBuf {
        self.top.join(id)
    }
}

impl Drop for ExecView {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.top);
        remove_tmp_if_empty(&self.top);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libcontainer::oci_spec::runtime::MountBuilder;

    fn dest(d: &str) -> PathBuf {
        let m = MountBuilder::default().destination(d).build().unwrap();
        let names = [PathBuf::from("/b/rootfs"), PathBuf::from("/real/rootfs")];
        destination_in_rootfs(m, &names).destination().clone()
    }

    #[test]
    fn destinations_under_the_rootfs_host_path_are_container_paths() {
        assert_eq!(dest("/b/rootfs/mnt/x"), PathBuf::from("/mnt/x"));
        assert_eq!(dest("/real/rootfs/./a/../mnt"), PathBuf::from("/mnt"));
        assert_eq!(dest("/b/rootfs"), PathBuf::from("/"));
        assert_eq!(dest("/b/rootfsx/mnt"), PathBuf::from("/b/rootfsx/mnt"));
        assert_eq!(dest("/mnt"), PathBuf::from("/mnt"));
    }
}
