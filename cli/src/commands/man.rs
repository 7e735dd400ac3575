//! `csx man`: the manual page (roff) on stdout, or one page per command written to a directory
//! (`csx.1`, `csx-price-add.1`, …) for `man -l` or a package's man directory.

use std::path::PathBuf;

use clap::Args;

use crate::context::Ctx;
use crate::error::CliError;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  csx man | man -l -                      read the manual now
  csx man --dir ~/.local/share/man/man1   install a page per command (then `man csx-import`)")]
pub struct ManArgs {
    /// Write csx.1 and a page for every command into this directory instead
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

pub fn run(ctx: &Ctx, args: ManArgs) -> anyhow::Result<()> {
    let cmd = crate::command();
    match args.dir {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut page)?;
            crate::output::write_stdout(&page)
        }
        Some(dir) => {
            let bad = |e: std::io::Error| CliError::invalid(format!("--dir: cannot write to {}: {e}", dir.display()));
            std::fs::create_dir_all(&dir).map_err(bad)?;
            let n = write_pages(&cmd, "csx", &dir).map_err(bad)?;
            ctx.out.note(format!("wrote {n} manual pages to {}", dir.display()));
            Ok(())
        }
    }
}

/// Writes the page of `cmd` (named `name`) and of every subcommand; returns how many.
fn write_pages(cmd: &clap::Command, name: &str, dir: &std::path::Path) -> std::io::Result<usize> {
    // clap names take static text; a page per command is written once per process.
    let cmd = cmd.clone().name(&*Box::leak(name.to_string().into_boxed_str()));
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut page)?;
    std::fs::write(dir.join(format!("{name}.1")), page)?;
    let mut n = 1;
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        n += write_pages(sub, &format!("{name}-{}", sub.get_name()), dir)?;
    }
    Ok(n)
}
