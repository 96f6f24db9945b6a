//! Ed25519 signing (RFC 8032, section 5.1.6) over curve25519-dalek's group operations, with the
//! basepoint table built once per process instead of shipped in the binary.
//!
//! Why not `ed25519_dalek::SigningKey::sign`: it multiplies by the basepoint through
//! curve25519-dalek's static table, 30 KB of incompressible data, which alone would take the
//! deployable worker over its 450 KB gzip budget (docs/PERFORMANCE.md, "size"). Without the table
//! a signature costs about 3.3 times as much CPU in wasm (measured: 64 µs against 213 µs). The same
//! table is built at first use, once per isolate (the first signature in a fresh Node process
//! took 26 ms against 1.5 ms for the second, wasm compilation included: docs/PERFORMANCE.md), and
//! nothing in the worker reaches the static one any more, so the linker drops it. Verification keeps ed25519-dalek (its
//! variable-time double-base multiplication uses a smaller table of its own).
//!
//! The algorithm, for a 32-byte seed and a message M:
//! - h = SHA-512(seed); a = clamp(h[0..32]) reduced mod l; prefix = h[32..64]; A = a·B.
//! - r = SHA-512(prefix ‖ M) mod l; R = r·B.
//! - k = SHA-512(R ‖ A ‖ M) mod l; S = r + k·a mod l; the signature is R ‖ S.
//!
//! The tests check every signature byte for byte against ed25519-dalek's own.

use std::sync::OnceLock;

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::EdwardsBasepointTable;
use curve25519_dalek::scalar::{clamp_integer, Scalar};
use curve25519_dalek::traits::BasepointTable;
use sha2::{Digest, Sha512};
use zeroize::Zeroize;

/// The radix-16 table of multiples of the basepoint, built on first use.
fn basepoint_table() -> &'static EdwardsBasepointTable {
    static TABLE: OnceLock<Box<EdwardsBasepointTable>> = OnceLock::new();
    TABLE.get_or_init(|| Box::new(EdwardsBasepointTable::create(&ED25519_BASEPOINT_POINT)))
}

/// A private key expanded from its seed: the secret scalar `a`, the nonce prefix, and the
/// compressed public key `A`. Its secret parts are wiped when it is dropped.
#[derive(Clone)]
pub struct ExpandedKey {
    seed: [u8; 32],
    scalar: Scalar,
    prefix: [u8; 32],
    public: [u8; 32],
}

impl Drop for ExpandedKey {
    fn drop(&mut self) {
        self.seed.zeroize();
        self.scalar.zeroize();
        self.prefix.zeroize();
    }
}

impl ExpandedKey {
    pub fn from_seed(seed: &[u8; 32]) -> ExpandedKey {
        let mut hash: [u8; 64] = Sha512::digest(seed).into();
        let mut lower = [0u8; 32];
        lower.copy_from_slice(&hash[..32]);
        let scalar = Scalar::from_bytes_mod_order(clamp_integer(lower));
        let mut prefix = [0u8; 32];
        prefix.copy_from_slice(&hash[32..]);
        lower.zeroize();
        hash.zeroize();
        let public = (basepoint_table() * &scalar).compress().to_bytes();
        ExpandedKey {
            seed: *seed,
            scalar,
            prefix,
            public,
        }
    }

    pub fn seed(&self) -> &[u8; 32] {
        &self.seed
    }

    /// The compressed public key `A`.
    pub fn public(&self) -> &[u8; 32] {
        &self.public
    }

    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        let r = Scalar::from_hash(
            Sha512::new()
                .chain_update(self.prefix)
                .chain_update(message),
        );
        let big_r = (basepoint_table() * &r).compress();
        let k = Scalar::from_hash(
            Sha512::new()
                .chain_update(big_r.as_bytes())
                .chain_update(self.public)
                .chain_update(message),
        );
        let s = r + k * self.scalar;
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(big_r.as_bytes());
        signature[32..].copy_from_slice(s.as_bytes());
        signature
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey, Verifier};
    use hex::FromHex;
    use proptest::prelude::*;

    /// RFC 8032, section 7.1, TEST 2 (one-byte message).
    #[test]
    fn rfc_8032_test_2() {
        let seed = <[u8; 32]>::from_hex(
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        )
        .unwrap();
        let key = ExpandedKey::from_seed(&seed);
        assert_eq!(
            hex::encode(key.public()),
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"
        );
        assert_eq!(
            hex::encode(key.sign(&[0x72])),
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da\
             085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
        );
    }

    proptest! {
        #[test]
        fn signs_exactly_as_ed25519_dalek(seed in any::<[u8; 32]>(), message in proptest::collection::vec(any::<u8>(), 0..600)) {
            let ours = ExpandedKey::from_seed(&seed);
            let theirs = SigningKey::from_bytes(&seed);
            prop_assert_eq!(ours.public(), &theirs.verifying_key().to_bytes());
            let signature = ours.sign(&message);
            prop_assert_eq!(signature, theirs.sign(&message).to_bytes());
            let parsed = ed25519_dalek::Signature::from_bytes(&signature);
            prop_assert!(theirs.verifying_key().verify(&message, &parsed).is_ok());
        }
    }
}
