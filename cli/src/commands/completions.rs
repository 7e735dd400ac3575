//! `csx completions SHELL`: a completion script for the shell, on stdout.

use clap::Args;
use clap_complete::Shell;

use crate::context::Ctx;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  csx completions bash > ~/.local/share/bash-completion/completions/csx
  csx completions zsh > ~/.zfunc/_csx          (with fpath+=~/.zfunc before compinit)
  csx completions fish > ~/.config/fish/completions/csx.fish
  csx completions powershell >> $PROFILE")]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, powershell or elvish
    #[arg(value_enum)]
    pub shell: Shell,
}

pub fn run(_ctx: &Ctx, args: CompletionsArgs) -> anyhow::Result<()> {
    let mut cmd = crate::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "csx", &mut script);
    crate::output::write_stdout(&script)
}
