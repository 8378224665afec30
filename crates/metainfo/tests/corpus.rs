//! The shared corpus of real .torrent files (`shared/corpus`, see its
//! README): every `valid` file parses and matches `EXPECTED.tsv`; every
//! `invalid` one fails while parsing or in the strict check; nothing panics.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use seedbed_metainfo::{Error, Torrent, Version};
use seedbed_testbed::corpus;

/// Rows of a TSV file with a header, as maps from column name to value.
fn tsv(path: &Path) -> Vec<HashMap<String, String>> {
    let text = fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            header
                .iter()
                .zip(l.split('\t'))
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// Every (path relative to the corpus, expect) of every MANIFEST.tsv.
fn manifest_rows(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut sources: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("MANIFEST.tsv").is_file())
        .collect();
    sources.sort();
    for src in sources {
        let name = src.file_name().unwrap().to_str().unwrap().to_owned();
        for row in tsv(&src.join("MANIFEST.tsv")) {
            out.push((format!("{name}/{}", row["file"]), row["expect"].clone()));
        }
    }
    out
}

fn load(path: &Path) -> Result<Torrent, Error> {
    let bytes = fs::read(path).unwrap();
    let t = Torrent::from_bytes(bytes)?;
    Ok(t)
}

#[test]
fn corpus_manifests_and_ground_truth() {
    let Some(dir) = corpus() else { return };
    let expected: HashMap<String, HashMap<String, String>> = tsv(&dir.join("EXPECTED.tsv"))
        .into_iter()
        .map(|r| (r["path"].clone(), r))
        .collect();
    let rows = manifest_rows(&dir);
    assert!(rows.len() >= 204, "only {} manifest rows", rows.len());
    let mut failures = Vec::new();
    let (mut valid, mut invalid, mut special) = (0, 0, 0);
    for (rel, expect) in &rows {
        let path = dir.join(rel);
        let result = load(&path);
        match expect.as_str() {
            "valid" => {
                valid += 1;
                let t = match result {
                    Ok(t) => t,
                    Err(e) => {
                        failures.push(format!("{rel}: valid but failed: {e}"));
                        continue;
                    }
                };
                let row = &expected[rel];
                let info = t.info();
                let hex1 = info.info_hash_v1().map_or("-".into(), |h| h.to_hex());
                let hex2 = info.info_hash_v2().map_or("-".into(), |h| h.to_hex());
                let v2_only = info.version() == Version::V2;
                let n: usize = row["num_files"].parse().unwrap();
                let pads: usize = row["num_pad_files"].parse().unwrap();
                // v2-only files have no v1 hash (`v1_infohash` is `-`),
                // though the table still gives the SHA-1 of their bytes.
                let want1 = if row["v1_infohash"] == "-" {
                    "-".to_owned()
                } else {
                    row["info_sha1_raw"].clone()
                };
                let checks = [
                    ("info_sha1_raw", hex1.clone(), want1),
                    ("info_sha256_raw", hex2, row["info_sha256_raw"].clone()),
                    (
                        "total_size_nonpad",
                        info.total_size().to_string(),
                        row["total_size_nonpad"].clone(),
                    ),
                    (
                        "num_files",
                        info.num_files().to_string(),
                        (n - pads).to_string(),
                    ),
                    (
                        "piece_length",
                        info.piece_length().to_string(),
                        row["piece_length"].clone(),
                    ),
                    (
                        "num_pieces",
                        info.num_pieces().to_string(),
                        row["num_pieces"].clone(),
                    ),
                    ("name", info.name().to_owned(), row["name"].clone()),
                ];
                for (what, got, want) in checks {
                    if got != want {
                        failures.push(format!("{rel}: {what}: got {got:?}, want {want:?}"));
                    }
                }
                if v2_only {
                    let leaves = info.files().iter().filter(|f| !f.is_synthetic()).count();
                    assert_eq!(info.num_files(), leaves, "{rel}");
                }
                // The wire hash is the v1 hash, or the truncated v2 hash.
                if let Some(h) = info.info_hash_v1() {
                    assert_eq!(t.info_hash(), h);
                } else {
                    assert_eq!(t.info_hash(), info.info_hash_v2().unwrap().truncated());
                }
            }
            "invalid" => {
                invalid += 1;
                match result {
                    Err(_) => {}
                    Ok(t) => {
                        if t.info().check_strict().is_ok() {
                            failures.push(format!(
                                "{rel}: invalid but loaded and passed the strict check"
                            ));
                        }
                    }
                }
            }
            "special" => {
                special += 1;
                // Transmission's magnet stub: no `info` dict. A BEP 3 parser
                // rejects it as missing `info`.
                match result {
                    Err(Error::Bencode(seedbed_bencode::Error::MissingKey { path })) => {
                        assert_eq!(path, "info")
                    }
                    other => failures.push(format!("{rel}: special: {other:?}")),
                }
            }
            other => panic!("{rel}: unknown expect {other}"),
        }
    }
    assert_eq!((valid, invalid, special), (150, 53, 1));
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
