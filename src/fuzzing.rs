//! What berth does with the JSON files a caller hands it before it makes anything, as functions
//! of the files' bytes: the entry points of the coverage-guided fuzz targets in `fuzz/`
//! (cargo-fuzz), which look for inputs that panic where berth must answer with one line.
//!
//! [`create_checks`] follows `launch::create_with` up to libcontainer's build, in its order:
//! parsing, the runtime spec's checks, the cgroup placement, the prepared config (and its
//! JSON, which libcontainer reads), the cgroup view's plan, the seccomp filter and
//! startContainer hooks that init loads, and the device rules as cgroup v2 gets them. Nothing
//! here writes: paths in the config are only looked at (inside `bundle`, a directory the
//! caller provides with a `rootfs` in it). The list is kept in step with `create_with` by
//! hand (its steps are interleaved with the lock, the state directory and files it writes):
//! a step added there before the build belongs here too. [`exec_checks`] reads
//! `exec --process FILE` as `launch::exec` does.

use std::path::Path;

use anyhow::{Context as _, Result};

use crate::cgroup_view::CgroupView;
use crate::lifecycle::Placement;
use crate::{devices, launch, prepare, seccomp, validate, workload};

/// The container's id, where a step needs one.
const ID: &str = "fuzz";

/// Runs `json` through `create`'s checks and preparation with `bundle` as the bundle. `Err`
/// is the line `create` would print; a panic is a bug.
pub fn create_checks(json: &[u8], bundle: &Path) -> Result<()> {
    let spec = launch::parse_spec(json, &bundle.join("config.json"))?;
    validate::spec(&spec, bundle).context("invalid config.json")?;
    let cgroup_path = launch::cgroup_path_of(&spec, ID, false)?;
    let placement = Placement::new(&cgroup_path, false).context("invalid cgroupsPath")?;
    let mut prepared = prepare::spec(&spec, bundle, &cgroup_path)?;
    let home_from_passwd = prepared
        .process_mut()
        .as_mut()
        .is_some_and(workload::stand_in_home);
    let _view = CgroupView::plan(
        &mut prepared,
        &placement.cgroup,
        &launch::rootfs_of(&spec, bundle),
    );
    serde_json::to_vec(&prepared).context("cannot write the prepared config")?;
    seccomp::check_agent(&spec)?;
    let runner = workload::RuncExecutor::new(true, home_from_passwd);
    seccomp::plan_init(&spec, ID, bundle, runner)?;
    let rules = devices::rules(&spec)?;
    devices::program(&devices::Policy::of(&rules)?);
    Ok(())
}

/// Reads `json` as the process file of `exec --process` and checks it as `exec` does. `Err` is
/// the line `exec` would print; a panic is a bug.
pub fn exec_checks(json: &[u8]) -> Result<()> {
    let process = launch::parse_process(json, Path::new("process.json"))?;
    validate::process_fields(&process, "the process").context("cannot exec")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fuzz targets' seeds get through every step: a mutation of them reaches each one.
    #[test]
    fn seeds_pass_every_check() {
        let bundle = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(bundle.path().join("rootfs/dev")).unwrap();
        for (name, seed) in [
            (
                "spec",
                &include_bytes!("../fuzz/seeds/config/spec.json")[..],
            ),
            ("rich", include_bytes!("../fuzz/seeds/config/rich.json")),
            ("userns", include_bytes!("../fuzz/seeds/config/userns.json")),
        ] {
            if let Err(e) = create_checks(seed, bundle.path()) {
                panic!("{name}: {e:#}");
            }
        }
        let process = include_bytes!("../fuzz/seeds/exec_process/process.json");
        exec_checks(process).unwrap();
    }

    #[test]
    fn bad_input_is_an_error() {
        let bundle = tempfile::tempdir().unwrap();
        for bad in [&b""[..], b"{", b"[]", b"{\"ociVersion\": \"1.0.0\"}"] {
            assert!(create_checks(bad, bundle.path()).is_err());
            assert!(exec_checks(bad).is_err());
        }
    }
}
