//! berth run by an unprivileged user: runc's rules for `--rootless` and the default `--root`,
//! whether a container gets a cgroup, and what berth does around libcontainer 0.7 so that a
//! container without one can still be created and exec'd into. Knows nothing of clap.
//!
//! Without cgroup access (no delegated cgroup, or cgroup v1) berth cannot list a container's
//! processes from its cgroup. It then requires a PID namespace of the container's own and knows
//! the container is empty when its init is gone. Checked against the kernel's source
//! (kernel/exit.c, kernel/pid_namespace.c): when a PID namespace's init exits, `exit_notify`
//! calls `forget_original_parent`, whose `find_child_reaper` calls `zap_pid_ns_processes`. That
//! sends SIGKILL to every pid of the namespace (the namespaces below it included: their
//! processes have a pid in it too), reaps init's own children, then sleeps until the namespace
//! holds no pid but init's (`pid_allocated == init_pids`; `nr_hashed == 1` in older kernels),
//! that is until every other process has been reaped, also one whose parent is outside (a
//! process joined with setns, reaped by its own parent). Only after that does `exit_notify` make
//! init a zombie, wake its pidfd (`do_notify_pidfd`) and tell its parent. No process can leave a
//! PID namespace, and every process forked inside it, or joined into it, is in it. So "init's
//! pidfd is readable" (or `/proc/PID/stat` shows `Z`/`X`, or init is gone) proves no process of
//! the container is left. (A joined process whose parent never reaps it keeps init from
//! exiting: the wait then runs into its deadline and names init, which is the truth.) That is all `kill KILL` and `delete -f` need; `kill --all` with another
//! signal, `pause` and `update` need the cgroup and are refused.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use libcgroups::common::{get_cgroup_setup, CgroupSetup};
use nix::mount::{mount, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use nix::unistd::{getegid, geteuid};

/// runc's `--rootless auto|true|false`: unset or `auto` means rootless when berth does not run
/// as root in the host's user namespace (runc 1.1: euid != 0, or euid 0 inside a user namespace
/// without `--systemd-cgroup`). The words are Go's `strconv.ParseBool`'s.
pub fn decide(flag: Option<&str>, systemd_cgroup: bool) -> Result<bool> {
    match flag.map(str::to_ascii_lowercase).as_deref() {
        None | Some("") | Some("auto") => {}
        Some("1" | "t" | "true") => return Ok(true),
        Some("0" | "f" | "false") => return Ok(false),
        Some(other) => bail!("invalid --rootless value {other:?}: auto, true or false"),
    }
    if !geteuid().is_root() {
        return Ok(true);
    }
    Ok(in_user_namespace() && !systemd_cgroup)
}

/// Root in the host's user namespace (libcgroups' `is_true_root`): only then is systemd's
/// system instance the one berth talks to; a user, or root inside a user namespace (rootless
/// podman's conmon runs the runtime so), has the user's own instance.
pub fn true_root() -> bool {
    geteuid().is_root() && !in_user_namespace()
}

/// berth's effective uid as its user namespace's parent sees it (through /proc/self/uid_map):
/// what a D-Bus daemon outside the namespace reads from the socket, so what berth must claim
/// when it authenticates.
pub fn outer_uid() -> u32 {
    let euid = geteuid().as_raw();
    let map = fs::read_to_string("/proc/self/uid_map").unwrap_or_default();
    map.lines()
        .filter_map(|l| {
            let f: Vec<u32> = l
                .split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect();
            match f[..] {
                [inside, outside, count] if euid >= inside && euid - inside < count => {
                    Some(outside + (euid - inside))
                }
                _ => None,
            }
        })
        .next()
        .unwrap_or(euid)
}

/// Whether berth runs in a user namespace other than the host's (its uid map is not the whole
/// identity map).
pub fn in_user_namespace() -> bool {
    match fs::read_to_string("/proc/self/uid_map") {
        Ok(map) => {
            let fields: Vec<&str> = map.split_whitespace().collect();
            fields != ["0", "0", "4294967295"]
        }
        Err(_) => false,
    }
}

/// The state directory when `--root` is not given: runc's rule, with berth's name. A user
/// (or root inside a user namespace, unless `USER=root`) with `XDG_RUNTIME_DIR` set gets
/// `$XDG_RUNTIME_DIR/berth`; everyone else `/run/berth` (runc falls back to `/run/runc` when
/// XDG_RUNTIME_DIR is unset, and fails there if it cannot write it).
pub fn default_root() -> (PathBuf, bool) {
    let xdg = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty());
    let honor = xdg.is_some()
        && (!geteuid().is_root()
            || (in_user_namespace()
                && std::env::var_os("USER").as_deref() != Some(OsStr::new("root"))));
    match xdg {
        Some(dir) if honor => (Path::new(&dir).join("berth"), true),
        _ => (PathBuf::from(crate::container::DEFAULT_ROOT), false),
    }
}

