//! Reading stdin and files, writing JSON: every failure becomes `Failure::Io` (exit 3).

use invoice_edge_core::merchant::MerchantConfig;
use invoice_edge_core::Problem;
use serde::Serialize;
use std::io::{Read, Write};
use std::path::Path;

use crate::Failure;

pub fn read_stdin() -> Result<Vec<u8>, Failure> {
    let mut buffer = Vec::new();
    std::io::stdin()
        .read_to_end(&mut buffer)
        .map_err(|e| Failure::Io(format!("cannot read stdin: {e}")))?;
    Ok(buffer)
}

pub fn read_file(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure::Io(format!("cannot read {}: {e}", path.display())))
}

pub fn print_json<T: Serialize>(value: &T) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Failure::Io(e.to_string()))?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{text}").map_err(|e| Failure::Io(format!("cannot write stdout: {e}")))
}

/// Prints a problem on stderr and reports the input as invalid (exit 1).
pub fn reject(problem: &Problem) -> Failure {
    let text = serde_json::to_string_pretty(problem).unwrap_or_else(|_| problem.to_json());
    eprintln!("{text}");
    Failure::Invalid
}

/// Parses JSON with the core's reader, as the edge and the origin do: invalid UTF-8, nesting
/// past the limit and an object naming a key twice (`DUPLICATE_KEY`) are refused, with the
/// code and the place in the message.
pub fn parse_json(bytes: &[u8]) -> Result<serde_json::Value, String> {
    invoice_edge_core::json_reader::parse_json(bytes).map_err(|error| {
        let place = if error.pointer.is_empty() {
            String::new()
        } else {
            format!(" at {}", error.pointer)
        };
        format!("{}{place}: {}", error.code.as_str(), error.detail)
    })
}

/// Reads a merchant file: the `merchant create` output `{config, api_key, token_secret}`, or a
/// bare configuration.
pub fn read_merchant(path: &Path) -> Result<MerchantConfig, Failure> {
    let bytes = read_file(path)?;
    let value = parse_json(&bytes)
        .map_err(|e| Failure::Io(format!("{} is not JSON: {e}", path.display())))?;
    let config = value.get("config").cloned().unwrap_or(value);
    serde_json::from_value(config)
        .map_err(|e| Failure::Io(format!("{} is not a merchant file: {e}", path.display())))
}

/// Reads a JWKS file (`jwks` output, or what `/.well-known/jwks.json` serves).
pub fn read_jwks(path: &Path) -> Result<invoice_edge_core::keys::Jwks, Failure> {
    serde_json::from_slice(&read_file(path)?)
        .map_err(|e| Failure::Io(format!("{} is not a JWKS: {e}", path.display())))
}

/// Reads a private signing JWK file.
pub fn read_key(path: &Path) -> Result<invoice_edge_core::keys::EdKey, Failure> {
    let text = String::from_utf8(read_file(path)?)
        .map_err(|_| Failure::Io(format!("{} is not UTF-8", path.display())))?;
    invoice_edge_core::keys::EdKey::from_jwk_json(&text)
        .map_err(|e| Failure::Io(format!("{}: {e}", path.display())))
}

/// `n` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], Failure> {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes).map_err(|e| Failure::Io(format!("no randomness: {e}")))?;
    Ok(bytes)
}

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
