use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use libcgroups::common::{get_cgroup_setup, CgroupSetup};
use libcontainer::oci_spec::runtime::VERSION;
use serde_json::{json, Value};

use super::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where to write config.json
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// A spec for a rootless container (a user namespace mapping the caller)
    #[arg(long)]
    pub rootless: bool,
}

pub fn run(_ctx: &Context, args: Args) -> Result<i32> {
    let path = args.bundle.join("config.json");
    if path.exists() {
        bail!("File {} exists. Remove it first", path.display());
    }
    let mut spec = default_spec();
    if matches!(get_cgroup_setup(), Ok(CgroupSetup::Unified)) {
        // runc's rule: on a cgroup v2 host the container gets a cgroup namespace of its own,
        // so its /sys/fs/cgroup shows its own cgroup, not the host's whole tree.
        if let Some(ns) = spec["linux"]["namespaces"].as_array_mut() {
            ns.push(json!({ "type": "cgroup" }));
        }
    }
    if args.rootless {
        make_rootless(&mut spec);
    }
    let text = serde_json::to_string_pretty(&spec)?;
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(0)
}

/// runc's defaults: a terminal running `sh`, the usual mounts, masked paths and namespaces.
/// runc's bats helpers build every test bundle from this and edit it with jq.
fn default_spec() -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    json!({
        "ociVersion": VERSION,
        "process": {
            "terminal": true,
            "user": { "uid": 0, "gid": 0 },
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": caps, "effective": caps, "permitted": caps, "ambient": caps
            },
            "rlimits": [{ "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }],
            "noNewPrivileges": true
        },
        "root": { "path": "rootfs", "readonly": true },
        "hostname": "berth",
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc" },
            { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
              "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
            { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
              "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
            { "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
              "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
            { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
              "options": ["nosuid", "noexec", "nodev"] },
            { "destination": "/sys", "type": "sysfs", "source": "sysfs",
              "options": ["nosuid", "noexec", "nodev", "ro"] },
            { "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
              "options": ["nosuid", "noexec", "nodev", "relatime", "ro"] }
        ],
        "linux": {
            "resources": { "devices": [{ "allow": false, "access": "rwm" }] },
            "namespaces": [
                { "type": "pid" }, { "type": "network" }, { "type": "ipc" },
                { "type": "uts" }, { "type": "mount" }
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    })
}

/// runc's rootless changes (runc 1.1's `specconv.ToRootless`): a user namespace mapping the
/// caller to root, no network namespace, sysfs bind-mounted, no `uid=`/`gid=` mount options,
/// no resources (a user has no cgroup to set them in unless one is delegated).
fn make_rootless(spec: &mut Value) {
    let uid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    let linux = &mut spec["linux"];
    if let Some(linux) = linux.as_object_mut() {
        linux.remove("resources");
    }
    let mut namespaces: Vec<Value> = linux["namespaces"]
        .as_array()
        .map(|ns| {
            ns.iter()
                .filter(|n| n["type"] != "network" && n["type"] != "user")
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    namespaces.push(json!({ "type": "user" }));
    linux["namespaces"] = Value::Array(namespaces);
    linux["uidMappings"] = json!([{ "containerID": 0, "hostID": uid, "size": 1 }]);
    linux["gidMappings"] = json!([{ "containerID": 0, "hostID": gid, "size": 1 }]);
    if let Some(mounts) = spec["mounts"].as_array_mut() {
        for m in mounts.iter_mut() {
            if m["destination"] == "/sys" {
                *m = json!({ "destination": "/sys", "type": "none", "source": "/sys",
                             "options": ["rbind", "nosuid", "noexec", "nodev", "ro"] });
            } else if let Some(opts) = m["options"].as_array_mut() {
                opts.retain(|o| {
                    !o.as_str()
                        .is_some_and(|o| o.starts_with("gid=") || o.starts_with("uid="))
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rootless_spec_is_runcs() {
        let mut spec = default_spec();
        spec["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({ "type": "cgroup" }));
        make_rootless(&mut spec);
        let types: Vec<&str> = spec["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(types, ["pid", "ipc", "uts", "mount", "cgroup", "user"]);
        assert!(spec["linux"].get("resources").is_none());
        let uid = nix::unistd::geteuid().as_raw();
        assert_eq!(spec["linux"]["uidMappings"][0]["hostID"], uid);
        let mounts = spec["mounts"].as_array().unwrap();
        let sys = mounts.iter().find(|m| m["destination"] == "/sys").unwrap();
        assert_eq!(sys["type"], "none");
        assert_eq!(sys["options"][0], "rbind");
        // runc keeps the cgroup mount, and drops gid= from devpts.
        assert!(mounts.iter().any(|m| m["type"] == "cgroup"));
        let pts = mounts
            .iter()
            .find(|m| m["destination"] == "/dev/pts")
            .unwrap();
        assert!(!pts["options"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o == "gid=5"));
    }
}
