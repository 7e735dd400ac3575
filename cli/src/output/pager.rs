//! The pager for documents longer than the terminal: `$PAGER` (run by the shell, so it may carry
//! options), else `less` with `LESS=FRX` when `LESS` is unset (quit if it fits, keep colours,
//! leave the text on screen). An empty `PAGER` or `cat` means no pager.

use std::io::Write;
use std::process::{Command, Stdio};

/// The terminal's height: `LINES`, else what the terminal says, else 24.
fn height() -> usize {
    if let Some(h) = std::env::var("LINES").ok().and_then(|l| l.trim().parse::<usize>().ok()).filter(|h| *h > 0) {
        return h;
    }
    terminal_size::terminal_size().map(|(_, h)| h.0 as usize).filter(|h| *h > 0).unwrap_or(24)
}

/// Whether `text` is too long for the terminal (leaving a line for the prompt).
pub fn should_page(text: &str) -> bool {
    longer_than(text, height())
}

fn longer_than(text: &str, height: usize) -> bool {
    text.lines().count() > height.saturating_sub(1)
}

/// The pager command, or `None` for none.
fn command() -> Option<String> {
    match std::env::var("PAGER") {
        Ok(p) if p.trim().is_empty() || p.trim() == "cat" => None,
        Ok(p) => Some(p),
        Err(_) => Some("less".into()),
    }
}

/// Shows `text` through the pager; `false` when there is none or it cannot be started (the
/// caller then prints the text itself).
pub fn page(text: &str) -> anyhow::Result<bool> {
    let Some(pager) = command() else { return Ok(false) };
    let mut cmd = if cfg!(windows) {
        let mut c = Command::new("cmd");
        c.args(["/C", &pager]);
        c
    } else {
        let mut c = Command::new("sh");
        c.args(["-c", &pager]);
        c
    };
    if std::env::var_os("LESS").is_none() {
        cmd.env("LESS", "FRX");
    }
    let Ok(mut child) = cmd.stdin(Stdio::piped()).spawn() else { return Ok(false) };
    if let Some(mut stdin) = child.stdin.take() {
        // The reader quitting early (q in less) is not an error.
        match stdin.write_all(text.as_bytes()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
            _ => {}
        }
    }
    child.wait()?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_text_longer_than_the_terminal_is_paged() {
        let text = "a\n".repeat(23);
        assert!(!longer_than(&text, 24));
        assert!(longer_than(&(text + "b\n"), 24));
    }
}
