//! Staff accounts of the dashboard: names, roles, argon2id password hashes, one-time sign-in
//! links and API tokens, kept in `web/accounts.json` in the node's home (owner-only).
//!
//! `csx user …` edits the file whether or not a daemon runs; a running dashboard notices the
//! change (it compares the file's modification time and size on every request) and reloads it.
//! Read-modify-write goes through an exclusive lock on `web/accounts.lock`, so a command and the
//! daemon never lose each other's changes; the file is replaced atomically, so readers never see
//! half of it. Sign-in links and API tokens are 256-bit random secrets shown once and stored only
//! as SHA-256 digests; passwords are stored only as argon2id hashes.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Value of the `format` field of the accounts file.
pub const FORMAT: &str = "csx-web-accounts-v1";
/// How long a one-time sign-in link stays valid.
pub const LINK_VALID_MS: u64 = 72 * 3600 * 1000;
/// Most accounts a node keeps (staff of one organisation).
pub const MAX_ACCOUNTS: usize = 1000;
/// Most API tokens one account holds at once.
pub const MAX_TOKENS: usize = 10;
/// Shortest and longest password accepted (NCSC: length, not composition rules).
pub const MIN_PASSWORD: usize = 12;
pub const MAX_PASSWORD: usize = 256;
/// What an API token starts with, so a leaked one is recognisable in a scan.
pub const TOKEN_PREFIX: &str = "csxt_";

/// What an account may do. Each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads every page and the API.
    Viewer,
    /// Also records reviews, prices, switches, motions and support, and imports files.
    Editor,
    /// Also manages accounts, sees the node's state and endorses applicants.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = AccountError;
    fn from_str(s: &str) -> Result<Role, AccountError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "viewer" => Ok(Role::Viewer),
            "editor" => Ok(Role::Editor),
            "admin" => Ok(Role::Admin),
            other => Err(AccountError::Invalid(format!("`{other}` is not a role: use viewer, editor or admin"))),
        }
    }
}

/// A one-time sign-in link, by the digest of its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigninLink {
    pub digest: String,
    pub expires_at: u64,
}

/// An API token, by the digest of its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    /// A short public id (to list and revoke it).
    pub id: String,
    pub digest: String,
    pub label: String,
    pub created_at: u64,
}

/// One staff account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub name: String,
    pub role: Role,
    #[serde(default)]
    pub disabled: bool,
    pub created_at: u64,
    /// The argon2id hash (PHC string), once the person has set a password.
    #[serde(default)]
    pub password: Option<String>,
    /// Raised whenever the password is set or reset, or the account disabled: sessions made
    /// before end.
    #[serde(default)]
    pub epoch: u64,
    #[serde(default)]
    pub signin: Option<SigninLink>,
    #[serde(default)]
    pub tokens: Vec<ApiToken>,
}

impl Account {
    /// Whether the account can sign in with a password now.
    pub fn active(&self) -> bool {
        !self.disabled && self.password.is_some()
    }

    /// `active`, `disabled`, `link sent` (no password yet) or `link expired`.
    pub fn state(&self, now_ms: u64) -> &'static str {
        match (&self.password, &self.signin) {
            _ if self.disabled => "disabled",
            (_, Some(l)) if l.expires_at > now_ms => "sign-in link sent",
            (None, _) => "sign-in link expired",
            (Some(_), _) => "active",
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct File {
    format: String,
    accounts: Vec<Account>,
}

/// Why an account operation failed; names the account and the remedy.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{0}")]
    Invalid(String),
    #[error("no account `{0}`: `csx user list` shows the accounts")]
    NoSuchAccount(String),
    #[error("an account `{0}` already exists (use `csx user reset {0}` for a new sign-in link)")]
    Exists(String),
    #[error(
        "this sign-in link is not valid: it was used already, has expired, or was replaced; ask your csx administrator for a new one (`csx user reset NAME`)"
    )]
    BadLink,
    #[error("cannot read or write {path}: {message}")]
    Io { path: PathBuf, message: String },
}

impl AccountError {
    fn io(path: &Path, e: impl std::fmt::Display) -> AccountError {
        AccountError::Io { path: path.to_path_buf(), message: e.to_string() }
    }
}

