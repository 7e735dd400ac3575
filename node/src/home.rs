//! A node's home directory: its keys, identity, certificate, genesis and store.
//!
//! | file | contents |
//! | --- | --- |
//! | `identity.json` | the public identity handed to other members (`csx id --json`) |
//! | `org.key` | the organisation's secret key (owner-only; optionally passphrase-protected) |
//! | `node.key` | this node's secret key (owner-only; never copy it to another machine) |
//! | `node-cert.json` | the organisation's certificate of the node key |
//! | `profile.json` | the organisation profile published when joining a federation |
//! | `genesis.json` | the federation this node belongs to (after `csx federation join`) |
//! | `store/` | the sled database |

use std::fs;
use std::path::{Path, PathBuf};

use csx_protocol::body::{NodeCert, Profile};
use csx_protocol::keys::SecretKey;
use csx_protocol::{Genesis, NodeKey, OrgKey};
use serde::{Deserialize, Serialize};

use crate::error_kind::{ApiError, ErrorKind};
use crate::keyfile::{self, KeyFileError};

/// Value of the `format` field of an identity file.
pub const IDENTITY_FORMAT: &str = "csx-identity-v1";

/// A member's public identity, as `csx id --json` prints it and founders/applicants exchange it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicIdentity {
    pub format: String,
    pub org_key: OrgKey,
    pub ods_code: String,
    pub name: String,
    pub node_key: NodeKey,
}

#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    #[error("{path} is not set up: run `csx init --org-code CODE --name NAME` (or pass --home / set CSX_HOME)")]
    NotInitialised { path: PathBuf },
    #[error("{path} is already set up for {name} ({ods_code}); use another --home for another node")]
    AlreadyInitialised { path: PathBuf, name: String, ods_code: String },
    #[error("this node has not joined a federation: run `csx federation join GENESIS.json` (home {path})")]
    NoFederation { path: PathBuf },
    #[error("this node already belongs to federation {current}; a home belongs to one federation (use another --home)")]
    OtherFederation { current: String },
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{path} is damaged: {problem}")]
    Damaged { path: PathBuf, problem: String },
    #[error(transparent)]
    Key(#[from] KeyFileError),
    #[error("invalid setting: {0}")]
    Invalid(String),
    #[error(
        "{path} has no organisation key: this node was added with `csx node add`; run organisation commands (node add, node retire) where the organisation key is kept"
    )]
    NoOrgKey { path: PathBuf },
    #[error(
        "{path} holds a node key waiting for its certificate: run `csx node install BUNDLE.json` with the bundle from `csx node add`"
    )]
    AwaitingCertificate { path: PathBuf },
}

impl HomeError {
    /// The class of this error, for exit codes and API replies.
    pub fn kind(&self) -> ErrorKind {
        match self {
            HomeError::NotInitialised { .. } | HomeError::NoFederation { .. } => ErrorKind::NotSetUp,
            HomeError::AlreadyInitialised { .. }
            | HomeError::OtherFederation { .. }
            | HomeError::Invalid(_)
            | HomeError::NoOrgKey { .. } => ErrorKind::InvalidInput,
            HomeError::AwaitingCertificate { .. } => ErrorKind::NotSetUp,
            HomeError::Key(KeyFileError::NeedsPassphrase { .. } | KeyFileError::WrongPassphrase { .. }) => {
                ErrorKind::InvalidInput
            }
            _ => ErrorKind::Internal,
        }
    }
}

impl From<HomeError> for ApiError {
    fn from(e: HomeError) -> Self {
        ApiError::new(e.kind(), e.to_string())
    }
}

/// What `csx init` needs.
#[derive(Debug, Clone)]
pub struct InitParams {
    pub ods_code: String,
    pub profile: Profile,
    /// When the first node's certificate expires (Unix ms).
    pub cert_expires_at: u64,
}

