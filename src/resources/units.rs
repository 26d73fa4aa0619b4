//! Sizes and numbers as `update`'s flags take them (runc's reading of them).

use parse_size::Config;

/// A memory size: `-1` (no limit), a number of bytes, or a number with a binary unit, as
/// runc reads `--memory 50M`: `k`, `m`, `g`, `t`, `p` in any case are powers of 1024, with an
/// optional `i` and `b` (`50M`, `50m`, `50MiB`, `50mb`, `1.5g`, `100b`).
pub fn memory_bytes(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if text == "-1" {
        return Ok(-1);
    }
    if text.starts_with('-') {
        return Err(format!(
            "invalid size {text:?}: only -1 (unlimited) may be negative"
        ));
    }
    let bytes = Config::new()
        .with_binary()
        .parse_size(text)
        .map_err(|e| format!("invalid size {text:?}: {e}"))?;
    i64::try_from(bytes).map_err(|_| format!("invalid size {text:?}: too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_runcs() {
        assert_eq!(memory_bytes("67108864"), Ok(67108864));
        assert_eq!(memory_bytes("50M"), Ok(50 << 20));
        assert_eq!(memory_bytes("50m"), Ok(50 << 20));
        assert_eq!(memory_bytes("50MB"), Ok(50 << 20));
        assert_eq!(memory_bytes("50MiB"), Ok(50 << 20));
        assert_eq!(memory_bytes("30k"), Ok(30 << 10));
        assert_eq!(memory_bytes("2g"), Ok(2 << 30));
        assert_eq!(memory_bytes("1.5g"), Ok(3 << 29));
        assert_eq!(memory_bytes("100b"), Ok(100));
        assert_eq!(memory_bytes("-1"), Ok(-1));
    }

    #[test]
    fn bad_sizes_are_refused() {
        assert!(memory_bytes("").is_err());
        assert!(memory_bytes("-2").is_err());
        assert!(memory_bytes("fifty").is_err());
        assert!(memory_bytes("50X").is_err());
        assert!(memory_bytes("99999999999P").is_err());
    }
}
