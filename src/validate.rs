//! Checks of a bundle's config.json before libcontainer sees it: what runc's validator refuses,
//! and what would make libcontainer panic (empty `process.args`, an environment entry it hands
//! to `std::env::set_var`) or act on the host instead of the container. Each problem is one line
//! naming the field. Knows nothing of the command line.

use std::collections::HashSet;
use std::path::Path;

use anyhow::{bail, Result};
use libcontainer::oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

/// Checks `spec` (from `bundle`'s config.json); the first problem found is the error.
pub fn spec(spec: &Spec, bundle: &Path) -> Result<()> {
    if !spec.version().starts_with("1.") {
        bail!(
            "ociVersion {:?}: only 1.x configs are supported",
            spec.version()
        );
    }
    process(spec)?;
    root(spec, bundle)?;
    let namespaces = namespaces(spec)?;
    mounts(spec)?;
    proc_and_sys_targets(spec, bundle)?;
    linux(spec, &namespaces)?;
    hooks(spec)?;
    Ok(())
}

fn process(spec: &Spec) -> Result<()> {
    let Some(p) = spec.process() else {
        bail!("process is missing");
    };
    process_fields(p, "process")
}

/// The checks of a process (config.json's, or `exec`'s); `at` names it in the error.
pub fn process_fields(p: &Process, at: &str) -> Result<()> {
    let args = p.args().as_deref().unwrap_or_default();
    if args.is_empty() {
        bail!("{at}.args must not be empty");
    }
    if args[0].is_empty() {
        bail!("{at}.args[0] must not be empty");
    }
    if let Some(i) = args.iter().position(|a| a.contains('\0')) {
        bail!("{at}.args[{i}] contains a NUL byte");
    }
    for (i, entry) in p.env().as_deref().unwrap_or_default().iter().enumerate() {
        env_entry(entry).map_err(|e| anyhow::anyhow!("{at}.env[{i}] {entry:?}: {e}"))?;
    }
    if !p.cwd().is_absolute() {
        bail!("{at}.cwd {:?} must be an absolute path", p.cwd());
    }
    if let Some(adj) = p.oom_score_adj() {
        if !(-1000..=1000).contains(&adj) {
            bail!("{at}.oomScoreAdj {adj} is outside -1000..1000");
        }
    }
    let mut seen = HashSet::new();
    for r in p.rlimits().as_deref().unwrap_or_default() {
        if !seen.insert(format!("{:?}", r.typ())) {
            bail!("{at}.rlimits: {:?} is given twice", r.typ());
        }
        if r.soft() > r.hard() {
            bail!(
                "{at}.rlimits: {:?} soft limit {} is above its hard limit {}",
                r.typ(),
                r.soft(),
                r.hard()
            );
        }
    }
    for (what, value) in [
        ("apparmorProfile", p.apparmor_profile()),
        ("selinuxLabel", p.selinux_label()),
    ] {
        if value.as_deref().is_some_and(|v| v.contains('\0')) {
            bail!("{at}.{what} contains a NUL byte");
        }
    }
    Ok(())
}

/// `KEY=VALUE`, KEY not empty, no NUL anywhere (the kernel's execve could not pass it).
fn env_entry(entry: &str) -> Result<()> {
    let Some((key, _)) = entry.split_once('=') else {
        bail!("not of the form KEY=VALUE");
    };
    if key.is_empty() {
        bail!("the name is empty");
    }
    if entry.contains('\0') {
        bail!("contains a NUL byte");
    }
    Ok(())
}

fn root(spec: &Spec, bundle: &Path) -> Result<()> {
    let Some(root) = spec.root() else {
        bail!("root is missing");
    };
    let path = root.path();
    if path.as_os_str().is_empty() {
        bail!("root.path is empty");
    }
    let full = bundle.join(path);
    match full.metadata() {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => bail!("root.path {} is not a directory", full.display()),
        Err(e) => bail!("root.path {}: {e}", full.display()),
    }
}

/// The namespaces the container gets (type → joins an existing one by path).
fn namespaces(spec: &Spec) -> Result<Vec<(LinuxNamespaceType, bool)>> {
    let mut out: Vec<(LinuxNamespaceType, bool)> = Vec::new();
    let list = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_deref())
        .unwrap_or_default();
    for ns in list {
        if out.iter().any(|(t, _)| *t == ns.typ()) {
            bail!("linux.namespaces: {} is given twice", ns.typ());
        }
        if let Some(path) = ns.path() {
            if !path.is_absolute() {
                bail!(
                    "linux.namespaces: the {} namespace's path {path:?} must be absolute",
                    ns.typ()
                );
            }
            if let Err(e) = path.metadata() {
                bail!(
                    "linux.namespaces: the {} namespace's path {}: {e}",
                    ns.typ(),
                    path.display()
                );
            }
        }
        out.push((ns.typ(), ns.path().is_some()));
    }
    // Without one, libcontainer mounts the container's file systems in the host's mount
    // namespace and chroots (runc refuses too).
    if !out.iter().any(|(t, _)| *t == LinuxNamespaceType::Mount) {
        bail!("linux.namespaces: a mount namespace is required");
    }
    Ok(out)
}