/// runc's preparation of a default root under XDG_RUNTIME_DIR: mode 0700 and the sticky bit,
/// which keeps the XDG cleanup from pruning it.
pub fn prepare_xdg_root(root: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::create_dir_all(root).with_context(|| {
        format!(
            "cannot create {}: the path in $XDG_RUNTIME_DIR must be writable by the user",
            root.display()
        )
    })?;
    fs::set_permissions(root, fs::Permissions::from_mode(0o1700))
        .with_context(|| format!("cannot set the mode of {}", root.display()))
}

/// Whether the host is pure cgroup v2.
pub fn cgroup_v2() -> bool {
    matches!(get_cgroup_setup(), Ok(CgroupSetup::Unified))
}

/// Whether a rootless container whose cgroup would be `cgroup_path` can have it: only on a
/// pure cgroup v2 host, where the cgroup's nearest existing ancestor is writable by berth (a
/// subtree delegated to the user). Under `--systemd-cgroup` the user's manager creates it.
pub fn cgroup_access(cgroup_path: &Path, systemd_unit: bool) -> bool {
    if v1_hidden() || !cgroup_v2() {
        return false;
    }
    if systemd_unit {
        return true;
    }
    let rel = cgroup_path.strip_prefix("/").unwrap_or(cgroup_path);
    let mut dir = Path::new(libcgroups::common::DEFAULT_CGROUP_ROOT).join(rel);
    loop {
        if dir.is_dir() {
            return nix::unistd::access(&dir, nix::unistd::AccessFlags::W_OK).is_ok()
                && nix::unistd::access(&dir.join("cgroup.procs"), nix::unistd::AccessFlags::W_OK)
                    .is_ok();
        }
        if !dir.pop() {
            return false;
        }
    }
}

/// Why a rootless container cannot be created without a cgroup, if it cannot: runc's rules
/// (no limits, no `cgroupsPath` of the config's own) and berth's (a PID namespace of its own,
/// without which berth could not find every process to kill).
pub fn check_without_cgroup(
    spec: &libcontainer::oci_spec::runtime::Spec,
    private_pidns: bool,
) -> Result<()> {
    let linux = spec.linux().as_ref();
    if let Some(r) = linux.and_then(|l| l.resources().as_ref()) {
        let mut limits = r.clone();
        limits.set_devices(None);
        if limits != Default::default() {
            bail!(
                "rootless needs no limits + no cgrouppath when no permission is granted for \
                 cgroups: this user has no writable cgroup"
            );
        }
    }
    if linux.and_then(|l| l.cgroups_path().as_ref()).is_some() {
        bail!(
            "unable to apply cgroup configuration: cgroupsPath is set but this user has no \
             writable cgroup (permission denied)"
        );
    }
    if v1_hidden() || !cgroup_v2() {
        // berth's own user namespace (see `enter`) maps only the user: a mapping of other ids
        // would need newuidmap, whose setuid bit means nothing in that namespace.
        let (uid, gid) = (geteuid().as_raw(), getegid().as_raw());
        let only = |maps: Option<&Vec<libcontainer::oci_spec::runtime::LinuxIdMapping>>, id| {
            maps.is_none_or(|m| m.iter().all(|m| m.host_id() == id && m.size() == 1))
        };
        if !only(linux.and_then(|l| l.uid_mappings().as_ref()), uid)
            || !only(linux.and_then(|l| l.gid_mappings().as_ref()), gid)
        {
            bail!(
                "on a cgroup v1 host a rootless container may map only the user's own uid and \
                 gid (berth runs it from a user namespace of its own, where newuidmap cannot \
                 work); map more ids on a cgroup v2 host"
            );
        }
    }
    if !private_pidns {
        bail!(
            "a rootless container without a cgroup needs a PID namespace of its own: berth \
             could not find, kill and wait for every process of a container that shares one"
        );
    }
    Ok(())
}

static IN_CONTAINER_USERNS: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Set once berth has covered a cgroup v1 host's hierarchies (`Enter::Create`): what
/// /sys/fs/cgroup shows then is no cgroup a container may be placed in.
static V1_HIDDEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn v1_hidden() -> bool {
    V1_HIDDEN.load(std::sync::atomic::Ordering::Relaxed)
}

