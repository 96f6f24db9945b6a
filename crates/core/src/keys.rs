//! Ed25519 keys as JSON Web Keys (RFC 8037 OKP), their ids (RFC 7638 thumbprints) and the
//! JWKS that lets anyone verify an invoice offline.

use ed25519_dalek::{Signature, Verifier, VerifyingKey};

use crate::ed25519::ExpandedKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Base64url without padding, as every signature and key here is written (RFC 7515 section 2).
pub fn b64url(bytes: &[u8]) -> String {
    crate::base64url::encode(bytes)
}

pub fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    crate::base64url::decode(text)
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// Not an OKP Ed25519 JWK, or its `x`/`d` is not 32 base64url bytes.
    Malformed,
    /// The JWK's `x` is not the public key of its `d`.
    Mismatch,
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyError::Malformed => "not an Ed25519 OKP JWK (RFC 8037) with 32-byte x and d",
            KeyError::Mismatch => "the JWK's public key x does not belong to its private key d",
        })
    }
}

/// RFC 7638 thumbprint of an Ed25519 key: SHA-256 over `{"crv","kty","x"}` in that order.
pub fn thumbprint(public_key: &[u8; 32]) -> String {
    let canonical = format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
        b64url(public_key)
    );
    b64url(&sha256(canonical.as_bytes()))
}

/// A public Ed25519 key as served in the JWKS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwk {
    pub kty: String,
    pub crv: String,
    pub x: String,
    pub kid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// Which signatures the key may make: [`ROLE_EDGE`] (invoices) or [`ROLE_ORIGIN`] (receipts).
    /// A JWK member of our own (RFC 7517, section 4: members a reader does not understand are
    /// ignored). A key listed without one is trusted in either role, so JWKS files from before
    /// roles keep verifying; a key listed with another role is never used for this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// The role of a key that signs invoices (`edge_signature`).
pub const ROLE_EDGE: &str = "edge";
/// The role of a key that countersigns receipts (`final.origin_signature`).
pub const ROLE_ORIGIN: &str = "origin";

impl PublicJwk {
    pub fn from_key(key: &VerifyingKey) -> PublicJwk {
        PublicJwk::from_bytes(&key.to_bytes())
    }

    /// The JWK of a compressed Ed25519 public key.
    pub fn from_bytes(bytes: &[u8; 32]) -> PublicJwk {
        PublicJwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: b64url(bytes),
            kid: thumbprint(bytes),
            alg: Some("EdDSA".into()),
            use_: Some("sig".into()),
            role: None,
        }
    }

    /// The same key, listed for one role only.
    pub fn with_role(mut self, role: &str) -> PublicJwk {
        self.role = Some(role.to_string());
        self
    }

    /// The verifying key, if this is a well-formed Ed25519 OKP JWK.
    pub fn verifying_key(&self) -> Result<VerifyingKey, KeyError> {
        if self.kty != "OKP" || self.crv != "Ed25519" {
            return Err(KeyError::Malformed);
        }
        let bytes: [u8; 32] = b64url_decode(&self.x)
            .and_then(|b| b.try_into().ok())
            .ok_or(KeyError::Malformed)?;
        VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::Malformed)
    }
}

/// A private Ed25519 JWK: what `invoice-edge keygen` prints and `EDGE_SIGNING_KEY` holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivateJwk {
    pub kty: String,
    pub crv: String,
    pub x: String,
    pub d: String,
    #[serde(default)]
    pub kid: Option<String>,
}

/// A signing key with its id. It signs through [`crate::ed25519`] (a basepoint table built at
/// first use rather than shipped in the worker: docs/PERFORMANCE.md, "size").
#[derive(Clone)]
pub struct EdKey {
    signing: ExpandedKey,
    kid: String,
}

impl std::fmt::Debug for EdKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the private half.
        f.debug_struct("EdKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl EdKey {
    /// A key from 32 secret bytes the caller drew from a CSPRNG (the core draws none itself).
    pub fn from_seed(seed: &[u8; 32]) -> EdKey {
        let signing = ExpandedKey::from_seed(seed);
        let kid = thumbprint(signing.public());
        EdKey { signing, kid }
    }

    pub fn from_jwk(jwk: &PrivateJwk) -> Result<EdKey, KeyError> {
        if jwk.kty != "OKP" || jwk.crv != "Ed25519" {
            return Err(KeyError::Malformed);
        }
        let seed: [u8; 32] = b64url_decode(&jwk.d)
            .and_then(|b| b.try_into().ok())
            .ok_or(KeyError::Malformed)?;
        let key = EdKey::from_seed(&seed);
        if b64url(key.signing.public()) != jwk.x {
            return Err(KeyError::Mismatch);
        }
        Ok(key)
    }

    /// Parses the JSON text of a private JWK (as kept in a secret or a file).
    pub fn from_jwk_json(text: &str) -> Result<EdKey, KeyError> {
        let jwk: PrivateJwk = serde_json::from_str(text.trim()).map_err(|_| KeyError::Malformed)?;
        EdKey::from_jwk(&jwk)
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn to_private_jwk(&self) -> PrivateJwk {
        PrivateJwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: b64url(self.signing.public()),
            d: b64url(self.signing.seed()),
            kid: Some(self.kid.clone()),
        }
    }

    pub fn public_jwk(&self) -> PublicJwk {
        PublicJwk::from_bytes(self.signing.public())
    }

    /// Ed25519 over `message`, base64url without padding.
    pub fn sign(&self, message: &[u8]) -> String {
        b64url(&self.signing.sign(message))
    }
}

