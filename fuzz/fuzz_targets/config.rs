//! config.json bytes through `create`'s checks and preparation (`berth::fuzzing`): an error
//! is fine, a panic is a bug.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// A bundle whose `rootfs` exists, so that configs get past the root check.
fn bundle() -> &'static PathBuf {
    static BUNDLE: OnceLock<PathBuf> = OnceLock::new();
    BUNDLE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("berth-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("rootfs/dev")).expect("cannot make the fuzz bundle");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = berth::fuzzing::create_checks(data, bundle());
});
