//! Unix manners: help with examples that parse, `--version`, completions and manual pages that
//! their tools accept, a closed pipe, colour, uncoloured logs, the pager.

mod common;

use std::io::Read;
use std::process::{Command as Std, Stdio};

use assert_cmd::Command;
use common::*;

fn csx() -> Command {
    let mut c = Command::cargo_bin("csx").expect("binary");
    c.env_remove("CSX_HOME").env_remove("NO_COLOR").env_remove("COLUMNS");
    c
}

fn stdout(args: &[&str]) -> String {
    let out = csx().args(args).output().expect("runs");
    assert!(out.status.success(), "csx {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf8")
}

/// The subcommands of `path`, from its help's "Commands:" list.
fn subcommands(path: &[String]) -> Vec<String> {
    let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
    args.push("--help");
    let help = stdout(&args);
    let Some(list) = help.split("Commands:\n").nth(1) else { return vec![] };
    list.lines()
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(String::from)
        .collect()
}

/// Every command path people type: `price add`, `import`, `status`, ….
fn leaves(path: Vec<String>, out: &mut Vec<Vec<String>>) {
    let subs = subcommands(&path);
    if subs.is_empty() || path.last().is_some_and(|c| c == "import" || c == "demo") {
        out.push(path.clone());
    }
    for s in subs {
        let mut p = path.clone();
        p.push(s);
        leaves(p, out);
    }
}

/// Splits a command line as a shell would, for the simple quoting the examples use.
fn shell_words(line: &str) -> Vec<String> {
    let (mut words, mut cur, mut quoted, mut any) = (Vec::new(), String::new(), false, false);
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any || !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// The example command lines of a help text: continuation lines joined, notes after two
/// spaces, redirections and pipes cut off, environment assignments dropped.
fn examples(help: &str) -> Vec<Vec<String>> {
    let Some(block) = help.split("Examples:\n").nth(1) else { return vec![] };
    let mut lines: Vec<String> = Vec::new();
    let mut joining = false;
    for l in block.lines() {
        if l.trim().is_empty() {
            break;
        }
        let text = l.trim().trim_end_matches('\\').trim_end().to_string();
        if joining {
            let last = lines.last_mut().expect("a line to continue");
            last.push(' ');
            last.push_str(&text);
        } else {
            lines.push(text);
        }
        joining = l.trim_end().ends_with('\\');
    }
    lines
        .into_iter()
        .filter_map(|l| {
            let l = l.split("  ").next().unwrap_or("").to_string();
            let l = l.split(" > ").next().and_then(|x| x.split(" >> ").next()).and_then(|x| x.split(" | ").next())?;
            let words: Vec<String> =
                shell_words(l).into_iter().skip_while(|w| w.contains('=') && !w.starts_with('-')).collect();
            (words.first().map(String::as_str) == Some("csx")).then(|| words[1..].to_vec())
        })
        .collect()
}

#[test]
fn every_command_has_examples_that_parse() {
    let mut all = Vec::new();
    leaves(vec![], &mut all);
    assert!(all.len() > 40, "{} commands", all.len());
    let mut checked = 0;
    for path in all.iter().filter(|p| !p.is_empty()) {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let help = stdout(&args);
        let found = examples(&help);
        assert!(!found.is_empty(), "`csx {}` has no examples in its help:\n{help}", path.join(" "));
        for ex in found {
            // Parsing with --help last: clap checks every flag and value before it, runs nothing.
            let mut a: Vec<&str> = ex.iter().map(String::as_str).collect();
            a.push("--help");
            let out = csx().args(&a).output().expect("runs");
            assert!(
                out.status.success(),
                "example `csx {}` in `csx {} --help` does not parse: {}",
                ex.join(" "),
                path.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
            checked += 1;
        }
    }
    assert!(checked > 60, "{checked} examples");
    // Required flags are shown as required.
    let help = stdout(&["price", "add", "--help"]);
    let required = help.split("Required:").nth(1).expect("a Required section");
    // The section runs to the next heading (a line that is not indented).
    let section: String =
        required.lines().skip(1).take_while(|l| l.is_empty() || l.starts_with(' ')).collect::<Vec<_>>().join("\n");
    for flag in ["--provider", "--service-line", "--year", "--annual-value", "--vat-included", "--pricing-model"] {
        assert!(section.contains(flag), "{flag} under Required:\n{help}");
    }
    assert!(!section.contains("--contract-ref"), "an optional flag is not under Required:\n{help}");
    assert!(!help.contains("(required)"), "{help}");
}

#[test]
fn version_names_the_commit_protocol_and_store_layout() {
    let v = stdout(&["--version"]);
    assert!(v.starts_with("csx 0.1.0 (commit "), "{v}");
    assert!(v.contains(", protocol 1, store layout 5)"), "{v}");
    let commit = v.split("commit ").nth(1).and_then(|r| r.split(',').next()).expect("commit");
    assert!(commit == "unknown" || (commit.len() == 12 && commit.bytes().all(|b| b.is_ascii_hexdigit())), "{v}");
}

#[test]
fn completions_are_scripts_their_shells_accept() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (shell, marker, check) in [
        ("bash", "complete -F", Some(("bash", vec!["-n"]))),
        ("zsh", "#compdef csx", Some(("zsh", vec!["-n"]))),
        ("fish", "complete -c csx", Some(("fish", vec!["--no-execute"]))),
        ("powershell", "Register-ArgumentCompleter", None),
        ("elvish", "edit:completion:arg-completer[csx]", None),
    ] {
        let script = stdout(&["completions", shell]);
        assert!(script.contains(marker), "{shell}: {}", &script[..script.len().min(200)]);
        for sub in ["import", "prices", "completions"] {
            assert!(script.contains(sub), "{shell} completes {sub}");
        }
        let Some((program, flags)) = check else { continue };
        let path = dir.path().join(format!("csx.{shell}"));
        std::fs::write(&path, &script).expect("write");
        match Std::new(program).args(&flags).arg(&path).output() {
            Ok(out) => {
                assert!(out.status.success(), "{program} rejects the script: {}", String::from_utf8_lossy(&out.stderr))
            }
            // CI installs bash, zsh and fish (.ci/run); elsewhere a missing shell is skipped.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && std::env::var_os("CI").is_none() => {
                eprintln!("{program} is not installed; its syntax check is skipped");
            }
            Err(e) => panic!("running {program}: {e}"),
        }
    }
    let err = csx().args(["completions", "tcsh"]).output().expect("runs");
    assert_eq!(err.status.code(), Some(2));
}

