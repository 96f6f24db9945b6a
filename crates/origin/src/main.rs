//! `invoice-origin`: the reference origin ledger server, and the verifier of its ledger file.
//!
//! Exit codes: 0 ok, 1 a broken ledger (verify) or a failed start (serve), 2 usage, 3 I/O.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use invoice_edge_origin::audit::{audit, AuditError};
use invoice_edge_origin::server::{read_jwks, serve, ServeConfig};

#[derive(Parser)]
#[command(
    name = "invoice-origin",
    version,
    about = "The origin ledger: finalizes edge-signed invoices with gapless numbers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (stops cleanly on SIGTERM or SIGINT; SIGHUP reloads --trust).
    Serve {
        /// The SQLite ledger file; created and migrated at start-up.
        #[arg(long, env = "ORIGIN_DB")]
        db: PathBuf,
        /// The JWKS of the edge keys to accept (`invoice-edge jwks` output); reloaded on SIGHUP.
        #[arg(long, env = "ORIGIN_TRUST")]
        trust: PathBuf,
        /// The origin's private signing JWK (`invoice-edge keygen` output).
        #[arg(long, env = "ORIGIN_KEY")]
        key: PathBuf,
        /// Address to listen on; port 0 picks a free one (printed on stdout).
        #[arg(long, env = "ORIGIN_LISTEN", default_value = "127.0.0.1:8788")]
        listen: String,
        /// A JSON array of merchant configurations or `merchant create` outputs, read for each
        /// merchant's number_format; others use {series}-{year}-{seq:08}.
        #[arg(long, env = "ORIGIN_MERCHANTS")]
        merchants: Option<PathBuf>,
    },
    /// Re-verify a ledger file: every signature, the hash chain, and gapless numbers.
    Verify {
        #[arg(long, env = "ORIGIN_DB")]
        db: PathBuf,
        /// The JWKS of the edge keys the ledger's invoices were signed with.
        #[arg(long, env = "ORIGIN_TRUST")]
        trust: PathBuf,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve {
            db,
            trust,
            key,
            listen,
            merchants,
        } => match serve(ServeConfig {
            db,
            trust,
            key,
            listen,
            merchants,
        }) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("invoice-origin: {message}");
                ExitCode::from(1)
            }
        },
        Command::Verify { db, trust } => {
            let trust = match read_jwks(&trust) {
                Ok(trust) => trust,
                Err(message) => {
                    eprintln!("invoice-origin verify: --trust {message}");
                    return ExitCode::from(3);
                }
            };
            match audit(&db, &trust) {
                Ok(summary) => {
                    print!("{summary}");
                    ExitCode::SUCCESS
                }
                Err(error @ AuditError::Io(_)) => {
                    eprintln!("invoice-origin verify: {error}");
                    ExitCode::from(3)
                }
                Err(error) => {
                    println!("{error}");
                    eprintln!("invoice-origin verify: {error}");
                    ExitCode::from(1)
                }
            }
        }
    }
}
