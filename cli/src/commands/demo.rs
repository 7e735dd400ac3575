//! `csx demo`: a guided session on a throwaway home, running the real `csx` commands and
//! showing each one with its output. Nothing outside the demo directory is touched.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Args;

use crate::context::Ctx;

/// The sample price disclosures the demo imports (also docs/examples/prices.csv).
const PRICES_CSV: &str = include_str!("../../../docs/examples/prices.csv");

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to put the demo's homes and files (default: a new temporary directory)
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

pub fn run(_ctx: &Ctx, args: DemoArgs) -> anyhow::Result<()> {
    let dir = match args.dir {
        Some(d) => d,
        None => std::env::temp_dir().join(format!("csx-demo-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir)?;
    let home = dir.join("west-yorkshire");
    if home.exists() {
        anyhow::bail!("{} already exists; give an empty --dir", home.display());
    }
    std::fs::write(dir.join("prices.csv"), PRICES_CSV)?;
    let exe = std::env::current_exe()?;
    let step = |title: &str, args: &[&str]| -> anyhow::Result<String> { run_step(&exe, &home, &dir, title, args) };

    println!("csx demo: one buyer organisation on its own node, in {}\n", dir.display());
    step(
        "Set up the node: organisation key, node key and certificate",
        &[
            "init",
            "--org-code",
            "QWO",
            "--name",
            "NHS West Yorkshire ICB",
            "--population",
            "2400000",
            "--population-year",
            "2024",
            "--region",
            "North East and Yorkshire",
        ],
    )?;
    let id = step("Print the identity to hand to other members", &["id", "--json"])?;
    std::fs::write(dir.join("identity.json"), id)?;
    step(
        "Found a one-member federation",
        &[
            "federation",
            "create",
            "--name",
            "Demo Commissioning Support Exchange",
            "--founder",
            "identity.json",
            "--out",
            "genesis.json",
        ],
    )?;
    step("Join it: the node's certificate and profile start its feed", &["federation", "join", "genesis.json"])?;
    step(
        "Review a provider's business intelligence service",
        &[
            "review",
            "add",
            "--provider",
            "0DE",
            "--service-line",
            "BI",
            "--year",
            "2024",
            "--quality",
            "4",
            "--timeliness",
            "3",
            "--data-accuracy",
            "3",
            "--value-for-money",
            "3",
            "--would-recommend",
            "7",
            "--still-customer",
            "yes",
            "--reviewer-role",
            "Head of Business Intelligence",
            "--comment",
            "Dashboards on time; data quality improving.",
        ],
    )?;
    step(
        "Disclose what we pay for contracting",
        &[
            "price",
            "add",
            "--provider",
            "0DE",
            "--service-line",
            "CONTRACT",
            "--year",
            "2025",
            "--annual-value",
            "£2,200,000",
            "--vat-included",
            "no",
            "--pricing-model",
            "fixed",
            "--notice-months",
            "12",
            "--efficiency",
            "2%",
            "--kpi-basis",
            "process",
        ],
    )?;
    step(
        "Report a switch: continuing healthcare brought in house",
        &[
            "switch",
            "add",
            "--service-line",
            "CHC",
            "--from",
            "0DE",
            "--to",
            "in_house",
            "--effective",
            "2024-10-01",
            "--reasons",
            "cost,quality",
            "--notice-months",
            "6",
            "--exit-costs",
            "40k",
            "--transition-months",
            "4",
        ],
    )?;
    step(
        "Propose collective action on notice periods",
        &[
            "motion",
            "propose",
            "--title",
            "Notice periods of at most 6 months",
            "--text",
            "Members will not sign commissioning support contracts with notice periods over 6 months.",
            "--term",
            "max_notice_months=6",
            "--support-needed",
            "5",
            "--closes-on",
            "2099-03-31",
        ],
    )?;
    step("Import ten price disclosures from a spreadsheet", &["import", "prices.csv", "--kind", "price"])?;
    step("List the price disclosures", &["price", "list"])?;
    step("The same as JSON (first record shown in docs)", &["price", "list", "--limit", "1", "--json"])?;
    step("The node's state", &["status"])?;
    println!("Done. Try more: CSX_HOME={} csx --help", home.display());
    Ok(())
}

fn run_step(exe: &Path, home: &Path, dir: &Path, title: &str, args: &[&str]) -> anyhow::Result<String> {
    println!("── {title}");
    println!("$ csx {}", args.iter().map(|a| shell_quote(a)).collect::<Vec<_>>().join(" "));
    let out = Command::new(exe).args(args).arg("--no-input").env("CSX_HOME", home).current_dir(dir).output()?;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    print!("{stdout}");
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    println!();
    if !out.status.success() {
        anyhow::bail!("the demo step `csx {}` failed", args.join(" "));
    }
    Ok(stdout)
}

fn shell_quote(s: &str) -> String {
    if s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=,%£".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
