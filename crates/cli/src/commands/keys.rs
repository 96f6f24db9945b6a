//! `keygen`, `jwks`, and `signing-key rotate` / `signing-key public`: the life of a signing key
//! (the edge's or the origin's) in one directory, so that no invoice ever stops verifying:
//!
//! - `current.jwk` signs (`EDGE_SIGNING_KEY`, or the origin's `--key`);
//! - `next.jwk` is published before it signs (`EDGE_SIGNING_KEY_NEXT`), so caches of the JWKS
//!   already hold it when it starts signing;
//! - `previous.jwk` is the key before (`EDGE_SIGNING_KEY_PREVIOUS`);
//! - `archive.jwks` holds the public halves of every retired key (KV `MERCHANTS`
//!   `jwks:archive`), so a ten-year-old invoice still verifies.
//!
//! `rotate` moves each one step: previous to the archive, current to previous, next to current,
//! and a new next. On an empty directory it creates current and next.

use invoice_edge_core::keys::{EdKey, Jwks, PublicJwk};
use std::path::{Path, PathBuf};

use crate::io;
use crate::Failure;

pub fn keygen() -> Result<(), Failure> {
    let key = EdKey::from_seed(&io::random_bytes::<32>()?);
    io::print_json(&key.to_private_jwk())
}

pub fn jwks(paths: &[PathBuf]) -> Result<(), Failure> {
    let mut jwks = Jwks::default();
    for path in paths {
        let text = String::from_utf8(io::read_file(path)?)
            .map_err(|_| Failure::Io(format!("{} is not UTF-8", path.display())))?;
        let public = match EdKey::from_jwk_json(&text) {
            Ok(key) => key.public_jwk(),
            // A public JWK: re-derive its kid rather than trusting the file's.
            Err(_) => serde_json::from_str::<PublicJwk>(&text)
                .ok()
                .and_then(|jwk| jwk.verifying_key().ok())
                .map(|key| PublicJwk::from_key(&key))
                .ok_or_else(|| Failure::Io(format!("{} is not an Ed25519 JWK", path.display())))?,
        };
        jwks.push(public);
    }
    io::print_json(&jwks)
}

#[derive(clap::Subcommand)]
pub enum SigningKeyCommand {
    /// Rotate the keys in DIR one step (or create current and next in an empty DIR); prints the
    /// kids in each role.
    Rotate {
        #[arg(long)]
        dir: PathBuf,
        /// Whose keys DIR holds: `edge` (signs invoices) or `origin` (countersigns receipts).
        /// Keys retired into archive.jwks are listed with this role, so a verifier never
        /// accepts one of them in the other role.
        #[arg(long, value_parser = ["edge", "origin"])]
        role: Option<String>,
    },
    /// Print every public key of DIR (current, next, previous, archived) as a JSON array: the
    /// value of the edge's `ORIGIN_PUBLIC_JWK` for an origin's key directory.
    Public {
        #[arg(long)]
        dir: PathBuf,
        /// List every key with this role (`origin` for `ORIGIN_PUBLIC_JWK`).
        #[arg(long, value_parser = ["edge", "origin"])]
        role: Option<String>,
    },
}

pub fn signing_key(command: SigningKeyCommand) -> Result<(), Failure> {
    match command {
        SigningKeyCommand::Rotate { dir, role } => rotate(&dir, role.as_deref()),
        SigningKeyCommand::Public { dir, role } => {
            let keys = KeyDir::read(&dir)?;
            let listed: Vec<PublicJwk> = keys
                .all_public()
                .into_iter()
                .map(|jwk| match role.as_deref() {
                    Some(role) => jwk.with_role(role),
                    None => jwk,
                })
                .collect();
            io::print_json(&listed)
        }
    }
}

/// The keys of one directory, by role.
struct KeyDir {
    current: Option<EdKey>,
    next: Option<EdKey>,
    previous: Option<EdKey>,
    archive: Jwks,
}

