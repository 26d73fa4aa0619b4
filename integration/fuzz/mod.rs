//! A structured fuzz test of config.json: from a valid, feature-rich config, configs with 1 to
//! 3 fields mutated (removed, wrong type, empty, huge, a value no enum has), each decided by a
//! seed. For each, `create` then `delete -f`: berth never panics, `create` either works (exit 0)
//! or fails with exit status 1 and one line on stderr, `delete -f` succeeds, and nothing is left
//! behind.
//!
//! 200 configs by default; `BERTH_FUZZ=N` runs N, `BERTH_FUZZ_SEED=S` starts elsewhere:
//!
//!   BERTH_FUZZ=1000 cargo test --test integration fuzz -- --nocapture
//!
//! The namespaces are never mutated (a mutation that removes the mount, UTS or network
//! namespace makes an unvalidated runtime mount, set the hostname or sysctls on the host that
//! runs the test); berth's refusal of such configs is tested in `hardening`.

mod mutate;

use serde_json::{json, Value};

use crate::common::*;
use mutate::{mutate, Rng};

/// The fields that are never mutated (see the module documentation).
const PROTECTED: &[&str] = &["/linux/namespaces", "/linux/cgroupsPath"];

/// The valid config every case starts from: `berth spec`'s, plus hooks, resources, rlimits,
/// a user with extra groups and an OOM score.
fn base(rt: &Runtime) -> Value {
    let b = rt.bundle(&["sleep", "1000"]);
    let mut c = b.config.clone();
    c["hooks"] = json!({
        "createRuntime": [{"path": "/bin/true", "args": ["true", "x"], "env": ["A=b"], "timeout": 5}],
        "poststop": [{"path": "/bin/true"}],
    });
    c["linux"]["resources"]["pids"] = json!({"limit": 100});
    c["linux"]["resources"]["memory"] = json!({"limit": 268_435_456});
    c["linux"]["resources"]["cpu"] = json!({"shares": 512});
    c["process"]["user"] = json!({"uid": 0, "gid": 0, "additionalGids": [1, 2]});
    c["process"]["oomScoreAdj"] = json!(0);
    c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]);
    c
}

/// Whether the output shows a Rust panic (the default hook's words, or a backtrace).
fn panicked(out: &Output) -> bool {
    out.stderr.contains("panicked at") || out.stderr.contains("stack backtrace")
}

#[test]
fn config_fuzz() {
    let count: u64 = std::env::var("BERTH_FUZZ")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let first: u64 = std::env::var("BERTH_FUZZ_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let rt = Runtime::new("fuzz");
    let base = base(&rt);
    let prefix = prefix_of(&rt);
    let mut before = Leaks::take(&rt, &prefix);
    let (mut panics, mut created, mut refused) = (0, 0, 0);
    let mut failures = Vec::new();
    for seed in first..first + count {
        let mut rng = Rng::new(seed);
        let mut config = base.clone();
        let mutations = mutate(&mut rng, &mut config, PROTECTED);
        let dir = rt.dir.join(format!("fuzz-bundle-{seed}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
        let id = rt.id(&seed.to_string());
        let create = rt.run(&["create", "--bundle", dir.to_str().unwrap(), &id]);
        let delete = rt.run(&["delete", "-f", &id]);
        let _ = std::fs::remove_dir_all(&dir);
        let mut problems = Vec::new();
        if panicked(&create) || panicked(&delete) {
            panics += 1;
            problems.push("panicked".to_string());
        }
        match create.code {
            0 => created += 1,
            1 if create.stderr_lines().len() == 1 && create.stderr.starts_with("berth: ") => {
                refused += 1
            }
            _ => problems.push("create: neither exit 0 nor exit 1 with one line".to_string()),
        }
        if !delete.success() {
            problems.push("delete -f failed".to_string());
        }
        let leaks = Leaks::take(&rt, &prefix).new_since(&before);
        if !leaks.is_empty() {
            problems.push(format!("left behind: {}", leaks.join("; ")));
            reap_leftovers(&id);
            let _ = std::fs::remove_dir_all(rt.state_dir(&id));
            before = Leaks::take(&rt, &prefix);
        }
        if !problems.is_empty() {
            let mutations: Vec<String> = mutations
                .iter()
                .map(|m| format!("{} {}", m.pointer, m.what))
                .collect();
            failures.push(format!(
                "seed {seed}: {}\n  mutations: {}\n{create}\n{delete}",
                problems.join("; "),
                mutations.join(", ")
            ));
        }
    }
    eprintln!(
        "config fuzz: {count} configs from seed {first}: {created} created, {refused} refused, \
         {panics} panicked, {} failed",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {count} configs failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
