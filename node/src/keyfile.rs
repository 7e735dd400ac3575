//! Secret key files: owner-only, optionally encrypted with a passphrase.
//!
//! ```json
//! { "format": "csx-key-v1", "purpose": "organisation", "public": "<hex>", "secret": "<hex>" }
//! ```
//! With a passphrase, `secret` is the XChaCha20-Poly1305 ciphertext of the 32-byte seed under a
//! key derived with Argon2id, whose parameters, salt and nonce are in `encryption`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use csx_protocol::keys::SecretKey;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

const FORMAT: &str = "csx-key-v1";

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot read key file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write key file {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("key file {path} already exists; refusing to overwrite a key")]
    Exists { path: PathBuf },
    #[error("key file {path} is damaged or truncated ({problem}); restore it from your backup")]
    Damaged { path: PathBuf, problem: String },
    #[error(
        "key file {path} can be read by other users (mode {mode:o}); run `chmod 600 {path}` and check who else may have copied it"
    )]
    LoosePermissions { path: PathBuf, mode: u32 },
    #[error(
        "key file {path} is protected by a passphrase; give it with --passphrase-file or CSX_PASSPHRASE, or run on a terminal to be asked"
    )]
    NeedsPassphrase { path: PathBuf },
    #[error("wrong passphrase for key file {path}")]
    WrongPassphrase { path: PathBuf },
    #[error("no randomness available from the operating system: {0}")]
    Randomness(String),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    format: String,
    purpose: String,
    public: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    encryption: Option<Encryption>,
    secret: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Encryption {
    kdf: String,
    m_cost_kib: u32,
    t_cost: u32,
    p_cost: u32,
    salt: String,
    cipher: String,
    nonce: String,
}

/// Argon2id cost for passphrase-protected keys: 64 MiB, 3 passes (about half a second).
const M_COST_KIB: u32 = 64 * 1024;
const T_COST: u32 = 3;

fn derive(passphrase: &[u8], salt: &[u8], m: u32, t: u32, p: u32) -> Result<Zeroizing<[u8; 32]>, String> {
    let params = argon2::Params::new(m, t, p, Some(32)).map_err(|e| e.to_string())?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = Zeroizing::new([0u8; 32]);
    argon.hash_password_into(passphrase, salt, out.as_mut()).map_err(|e| e.to_string())?;
    Ok(out)
}

fn random<const N: usize>() -> Result<[u8; N], KeyFileError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| KeyFileError::Randomness(e.to_string()))?;
    Ok(b)
}

/// Writes `key` to a new file at `path`, readable and writable by the owner only.
pub fn write(path: &Path, purpose: &str, key: &SecretKey, passphrase: Option<&[u8]>) -> Result<(), KeyFileError> {
    if path.exists() {
        return Err(KeyFileError::Exists { path: path.to_path_buf() });
    }
    let seed = key.seed();
    let (encryption, secret) = match passphrase {
        None => (None, hex::encode(seed.as_ref())),
        Some(pass) => {
            let salt: [u8; 16] = random()?;
            let nonce: [u8; 24] = random()?;
            let k = derive(pass, &salt, M_COST_KIB, T_COST, 1).map_err(KeyFileError::Randomness)?;
            let cipher = XChaCha20Poly1305::new(&Key::from(*k));
            let ct = cipher
                .encrypt(&XNonce::from(nonce), &seed[..])
                .map_err(|_| KeyFileError::Randomness("encryption failed".into()))?;
            let enc = Encryption {
                kdf: "argon2id".into(),
                m_cost_kib: M_COST_KIB,
                t_cost: T_COST,
                p_cost: 1,
                salt: hex::encode(salt),
                cipher: "xchacha20poly1305".into(),
                nonce: hex::encode(nonce),
            };
            (Some(enc), hex::encode(ct))
        }
    };
    let file = KeyFile {
        format: FORMAT.into(),
        purpose: purpose.into(),
        public: hex::encode(key.public_bytes()),
        encryption,
        secret,
    };
    let text = Zeroizing::new(serde_json::to_string_pretty(&file).expect("a key file serialises"));
    write_private(path, text.as_bytes()).map_err(|source| KeyFileError::Write { path: path.to_path_buf(), source })
}

/// Whether the key file at `path` needs a passphrase.
pub fn is_encrypted(path: &Path) -> Result<bool, KeyFileError> {
    Ok(parse(path)?.encryption.is_some())
}

fn parse(path: &Path) -> Result<KeyFile, KeyFileError> {
    check_permissions(path)?;
    let text = Zeroizing::new(
        fs::read_to_string(path).map_err(|source| KeyFileError::Read { path: path.to_path_buf(), source })?,
    );
    serde_json::from_str(&text).map_err(|e| KeyFileError::Damaged { path: path.to_path_buf(), problem: e.to_string() })
}

