//! `transmission/inline_metainfo_cases.tsv`: Transmission's inline torrents
//! with path-element edge cases, plus a fuzz regression.
//!
//! We follow libtorrent where the two disagree: `path_all_empty` loads (as
//! libtorrent's `empty_path.torrent` does) and fails only the strict check.

use std::path::PathBuf;

use seedbed_metainfo::Torrent;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus");

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn transmission_inline_cases() {
    let path = PathBuf::from(CORPUS).join("transmission/inline_metainfo_cases.tsv");
    if !path.is_file() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("corpus not found at {}", path.display());
        }
        println!("SKIPPED: corpus not found at {}", path.display());
        return;
    }
    let text = std::fs::read_to_string(&path).unwrap();
    // Expected first file path, after libtorrent-style sanitising.
    let first_path = |name: &str| match name {
        "path_normal" | "path_dot_first" | "path_dot_last" | "path_dotdot_first"
        | "path_dotdot_last" => Some("foo/a.txt"),
        "path_empty_then_name" => Some("foo/_/a.txt"),
        "path_all_empty" => Some("foo/_/_"),
        "path_with_slash" => Some("foo/aa.txt"),
        _ => None,
    };
    let mut seen = 0;
    for line in text.lines().skip(1).filter(|l| !l.is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (name, hex, expect) = (cols[0], cols[2], cols[3]);
        let input = unhex(hex);
        let result = Torrent::from_bytes(input);
        seen += 1;
        match expect {
            "valid" => {
                let t = result.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(
                    t.info().files()[0].path().as_str(),
                    first_path(name).unwrap(),
                    "{name}"
                );
                assert_eq!(t.info().files()[1].path().as_str(), "foo/b.txt", "{name}");
                assert!(t.info().check_strict().is_ok(), "{name}");
                for f in t.info().files() {
                    for c in f.path().components() {
                        assert!(c != ".." && c != "." && !c.contains(['/', '\\']), "{name}");
                    }
                }
            }
            "invalid" => match result {
                Err(_) => {}
                Ok(t) => {
                    // Transmission rejects it, libtorrent sanitises it.
                    assert_eq!(name, "path_all_empty");
                    assert_eq!(
                        t.info().files()[0].path().as_str(),
                        first_path(name).unwrap()
                    );
                    assert!(t.info().check_strict().is_err(), "{name}");
                }
            },
            "no-crash" => {
                let _ = result;
            }
            other => panic!("{name}: unknown expect {other}"),
        }
    }
    assert_eq!(seen, 13);
}