fn has(namespaces: &[(LinuxNamespaceType, bool)], typ: LinuxNamespaceType) -> bool {
    namespaces.iter().any(|(t, _)| *t == typ)
}

/// A namespace of the container's own (not the host's, not joined by path).
fn has_private(namespaces: &[(LinuxNamespaceType, bool)], typ: LinuxNamespaceType) -> bool {
    namespaces.iter().any(|(t, joined)| *t == typ && !joined)
}

fn mounts(spec: &Spec) -> Result<()> {
    let mounts = spec.mounts().as_deref().unwrap_or_default();
    // libcontainer's init reads /proc/thread-self inside the container (and panics without it).
    if !mounts.iter().any(|m| m.destination() == Path::new("/proc")) {
        bail!("mounts: a mount at /proc is required");
    }
    for (i, m) in mounts.iter().enumerate() {
        let dest = m.destination();
        if !dest.is_absolute() {
            bail!("mounts[{i}].destination {dest:?} must be an absolute path");
        }
        if dest.components().any(|c| c.as_os_str() == "..") {
            bail!("mounts[{i}].destination {dest:?} must not contain \"..\"");
        }
        if m.typ().as_deref().is_some_and(|t| t.contains('\0')) {
            bail!("mounts[{i}].type contains a NUL byte");
        }
        if m.options()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|o| o.contains('\0'))
        {
            bail!("mounts[{i}].options: an option contains a NUL byte");
        }
    }
    Ok(())
}

/// runc's rule: proc and sysfs are mounted on a plain directory of the rootfs, never through a
/// symlink (or onto a file) that could send them elsewhere.
fn proc_and_sys_targets(spec: &Spec, bundle: &Path) -> Result<()> {
    let Some(root) = spec.root() else {
        return Ok(());
    };
    let rootfs = bundle.join(root.path());
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let Some(typ @ ("proc" | "sysfs")) = m.typ().as_deref() else {
            continue;
        };
        let dest = rootfs.join(m.destination().strip_prefix("/").unwrap_or(m.destination()));
        if let Ok(meta) = dest.symlink_metadata() {
            if !meta.is_dir() {
                bail!(
                    "mounts[{i}]: filesystem \"{typ}\" must be mounted on ordinary directory ({} is not one)",
                    m.destination().display()
                );
            }
        }
    }
    Ok(())
}

fn linux(spec: &Spec, namespaces: &[(LinuxNamespaceType, bool)]) -> Result<()> {
    use LinuxNamespaceType::*;
    if spec.hostname().as_deref().is_some_and(|h| !h.is_empty()) && !has(namespaces, Uts) {
        bail!("hostname needs a UTS namespace of the container's own");
    }
    if spec.domainname().as_deref().is_some_and(|h| !h.is_empty()) && !has(namespaces, Uts) {
        bail!("domainname needs a UTS namespace of the container's own");
    }
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    let mappings = |m: &Option<Vec<_>>| m.as_ref().is_some_and(|m: &Vec<_>| !m.is_empty());
    if (mappings(linux.uid_mappings()) || mappings(linux.gid_mappings()))
        && !has_private(namespaces, User)
    {
        bail!("linux.uidMappings/gidMappings need a user namespace of the container's own");
    }
    for (what, paths) in [
        ("maskedPaths", linux.masked_paths()),
        ("readonlyPaths", linux.readonly_paths()),
    ] {
        for p in paths.as_deref().unwrap_or_default() {
            if !p.starts_with('/') || p.contains('\0') {
                bail!("linux.{what}: {p:?} must be an absolute path");
            }
        }
    }
    unified_resources(linux)?;
    seccomp_notify(linux)?;
    let mut sysctls: Vec<&String> = linux
        .sysctl()
        .as_ref()
        .map(|s| s.keys().collect())
        .unwrap_or_default();
    sysctls.sort();
    for name in sysctls {
        sysctl(name, namespaces)?;
    }
    Ok(())
}

/// runc's rule: a process whose `write` waits for a seccomp agent could never report anything
/// (the agent's answers and the runtime's own messages go through `write`).
fn seccomp_notify(linux: &libcontainer::oci_spec::runtime::Linux) -> Result<()> {
    use libcontainer::oci_spec::runtime::LinuxSeccompAction;
    let Some(seccomp) = linux.seccomp() else {
        return Ok(());
    };
    let notify_write = seccomp.syscalls().iter().flatten().any(|rule| {
        rule.action() == LinuxSeccompAction::ScmpActNotify
            && rule.names().iter().any(|n| n == "write")
    });
    if notify_write {
        bail!("linux.seccomp: SCMP_ACT_NOTIFY cannot be used for the write syscall");
    }
    Ok(())
}

