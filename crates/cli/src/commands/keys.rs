//! `keygen` and `jwks`.

use invoice_edge_core::keys::{EdKey, Jwks, PublicJwk};
use std::path::PathBuf;

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