/// Verifies a base64url Ed25519 signature. `false` for any malformed input.
pub fn verify_signature(key: &VerifyingKey, message: &[u8], signature_b64: &str) -> bool {
    let Some(bytes) = b64url_decode(signature_b64) else {
        return false;
    };
    let Ok(bytes) = <[u8; 64]>::try_from(bytes.as_slice()) else {
        return false;
    };
    key.verify(message, &Signature::from_bytes(&bytes)).is_ok()
}

/// A JSON Web Key Set: the current edge key, the previous one, and the origin's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Jwks {
    pub keys: Vec<PublicJwk>,
}

impl Jwks {
    /// The key with this id. Keys that are not Ed25519 are skipped, never trusted.
    pub fn find(&self, kid: &str) -> Option<VerifyingKey> {
        self.keys
            .iter()
            .filter(|jwk| jwk.kid == kid)
            .filter_map(|jwk| jwk.verifying_key().ok())
            // A JWKS entry whose kid is not its own thumbprint would let a key pose as another.
            .find(|key| thumbprint(&key.to_bytes()) == kid)
    }

    /// The key with this id, if it is listed for `role` or without a role: an invoice's
    /// `edge_signature` is checked with edge keys, a receipt's `origin_kid` with origin keys.
    pub fn find_for(&self, kid: &str, role: &str) -> Option<VerifyingKey> {
        self.keys
            .iter()
            .filter(|jwk| jwk.kid == kid && jwk.role.as_deref().is_none_or(|r| r == role))
            .filter_map(|jwk| jwk.verifying_key().ok())
            .find(|key| thumbprint(&key.to_bytes()) == kid)
    }

    /// Why `kid` cannot be used for `role`: listed only for another role, or not listed.
    pub fn missing_reason(&self, kid: &str, role: &str) -> String {
        match self.keys.iter().find(|jwk| jwk.kid == kid) {
            Some(jwk) if jwk.role.as_deref().is_some_and(|r| r != role) => format!(
                "key {kid} is listed as an {} key, not an {role} key",
                jwk.role.as_deref().unwrap_or_default()
            ),
            _ => format!("no {role} key {kid} in the JWKS"),
        }
    }

    /// Adds a key unless one with the same kid is already listed.
    pub fn push(&mut self, jwk: PublicJwk) {
        if !self.keys.iter().any(|k| k.kid == jwk.kid) {
            self.keys.push(jwk);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_8037_appendix_a_key_and_thumbprint() {
        // RFC 8037 A.1 and A.3: the example key and its RFC 7638 thumbprint.
        let jwk = PrivateJwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            d: "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A".into(),
            x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo".into(),
            kid: None,
        };
        let key = EdKey::from_jwk(&jwk).unwrap();
        assert_eq!(key.kid(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
        // RFC 8037 A.4: the signature of "Example of Ed25519 signing" under the JWS header.
        let signing_input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
        assert_eq!(
            key.sign(signing_input.as_bytes()),
            "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
        );
        let public = key.public_jwk().verifying_key().unwrap();
        assert!(verify_signature(
            &public,
            signing_input.as_bytes(),
            &key.sign(signing_input.as_bytes())
        ));
        assert!(!verify_signature(
            &public,
            b"other",
            &key.sign(signing_input.as_bytes())
        ));
        assert!(!verify_signature(&public, b"other", "not base64!"));
    }

    #[test]
    fn a_jwk_whose_x_is_not_its_d_is_refused() {
        let mut jwk = EdKey::from_seed(&[7; 32]).to_private_jwk();
        jwk.x = EdKey::from_seed(&[8; 32]).to_private_jwk().x;
        assert_eq!(EdKey::from_jwk(&jwk).err(), Some(KeyError::Mismatch));
    }

    #[test]
    fn jwks_finds_keys_only_under_their_own_thumbprint() {
        let key = EdKey::from_seed(&[1; 32]);
        let mut forged = EdKey::from_seed(&[2; 32]).public_jwk();
        forged.kid = key.kid().to_string();
        let jwks = Jwks {
            keys: vec![forged, key.public_jwk()],
        };
        let found = jwks.find(key.kid()).unwrap();
        assert_eq!(thumbprint(&found.to_bytes()), key.kid());
        assert!(jwks.find("unknown").is_none());
    }
}
