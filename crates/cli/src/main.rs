//! `invoice-edge`: the command-line tool for keys, merchants, tokens, totals, issue and verify.
//!
//! Every command reads stdin and writes stdout. Exit codes: 0 ok, 1 invalid input or document,
//! 2 usage, 3 I/O.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

mod commands;
mod flags;
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
    /// Print a new private Ed25519 JWK (RFC 8037) with its kid (RFC 7638 thumbprint).
    Keygen,
    /// Print the public JWKS of the given key files (private or public JWKs).
    Jwks {
        #[arg(long = "key", required = true, num_args = 1..)]
        keys: Vec<PathBuf>,
    },
    /// A signing key's life: current, next, previous, archived (docs/SECURITY.md, "Signing keys").
    SigningKey {
        #[command(subcommand)]
        command: commands::keys::SigningKeyCommand,
    },
    /// Merchant configuration.
    Merchant {
        #[command(subcommand)]
        command: commands::merchant::MerchantCommand,
    },
    /// Read a cart {currency, prices_include_tax, lines} on stdin and print a checkout token.
    Token {
        #[arg(long)]
        merchant: PathBuf,
        /// The order id: the idempotency key of the invoice.
        #[arg(long)]
        order: String,
        /// The series to number in (the `series` claim); required when the merchant has
        /// several, left out of the token when it has one and none is given.
        #[arg(long, value_parser = crate::flags::series_name)]
        series: Option<String>,
        /// Lifetime: 15m, 2h, 900s; at most 24h.
        #[arg(long, default_value = "15m")]
        ttl: String,
    },
    /// Read a request on stdin and print the signed document (status pending_sync), numbered
    /// in its series: seq 1 unless --after FILE or --seq/--prev-hash say otherwise.
    Issue(commands::issue::IssueArgs),
    /// Sign a credit note (UBL 381) of an invoice offline, as the next document of its series:
    /// the credit-note request on stdin ({order_id, reason_code, reason?, lines?}).
    CreditNote(commands::issue::CreditNoteArgs),
    /// Read a document on stdin and print {valid, code, detail}; or with --chain FILE check a
    /// series' documents (JSON lines) and print {valid, merchant, series, first_seq, last_seq,
    /// documents, detail}. Exit 0 valid, 1 invalid.
    Verify {
        /// The public keys: the edge's, and the origin's for final documents.
        #[arg(long)]
        jwks: PathBuf,
        /// A file of one series' documents, one JSON document a line, in seq order.
        #[arg(long)]
        chain: Option<PathBuf>,
    },
    /// Check a tax ID (e.g. `tax-id DE DE136695976`); exit 0 only if checked and valid.
    TaxId {
        /// ISO 3166-1 alpha-2 country code, e.g. CN, DE, SA.
        country: String,
        /// The ID, with or without its country prefix.
        id: String,
    },
    /// Read a signed document on stdin, send it to an origin ledger and print the final
    /// document; exit 1 if the origin refuses it (problem on stderr), 3 if unreachable or 5xx.
    Finalize(commands::finalize::FinalizeArgs),
    /// Read a final document on stdin and print its UBL 2.1 / EN 16931 XML (docs/UBL.md);
    /// exit 1 with problem JSON on stderr for a pending or rejected invoice.
    Ubl,
}

/// Why a command failed, mapped to the documented exit codes.
pub enum Failure {
    /// The input or document is invalid (exit 1); the message is already on stderr.
    Invalid,
    /// A usage error clap could not see (exit 2).
    Usage(String),
    /// Reading or writing failed (exit 3).
    Io(String),
}

fn main() -> ExitCode {
    // clap exits with 2 on a usage error, as documented.
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Totals { merchant } => commands::totals::run(merchant.as_deref()),
        Command::Keygen => commands::keys::keygen(),
        Command::Jwks { keys } => commands::keys::jwks(&keys),
        Command::SigningKey { command } => commands::keys::signing_key(command),
        Command::Merchant { command } => commands::merchant::run(command),
        Command::Token {
            merchant,
            order,
            series,
            ttl,
        } => commands::token::run(&merchant, &order, series.as_deref(), &ttl),
        Command::Issue(args) => commands::issue::run(&args),
        Command::CreditNote(args) => commands::issue::run_credit(&args),
        Command::Verify {
            jwks,
            chain: Some(chain),
        } => commands::verify::run_chain(&chain, &jwks),
        Command::Verify { jwks, chain: None } => commands::verify::run(&jwks),
        Command::TaxId { country, id } => commands::tax_id::run(&country, &id),
        Command::Finalize(args) => commands::finalize::run(&args),
        Command::Ubl => commands::ubl::run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Invalid) => ExitCode::from(1),
        Err(Failure::Usage(message)) => {
            eprintln!("invoice-edge: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Io(message)) => {
            eprintln!("invoice-edge: {message}");
            ExitCode::from(3)
        }
    }
}
