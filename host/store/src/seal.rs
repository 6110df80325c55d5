//! Secrets at rest: XChaCha20-Poly1305 under the master key, a random 192-bit nonce per
//! seal, the owning record's id as associated data (a blob copied onto another record
//! does not open), and the key's id in every blob so a wrong key is named, not guessed.
//!
//! Blob layout: `b"sb1"` | key id (8 bytes) | nonce (24 bytes) | ciphertext and tag.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

const MAGIC: &[u8; 3] = b"sb1";
const KEY_ID_LEN: usize = 8;
const NONCE_LEN: usize = 24;
const HEADER_LEN: usize = MAGIC.len() + KEY_ID_LEN + NONCE_LEN;

/// Why a blob did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// Sealed under another master key.
    #[error("sealed under master key {found}, but the host runs with key {expected}")]
    WrongKey {
        /// Key id in the blob.
        found: String,
        /// Key id of the running key.
        expected: String,
    },
    /// Truncated, altered, or moved to another record.
    #[error("sealed data is damaged or belongs to another record")]
    Damaged,
}

/// A 256-bit master key. `Debug` never prints it; the bytes are wiped on drop.
pub struct MasterKey {
    bytes: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({}, [redacted])", self.id())
    }
}

impl MasterKey {
    /// A new random key.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(bytes.as_mut());
        Self { bytes }
    }

    /// Parses 64 hex characters (surrounding whitespace ignored).
    ///
    /// # Errors
    /// Anything else; the message never repeats the input.
    pub fn from_hex(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let mut bytes = Zeroizing::new([0u8; 32]);
        if text.len() != 64 || hex::decode_to_slice(text, bytes.as_mut()).is_err() {
            return Err("a master key is 64 hex characters (32 bytes)".into());
        }
        Ok(Self { bytes })
    }

    /// The key as 64 hex characters, for writing it to its file.
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.bytes.as_ref()))
    }

    /// A public identifier of the key: 16 hex characters of a hash of it.
    pub fn id(&self) -> String {
        hex::encode(self.id_bytes())
    }

    fn id_bytes(&self) -> [u8; KEY_ID_LEN] {
        let digest = Sha256::new()
            .chain_update(b"switchboard master key id\0")
            .chain_update(self.bytes.as_ref())
            .finalize();
        digest[..KEY_ID_LEN].try_into().expect("8 bytes")
    }
}

/// Seals and opens blobs under one master key.
pub struct Sealer {
    cipher: XChaCha20Poly1305,
    key_id: [u8; KEY_ID_LEN],
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealer({})", self.key_id())
    }
}

impl Sealer {
    /// A sealer for `key`.
    pub fn new(key: &MasterKey) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(key.bytes.as_ref().into()),
            key_id: key.id_bytes(),
        }
    }

    /// Id of the key in use.
    pub fn key_id(&self) -> String {
        hex::encode(self.key_id)
    }

    /// Encrypts `plaintext` bound to the record `aad`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .expect("XChaCha20-Poly1305 encrypts any length we store");
        let mut out = Vec::with_capacity(HEADER_LEN + ciphertext.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.key_id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    /// The key id a blob was sealed under, if it looks like a blob.
    pub fn key_id_of(blob: &[u8]) -> Option<String> {
        (blob.len() > HEADER_LEN && blob.starts_with(MAGIC))
            .then(|| hex::encode(&blob[MAGIC.len()..MAGIC.len() + KEY_ID_LEN]))
    }

    /// Decrypts a blob sealed for the record `aad`.
    ///
    /// # Errors
    /// [`SealError::WrongKey`] for a blob of another key, [`SealError::Damaged`] otherwise.
    pub fn open(&self, aad: &[u8], blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let found = Self::key_id_of(blob).ok_or(SealError::Damaged)?;
        if blob[MAGIC.len()..MAGIC.len() + KEY_ID_LEN] != self.key_id {
            return Err(SealError::WrongKey {
                found,
                expected: self.key_id(),
            });
        }
        let nonce = &blob[MAGIC.len() + KEY_ID_LEN..HEADER_LEN];
        self.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: &blob[HEADER_LEN..],
                    aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| SealError::Damaged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_model::SecretString;

    #[test]
    fn round_trip_bound_to_record_and_key() {
        let key = MasterKey::generate();
        let sealer = Sealer::new(&key);
        let blob = sealer.seal(b"con_1", b"canary-secret");
        assert!(
            !blob
                .windows(b"canary-secret".len())
                .any(|w| w == b"canary-secret")
        );
        assert_eq!(
            sealer.open(b"con_1", &blob).unwrap().as_slice(),
            b"canary-secret"
        );
        // Two seals of the same plaintext differ (random nonce).
        assert_ne!(blob, sealer.seal(b"con_1", b"canary-secret"));
        // Another record's id does not open it.
        assert_eq!(sealer.open(b"con_2", &blob), Err(SealError::Damaged));
        // A flipped bit does not open it.
        let mut bad = blob.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(sealer.open(b"con_1", &bad), Err(SealError::Damaged));
        assert_eq!(sealer.open(b"con_1", b"sb1"), Err(SealError::Damaged));
        // Another key is named, not garbage.
        let other = Sealer::new(&MasterKey::generate());
        match other.open(b"con_1", &blob) {
            Err(SealError::WrongKey { found, expected }) => {
                assert_eq!(found, key.id());
                assert_eq!(expected, other.key_id());
            }
            r => panic!("{r:?}"),
        }
        assert_eq!(Sealer::key_id_of(&blob), Some(key.id()));
    }

    #[test]
    fn keys_parse_and_never_print() {
        let key = MasterKey::generate();
        let hex = key.to_hex();
        let back = MasterKey::from_hex(&format!("  {}\n", hex.as_str())).unwrap();
        assert_eq!(back.id(), key.id());
        assert!(!format!("{key:?}").contains(hex.as_str()));
        assert!(format!("{key:?}").contains("[redacted]"));
        let e = MasterKey::from_hex("zz").unwrap_err();
        assert!(e.contains("64 hex"), "{e}");
        assert!(MasterKey::from_hex(&"g".repeat(64)).is_err());
        assert_eq!(format!("{:?}", SecretString::new("canary")), "[redacted]");
    }
}
