//! The node's configuration file, `config.toml` in the home directory. Every setting has a
//! default; `csx daemon` flags and environment variables override the file.

use std::path::Path;
use std::time::Duration;

use libp2p::Multiaddr;
use serde::{Deserialize, Serialize};

use crate::net::NetConfig;
use crate::store::StoreConfig;

/// The default port of a member node.
pub const DEFAULT_PORT: u16 = 4001;
/// The default port of a bootstrap server.
pub const DEFAULT_BOOTSTRAP_PORT: u16 = 4000;
/// The default port of the dashboard (on loopback unless configured otherwise).
pub const DEFAULT_WEB_PORT: u16 = 4080;

/// The contents of config.toml.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Multiaddresses to listen on.
    pub listen: Vec<String>,
    /// Addresses other members can reach this node at (e.g. a public or VPN address); announced at
    /// bootstrap servers. Empty: the addresses listened on are announced.
    pub external: Vec<String>,
    /// Bootstrap servers, in addition to those in the genesis file.
    pub bootstrap: Vec<String>,
    /// Other members' nodes to dial at start (`…/p2p/<peer id>`).
    pub peers: Vec<String>,
    /// Seconds between sync rounds with a random connected member.
    pub sync_interval_secs: u64,
    /// Seconds between asking bootstrap servers for members' addresses.
    pub discover_interval_secs: u64,
    /// Also listen through bootstrap servers' relays (for a node others cannot dial).
    pub relay: bool,
    /// `text` or `json`.
    pub log_format: String,
    /// A tracing filter, e.g. `info` or `info,csx_node=debug`.
    pub log_filter: String,
    /// sled's page cache, MiB.
    pub store_cache_mib: u64,
    pub limits: Limits,
    /// The dashboard the daemon serves.
    pub web: WebConfig,
}

/// The dashboard (`[web]`): where the daemon serves it and how people reach it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// `host:port` to listen on, or `off`. Loopback by default: put a TLS reverse proxy in front,
    /// or set `tls_cert` and `tls_key`, before opening it to the network.
    pub listen: String,
    /// The address people use, e.g. `https://csx.example.nhs.uk` (for sign-in links; an `https`
    /// address also makes session cookies `Secure`). Empty: derived from `listen`.
    pub public_url: String,
    /// Built-in TLS: the certificate chain and private key, PEM files (both or neither).
    pub tls_cert: String,
    pub tls_key: String,
    /// Take the client's address from the last `X-Forwarded-For` entry (only behind a reverse
    /// proxy that sets it): used for the sign-in rate limit and the audit log.
    pub trust_proxy: bool,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            listen: format!("127.0.0.1:{DEFAULT_WEB_PORT}"),
            public_url: String::new(),
            tls_cert: String::new(),
            tls_key: String::new(),
            trust_proxy: false,
        }
    }
}

impl WebConfig {
    /// The address to listen on, or `None` when the dashboard is off.
    pub fn listen_addr(&self) -> Result<Option<std::net::SocketAddr>, ConfigError> {
        let l = self.listen.trim();
        if l.is_empty() || l.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        l.parse().map(Some).map_err(|_| ConfigError::Value {
            setting: "web.listen",
            problem: format!("`{l}` is not host:port (e.g. 127.0.0.1:{DEFAULT_WEB_PORT}) or off"),
        })
    }

    /// The TLS certificate and key files, when built-in TLS is configured.
    pub fn tls_files(&self) -> Result<Option<(std::path::PathBuf, std::path::PathBuf)>, ConfigError> {
        match (self.tls_cert.trim(), self.tls_key.trim()) {
            ("", "") => Ok(None),
            ("", _) | (_, "") => Err(ConfigError::Value {
                setting: "web.tls_cert",
                problem: "give both tls_cert and tls_key (PEM files), or neither".into(),
            }),
            (c, k) => Ok(Some((c.into(), k.into()))),
        }
    }

