//! berth's integration tests: real containers, run as root.
//!
//!   cargo test --test integration -- --test-threads 2
//!   scripts/cgroup-view v2 -- cargo test --test integration       (after `cargo build`)
//!   scripts/cgroup-view legacy -- cargo test --test integration
//!
//! `BERTH_BIN` overrides the binary under test; `BERTH_TEST_ROOTFS` the rootfs directory
//! (default target/test-rootfs, built by scripts/rootfs.sh).

mod cgroup_view;
mod common;
mod compat;
mod confine;
mod errors;
mod exec_cgroups;
mod fuzz;
mod hardening;
mod lifecycle;
mod reliability;
mod rootless;
mod security;
mod stuck;
mod systemd;
mod teardown;
