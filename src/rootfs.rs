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

/// The most symbolic links followed for one destination (the kernel's limit).
const MAX_LINKS: usize = 40;

/// Makes the targets of bind mounts whose destination leads through a symbolic link to a place
/// that does not exist yet (`/etc/hosts` -> `/tmp/hosts`): runc creates the target in the
/// rootfs, following the links as the container would (in the rootfs); libcontainer refuses to
/// create through a link ("failed to prepare rootfs"). A destination without links, or one
/// that exists, is left to libcontainer. Best effort: what cannot be made is libcontainer's to
/// report. `spec` is the prepared one (absolute bind sources).
pub fn create_bind_targets(spec: &Spec, rootfs: &Path) {
    for m in spec.mounts().iter().flatten() {
        let bind = m.typ().as_deref() == Some("bind")
            || m.options()
                .iter()
                .flatten()
                .any(|o| o == "bind" || o == "rbind");
        let Some(source) = m.source().as_ref().filter(|_| bind) else {
            continue;
        };
        let dir = fs::metadata(source).is_ok_and(|md| md.is_dir());
        let _ = create_through_links(rootfs, m.destination(), dir);
    }
}

/// Walks `dest` in `rootfs` as the container would see it (absolute links lead back to the
/// rootfs, `..` stops at it) and, if a link led to a place that is missing, makes it: the
/// directories on the way, then a directory (`dir`) or an empty file.
fn create_through_links(rootfs: &Path, dest: &Path, dir: bool) -> std::io::Result<()> {
    use std::collections::VecDeque;
    use std::io::{Error, ErrorKind};
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    use std::path::{Component, PathBuf};

    let components = |p: &Path| -> Vec<std::ffi::OsString> {
        p.components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n.to_os_string()),
                Component::ParentDir => Some("..".into()),
                _ => None,
            })
            .collect()
    };
    let mut todo: VecDeque<_> = components(dest).into();
    // `cur`: a place in the rootfs whose every component is a real directory.
    let mut cur = PathBuf::new();
    let mut links = 0;
    while let Some(name) = todo.pop_front() {
        if name == ".." {
            cur.pop();
            continue;
        }
        let next = cur.join(&name);
        let host = rootfs.join(&next);
        match fs::symlink_metadata(&host) {
            Ok(md) if md.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(Error::from_raw_os_error(libc::ELOOP));
                }
                let target = fs::read_link(&host)?;
                if target.is_absolute() {
                    cur = PathBuf::new();
                }
                for c in components(&target).into_iter().rev() {
                    todo.push_front(c);
                }
            }
            Ok(md) if md.is_dir() => cur = next,
            Ok(_) if todo.is_empty() => return Ok(()),
            Ok(_) => return Err(Error::from_raw_os_error(libc::ENOTDIR)),
            Err(e) if e.kind() == ErrorKind::NotFound && links > 0 => {
                if todo.is_empty() && !dir {
                    fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(0o644)
                        .custom_flags(libc::O_NOFOLLOW)
                        .open(&host)?;
                    return Ok(());
                }
                fs::DirBuilder::new().mode(0o755).create(&host)?;
                cur = next;
            }
            // Missing without a link on the way: libcontainer makes it.
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod bind_target_tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn bind_targets_through_dangling_links_are_made_in_the_rootfs() {
        let tmp = std::env::temp_dir().join(format!("berth-rootfs-test-{}", std::process::id()));
        let rootfs = tmp.join("rootfs");
        fs::create_dir_all(rootfs.join("etc")).unwrap();
        fs::create_dir_all(rootfs.join("tmp")).unwrap();
        symlink("/tmp/foo/bar", rootfs.join("jump")).unwrap();
        symlink("/jump/baz/hosts", rootfs.join("etc/hosts")).unwrap();
        create_through_links(&rootfs, Path::new("/etc/hosts"), false).unwrap();
        assert!(rootfs.join("tmp/foo/bar/baz/hosts").is_file());
        symlink("../../tmp/d", rootfs.join("etc/d")).unwrap();
        create_through_links(&rootfs, Path::new("/etc/d"), true).unwrap();
        assert!(rootfs.join("tmp/d").is_dir());
        // No link on the way: nothing made.
        assert!(create_through_links(&rootfs, Path::new("/new/x"), true).is_err());
        assert!(!rootfs.join("new").exists());
        fs::remove_dir_all(&tmp).unwrap();
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