    /// The address people use: `public_url`, else `http(s)://` and the listen address
    /// (`localhost` for a wildcard address).
    pub fn base_url(&self) -> Result<String, ConfigError> {
        if !self.public_url.trim().is_empty() {
            let u = self.public_url.trim().trim_end_matches('/');
            if !(u.starts_with("https://") || u.starts_with("http://")) {
                return Err(ConfigError::Value {
                    setting: "web.public_url",
                    problem: format!("`{u}` must start with https:// (or http://)"),
                });
            }
            return Ok(u.to_string());
        }
        let scheme = if self.tls_files()?.is_some() { "https" } else { "http" };
        let addr = self.listen_addr()?.ok_or(ConfigError::Value {
            setting: "web.listen",
            problem: "the dashboard is off (listen = \"off\"); set [web] listen or public_url".into(),
        })?;
        let host = if addr.ip().is_unspecified() { "localhost".to_string() } else { addr.ip().to_string() };
        let host = if addr.is_ipv6() && host != "localhost" { format!("[{host}]") } else { host };
        Ok(format!("{scheme}://{host}:{}", addr.port()))
    }
}

/// Per-peer and per-page limits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    pub max_connections: u32,
    pub max_connections_per_peer: u32,
    pub max_pending_incoming: u32,
    /// Records and bytes per sync page (asked for and served).
    pub page_records: u64,
    pub page_bytes: u32,
    /// Seconds before an unanswered sync request fails.
    pub request_timeout_secs: u64,
    /// Records one author may have waiting for a missing predecessor.
    pub max_pending_per_author: usize,
    /// Seconds a connected peer has to show it is a current member's node.
    pub verify_timeout_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: vec![format!("/ip4/0.0.0.0/tcp/{DEFAULT_PORT}")],
            external: vec![],
            bootstrap: vec![],
            peers: vec![],
            sync_interval_secs: 30,
            discover_interval_secs: 60,
            relay: false,
            log_format: "text".into(),
            log_filter: "info".into(),
            store_cache_mib: 64,
            limits: Limits::default(),
            web: WebConfig::default(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        let net = NetConfig::default();
        Limits {
            max_connections: net.max_connections,
            max_connections_per_peer: net.max_connections_per_peer,
            max_pending_incoming: net.max_pending_incoming,
            page_records: net.page_records,
            page_bytes: net.page_bytes,
            request_timeout_secs: net.request_timeout.as_secs(),
            max_pending_per_author: StoreConfig::default().max_pending_per_author,
            verify_timeout_secs: net.verify_timeout.as_secs(),
        }
    }
}