/// Whether berth has joined the container's user namespace (a rootless `exec`): ids are then
/// the container's own, not the host's.
pub fn in_container_userns() -> bool {
    IN_CONTAINER_USERNS.load(std::sync::atomic::Ordering::Relaxed)
}

/// A rootless container with a cgroup must really be in it: libcontainer's v2 manager, in its
/// rootless mode, leaves init where it is when it may not move it (a user may move a process
/// only between cgroups below one it owns, so berth must itself run inside the user's
/// delegated subtree), and berth would then wait on an empty cgroup while the processes ran
/// elsewhere.
pub fn check_placed(init: i32, cgroup: &Path) -> Result<()> {
    let own = fs::read_to_string(format!("/proc/{init}/cgroup"))
        .context("cannot read the container's cgroup")?;
    let v2 = own
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or("");
    if Path::new(v2) != cgroup {
        bail!(
            "the container's init is in cgroup {v2}, not in {}: a user can move it there only \
             from inside the same delegated cgroup (run berth in it, e.g. with systemd-run \
             --user --scope)",
            cgroup.display()
        );
    }
    Ok(())
}

/// What berth must do to itself before libcontainer forks a rootless container's processes,
/// while it is still single-threaded (joining a user namespace requires it).
pub enum Enter {
    Nothing,
    /// `create` or `run` of a container without a cgroup on a cgroup v1 host.
    Create,
    /// `exec` into a container whose init is this pid and has a user namespace of its own.
    Exec {
        init: i32,
        no_cgroup: bool,
    },
}

/// Does [`Enter`]'s work.
///
/// libcontainer 0.7 puts every new process into its cgroup before anything else, and its
/// cgroup v1 manager has no rootless mode: a user's `create` fails with EACCES on cgroup v1.
/// So on v1 berth first moves into a user namespace of its own (mapping the user to itself) and
/// private mount and cgroup namespaces in which the v2 hierarchy covers /sys/fs/cgroup (see
/// [`hide_cgroups`]). The container's user namespace is then made below this one; the user
/// owns both, so a berth in the host's user namespace may still signal, inspect and join it.
///
/// libcontainer 0.7 never joins the container's user namespace for `exec` (its tenant builder
/// joins ipc, uts, net, pid, mnt, cgroup and time only), and a user without it cannot join the
/// others: berth joins it first, then libcontainer's forks inherit it.
pub fn enter(what: Enter) -> Result<()> {
    match what {
        Enter::Nothing => Ok(()),
        Enter::Create => {
            let (uid, gid) = (geteuid().as_raw(), getegid().as_raw());
            unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS)
                .context("cannot make a user namespace to run a container without a cgroup")?;
            fs::write("/proc/self/setgroups", "deny").context("cannot deny setgroups")?;
            fs::write("/proc/self/uid_map", format!("{uid} {uid} 1"))
                .context("cannot map the user into its user namespace")?;
            fs::write("/proc/self/gid_map", format!("{gid} {gid} 1"))
                .context("cannot map the group into its user namespace")?;
            hide_cgroups()?;
            V1_HIDDEN.store(true, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        }
        Enter::Exec { init, no_cgroup } => {
            let ns = fs::File::open(format!("/proc/{init}/ns/user"))
                .context("cannot open the container's user namespace")?;
            setns(&ns, CloneFlags::CLONE_NEWUSER)
                .context("cannot join the container's user namespace")?;
            IN_CONTAINER_USERNS.store(true, std::sync::atomic::Ordering::Relaxed);
            wait_until_inspectable(init);
            if no_cgroup && !cgroup_v2() {
                unshare(CloneFlags::CLONE_NEWNS).context("cannot make a mount namespace")?;
                hide_cgroups()?;
                crate::teardown::cgroup::forget_mounted_hierarchies();
            }
            Ok(())
        }
    }
}

/// Waits (at most a second) until `init`'s namespaces may be read. Until init has exec'd the
/// container's program it is a fork of berth whose memory belongs to berth's user namespace,
/// and a user has no CAP_SYS_PTRACE there: /proc/PID/ns is closed to it (EACCES) for that
/// moment, and a `run -d` returns just before. No event tells when execve is done; a short
/// backoff does, and anything but EACCES ends the wait (libcontainer then reports it).
fn wait_until_inspectable(init: i32) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    let mut pause = std::time::Duration::from_millis(1);
    loop {
        match fs::read_link(format!("/proc/{init}/ns/pid")) {
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {}
            _ => return,
        }
        if std::time::Instant::now() >= deadline {
            return;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(std::time::Duration::from_millis(50));
    }
}

