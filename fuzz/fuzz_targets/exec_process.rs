//! `exec --process FILE` bytes through exec's reading and checks (`berth::fuzzing`): an error
//! is fine, a panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = berth::fuzzing::exec_checks(data);
});
