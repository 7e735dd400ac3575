//! README's quick start, run word for word by bash in a fresh home and a directory that is not
//! the checkout, with the `csx` just built first on PATH: a newcomer can follow it as written.

use std::path::Path;
use std::process::Command;

/// The first `sh` block after the heading "## Quick start".
fn quick_start(readme: &str) -> String {
    let section = readme.split("\n## Quick start").nth(1).expect("README has a Quick start section");
    let block = section.split("```sh\n").nth(1).expect("a ```sh block in the Quick start");
    block.split("\n```").next().expect("the block ends").to_string()
}

#[test]
fn the_readme_quick_start_runs_as_written_from_any_directory() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).expect("README");
    let script = quick_start(&readme);
    assert!(script.contains("csx init") && script.contains("csx import"), "{script}");
    let dir = tempfile::tempdir().expect("tempdir");
    let work = dir.path().join("desktop");
    std::fs::create_dir(&work).expect("mkdir");
    let exe = assert_cmd::cargo::cargo_bin("csx");
    let bin = exe.parent().expect("bin dir");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(&work)
        .env("PATH", path)
        .env("CSX_HOME", dir.path().join("home"))
        .env_remove("CSX_PASSPHRASE")
        .env_remove("CSX_NOW")
        .env_remove("COLUMNS")
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the quick start failed:\n{stderr}\n--- stdout\n{stdout}");

    // What it did: the records, the import as batch 1, an Excel-readable export.
    let csx = |args: &[&str]| {
        let o = Command::new(&exe).env("CSX_HOME", dir.path().join("home")).args(args).output().expect("runs");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice::<serde_json::Value>(&o.stdout).expect("json")
    };
    let prices = csx(&["price", "list", "--json"]);
    assert_eq!(prices.as_array().map(Vec::len), Some(3), "one price added, two imported: {prices}");
    let batches = csx(&["import", "list", "--json"]);
    assert_eq!(batches[0]["id"], 1, "{batches}");
    assert_eq!(batches[0]["records"], 2, "{batches}");
    assert_eq!(csx(&["motion", "list", "--json"]).as_array().map(Vec::len), Some(1));
    let export = std::fs::read(work.join("my-prices.csv")).expect("the export is in the working directory");
    assert!(export.starts_with(b"\xEF\xBB\xBF"), "UTF-8 with a byte-order mark");
    // `--provider AGEM` was resolved to its code.
    assert!(String::from_utf8_lossy(&export).contains(",0DE,"), "{}", String::from_utf8_lossy(&export));
    assert!(work.join("qwo.json").exists() && work.join("genesis.json").exists());
}
