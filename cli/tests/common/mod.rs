//! What the CLI tests share: a member's home in a temporary directory, driven through the
//! `csx` binary as people drive it.
#![allow(dead_code)] // each test binary uses its own part

use assert_cmd::Command;
use serde_json::Value;
use std::path::{Path, PathBuf};

pub struct Member {
    pub _dir: tempfile::TempDir,
    pub home: PathBuf,
}

pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/examples")
}

impl Member {
    /// A member that has run `csx init` (population 2.4m) but joined nothing.
    pub fn new() -> Member {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("home");
        let m = Member { _dir: dir, home };
        m.ok(&[
            "init",
            "--org-code",
            "QWO",
            "--name",
            "NHS West Yorkshire ICB",
            "--population",
            "2400000",
            "--population-year",
            "2024",
        ]);
        m
    }

    /// A member that founded a one-member federation and joined it.
    pub fn joined() -> Member {
        let m = Member::new();
        let id = m.home.parent().expect("parent").join("id.json");
        std::fs::write(&id, m.ok(&["id", "--json"])).expect("write id");
        let genesis = m.home.parent().expect("parent").join("genesis.json");
        m.ok(&[
            "federation",
            "create",
            "--name",
            "Test",
            "--founder",
            id.to_str().expect("utf8"),
            "--out",
            genesis.to_str().expect("utf8"),
        ]);
        m.ok(&["federation", "join", genesis.to_str().expect("utf8")]);
        m
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::cargo_bin("csx").expect("binary");
        c.env("CSX_HOME", &self.home).env_remove("CSX_PASSPHRASE").arg("--no-input").args(args);
        c
    }

    /// Runs and expects success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().expect("runs");
        assert!(out.status.success(), "csx {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf8")
    }

    /// Runs and expects exit `code`; returns stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.cmd(args).output().expect("runs");
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(code), "csx {args:?}: stderr {err}");
        err
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        serde_json::from_str(&self.ok(&a)).expect("json output")
    }

    pub fn record_count(&self) -> u64 {
        self.json(&["status"])["store"]["records"].as_u64().expect("count")
    }
}

pub const REVIEW: &[&str] = &[
    "review",
    "add",
    "--provider",
    "0DE",
    "--service-line",
    "BI",
    "--year",
    "2024/25",
    "--quality",
    "4",
    "--would-recommend",
    "8",
    "--still-customer",
    "yes",
    "--reviewer-role",
    "Head of BI",
];

pub fn with(base: &[&str], replace: &str, value: &str) -> Vec<String> {
    let mut v: Vec<String> = base.iter().map(|s| s.to_string()).collect();
    match v.iter().position(|a| a == replace) {
        Some(i) => v[i + 1] = value.to_string(),
        None => {
            v.push(replace.into());
            v.push(value.into());
        }
    }
    v
}

pub fn without(base: &[&str], flag: &str) -> Vec<String> {
    let mut v: Vec<String> = base.iter().map(|s| s.to_string()).collect();
    if let Some(i) = v.iter().position(|a| a == flag) {
        v.drain(i..i + 2);
    }
    v
}

pub fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// A price disclosure's flags that pass, for cases to vary.
pub const PRICE: &[&str] = &[
    "price",
    "add",
    "--provider",
    "0DE",
    "--service-line",
    "BI",
    "--year",
    "2024",
    "--annual-value",
    "250000",
    "--vat-included",
    "no",
    "--pricing-model",
    "fixed",
];

impl Member {
    /// Writes `bytes` to a file named `name` beside the home; returns its path as text.
    pub fn file(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.home.parent().expect("parent").join(name);
        std::fs::write(&path, bytes).expect("write");
        path.to_str().expect("utf8").to_string()
    }

    /// Runs `args`, expecting exit `code`, every word of `words` in stderr, and nothing written.
    pub fn refused(&self, args: &[&str], code: i32, words: &[&str]) {
        let before = self.record_count();
        let err = self.fails(args, code);
        for w in words {
            assert!(err.contains(w), "csx {args:?}: expected `{w}` in: {err}");
        }
        assert_eq!(self.record_count(), before, "csx {args:?} wrote something");
    }
}
