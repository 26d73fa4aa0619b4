//! Capabilities as runc reads them, where libcontainer 0.7 and oci-spec read them otherwise.
//!
//! - A name runc does not know (`CAP_UNKNOWN`) is ignored with a warning; oci-spec refuses the
//!   whole config. [`drop_unknown`] removes such names from the config before it is parsed.
//! - `exec --cap CAP_KILL` takes the names as config.json spells them ([`parse`]).
//! - A process may be given inheritable capabilities outside its permitted set (runc sets the
//!   effective, permitted and inheritable sets with one `capset`). libcontainer sets them one
//!   after the other, the inheritable set last, when the process's effective set no longer
//!   holds `CAP_SETPCAP`: the kernel then allows only inheritable capabilities the process
//!   already has, as inheritable or permitted ones. The process inherits berth's inheritable
//!   set, so [`InheritableForChild`] adds the spec's to berth's own while libcontainer forks.
//!
//! Knows nothing of the command line.

use anyhow::{anyhow, Result};
use caps::{CapSet, CapsHashSet};
use libcontainer::capabilities::CapabilityExt as _;
use libcontainer::oci_spec::runtime::{Capability, Process};
use serde_json::Value;

/// The capability sets of `process.capabilities`.
const SETS: [&str; 5] = [
    "bounding",
    "effective",
    "inheritable",
    "permitted",
    "ambient",
];

/// Removes from the config `spec` (as JSON) the capability names oci-spec does not know;
/// returns them (each once), for a warning.
pub fn drop_unknown(spec: &mut Value) -> Vec<String> {
    let mut unknown: Vec<String> = Vec::new();
    let Some(caps) = spec
        .pointer_mut("/process/capabilities")
        .and_then(Value::as_object_mut)
    else {
        return unknown;
    };
    for set in SETS {
        let Some(names) = caps.get_mut(set).and_then(Value::as_array_mut) else {
            continue;
        };
        names.retain(|name| {
            let known = serde_json::from_value::<Capability>(name.clone()).is_ok();
            if !known {
                let name = name
                    .as_str()
                    .map_or_else(|| name.to_string(), str::to_string);
                if !unknown.contains(&name) {
                    unknown.push(name);
                }
            }
            known
        });
    }
    unknown
}

/// A capability named as config.json names it (`CAP_KILL`).
pub fn parse(name: &str) -> Result<Capability> {
    serde_json::from_value(Value::String(name.to_string()))
        .map_err(|_| anyhow!("unknown capability {name:?}"))
}

/// berth's inheritable capabilities raised to include those `process` is to have, for as long
/// as this lives (libcontainer's fork inherits them; see the module's documentation).
pub struct InheritableForChild {
    saved: Option<CapsHashSet>,
}

impl InheritableForChild {
    pub fn raise(process: Option<&Process>) -> InheritableForChild {
        let wanted: CapsHashSet = process
            .and_then(|p| p.capabilities().as_ref())
            .and_then(|c| c.inheritable().as_ref())
            .into_iter()
            .flatten()
            .map(|c| c.to_cap())
            .collect();
        let saved = (!wanted.is_empty())
            .then(|| caps::read(None, CapSet::Inheritable).ok())
            .flatten()
            .filter(|current| !wanted.is_subset(current))
            .and_then(|current| {
                let raised = current.union(&wanted).copied().collect();
                // Best effort: without the capabilities to raise, libcontainer fails as before.
                caps::set(None, CapSet::Inheritable, &raised)
                    .ok()
                    .map(|()| current)
            });
        InheritableForChild { saved }
    }
}

impl Drop for InheritableForChild {
    fn drop(&mut self) {
        if let Some(saved) = self.saved.take() {
            let _ = caps::set(None, CapSet::Inheritable, &saved);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_are_dropped() {
        let mut spec = serde_json::json!({"process": {"capabilities": {
            "bounding": ["CAP_KILL", "CAP_UNKNOWN", "UNKNOWN_CAP"],
            "effective": ["CAP_UNKNOWN"],
        }}});
        assert_eq!(drop_unknown(&mut spec), ["CAP_UNKNOWN", "UNKNOWN_CAP"]);
        assert_eq!(
            spec["process"]["capabilities"]["bounding"],
            serde_json::json!(["CAP_KILL"])
        );
        assert_eq!(
            spec["process"]["capabilities"]["effective"],
            serde_json::json!([])
        );
        assert!(drop_unknown(&mut serde_json::json!({"process": {}})).is_empty());
    }

    #[test]
    fn names_as_config_json_spells_them() {
        assert_eq!(parse("CAP_KILL").unwrap(), Capability::Kill);
        assert!(parse("CAP_NOPE").is_err());
    }
}