/// A configuration problem, naming the file and the setting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{setting}: `{value}` is not a multiaddress ({problem}); e.g. /ip4/0.0.0.0/tcp/4001")]
    Address { setting: &'static str, value: String, problem: String },
    #[error("{setting}: {problem}")]
    Value { setting: &'static str, problem: String },
}

impl Config {
    /// Reads `path`; a missing file means all defaults.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(source) => return Err(ConfigError::Read { path: path.display().to_string(), source }),
        };
        toml::from_str(&text)
            .map_err(|e| ConfigError::Parse { path: path.display().to_string(), message: e.to_string() })
    }

    /// The file as written by `csx init`: every setting at its default, with comments.
    pub fn documented_default() -> String {
        let d = Config::default();
        let text = toml::to_string_pretty(&d).expect("the default config serialises");
        format!(
            "# csx node configuration. Every setting is shown at its default; see docs/OPERATIONS.md.\n\
             # `csx daemon` flags and CSX_* environment variables override these.\n\n{text}"
        )
    }

    /// The network settings, with the genesis file's bootstrap servers added.
    pub fn net_config(&self, genesis_bootstrap: &[String]) -> Result<NetConfig, ConfigError> {
        let addrs = |setting: &'static str, list: &[String]| -> Result<Vec<Multiaddr>, ConfigError> {
            list.iter()
                .map(|a| {
                    a.parse::<Multiaddr>().map_err(|e| ConfigError::Address {
                        setting,
                        value: a.clone(),
                        problem: e.to_string(),
                    })
                })
                .collect()
        };
        let mut bootstrap = addrs("bootstrap", &self.bootstrap)?;
        for a in addrs("genesis bootstrap", genesis_bootstrap)? {
            if !bootstrap.contains(&a) {
                bootstrap.push(a);
            }
        }
        if self.sync_interval_secs == 0 || self.discover_interval_secs == 0 {
            return Err(ConfigError::Value {
                setting: "sync_interval_secs",
                problem: "intervals must be at least 1 second".into(),
            });
        }
        if self.limits.page_records == 0 || self.limits.page_bytes < 65_536 + 1024 {
            return Err(ConfigError::Value {
                setting: "limits.page_bytes",
                problem: "a page must hold at least one record (page_records >= 1, page_bytes >= 66560)".into(),
            });
        }
        let defaults = NetConfig::default();
        Ok(NetConfig {
            listen: addrs("listen", &self.listen)?,
            external: addrs("external", &self.external)?,
            bootstrap,
            peers: addrs("peers", &self.peers)?,
            sync_interval: Duration::from_secs(self.sync_interval_secs),
            discover_interval: Duration::from_secs(self.discover_interval_secs),
            relay: self.relay,
            max_connections: self.limits.max_connections,
            max_connections_per_peer: self.limits.max_connections_per_peer,
            max_pending_incoming: self.limits.max_pending_incoming,
            request_timeout: Duration::from_secs(self.limits.request_timeout_secs.max(1)),
            page_records: self.limits.page_records,
            page_bytes: self.limits.page_bytes,
            verify_timeout: Duration::from_secs(self.limits.verify_timeout_secs.max(1)),
            ..defaults
        })
    }

    pub fn store_config(&self) -> StoreConfig {
        StoreConfig {
            cache_bytes: self.store_cache_mib.max(4) * 1024 * 1024,
            max_pending_per_author: self.limits.max_pending_per_author,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_default_reads_back_as_the_default() {
        let text = Config::documented_default();
        let back: Config = toml::from_str(&text).expect("parses");
        assert_eq!(back, Config::default());
        back.net_config(&[]).expect("valid");
    }

    #[test]
    fn the_dashboard_settings_are_checked_and_give_the_sign_in_address() {
        let w = WebConfig::default();
        assert_eq!(w.base_url().expect("default"), format!("http://127.0.0.1:{DEFAULT_WEB_PORT}"));
        let w = WebConfig { listen: "0.0.0.0:8443".into(), tls_cert: "c.pem".into(), tls_key: "k.pem".into(), ..w };
        assert_eq!(w.base_url().expect("tls"), "https://localhost:8443");
        let off = WebConfig { listen: "off".into(), ..WebConfig::default() };
        assert_eq!(off.listen_addr().expect("off"), None);
        let bad = WebConfig { listen: "localhost".into(), ..WebConfig::default() };
        assert!(bad.listen_addr().expect_err("no port").to_string().starts_with("web.listen"));
        let half = WebConfig { tls_cert: "c.pem".into(), ..WebConfig::default() };
        assert!(half.tls_files().is_err());
        let public = WebConfig { public_url: "https://csx.example.nhs.uk/".into(), ..WebConfig::default() };
        assert_eq!(public.base_url().expect("public"), "https://csx.example.nhs.uk");
    }

    #[test]
    fn unknown_settings_and_bad_addresses_are_named() {
        let err = toml::from_str::<Config>("lisen = []").expect_err("typo");
        assert!(err.to_string().contains("lisen"), "{err}");
        let c = Config { listen: vec!["localhost:4001".into()], ..Config::default() };
        let err = c.net_config(&[]).expect_err("not a multiaddr");
        assert!(err.to_string().starts_with("listen: `localhost:4001` is not a multiaddress"), "{err}");
    }
}