fn read_key(path: &Path) -> Result<Option<EdKey>, Failure> {
    if !path.exists() {
        return Ok(None);
    }
    let text = String::from_utf8(io::read_file(path)?)
        .map_err(|_| Failure::Io(format!("{} is not UTF-8", path.display())))?;
    EdKey::from_jwk_json(&text)
        .map(Some)
        .map_err(|e| Failure::Io(format!("{}: {e}", path.display())))
}

/// Writes a key file; private keys (`.jwk`) readable by their owner only.
fn write_file(path: &Path, text: &str) -> Result<(), Failure> {
    let failed = |e: std::io::Error| Failure::Io(format!("{}: {e}", path.display()));
    std::fs::write(path, text).map_err(failed)?;
    #[cfg(unix)]
    if path.extension().is_some_and(|ext| ext == "jwk") {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(failed)?;
    }
    Ok(())
}

impl KeyDir {
    fn read(dir: &Path) -> Result<KeyDir, Failure> {
        let archive_path = dir.join("archive.jwks");
        let archive = if archive_path.exists() {
            io::parse_json(&io::read_file(&archive_path)?)
                .and_then(|value| serde_json::from_value(value).map_err(|e| e.to_string()))
                .map_err(|e| Failure::Io(format!("{}: {e}", archive_path.display())))?
        } else {
            Jwks::default()
        };
        Ok(KeyDir {
            current: read_key(&dir.join("current.jwk"))?,
            next: read_key(&dir.join("next.jwk"))?,
            previous: read_key(&dir.join("previous.jwk"))?,
            archive,
        })
    }

    fn all_public(&self) -> Vec<PublicJwk> {
        let mut all = Jwks::default();
        for key in [&self.current, &self.next, &self.previous]
            .into_iter()
            .flatten()
        {
            all.push(key.public_jwk());
        }
        for jwk in &self.archive.keys {
            all.push(jwk.clone());
        }
        all.keys
    }
}

fn rotate(dir: &Path, role: Option<&str>) -> Result<(), Failure> {
    std::fs::create_dir_all(dir).map_err(|e| Failure::Io(format!("{}: {e}", dir.display())))?;
    let mut keys = KeyDir::read(dir)?;
    let new_key = || -> Result<EdKey, Failure> { Ok(EdKey::from_seed(&io::random_bytes::<32>()?)) };
    if keys.current.is_none() {
        keys.current = Some(match keys.next.take() {
            Some(next) => next,
            None => new_key()?,
        });
    } else {
        if let Some(previous) = keys.previous.take() {
            let retired = previous.public_jwk();
            keys.archive.push(match role {
                Some(role) => retired.with_role(role),
                None => retired,
            });
        }
        keys.previous = keys.current.take();
        keys.current = Some(match keys.next.take() {
            Some(next) => next,
            None => new_key()?,
        });
    }
    keys.next = Some(new_key()?);
    let private = |key: &EdKey| serde_json::to_string(&key.to_private_jwk()).unwrap_or_default();
    for (name, key) in [
        ("current.jwk", &keys.current),
        ("next.jwk", &keys.next),
        ("previous.jwk", &keys.previous),
    ] {
        if let Some(key) = key {
            write_file(&dir.join(name), &private(key))?;
        }
    }
    let archive = serde_json::to_string(&keys.archive)
        .map_err(|e| Failure::Io(format!("archive.jwks: {e}")))?;
    write_file(&dir.join("archive.jwks"), &archive)?;
    let kid = |key: &Option<EdKey>| key.as_ref().map(|k| k.kid().to_string());
    io::print_json(&serde_json::json!({
        "current": kid(&keys.current),
        "next": kid(&keys.next),
        "previous": kid(&keys.previous),
        "archived": keys.archive.keys.iter().map(|k| k.kid.clone()).collect::<Vec<_>>(),
    }))
}
