//! The bundle's rootfs, made ready for libcontainer.
//!
//! Without a mount at `/dev`, libcontainer makes the default devices (`/dev/null`, ...), the
//! config's `linux.devices` and the links `/dev/fd`, `/dev/stdin`, `/dev/stdout`, `/dev/stderr`
//! (and `/dev/kcore`) in the rootfs itself, and fails with a bare "failed to prepare rootfs"
//! when one exists already: the second `run` of such a bundle fails on what the first one
//! left. runc leaves an existing node or link alone. berth removes the nodes and links that are
//! exactly what libcontainer is about to make again (same target; same kind of device and
//! number), and nothing else.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use libcontainer::oci_spec::runtime::{LinuxDeviceType, Spec};

/// The links libcontainer makes in `/dev`: name, target.
const DEV_LINKS: [(&str, &str); 5] = [
    ("dev/fd", "/proc/self/fd"),
    ("dev/stdin", "/proc/self/fd/0"),
    ("dev/stdout", "/proc/self/fd/1"),
    ("dev/stderr", "/proc/self/fd/2"),
    ("dev/kcore", "/proc/kcore"),
];

/// The devices libcontainer always makes: path, major, minor (all character devices).
const DEFAULT_DEVICES: [(&str, i64, i64); 6] = [
    ("dev/null", 1, 3),
    ("dev/zero", 1, 5),
    ("dev/full", 1, 7),
    ("dev/tty", 5, 0),
    ("dev/urandom", 1, 9),
    ("dev/random", 1, 8),
];

/// Removes `/dev` nodes and links a previous container left in `rootfs` when config.json mounts
/// nothing at `/dev` (libcontainer makes the same ones again).
pub fn clear_dev(spec: &Spec, rootfs: &Path) {
    let dev_mounted = spec
        .mounts()
        .iter()
        .flatten()
        .any(|m| m.destination().as_path() == Path::new("/dev"));
    if dev_mounted {
        return;
    }
    for (name, target) in DEV_LINKS {
        let link = rootfs.join(name);
        if fs::read_link(&link).is_ok_and(|t| t == Path::new(target)) {
            // A read-only rootfs keeps it (and libcontainer's error says so).
            let _ = fs::remove_file(&link);
        }
    }
    let configured = spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().clone())
        .unwrap_or_default();
    let configured = configured.iter().map(|d| {
        let path = d
            .path()
            .to_string_lossy()
            .trim_start_matches('/')
            .to_string();
        let block = d.typ() == LinuxDeviceType::B;
        (path, block, d.major(), d.minor())
    });
    let defaults = DEFAULT_DEVICES
        .iter()
        .map(|(p, major, minor)| (p.to_string(), false, *major, *minor));
    for (path, block, major, minor) in defaults.chain(configured) {
        let node = rootfs.join(&path);
        let Ok(meta) = fs::symlink_metadata(&node) else {
            continue;
        };
        let kind = if block {
            meta.file_type().is_block_device()
        } else {
            meta.file_type().is_char_device()
        };
        let rdev = meta.rdev();
        let same = kind
            && nix::sys::stat::major(rdev) as i64 == major
            && nix::sys::stat::minor(rdev) as i64 == minor;
        if same {
            let _ = fs::remove_file(&node);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn spec(mounts: serde_json::Value) -> Spec {
        serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "process": {"cwd": "/", "args": ["true"], "user": {"uid": 0, "gid": 0}},
            "mounts": mounts,
        }))
        .unwrap()
    }

    #[test]
    fn removes_only_libcontainers_own_links() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("dev")).unwrap();
        symlink("/proc/self/fd", dir.path().join("dev/fd")).unwrap();
        symlink("/elsewhere", dir.path().join("dev/stdin")).unwrap();
        clear_dev(&spec(serde_json::json!([])), dir.path());
        assert!(fs::symlink_metadata(dir.path().join("dev/fd")).is_err());
        assert_eq!(
            fs::read_link(dir.path().join("dev/stdin")).unwrap(),
            Path::new("/elsewhere")
        );
    }

    #[test]
    fn leaves_the_rootfs_alone_when_dev_is_mounted() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("dev")).unwrap();
        symlink("/proc/self/fd", dir.path().join("dev/fd")).unwrap();
        let dev = serde_json::json!([{"destination": "/dev", "type": "tmpfs", "source": "tmpfs"}]);
        clear_dev(&spec(dev), dir.path());
        assert!(fs::read_link(dir.path().join("dev/fd")).is_ok());
    }
}