#[test]
fn manual_pages_are_roff_that_groff_reads_without_warnings() {
    let page = stdout(&["man"]);
    assert!(page.contains(".TH csx 1") && page.contains(".SH NAME") && page.contains(".SH SYNOPSIS"), "{page}");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = csx().args(["man", "--dir", dir.path().to_str().expect("utf8")]).output().expect("runs");
    assert!(out.status.success());
    for page in ["csx.1", "csx-import.1", "csx-import-undo.1", "csx-price-add.1", "csx-prices.1"] {
        let path = dir.path().join(page);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH"), "{page}");
        match Std::new("groff").args(["-man", "-Tutf8", "-ww", "-z"]).arg(&path).output() {
            Ok(o) => assert!(
                o.status.success() && o.stderr.is_empty(),
                "groff warns on {page}: {}",
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && std::env::var_os("CI").is_none() => {
                eprintln!("groff is not installed; {page} is not checked with it");
            }
            Err(e) => panic!("running groff: {e}"),
        }
    }
    let add = std::fs::read_to_string(dir.path().join("csx-price-add.1")).expect("page");
    assert!(add.contains("annual\\-value") && add.contains("Examples:"), "{add}");
}

/// Runs csx with stdout a pipe whose reader has gone: it must end quietly with exit code 0.
fn closed_pipe(m: &Member, args: &[&str]) {
    let exe = assert_cmd::cargo::cargo_bin("csx");
    let mut child = Std::new(exe)
        .env("CSX_HOME", &m.home)
        .arg("--no-input")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    drop(child.stdout.take()); // the reader goes away before csx writes
    let mut err = String::new();
    child.stderr.take().expect("stderr").read_to_string(&mut err).expect("read");
    let status = child.wait().expect("ends");
    assert_eq!(status.code(), Some(0), "csx {args:?} on a closed pipe: {err}");
    assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "csx {args:?}: {err}");
}

#[test]
fn a_closed_pipe_ends_quietly_with_exit_code_0() {
    let m = Member::joined();
    m.ok(REVIEW);
    for args in [
        vec!["review", "list"],
        vec!["status", "--json"],
        vec!["feed", "--csv"],
        vec!["prices"],
        vec!["completions", "bash"],
        vec!["man"],
        vec!["--help"],
    ] {
        closed_pipe(&m, &args);
    }
    // And as people meet it: `csx … | head -1` under pipefail.
    let exe = assert_cmd::cargo::cargo_bin("csx");
    let out = Std::new("bash")
        .arg("-c")
        .arg(format!("set -o pipefail; for i in 1 2 3; do '{}' man; done | head -1", exe.display()))
        .env("CSX_HOME", &m.home)
        .output()
        .expect("bash");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}

