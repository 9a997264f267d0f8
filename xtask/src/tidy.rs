//! Repository rules, checked as tests (`cargo xtask tidy`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name();
        if name == "target" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn tidy_every_rust_file_says_what_lives_there() {
    let mut files = Vec::new();
    for d in ["crates", "xtask", "benches"] {
        rust_files(&crate::root().join(d), &mut files);
    }
    assert!(files.len() > 20, "found only {} files", files.len());
    let missing: Vec<String> = files
        .iter()
        .filter(|p| !std::fs::read_to_string(p).unwrap_or_default().starts_with("//!"))
        .map(|p| p.display().to_string())
        .collect();
    assert!(missing.is_empty(), "files without a leading //! line: {missing:#?}");
}

#[test]
fn tidy_fits_core_has_no_io_in_its_dependency_tree() {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["tree", "-p", "fits-core", "-e", "normal", "--prefix", "none", "--offline"])
        .current_dir(crate::root())
        .output()
        .expect("cargo tree runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(tree.contains("fits-core"), "{tree}");
    for banned in ["tokio", "reqwest", "hyper", "object_store", "async-trait", "memmap2", "futures"] {
        assert!(
            !tree.lines().any(|l| l.split_whitespace().next() == Some(banned)),
            "fits-core depends on {banned}:\n{tree}"
        );
    }
}

#[test]
fn tidy_readme_starts_with_the_two_commands() {
    let readme = std::fs::read_to_string(crate::root().join("README.md")).expect("README.md");
    let head: String = readme.lines().take(15).collect::<Vec<_>>().join("\n");
    assert!(head.contains("cargo run --release -p fits-cli -- demo"), "{head}");
    assert!(head.contains("cargo xtask test"), "{head}");
}

#[test]
fn tidy_corpus_matches_its_manifest() {
    let dir = crate::root().join("testdata/corpus");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("manifest")).expect("json");
    for f in manifest["files"].as_array().expect("files") {
        let name = f["file"].as_str().expect("name");
        let size = std::fs::metadata(dir.join(name)).map(|m| m.len()).unwrap_or(0);
        assert_eq!(size, f["size"].as_u64().expect("size"), "{name}");
    }
}