/// A home directory.
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    pub fn new(root: impl Into<PathBuf>) -> Home {
        Home { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    pub fn store_dir(&self) -> PathBuf {
        self.path("store")
    }

    pub fn is_initialised(&self) -> bool {
        self.path("identity.json").exists()
    }

    /// Creates the organisation key, the first node key and its certificate.
    pub fn init(&self, params: &InitParams, org_passphrase: Option<&[u8]>) -> Result<PublicIdentity, HomeError> {
        let org = SecretKey::generate().map_err(|e| KeyFileError::Randomness(e.to_string()))?;
        let node = SecretKey::generate().map_err(|e| KeyFileError::Randomness(e.to_string()))?;
        self.init_with_keys(params, &org, &node, org_passphrase)
    }

    /// [`Home::init`] with given keys (the sample sandbox derives its keys from a seed).
    pub fn init_with_keys(
        &self,
        params: &InitParams,
        org: &SecretKey,
        node: &SecretKey,
        org_passphrase: Option<&[u8]>,
    ) -> Result<PublicIdentity, HomeError> {
        if let Ok(id) = self.identity() {
            return Err(HomeError::AlreadyInitialised {
                path: self.root.clone(),
                name: id.name,
                ods_code: id.ods_code,
            });
        }
        csx_protocol::validate::at("init", "org_code")
            .ods_code(&params.ods_code)
            .map_err(|e| HomeError::Invalid(e.to_string()))?;
        create_private_dir(&self.root).map_err(|source| HomeError::Write { path: self.root.clone(), source })?;
        let cert = NodeCert::issue(org, node.node_key(), &params.ods_code, params.cert_expires_at)
            .map_err(|e| HomeError::Invalid(e.to_string()))?;
        let identity = PublicIdentity {
            format: IDENTITY_FORMAT.into(),
            org_key: org.org_key(),
            ods_code: params.ods_code.clone(),
            name: params.profile.name.clone(),
            node_key: node.node_key(),
        };
        keyfile::write(&self.path("org.key"), "organisation", org, org_passphrase)?;
        keyfile::write(&self.path("node.key"), "node", node, None)?;
        self.write_json("node-cert.json", &cert)?;
        self.write_json("profile.json", &params.profile)?;
        // Written last: its presence means the home is complete.
        self.write_json("identity.json", &identity)?;
        Ok(identity)
    }

    pub fn identity(&self) -> Result<PublicIdentity, HomeError> {
        if !self.is_initialised() {
            if self.path("node.key").exists() {
                return Err(HomeError::AwaitingCertificate { path: self.root.clone() });
            }
            return Err(HomeError::NotInitialised { path: self.root.clone() });
        }
        self.read_json("identity.json")
    }

    /// Creates only a node key (a second node of an organisation, on another machine); the
    /// organisation certifies it with `csx node add` and it is installed with [`Home::install`].
    pub fn init_node_only(&self) -> Result<NodeKey, HomeError> {
        if let Ok(id) = self.identity() {
            return Err(HomeError::AlreadyInitialised {
                path: self.root.clone(),
                name: id.name,
                ods_code: id.ods_code,
            });
        }
        if self.path("node.key").exists() {
            return self.node_key().map(|k| k.node_key());
        }
        create_private_dir(&self.root).map_err(|source| HomeError::Write { path: self.root.clone(), source })?;
        let node = SecretKey::generate().map_err(|e| KeyFileError::Randomness(e.to_string()))?;
        keyfile::write(&self.path("node.key"), "node", &node, None)?;
        Ok(node.node_key())
    }

    /// Installs the certificate bundle made by `csx node add` for this home's node key.
    pub fn install(&self, bundle: &NodeBundle) -> Result<PublicIdentity, HomeError> {
        if let Ok(id) = self.identity() {
            return Err(HomeError::AlreadyInitialised {
                path: self.root.clone(),
                name: id.name,
                ods_code: id.ods_code,
            });
        }
        let key = self.node_key()?;
        let bad = |m: &str| HomeError::Invalid(format!("node bundle: {m}"));
        if bundle.format != BUNDLE_FORMAT {
            return Err(bad(&format!("format is `{}`, expected `{BUNDLE_FORMAT}`", bundle.format)));
        }
        if bundle.cert.node_key != key.node_key() || bundle.identity.node_key != key.node_key() {
            return Err(bad(&format!(
                "it certifies node {}, but this home's node key is {}",
                bundle.cert.node_key.short(),
                key.node_key().short()
            )));
        }
        if !bundle.cert.signature_valid() || bundle.cert.org_key != bundle.identity.org_key {
            return Err(bad("the organisation's signature on the certificate does not verify"));
        }
        if let Some(g) = &bundle.genesis {
            g.validate().map_err(|e| bad(&e.to_string()))?;
            self.set_genesis(g)?;
        }
        self.write_json("node-cert.json", &bundle.cert)?;
        self.write_json("profile.json", &bundle.profile)?;
        self.write_json("identity.json", &bundle.identity)?;
        Ok(bundle.identity.clone())
    }

    pub fn node_key(&self) -> Result<SecretKey, HomeError> {
        Ok(keyfile::read(&self.path("node.key"), None)?)
    }

    pub fn org_key_is_encrypted(&self) -> Result<bool, HomeError> {
        self.require_org_key()?;
        Ok(keyfile::is_encrypted(&self.path("org.key"))?)
    }

    pub fn org_key(&self, passphrase: Option<&[u8]>) -> Result<SecretKey, HomeError> {
        self.require_org_key()?;
        Ok(keyfile::read(&self.path("org.key"), passphrase)?)
    }

    fn require_org_key(&self) -> Result<(), HomeError> {
        if !self.path("org.key").exists() {
            return Err(HomeError::NoOrgKey { path: self.root.clone() });
        }
        Ok(())
    }

    pub fn node_cert(&self) -> Result<NodeCert, HomeError> {
        self.read_json("node-cert.json")
    }

    pub fn profile(&self) -> Result<Profile, HomeError> {
        self.read_json("profile.json")
    }

    pub fn set_profile(&self, profile: &Profile) -> Result<(), HomeError> {
        self.write_json("profile.json", profile)
    }

    /// The federation's genesis, checked.
    pub fn genesis(&self) -> Result<Genesis, HomeError> {
        let path = self.path("genesis.json");
        if !path.exists() {
            return Err(HomeError::NoFederation { path: self.root.clone() });
        }
        let g: Genesis = self.read_json("genesis.json")?;
        g.validate().map_err(|e| HomeError::Damaged { path, problem: e.to_string() })?;
        Ok(g)
    }

    pub fn has_genesis(&self) -> bool {
        self.path("genesis.json").exists()
    }

    /// Adopts `genesis` (already validated). Refuses a different federation than the one held.
    pub fn set_genesis(&self, genesis: &Genesis) -> Result<(), HomeError> {
        if self.has_genesis() {
            let current = self.genesis()?;
            if current.id() != genesis.id() {
                return Err(HomeError::OtherFederation {
                    current: format!("{} ({})", current.name, current.id().short()),
                });
            }
        }
        self.write_json("genesis.json", genesis)
    }

    fn read_json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T, HomeError> {
        let path = self.path(name);
        let text = fs::read_to_string(&path).map_err(|source| HomeError::Read { path: path.clone(), source })?;
        serde_json::from_str(&text).map_err(|e| HomeError::Damaged { path, problem: e.to_string() })
    }

    fn write_json<T: Serialize>(&self, name: &str, value: &T) -> Result<(), HomeError> {
        let path = self.path(name);
        let mut text = serde_json::to_string_pretty(value).expect("home files serialise");
        text.push('\n');
        keyfile::write_private(&path, text.as_bytes()).map_err(|source| HomeError::Write { path, source })
    }
}

/// Value of the `format` field of a node bundle.
pub const BUNDLE_FORMAT: &str = "csx-node-bundle-v1";

/// What `csx node add` hands to a new node of the same organisation: everything public it needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeBundle {
    pub format: String,
    /// The organisation's identity with the new node's key.
    pub identity: PublicIdentity,
    pub cert: NodeCert,
    pub profile: Profile,
    #[serde(default)]
    pub genesis: Option<Genesis>,
}

/// Reads a public identity file (the output of `csx id --json`).
pub fn read_identity_file(path: &Path) -> Result<PublicIdentity, HomeError> {
    let text = fs::read_to_string(path).map_err(|source| HomeError::Read { path: path.to_path_buf(), source })?;
    let id: PublicIdentity = serde_json::from_str(&text).map_err(|e| HomeError::Damaged {
        path: path.to_path_buf(),
        problem: format!("not a csx identity (the output of `csx id --json`): {e}"),
    })?;
    if id.format != IDENTITY_FORMAT {
        return Err(HomeError::Damaged { path: path.to_path_buf(), problem: format!("format is `{}`", id.format) });
    }
    Ok(id)
}

fn create_private_dir(path: &Path) -> std::io::Result<()> {
    fs::create_dir_all(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}