#[test]
fn colour_only_when_asked_or_on_a_terminal_and_never_with_no_color() {
    let m = Member::joined();
    m.ok(REVIEW);
    let plain = m.ok(&["review", "list"]);
    assert!(!plain.contains('\u{1b}'), "not a terminal: no colour");
    let coloured = m.cmd(&["review", "list", "--color", "always"]).output().expect("runs");
    assert!(String::from_utf8_lossy(&coloured.stdout).contains("\u{1b}["), "--color always");
    let err = m.cmd(&["record", "show", "ffffffff", "--color", "always"]).output().expect("runs");
    assert!(String::from_utf8_lossy(&err.stderr).contains("\u{1b}[1;31merror:"), "a red error");
    let never = m.cmd(&["record", "show", "ffffffff", "--color", "never"]).output().expect("runs");
    assert!(String::from_utf8_lossy(&never.stderr).starts_with("error: "));
    // On a terminal (script gives one), colour by default, and none with NO_COLOR.
    let on_tty = |no_color: bool| {
        let exe = assert_cmd::cargo::cargo_bin("csx");
        let mut c = Std::new("script");
        c.args(["-qec", &format!("'{}' --no-pager review list", exe.display()), "/dev/null"])
            .env("CSX_HOME", &m.home)
            .env("TERM", "xterm")
            .env_remove("NO_COLOR");
        if no_color {
            c.env("NO_COLOR", "1");
        }
        c.output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    match (on_tty(false), on_tty(true)) {
        (Ok(coloured), Ok(plain)) => {
            assert!(coloured.contains("\u{1b}[1m"), "bold headers on a terminal: {coloured}");
            assert!(!plain.contains("\u{1b}[1m"), "NO_COLOR: {plain}");
        }
        _ if std::env::var_os("CI").is_none() => eprintln!("`script` is not installed; the terminal case is skipped"),
        (a, b) => panic!("script: {a:?} {b:?}"),
    }
}

#[test]
fn a_daemons_log_in_a_file_has_no_colour_codes_even_when_asked() {
    let m = Member::joined();
    let log = m.home.parent().expect("parent").join("daemon.log");
    let exe = assert_cmd::cargo::cargo_bin("csx");
    let mut daemon = Std::new(&exe)
        .env("CSX_HOME", &m.home)
        .args(["daemon", "--listen", "/ip4/127.0.0.1/tcp/0", "--color", "always"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("starts");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !std::fs::read_to_string(&log).unwrap_or_default().contains("csx daemon started") {
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    m.ok(&["shutdown"]);
    daemon.wait().expect("stops");
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(text.contains("csx daemon stopped"), "{text}");
    assert!(!text.contains('\u{1b}'), "colour codes in a log file: {text}");
}

#[test]
fn long_output_goes_through_the_pager_only_on_a_terminal() {
    let m = Member::joined();
    for _ in 0..3 {
        m.ok(REVIEW);
    }
    let paged = m.home.parent().expect("parent").join("paged.txt");
    let run = |extra: &str, lines: &str| {
        let _ = std::fs::remove_file(&paged);
        let exe = assert_cmd::cargo::cargo_bin("csx");
        Std::new("script")
            .args(["-qec", &format!("'{}' feed {extra}", exe.display()), "/dev/null"])
            .env("CSX_HOME", &m.home)
            .env("PAGER", format!("cat > '{}'", paged.display()))
            .env("LINES", lines)
            .output()
    };
    match run("", "5") {
        Ok(_) => {
            let text = std::fs::read_to_string(&paged).expect("the pager got the feed");
            assert!(text.contains("node cert") && text.contains("review"), "{text}");
            run("--no-pager", "5").expect("runs");
            assert!(!paged.exists(), "--no-pager");
            run("", "200").expect("runs");
            assert!(!paged.exists(), "shorter than the terminal: no pager");
        }
        Err(_) if std::env::var_os("CI").is_none() => eprintln!("`script` is not installed; skipped"),
        Err(e) => panic!("script: {e}"),
    }
    // Not a terminal: never paged.
    m.cmd(&["feed"]).env("PAGER", format!("cat > '{}'", paged.display())).env("LINES", "5").output().expect("runs");
    assert!(!paged.exists());
}
