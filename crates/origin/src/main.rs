//! `invoice-origin`: the reference origin ledger server, and the verifier of its ledger file.
//!
//! Exit codes: 0 ok, 1 a broken ledger (verify) or a failed start (serve), 2 usage, 3 I/O.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use invoice_edge_origin::audit::{audit, AuditError};
use invoice_edge_origin::server::{migrate, read_jwks, serve, ServeConfig};
use invoice_edge_origin::void::{void, VoidRequest};

#[derive(Parser)]
#[command(
    name = "invoice-origin",
    version,
    about = "The origin ledger: archives each edge-numbered series in order and countersigns"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (stops cleanly on SIGTERM or SIGINT; SIGHUP reloads --trust).
    Serve {
        /// The ledger: a SQLite file, or a PostgreSQL URL (`postgres://…`, several hosts and
        /// `target_session_attrs=read-write` allowed); created or migrated at start-up.
        #[arg(long, env = "ORIGIN_DB")]
        db: String,
        /// Most PostgreSQL connections this process opens (ignored for SQLite).
        #[arg(long, env = "ORIGIN_DB_POOL", default_value_t = 8)]
        db_pool: usize,
        /// The JWKS of the edge keys to accept (`invoice-edge jwks` output); reloaded on SIGHUP.
        #[arg(long, env = "ORIGIN_TRUST")]
        trust: PathBuf,
        /// The origin's private signing JWK (`invoice-edge keygen` output).
        #[arg(long, env = "ORIGIN_KEY")]
        key: PathBuf,
        /// Address to listen on; port 0 picks a free one (printed on stdout).
        #[arg(long, env = "ORIGIN_LISTEN", default_value = "127.0.0.1:8788")]
        listen: String,
        /// The SHA-256 (lower-case hex, one a line) of each edge token the ledger routes accept;
        /// two lines during a rotation. Reloaded on SIGHUP.
        #[arg(long, env = "ORIGIN_EDGE_TOKENS")]
        edge_tokens: PathBuf,
        /// The same for `/metrics`; without it `/metrics` is closed.
        #[arg(long, env = "ORIGIN_METRICS_TOKENS")]
        metrics_tokens: Option<PathBuf>,
    },
    /// Archive a refused document as void, so that the rest of its series chains on; prints the
    /// receipt (`void: true`). Then resume the series at the edge.
    Void {
        #[arg(long, env = "ORIGIN_DB")]
        db: String,
        /// The origin's private signing JWK, which countersigns the void receipt.
        #[arg(long, env = "ORIGIN_KEY")]
        key: PathBuf,
        #[arg(long)]
        merchant: String,
        #[arg(long)]
        series: String,
        /// The refused document (`{invoice, edge_signature}`, as the edge stored it).
        #[arg(long)]
        document: PathBuf,
        /// Why it is void; kept in the ledger.
        #[arg(long)]
        reason: String,
    },
    /// Re-verify a ledger file: every series chain from 1, every edge signature, the global
    /// chain and every countersignature.
    Verify {
        #[arg(long, env = "ORIGIN_DB")]
        db: String,
        /// The JWKS of the edge keys the ledger's invoices were signed with.
        #[arg(long, env = "ORIGIN_TRUST")]
        trust: PathBuf,
    },
    /// Create or upgrade the ledger's schema and exit (serve does this too, at start).
    Migrate {
        #[arg(long, env = "ORIGIN_DB")]
        db: String,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve {
            db,
            trust,
            key,
            listen,
            edge_tokens,
            metrics_tokens,
            db_pool,
        } => match serve(ServeConfig {
            db,
            pool_size: db_pool.max(1),
            trust,
            key,
            listen,
            edge_tokens,
            metrics_tokens,
        }) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("invoice-origin: {message}");
                ExitCode::from(1)
            }
        },
        Command::Void {
            db,
            key,
            merchant,
            series,
            document,
            reason,
        } => match void(&VoidRequest {
            db,
            key,
            merchant,
            series,
            document,
            reason,
        }) {
            Ok(final_) => match serde_json::to_string_pretty(&final_) {
                Ok(text) => {
                    println!("{text}");
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("invoice-origin void: {error}");
                    ExitCode::from(3)
                }
            },
            Err(message) => {
                eprintln!("invoice-origin void: {message}");
                ExitCode::from(1)
            }
        },
        Command::Migrate { db } => match migrate(&db) {
            Ok(version) => {
                println!("ledger schema at version {version}");
                ExitCode::SUCCESS
            }
            Err(message) => {
                eprintln!("invoice-origin migrate: {message}");
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
