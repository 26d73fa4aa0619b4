//! `--systemd-cgroup` on a systemd host: the scope unit berth's container lives in, and what a
//! teardown leaves of it (nothing). Runs under the "systemd" layout of scripts/test.sh
//! (BERTH_TEST_CGROUP_DRIVER=systemd, inside scripts/systemd-host); elsewhere each test says
//! it was skipped and returns. Every other test of the suite runs under the systemd driver too.

use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::json;

use crate::common::*;

/// False (after saying so) when the suite does not run under the systemd driver.
fn under_systemd(test: &str) -> bool {
    if !systemd_driver() {
        eprintln!("{test}: skipped: needs BERTH_TEST_CGROUP_DRIVER=systemd (scripts/systemd-host)");
    }
    systemd_driver()
}

/// `systemctl show -P PROPERTY UNIT`.
fn unit_property(unit: &str, property: &str) -> String {
    let out = Command::new("systemctl")
        .args(["show", "-P", property, unit])
        .output()
        .expect("systemctl");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The unit is gone from systemd, or loaded but inactive; its cgroup directory is removed.
#[track_caller]
fn assert_unit_gone(unit: &str, cgroup: &str, what: &str) {
    let state = unit_property(unit, "ActiveState");
    assert_eq!(state, "inactive", "{what}: {unit} is {state}");
    let dir = Path::new(CGROUP_ROOT).join(cgroup.trim_start_matches('/'));
    assert!(!dir.exists(), "{what}: {} is left", dir.display());
}

/// cgroupsPath `slice:prefix:name`: the container's init runs in the scope `prefix-name.scope`
/// of that slice, described as berth's; `delete -f` leaves neither unit nor cgroup.
#[test]
fn scope_unit_from_cgroups_path() {
    if !under_systemd("scope_unit_from_cgroups_path") {
        return;
    }
    let rt = Runtime::new("sd-scope");
    let id = rt.id("");
    let mut b = rt.bundle(&["sleep", "1000"]);
    b.edit(|c| c["linux"]["cgroupsPath"] = json!(format!("system.slice:berth-it:{id}")));
    let init = rt.create_start(&id, &b);
    let unit = format!("berth-it-{id}.scope");
    let cgroup = format!("/system.slice/{unit}");
    assert_eq!(unit_property(&unit, "ActiveState"), "active");
    assert_eq!(
        unit_property(&unit, "Description"),
        format!("berth container {id}")
    );
    let own = fs::read_to_string(format!("/proc/{init}/cgroup")).unwrap();
    assert!(
        own.contains(&format!("0::{cgroup}\n")),
        "init's cgroups: {own}"
    );

    let snaps = snapshot([init]);
    rt.run(&["delete", "-f", &id]).ok();
    assert_unit_gone(&unit, &cgroup, "after delete -f");
    assert_nothing_left(&id, &snaps, "after delete -f");
}

/// A nested slice (`a-b.slice` is `/a.slice/a-b.slice`), a host pid namespace and children:
/// `kill KILL` returns with every process gone and the scope removed; `delete` then finishes.
#[test]
fn nested_slice_host_pidns_kill() {
    if !under_systemd("nested_slice_host_pidns_kill") {
        return;
    }
    let rt = Runtime::new("sd-nested");
    let id = rt.id("");
    let mut b = rt.bundle(&strs(&sleepers(5)));
    b.host_pidns();
    b.edit(|c| c["linux"]["cgroupsPath"] = json!(format!("berth-it.slice:p:{id}")));
    rt.create_start(&id, &b);
    let snaps = snapshot(rt.wait_for_pids(&id, 6));
    let unit = format!("p-{id}.scope");
    let cgroup = format!("/berth.slice/berth-it.slice/{unit}");
    assert!(Path::new(CGROUP_ROOT).join(&cgroup[1..]).is_dir());

    rt.run(&["kill", &id, "KILL"]).ok();
    assert_all_gone(&snaps, "after kill KILL");
    assert_unit_gone(&unit, &cgroup, "after kill KILL");
    rt.run(&["delete", &id]).ok();
    assert_nothing_left(&id, &snaps, "after delete");
}

/// Neither state.json nor berth's record can be read: `delete -f` still finds the scope by the
/// cgroup path libcontainer recorded, kills its processes and stops the unit.
#[test]
fn unreadable_state_delete_force() {
    if !under_systemd("unreadable_state_delete_force") {
        return;
    }
    let rt = Runtime::new("sd-corrupt");
    let id = rt.id("");
    let b = rt.bundle(&strs(&sleepers(3)));
    rt.create_start(&id, &b);
    let snaps = snapshot(rt.wait_for_pids(&id, 4));
    for file in ["state.json", "berth.json"] {
        fs::write(rt.state_dir(&id).join(file), "{ corrupt").unwrap();
    }
    rt.run(&["delete", "-f", &id]).ok();
    let unit = format!("youki-{id}.scope");
    assert_unit_gone(&unit, &format!("/system.slice/{unit}"), "after delete -f");
    assert_nothing_left(&id, &snaps, "after delete -f");
}
