//! `tswal`: inspect, verify and repair a tswal / Prometheus SegmentWAL directory.
//!
//! Only `repair` (and `quarantine purge`, `demo`) change anything; every other command
//! opens the WAL read-only, so it works beside a running writer and never changes a byte
//! or a name. Exit status: 0 success, 1 damage found, 2 usage error or failure.

mod demo;
mod dump;
mod out;
mod quarantine;
mod repair;
mod stat;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Inspect, verify and repair write-ahead logs in the Prometheus SegmentWAL format
/// (tswal, Prometheus 2.0-2.2).
///
/// Every command but `repair`, `quarantine purge` and `demo` only reads: it works
/// beside a running writer and changes nothing. Exit status: 0 success, 1 damage
/// found, 2 usage error or failure.
#[derive(Parser)]
#[command(name = "tswal", version, arg_required_else_help = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the entries of a WAL, as a read would deliver them (read-only)
    Dump(dump::DumpArgs),
    /// Check every segment's header and every entry's checksum and decoding (read-only)
    Verify(verify::VerifyArgs),
    /// Per-segment and total statistics, and what quarantine holds (read-only)
    Stat(stat::StatArgs),
    /// Repair damage, setting what the repair takes out aside in quarantine
    Repair(repair::RepairArgs),
    /// List or purge what repairs set aside in the quarantine folder
    Quarantine {
        #[command(subcommand)]
        command: quarantine::QuarantineCommand,
    },
    /// Write, replay and truncate a small WAL (in a temporary directory unless DIR)
    Demo(demo::DemoArgs),
}

/// The WAL directory argument of the read-only commands.
#[derive(Args)]
struct WalDir {
    /// The WAL directory
    dir: PathBuf,
}

/// What a read does with damage (see the library's `Recovery`).
#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    /// The reference's: entries before the first damage
    Truncate,
    /// Every entry whose checksum matches
    Salvage,
}

impl Mode {
    fn recovery(self) -> tswal::Recovery {
        match self {
            Mode::Truncate => tswal::Recovery::Truncate,
            Mode::Salvage => tswal::Recovery::Salvage,
        }
    }
}

/// How a command ends.
pub(crate) enum Outcome {
    Ok,
    /// Damage was found (and reported).
    Damaged,
}

/// Why a command failed: a message naming the path and the cause.
pub(crate) struct Failure(String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(e.to_string())
    }
}

pub(crate) type Result<T = Outcome> = std::result::Result<T, Failure>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Dump(a) => dump::run(a),
        Command::Verify(a) => verify::run(a),
        Command::Stat(a) => stat::run(a),
        Command::Repair(a) => repair::run(a),
        Command::Quarantine { command } => quarantine::run(command),
        Command::Demo(a) => demo::run(a),
    };
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Damaged) => ExitCode::from(1),
        // A reader that closed our output (`| head`) ends the command quietly.
        Err(_) if out::stdout_closed() => ExitCode::SUCCESS,
        Err(Failure(msg)) => {
            eprintln!("tswal: {msg}");
            ExitCode::from(2)
        }
    }
}
