//! `invoice-edge`: the command-line tool for keys, merchants, tokens, totals, issue and verify.

use std::process::ExitCode;

/// Exit codes shared by every subcommand.
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--version") | Some("-V") => {
            println!("invoice-edge {}", invoice_edge_core::VERSION);
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("usage: invoice-edge --version");
            ExitCode::from(EXIT_USAGE)
        }
    }
}
