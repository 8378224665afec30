//! Test support shared by the tests of seedbed's crates (a dev-dependency
//! only, never published): whether the real clients a test needs are
//! installed (`SKIPPED` without them, a failure with `CI=true`, as
//! `../shared/TESTBED.md` and the project's CI expect), and deterministic
//! pseudo-random test data.
//!
//! ```
//! let a = seedbed_testbed::data(7, 1000);
//! assert_eq!(a, seedbed_testbed::data(7, 1000));
//! assert_ne!(a, seedbed_testbed::data(8, 1000));
//! ```

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The Python that has python3-libtorrent: Debian's, not one on `PATH`
/// (pyenv and the like lack the module).
pub const PYTHON: &str = "/usr/bin/python3";

/// Whether a tool the test needs is there (`present`). Without it: with
/// `CI=true` the test fails (panics); otherwise it prints
/// `SKIPPED: <tool> not installed` and returns false, and the caller
/// returns.
pub fn tool_available(tool: &str, present: bool) -> bool {
    if present {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{tool} not installed and CI=true: this test needs it");
    }
    println!("SKIPPED: {tool} not installed");
    false
}

/// Whether python3-libtorrent imports in [`PYTHON`] (see
/// [`tool_available`] for what happens when it does not).
pub fn have_libtorrent() -> bool {
    let ok = Path::new(PYTHON).exists()
        && Command::new(PYTHON)
            .args(["-c", "import libtorrent"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    tool_available("python3-libtorrent", ok)
}

/// Whether the program at `path` exists, named `tool` in the message (see
/// [`tool_available`]).
pub fn have_program(tool: &str, path: &str) -> bool {
    tool_available(tool, Path::new(path).exists())
}

/// The shared corpus of real .torrent files and vectors
/// (`../shared/corpus` beside the checkout, never copied into a crate),
/// or `None` after printing `SKIPPED` when it is absent; with `CI=true` a
/// missing corpus fails (panics).
pub fn corpus() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/corpus"
    ));
    let present = dir.join("EXPECTED.tsv").is_file();
    tool_available(&format!("the corpus at {}", dir.display()), present).then_some(dir)
}

/// `len` deterministic pseudo-random bytes for `seed` (xorshift): the same
/// for the same arguments on every run and machine.
pub fn data(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn present_tools_are_available() {
        assert!(tool_available("anything", true));
        assert!(have_program("sh", "/bin/sh"));
    }

    #[test]
    fn missing_tools_skip_or_fail_under_ci() {
        let ci = std::env::var("CI").as_deref() == Ok("true");
        let r = std::panic::catch_unwind(|| tool_available("no-such-tool", false));
        match r {
            Ok(available) => assert!(!ci && !available),
            Err(_) => assert!(ci, "only CI=true fails"),
        }
    }

    #[test]
    fn corpus_is_found_beside_the_checkout() {
        // Here and in CI the checkout sits beside ../shared.
        if let Some(dir) = corpus() {
            assert!(dir.join("EXPECTED.tsv").is_file());
        }
    }

    #[test]
    fn data_is_deterministic_and_spread() {
        let a = data(1, 4096);
        assert_eq!(a.len(), 4096);
        assert_eq!(a, data(1, 4096));
        assert_eq!(&data(1, 10)[..], &a[..10], "a prefix of a longer run");
        let distinct: std::collections::HashSet<u8> = a.iter().copied().collect();
        assert!(distinct.len() > 200, "{} distinct bytes", distinct.len());
    }
}
