//! `tswal quarantine list|purge`: what repairs set aside, and removing it.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Subcommand;

use crate::out;
use crate::{Outcome, Result};

#[derive(Subcommand)]
pub(crate) enum QuarantineCommand {
    /// What each repair set aside, and why (read-only)
    List {
        /// The WAL directory
        dir: PathBuf,
    },
    /// Delete what repairs set aside, for good (all of it, or one repair's folder)
    Purge {
        /// The WAL directory
        dir: PathBuf,
        /// Only this repair's folder (a name that `tswal quarantine list` shows)
        folder: Option<String>,
        /// Really delete (without it, purge says what it would delete and stops)
        #[arg(long)]
        yes: bool,
    },
}

pub(crate) fn run(command: QuarantineCommand) -> Result {
    match command {
        QuarantineCommand::List { dir } => list(&dir),
        QuarantineCommand::Purge { dir, folder, yes } => purge(&dir, folder.as_deref(), yes),
    }
}

fn list(dir: &std::path::Path) -> Result {
    let folders = tswal::quarantine::list(dir)?;
    let mut report = String::new();
    for f in &folders {
        let status = if f.completed {
            "completed"
        } else {
            "interrupted"
        };
        let _ = writeln!(
            report,
            "{}  {status}, {} file(s), {} bytes",
            out::name(&f.path),
            f.files.len(),
            f.bytes()
        );
        let why = f.note.as_deref().unwrap_or_default().lines();
        for line in why.filter(|l| l.starts_with("damage: ") || l.starts_with("recovery: ")) {
            let _ = writeln!(report, "  {line}");
        }
        for (name, bytes, link) in &f.files {
            let what = if *link { " (a symbolic link)" } else { "" };
            let _ = writeln!(report, "    {name}  {bytes} bytes{what}");
        }
    }
    let bytes: u64 = folders.iter().map(|f| f.bytes()).sum();
    let _ = writeln!(
        report,
        "{} repair folder(s), {bytes} bytes, in {}",
        folders.len(),
        dir.join(tswal::quarantine::DIR_NAME).display()
    );
    out::print(&report)?;
    Ok(Outcome::Ok)
}

fn purge(dir: &std::path::Path, folder: Option<&str>, yes: bool) -> Result {
    if !yes {
        let folders = tswal::quarantine::list(dir)?;
        let chosen: Vec<_> = folders
            .iter()
            .filter(|f| folder.is_none_or(|name| out::name(&f.path) == name))
            .collect();
        let bytes: u64 = chosen.iter().map(|f| f.bytes()).sum();
        return Err(format!(
            "purge would delete {} repair folder(s), {bytes} bytes, for good; run it again \
             with --yes to do so (nothing was deleted)",
            chosen.len()
        )
        .into());
    }
    let (folders, bytes) = tswal::quarantine::purge(dir, folder).map_err(|e| match e {
        tswal::Error::Locked { .. } => {
            format!("{e}: a writer has it open; purge needs the WAL to itself").into()
        }
        e => crate::Failure::from(e),
    })?;
    out::print(&format!(
        "deleted {folders} repair folder(s), {bytes} bytes\n"
    ))?;
    Ok(Outcome::Ok)
}
