//! Ed25519 keys and domain-separated signatures.
//!
//! Every signature in csx is over `domain ‖ 0x00 ‖ message`, where `domain` names what is being
//! signed, so a signature made for one purpose can never be replayed as another.
//! Verification uses `verify_strict` (rejects small-order keys and R points, non-canonical S):
//! that is the single validity rule of the protocol.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use zeroize::Zeroizing;

use crate::ids::{NodeKey, OrgKey};

/// Domain of record signatures (by a node key).
pub const DOMAIN_RECORD: &[u8] = b"csx-record-v1";
/// Domain of node certificates (by an organisation key).
pub const DOMAIN_NODE_CERT: &[u8] = b"csx-node-cert-v1";
/// Domain of node retirements (by an organisation key).
pub const DOMAIN_RETIRE_NODE: &[u8] = b"csx-retire-node-v1";
/// Domain of a provider's reply to a review (by a provider key, not a member's).
pub const DOMAIN_PROVIDER_REPLY: &[u8] = b"csx-provider-reply-v1";

/// A secret ed25519 key. The seed is zeroed on drop and never printed.
pub struct SecretKey {
    key: SigningKey,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey(public {})", hex::encode(self.public_bytes()))
    }
}

/// The operating system could not provide randomness for a new key.
#[derive(Debug, thiserror::Error)]
#[error("no randomness available from the operating system: {0}")]
pub struct RandomnessError(String);

impl SecretKey {
    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, RandomnessError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut()).map_err(|e| RandomnessError(e.to_string()))?;
        Ok(Self::from_seed(&seed))
    }

    pub fn from_seed(seed: &[u8; 32]) -> Self {
        SecretKey { key: SigningKey::from_bytes(seed) }
    }

    /// The 32-byte seed. Handle with care: this is the secret.
    pub fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.key.to_bytes())
    }

    pub fn public_bytes(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    pub fn node_key(&self) -> NodeKey {
        NodeKey(self.public_bytes())
    }

    pub fn org_key(&self) -> OrgKey {
        OrgKey(self.public_bytes())
    }

    /// Signs `domain ‖ 0x00 ‖ message`.
    pub fn sign(&self, domain: &[u8], message: &[u8]) -> [u8; 64] {
        let msg = domain_message(domain, message);
        self.key.sign(&msg).to_bytes()
    }
}

fn domain_message(domain: &[u8], message: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(domain.len() + 1 + message.len());
    msg.extend_from_slice(domain);
    msg.push(0);
    msg.extend_from_slice(message);
    msg
}

/// The public key is not a valid (or is a weak, small-order) ed25519 point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid ed25519 public key")]
pub struct BadKey;

/// A decoded public key, ready to verify. Decoding costs a point decompression; cache it when
/// verifying many signatures by one key.
#[derive(Debug, Clone, Copy)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, BadKey> {
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| BadKey)?;
        if key.is_weak() {
            return Err(BadKey);
        }
        Ok(PublicKey(key))
    }

    /// Verifies a signature over `domain ‖ 0x00 ‖ message` under the strict rule.
    pub fn verify(&self, domain: &[u8], message: &[u8], signature: &[u8; 64]) -> bool {
        let msg = domain_message(domain, message);
        self.verify_prefixed(&msg, signature)
    }

    /// Verifies a signature over an already domain-prefixed message.
    pub fn verify_prefixed(&self, msg: &[u8], signature: &[u8; 64]) -> bool {
        let sig = Signature::from_bytes(signature);
        self.0.verify_strict(msg, &sig).is_ok()
    }
}

/// Verifies `signature` by the key with these bytes over `domain ‖ 0x00 ‖ message`.
pub fn verify(key: &[u8; 32], domain: &[u8], message: &[u8], signature: &[u8; 64]) -> bool {
    PublicKey::from_bytes(key).map(|k| k.verify(domain, message, signature)).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify_with_domain_separation() {
        let k = SecretKey::from_seed(&[7; 32]);
        let sig = k.sign(DOMAIN_RECORD, b"hello");
        assert!(verify(&k.public_bytes(), DOMAIN_RECORD, b"hello", &sig));
        assert!(!verify(&k.public_bytes(), DOMAIN_NODE_CERT, b"hello", &sig), "other domain must fail");
        assert!(!verify(&k.public_bytes(), DOMAIN_RECORD, b"hellp", &sig), "other message must fail");
    }

    #[test]
    fn debug_does_not_print_the_secret() {
        let k = SecretKey::from_seed(&[9; 32]);
        let text = format!("{k:?}");
        assert!(!text.contains(&hex::encode([9u8; 32])));
    }

    #[test]
    fn small_order_key_is_refused() {
        // The identity point (y = 1) is small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(PublicKey::from_bytes(&identity).err(), Some(BadKey));
    }
}
