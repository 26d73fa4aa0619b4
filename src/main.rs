//! The `berth` binary. Everything lives in the library (`lib.rs`), so that other targets (the
//! fuzz targets in `fuzz/`) can link what berth does with its input.

fn main() -> std::process::ExitCode {
    berth::main()
}