/// runc's rule: `linux.resources.unified` holds cgroup v2 files, so it needs a cgroup v2 host
/// (the hybrid layout counts as v1, as libcontainer drives it with the v1 controllers).
fn unified_resources(linux: &libcontainer::oci_spec::runtime::Linux) -> Result<()> {
    use libcgroups::common::{get_cgroup_setup, CgroupSetup};
    let unified = linux
        .resources()
        .as_ref()
        .and_then(|r| r.unified().as_ref());
    if unified.is_some_and(|u| !u.is_empty())
        && !matches!(get_cgroup_setup(), Ok(CgroupSetup::Unified))
    {
        bail!("linux.resources.unified: invalid configuration: cgroup v2 resources on a host with cgroup v1");
    }
    Ok(())
}

/// runc's rule: a sysctl is set only where a namespace of the container's own isolates it.
fn sysctl(name: &str, namespaces: &[(LinuxNamespaceType, bool)]) -> Result<()> {
    use LinuxNamespaceType::*;
    let valid = !name.is_empty()
        && name.split(['.', '/']).all(|part| {
            !part.is_empty()
                && part != ".."
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-+:@".contains(c))
        });
    if !valid {
        bail!("linux.sysctl: {name:?} is not a valid sysctl name");
    }
    let needs = if name.starts_with("net.") {
        Some((Network, "network"))
    } else if name.starts_with("fs.mqueue.")
        || [
            "kernel.msgmax",
            "kernel.msgmnb",
            "kernel.msgmni",
            "kernel.sem",
        ]
        .contains(&name)
        || name.starts_with("kernel.shm")
    {
        Some((Ipc, "IPC"))
    } else if name == "kernel.hostname" || name == "kernel.domainname" {
        bail!("linux.sysctl: {name} cannot be set here: use the config's hostname or domainname");
    } else {
        None
    };
    match needs {
        Some((typ, _)) if has(namespaces, typ) => Ok(()),
        Some((_, what)) => {
            bail!("linux.sysctl: {name} needs a {what} namespace of the container's own")
        }
        None => bail!("linux.sysctl: {name} is not namespaced: it would change the host"),
    }
}

fn hooks(spec: &Spec) -> Result<()> {
    let Some(hooks) = spec.hooks() else {
        return Ok(());
    };
    for (what, list) in [
        ("prestart", hooks.prestart()),
        ("createRuntime", hooks.create_runtime()),
        ("createContainer", hooks.create_container()),
        ("startContainer", hooks.start_container()),
        ("poststart", hooks.poststart()),
        ("poststop", hooks.poststop()),
    ] {
        for (i, hook) in list.as_deref().unwrap_or_default().iter().enumerate() {
            let path = hook.path();
            if !path.is_absolute() {
                bail!("hooks.{what}[{i}].path {path:?} must be an absolute path");
            }
            let strings = hook
                .args()
                .iter()
                .flatten()
                .chain(hook.env().iter().flatten());
            if strings.into_iter().any(|s| s.contains('\0')) {
                bail!("hooks.{what}[{i}]: an argument or environment entry contains a NUL byte");
            }
            if hook.timeout().is_some_and(|t| t <= 0) {
                bail!("hooks.{what}[{i}].timeout must be positive");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_entries() {
        assert!(env_entry("A=b").is_ok());
        assert!(env_entry("A=").is_ok());
        assert!(env_entry("A=b=c").is_ok());
        assert!(env_entry("").is_err());
        assert!(env_entry("A").is_err());
        assert!(env_entry("=b").is_err());
        assert!(env_entry("A=b\0c").is_err());
    }

    #[test]
    fn sysctls() {
        use LinuxNamespaceType::*;
        let ns = [(Network, false), (Ipc, false), (Mount, false)];
        assert!(sysctl("net.ipv4.ip_forward", &ns).is_ok());
        assert!(sysctl("kernel.shmmax", &ns).is_ok());
        assert!(sysctl("fs.mqueue.msg_max", &ns).is_ok());
        assert!(sysctl("net.ipv4.ip_forward", &[(Mount, false)]).is_err());
        assert!(sysctl("kernel.panic", &ns).is_err());
        assert!(sysctl("vm.swappiness", &ns).is_err());
        assert!(sysctl("net..x", &ns).is_err());
        assert!(sysctl("net/../x", &ns).is_err());
        assert!(sysctl("", &ns).is_err());
    }
}
