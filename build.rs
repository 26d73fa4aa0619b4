// Records the git commit for `berth --version` (go-runc and docker parse its `commit:` line),
// and packs the binary's relative relocations.
use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=BERTH_COMMIT={commit}");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs");

    // berth is a position-independent executable with about 17,500 relative relocations
    // (vtables, tracing's callsites, clap's tables): 424 KB of `.rela.dyn` that the dynamic
    // loader reads and applies at every exec, twice per `create` (berth re-executes itself from
    // a read-only view of its binary). DT_RELR packs them into about 5 KB: glibc 2.36 and
    // binutils 2.38 or later (Debian 12); an older `ld` warns and ignores the option.
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
