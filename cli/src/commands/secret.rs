//! Getting a passphrase: from a file, from CSX_PASSPHRASE, or by asking at a terminal.

use std::path::Path;

use zeroize::Zeroizing;

use crate::context::Ctx;
use crate::error::CliError;

/// The passphrase for the organisation key. `confirm` asks twice when prompting (new keys).
pub fn passphrase(ctx: &Ctx, file: Option<&Path>, confirm: bool) -> anyhow::Result<Zeroizing<String>> {
    if let Some(path) = file {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| CliError::invalid(format!("cannot read passphrase file {}: {e}", path.display())))?,
        );
        let line = text.lines().next().unwrap_or("").to_string();
        if line.is_empty() {
            return Err(CliError::invalid(format!("passphrase file {} is empty", path.display())).into());
        }
        return Ok(Zeroizing::new(line));
    }
    if let Ok(p) = std::env::var("CSX_PASSPHRASE")
        && !p.is_empty()
    {
        return Ok(Zeroizing::new(p));
    }
    if !ctx.interactive {
        return Err(CliError::invalid(
            "a passphrase is needed: give --passphrase-file FILE or set CSX_PASSPHRASE (no terminal to ask on)",
        )
        .into());
    }
    let mut prompt = dialoguer::Password::new().with_prompt("Organisation key passphrase");
    if confirm {
        prompt = prompt.with_confirmation("Repeat it", "The passphrases differ");
    }
    Ok(Zeroizing::new(prompt.interact()?))
}