/// Mounts, in a cgroup namespace of berth's own, the cgroup v2 hierarchy over /sys/fs/cgroup:
/// libcontainer then takes the host for a pure v2 one and uses its v2 manager, which tolerates
/// a cgroup it may not create (it leaves the process where it is). Covering the v1 mounts with
/// a tmpfs would not do: libcgroups finds v1 hierarchies in mountinfo, which still lists them.
fn hide_cgroups() -> Result<()> {
    unshare(CloneFlags::CLONE_NEWCGROUP).context("cannot make a cgroup namespace")?;
    mount(
        Some("none"),
        libcgroups::common::DEFAULT_CGROUP_ROOT,
        Some("cgroup2"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .context("cannot hide the cgroup v1 hierarchies from libcontainer")
}

/// Whether `init` (a container's init) is in a user namespace other than berth's.
pub fn has_own_user_namespace(init: i32) -> bool {
    let ours = fs::metadata("/proc/self/ns/user").map(|m| m.ino());
    let theirs = fs::metadata(format!("/proc/{init}/ns/user")).map(|m| m.ino());
    matches!((ours, theirs), (Ok(a), Ok(b)) if a != b)
}

/// The processes in the PID namespace of `init`: what `ps` lists for a
/// container without a cgroup. A process berth may not inspect is left out.
pub fn pidns_members(init: i32) -> io::Result<Vec<i32>> {
    let ns = fs::metadata(format!("/proc/{init}/ns/pid"))?;
    let mut pids = Vec::new();
    for entry in fs::read_dir("/proc")?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == init || in_namespace_of(pid, ns.dev(), ns.ino()) {
            pids.push(pid);
        }
    }
    pids.sort_unstable();
    Ok(pids)
}

fn in_namespace_of(pid: i32, dev: u64, ino: u64) -> bool {
    fs::metadata(format!("/proc/{pid}/ns/pid")).is_ok_and(|m| m.dev() == dev && m.ino() == ino)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rootless_flag_reads_like_runc() {
        for (flag, want) in [("true", true), ("TRUE", true), ("1", true), ("t", true)] {
            assert_eq!(decide(Some(flag), false).unwrap(), want, "{flag}");
        }
        for flag in ["false", "False", "0", "f"] {
            assert!(!decide(Some(flag), true).unwrap(), "{flag}");
        }
        assert!(decide(Some("maybe"), false).is_err());
        // auto: what berth is (the tests run as root in the host's user namespace, or not).
        let auto = !geteuid().is_root() || in_user_namespace();
        assert_eq!(decide(None, false).unwrap(), auto);
        assert_eq!(decide(Some("auto"), false).unwrap(), auto);
    }

    #[test]
    fn a_limit_or_a_cgroups_path_needs_a_cgroup() {
        let spec = |linux: serde_json::Value| -> libcontainer::oci_spec::runtime::Spec {
            serde_json::from_value(serde_json::json!({
                "ociVersion": "1.1.0", "root": { "path": "rootfs" }, "linux": linux
            }))
            .unwrap()
        };
        let devices = spec(serde_json::json!({
            "resources": { "devices": [{ "allow": false, "access": "rwm" }] }
        }));
        assert!(
            check_without_cgroup(&devices, true).is_ok(),
            "device rules are ignored"
        );
        assert!(
            check_without_cgroup(&devices, false).is_err(),
            "a shared PID namespace"
        );
        let limits = spec(serde_json::json!({ "resources": { "pids": { "limit": 5 } } }));
        let e = check_without_cgroup(&limits, true).unwrap_err().to_string();
        assert!(
            e.contains("rootless needs no limits + no cgrouppath"),
            "{e}"
        );
        if !cgroup_v2() {
            let many = spec(serde_json::json!({ "uidMappings": [
                { "containerID": 0, "hostID": geteuid().as_raw(), "size": 1 },
                { "containerID": 1, "hostID": 100000, "size": 65536 }
            ] }));
            let e = check_without_cgroup(&many, true).unwrap_err().to_string();
            assert!(e.contains("may map only the user's own"), "{e}");
        }
        let path = spec(serde_json::json!({ "cgroupsPath": "/mine" }));
        assert!(check_without_cgroup(&path, true).is_err());
    }
}