/// Reads the key at `path`, decrypting it with `passphrase` if it is protected.
pub fn read(path: &Path, passphrase: Option<&[u8]>) -> Result<SecretKey, KeyFileError> {
    let damaged = |problem: &str| KeyFileError::Damaged { path: path.to_path_buf(), problem: problem.into() };
    let file = parse(path)?;
    if file.format != FORMAT {
        return Err(damaged("unknown format"));
    }
    let secret = Zeroizing::new(hex::decode(&file.secret).map_err(|_| damaged("secret is not hex"))?);
    let seed: Zeroizing<[u8; 32]> = match &file.encryption {
        None => Zeroizing::new(secret.as_slice().try_into().map_err(|_| damaged("secret is not 32 bytes"))?),
        Some(enc) => {
            let pass = passphrase.ok_or_else(|| KeyFileError::NeedsPassphrase { path: path.to_path_buf() })?;
            if enc.kdf != "argon2id" || enc.cipher != "xchacha20poly1305" {
                return Err(damaged("unknown encryption"));
            }
            let salt = hex::decode(&enc.salt).map_err(|_| damaged("salt is not hex"))?;
            let nonce: [u8; 24] = hex::decode(&enc.nonce)
                .ok()
                .and_then(|n| n.try_into().ok())
                .ok_or_else(|| damaged("nonce is not 24 bytes"))?;
            let k = derive(pass, &salt, enc.m_cost_kib, enc.t_cost, enc.p_cost).map_err(|e| damaged(&e))?;
            let cipher = XChaCha20Poly1305::new(&Key::from(*k));
            let plain = Zeroizing::new(
                cipher
                    .decrypt(&XNonce::from(nonce), secret.as_slice())
                    .map_err(|_| KeyFileError::WrongPassphrase { path: path.to_path_buf() })?,
            );
            Zeroizing::new(plain.as_slice().try_into().map_err(|_| damaged("secret is not 32 bytes"))?)
        }
    };
    let key = SecretKey::from_seed(&seed);
    if hex::encode(key.public_bytes()) != file.public {
        return Err(damaged("the secret does not match the public key"));
    }
    Ok(key)
}

#[cfg(unix)]
fn check_permissions(path: &Path) -> Result<(), KeyFileError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = fs::metadata(path).map_err(|source| KeyFileError::Read { path: path.to_path_buf(), source })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::LoosePermissions { path: path.to_path_buf(), mode });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path) -> Result<(), KeyFileError> {
    Ok(())
}

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename), owner-only.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        // Make the rename itself durable.
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_encrypted_keys_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = SecretKey::from_seed(&[5; 32]);
        let plain = dir.path().join("plain.key");
        write(&plain, "node", &key, None).expect("write");
        assert_eq!(read(&plain, None).expect("read").public_bytes(), key.public_bytes());

        let enc = dir.path().join("enc.key");
        write(&enc, "organisation", &key, Some(b"correct horse")).expect("write");
        assert!(is_encrypted(&enc).expect("parse"));
        assert!(!fs::read_to_string(&enc).expect("text").contains(&hex::encode([5u8; 32])));
        assert!(matches!(read(&enc, None), Err(KeyFileError::NeedsPassphrase { .. })));
        assert!(matches!(read(&enc, Some(b"wrong")), Err(KeyFileError::WrongPassphrase { .. })));
        assert_eq!(read(&enc, Some(b"correct horse")).expect("read").public_bytes(), key.public_bytes());
        assert!(matches!(write(&enc, "organisation", &key, None), Err(KeyFileError::Exists { .. })));
    }

    #[cfg(unix)]
    #[test]
    fn key_files_are_owner_only_and_loose_ones_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("node.key");
        write(&path, "node", &SecretKey::from_seed(&[6; 32]), None).expect("write");
        assert_eq!(fs::metadata(&path).expect("meta").permissions().mode() & 0o777, 0o600);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = read(&path, None).expect_err("loose permissions");
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }

    #[test]
    fn a_truncated_key_file_is_reported_as_damaged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("node.key");
        write(&path, "node", &SecretKey::from_seed(&[7; 32]), None).expect("write");
        let text = fs::read(&path).expect("read");
        write_private(&dir.path().join("cut.key"), &text[..text.len() / 2]).expect("write");
        let err = read(&dir.path().join("cut.key"), None).expect_err("truncated");
        assert!(matches!(err, KeyFileError::Damaged { .. }), "{err}");
    }
}