/// A secret shown once (a sign-in link's token or an API token).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// The accounts of one home.
#[derive(Debug, Clone)]
pub struct Accounts {
    dir: PathBuf,
    cache: Arc<Mutex<Cached>>,
}

#[derive(Debug, Default)]
struct Cached {
    /// Modification time, size and inode of the file last read (a rewrite is a new inode).
    stamp: Option<(std::time::SystemTime, u64, u64)>,
    accounts: Arc<Vec<Account>>,
}

/// 32 random bytes as hex.
pub fn random_secret() -> Result<String, AccountError> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| AccountError::Invalid(format!("no randomness available: {e}")))?;
    Ok(hex::encode(b))
}

pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Compares two digests in time independent of where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks an account name: 1–64 of letters, digits and `. _ - @`, case-insensitive.
pub fn check_name(name: &str) -> Result<String, AccountError> {
    let n = name.trim().to_ascii_lowercase();
    if n.is_empty() || n.len() > 64 || !n.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b)) {
        return Err(AccountError::Invalid(format!(
            "`{}` is not an account name: use 1 to 64 letters, digits, dots, hyphens, underscores or @ (e.g. alice or a.smith@nhs.net)",
            name.chars().take(70).collect::<String>()
        )));
    }
    Ok(n)
}

/// Checks a new password; the message says what is wrong.
pub fn check_password(name: &str, password: &str, confirm: &str) -> Result<(), String> {
    let len = password.chars().count();
    if len < MIN_PASSWORD {
        return Err(format!("Your password must be at least {MIN_PASSWORD} characters long (it has {len})"));
    }
    if len > MAX_PASSWORD {
        return Err(format!("Your password must be at most {MAX_PASSWORD} characters long"));
    }
    if password.to_lowercase().contains(&name.to_lowercase()) {
        return Err("Your password must not contain your account name".into());
    }
    if password != confirm {
        return Err("The passwords do not match: enter the same password twice".into());
    }
    Ok(())
}

/// The argon2id hash of `password` (m = 19 MiB, t = 2, p = 1: the OWASP baseline).
pub fn hash_password(password: &str) -> Result<String, AccountError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AccountError::Invalid(format!("cannot hash the password: {e}")))
}

/// A hash no password matches, verified when the account is unknown so that the time taken does
/// not tell which names exist.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password that is never accepted").unwrap_or_default())
}

impl Accounts {
    /// The accounts kept in `<home>/web/`.
    pub fn open(home: &Path) -> Accounts {
        Accounts { dir: home.join("web"), cache: Arc::new(Mutex::new(Cached::default())) }
    }

    pub fn file_path(&self) -> PathBuf {
        self.dir.join("accounts.json")
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The current accounts, re-read when the file changed since last time.
    pub fn snapshot(&self) -> Result<Arc<Vec<Account>>, AccountError> {
        let path = self.file_path();
        let stamp = match std::fs::metadata(&path) {
            Ok(m) => Some((m.modified().map_err(|e| AccountError::io(&path, e))?, m.len(), inode(&m))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(AccountError::io(&path, e)),
        };
        let mut cache = self.cache.lock().map_err(|_| AccountError::Invalid("accounts cache poisoned".into()))?;
        if cache.stamp != stamp || stamp.is_none() {
            cache.accounts = Arc::new(self.read()?.accounts);
            cache.stamp = stamp;
        }
        Ok(cache.accounts.clone())
    }

    pub fn get(&self, name: &str) -> Result<Option<Account>, AccountError> {
        let name = name.trim().to_ascii_lowercase();
        Ok(self.snapshot()?.iter().find(|a| a.name == name).cloned())
    }

    fn read(&self) -> Result<File, AccountError> {
        let path = self.file_path();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(File { format: FORMAT.into(), accounts: vec![] });
            }
            Err(e) => return Err(AccountError::io(&path, e)),
        };
        let file: File = serde_json::from_str(&text).map_err(|e| AccountError::io(&path, format!("damaged: {e}")))?;
        if file.format != FORMAT {
            return Err(AccountError::io(&path, format!("format is `{}`, expected `{FORMAT}`", file.format)));
        }
        Ok(file)
    }

