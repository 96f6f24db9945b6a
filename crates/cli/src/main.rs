//! `invoice-edge`: the command-line tool for keys, merchants, tokens, totals, issue and verify.
//!
//! Every command reads stdin and writes stdout. Exit codes: 0 ok, 1 invalid input or document,
//! 2 usage, 3 I/O.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

mod commands;
mod io;

#[derive(Parser)]
#[command(
    name = "invoice-edge",
    version,
    about = "Issue, verify and inspect edge-signed invoices"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Read an invoice request on stdin and print the computed, unsigned invoice.
    Totals {
        /// A merchant file (`merchant create` output): check its tax profile too.
        #[arg(long)]
        merchant: Option<PathBuf>,
    },
}

/// Why a command failed, mapped to the documented exit codes.
pub enum Failure {
    /// The input or document is invalid (exit 1); the message is already on stderr.
    Invalid,
    /// Reading or writing failed (exit 3).
    Io(String),
}

fn main() -> ExitCode {
    // clap exits with 2 on a usage error, as documented.
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Totals { merchant } => commands::totals::run(merchant.as_deref()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Invalid) => ExitCode::from(1),
        Err(Failure::Io(message)) => {
            eprintln!("invoice-edge: {message}");
            ExitCode::from(3)
        }
    }
}