    /// Runs `f` on the accounts under the lock and writes the result back.
    fn update<R>(&self, f: impl FnOnce(&mut Vec<Account>) -> Result<R, AccountError>) -> Result<R, AccountError> {
        create_private_dir(&self.dir).map_err(|e| AccountError::io(&self.dir, e))?;
        let lock_path = self.dir.join("accounts.lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| AccountError::io(&lock_path, e))?;
        fs2::FileExt::lock_exclusive(&lock).map_err(|e| AccountError::io(&lock_path, e))?;
        let mut file = self.read()?;
        let result = f(&mut file.accounts)?;
        file.format = FORMAT.into();
        let mut text = serde_json::to_string_pretty(&file).expect("accounts serialise");
        text.push('\n');
        let path = self.file_path();
        csx_node::keyfile::write_private(&path, text.as_bytes()).map_err(|e| AccountError::io(&path, e))?;
        // The lock is released when `lock` is dropped.
        drop(lock);
        Ok(result)
    }

    /// Adds an account with a one-time sign-in link; returns the link's secret.
    pub fn add(&self, name: &str, role: Role, now_ms: u64) -> Result<Secret, AccountError> {
        let name = check_name(name)?;
        let secret = random_secret()?;
        let link = SigninLink { digest: digest(&secret), expires_at: now_ms + LINK_VALID_MS };
        self.update(|accounts| {
            if accounts.iter().any(|a| a.name == name) {
                return Err(AccountError::Exists(name.clone()));
            }
            if accounts.len() >= MAX_ACCOUNTS {
                return Err(AccountError::Invalid(format!(
                    "this node already has {MAX_ACCOUNTS} accounts, the most it keeps; disable or remove old ones first"
                )));
            }
            accounts.push(Account {
                name: name.clone(),
                role,
                disabled: false,
                created_at: now_ms,
                password: None,
                epoch: 0,
                signin: Some(link),
                tokens: vec![],
            });
            Ok(())
        })?;
        Ok(Secret(secret))
    }

    fn with_account<R>(
        &self,
        name: &str,
        f: impl FnOnce(&mut Account) -> Result<R, AccountError>,
    ) -> Result<R, AccountError> {
        let name = check_name(name)?;
        self.update(|accounts| {
            let a = accounts.iter_mut().find(|a| a.name == name).ok_or(AccountError::NoSuchAccount(name))?;
            f(a)
        })
    }

    /// Clears the password, ends every session and issues a new one-time sign-in link (also
    /// re-enables a disabled account). API tokens are kept; revoke them separately.
    pub fn reset(&self, name: &str, now_ms: u64) -> Result<Secret, AccountError> {
        let secret = random_secret()?;
        self.with_account(name, |a| {
            a.password = None;
            a.disabled = false;
            a.epoch += 1;
            a.signin = Some(SigninLink { digest: digest(&secret), expires_at: now_ms + LINK_VALID_MS });
            Ok(())
        })?;
        Ok(Secret(secret))
    }

    /// Disables (or re-enables) an account: a disabled account cannot sign in or use its API
    /// tokens, and its sessions end at once.
    pub fn set_disabled(&self, name: &str, disabled: bool) -> Result<(), AccountError> {
        self.with_account(name, |a| {
            if disabled && !a.disabled {
                a.epoch += 1;
            }
            a.disabled = disabled;
            Ok(())
        })
    }

    /// Changes an account's role; its sessions end so the new role applies at once.
    pub fn set_role(&self, name: &str, role: Role) -> Result<(), AccountError> {
        self.with_account(name, |a| {
            a.role = role;
            a.epoch += 1;
            Ok(())
        })
    }

    /// The account a valid, unexpired sign-in link belongs to.
    pub fn link_account(&self, secret: &str, now_ms: u64) -> Result<Account, AccountError> {
        let d = digest(secret);
        self.snapshot()?
            .iter()
            .find(|a| !a.disabled && a.signin.as_ref().is_some_and(|l| same(&l.digest, &d) && l.expires_at > now_ms))
            .cloned()
            .ok_or(AccountError::BadLink)
    }

    /// Uses a sign-in link to set the account's password (the link then stops working).
    pub fn redeem_link(&self, secret: &str, password_hash: String, now_ms: u64) -> Result<Account, AccountError> {
        let d = digest(secret);
        self.update(|accounts| {
            let a = accounts
                .iter_mut()
                .find(|a| {
                    !a.disabled && a.signin.as_ref().is_some_and(|l| same(&l.digest, &d) && l.expires_at > now_ms)
                })
                .ok_or(AccountError::BadLink)?;
            a.password = Some(password_hash);
            a.signin = None;
            a.epoch += 1;
            Ok(a.clone())
        })
    }

    /// Changes the password of a signed-in account (other sessions end).
    pub fn change_password(&self, name: &str, password_hash: String) -> Result<Account, AccountError> {
        self.with_account(name, |a| {
            a.password = Some(password_hash);
            a.epoch += 1;
            Ok(a.clone())
        })
    }

    /// Checks a name and password (slow on purpose: argon2id). `None` when either is wrong or
    /// the account cannot sign in; the time taken does not depend on which.
    pub fn verify(&self, name: &str, password: &str) -> Result<Option<Account>, AccountError> {
        let account = self.get(name)?;
        let hash = account.as_ref().and_then(|a| a.password.clone()).unwrap_or_else(|| decoy_hash().to_string());
        let ok = Argon2::default().verify_password(password.as_bytes(), hash.as_str()).is_ok();
        Ok(account.filter(|a| ok && a.active()))
    }

    /// Creates an API token for `name`; returns its id and secret (shown once).
    pub fn create_token(&self, name: &str, label: &str, now_ms: u64) -> Result<(String, Secret), AccountError> {
        let secret = format!("{TOKEN_PREFIX}{}", random_secret()?);
        let id = secret[TOKEN_PREFIX.len()..TOKEN_PREFIX.len() + 8].to_string();
        let label = label.trim().chars().take(80).collect::<String>();
        self.with_account(name, |a| {
            if a.tokens.len() >= MAX_TOKENS {
                return Err(AccountError::Invalid(format!(
                    "{} already has {MAX_TOKENS} API tokens, the most an account may hold; revoke one first (`csx user token {} --revoke ID`)",
                    a.name, a.name
                )));
            }
            a.tokens.push(ApiToken { id: id.clone(), digest: digest(&secret), label, created_at: now_ms });
            Ok(())
        })?;
        Ok((id, Secret(secret)))
    }

    /// Revokes one of `name`'s API tokens by id.
    pub fn revoke_token(&self, name: &str, id: &str) -> Result<(), AccountError> {
        let id = id.trim().to_ascii_lowercase();
        self.with_account(name, |a| {
            let before = a.tokens.len();
            a.tokens.retain(|t| t.id != id);
            if a.tokens.len() == before {
                return Err(AccountError::Invalid(format!("{} has no API token `{id}`", a.name)));
            }
            Ok(())
        })
    }

    /// The enabled account an API token belongs to.
    pub fn by_token(&self, secret: &str) -> Result<Option<Account>, AccountError> {
        if !secret.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let d = digest(secret);
        Ok(self.snapshot()?.iter().find(|a| !a.disabled && a.tokens.iter().any(|t| same(&t.digest, &d))).cloned())
    }
}

#[cfg(unix)]
fn inode(m: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(m)
}

#[cfg(not(unix))]
fn inode(_: &std::fs::Metadata) -> u64 {
    0
}

fn create_private_dir(path: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_750_000_000_000;

    #[test]
    fn a_link_sets_the_password_once_and_the_password_then_signs_in() {
        let dir = tempfile::tempdir().expect("tempdir");
        let accounts = Accounts::open(dir.path());
        let link = accounts.add("Alice", Role::Editor, NOW).expect("added");
        assert!(matches!(accounts.add("alice", Role::Viewer, NOW), Err(AccountError::Exists(_))));
        let a = accounts.link_account(&link.0, NOW + 1).expect("valid link");
        assert_eq!((a.name.as_str(), a.role, a.state(NOW)), ("alice", Role::Editor, "sign-in link sent"));
        let hash = hash_password("correct horse battery").expect("hash");
        accounts.redeem_link(&link.0, hash, NOW + 2).expect("redeemed");
        assert!(matches!(accounts.redeem_link(&link.0, "x".into(), NOW + 3), Err(AccountError::BadLink)));
        assert!(accounts.verify("alice", "correct horse battery").expect("read").is_some());
        assert!(accounts.verify("alice", "wrong horse battery").expect("read").is_none());
        assert!(accounts.verify("nobody", "correct horse battery").expect("read").is_none());
        // The file holds no secret in the clear.
        let text = std::fs::read_to_string(accounts.file_path()).expect("file");
        assert!(!text.contains(&link.0) && !text.contains("correct horse") && text.contains("$argon2id$"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(accounts.file_path()).expect("meta").permissions().mode();
            assert_eq!(mode & 0o077, 0, "owner-only");
        }
    }

    #[test]
    fn links_expire_and_reset_disable_end_access() {
        let dir = tempfile::tempdir().expect("tempdir");
        let accounts = Accounts::open(dir.path());
        let link = accounts.add("bob", Role::Viewer, NOW).expect("added");
        assert!(matches!(accounts.link_account(&link.0, NOW + LINK_VALID_MS + 1), Err(AccountError::BadLink)));
        let link = accounts.reset("bob", NOW).expect("reset");
        accounts.redeem_link(&link.0, hash_password("a long passphrase").expect("hash"), NOW).expect("set");
        let epoch = accounts.get("bob").expect("read").expect("bob").epoch;
        accounts.set_disabled("bob", true).expect("disabled");
        let b = accounts.get("bob").expect("read").expect("bob");
        assert!(b.epoch > epoch && b.state(NOW) == "disabled");
        assert!(accounts.verify("bob", "a long passphrase").expect("read").is_none(), "disabled cannot sign in");
        assert!(matches!(accounts.reset("nobody", NOW), Err(AccountError::NoSuchAccount(_))));
    }

    #[test]
    fn api_tokens_are_capped_revocable_and_stored_as_digests() {
        let dir = tempfile::tempdir().expect("tempdir");
        let accounts = Accounts::open(dir.path());
        accounts.add("carol", Role::Viewer, NOW).expect("added");
        let (id, secret) = accounts.create_token("carol", "Power BI", NOW).expect("token");
        assert_eq!(accounts.by_token(&secret.0).expect("read").map(|a| a.name), Some("carol".to_string()));
        assert!(accounts.by_token("csxt_00").expect("read").is_none());
        for i in 1..MAX_TOKENS {
            accounts.create_token("carol", &format!("t{i}"), NOW).expect("under the cap");
        }
        assert!(accounts.create_token("carol", "one too many", NOW).is_err());
        accounts.revoke_token("carol", &id).expect("revoked");
        assert!(accounts.by_token(&secret.0).expect("read").is_none());
        assert!(!std::fs::read_to_string(accounts.file_path()).expect("file").contains(&secret.0));
    }

    #[test]
    fn names_and_passwords_are_checked() {
        assert!(check_name("a.smith@nhs.net").is_ok());
        assert!(check_name("").is_err() && check_name("a b").is_err() && check_name(&"x".repeat(65)).is_err());
        assert!(check_password("alice", "short", "short").expect_err("short").contains("at least 12"));
        assert!(check_password("alice", "alice-is-my-password", "alice-is-my-password").is_err());
        assert!(
            check_password("alice", "a long passphrase", "a long passphrasf").expect_err("mismatch").contains("match")
        );
        assert!(check_password("alice", "a long passphrase", "a long passphrase").is_ok());
    }

    #[test]
    fn a_second_handle_sees_changes_made_through_another() {
        let dir = tempfile::tempdir().expect("tempdir");
        let daemon = Accounts::open(dir.path());
        assert!(daemon.snapshot().expect("empty").is_empty());
        let cli = Accounts::open(dir.path());
        cli.add("dave", Role::Admin, NOW).expect("added");
        assert_eq!(daemon.snapshot().expect("reloaded").len(), 1);
        cli.set_disabled("dave", true).expect("disabled");
        assert!(daemon.get("dave").expect("read").expect("dave").disabled);
    }
}
