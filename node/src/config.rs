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
    /// Serve Prometheus metrics, `/healthz` and `/readyz` on this `host:port` (e.g.
    /// 127.0.0.1:9464), or `off`.
    pub metrics: String,
    pub limits: Limits,
    /// The dashboard the daemon serves.
    pub web: WebConfig,
    /// Alert rules and where alerts are delivered (docs/OPERATIONS.md, "Alerts").
    pub alerts: crate::alerts::settings::AlertsConfig,
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
    /// Most members' nodes connected at once (bootstrap servers not counted). A node dials up
    /// to half as many (at most 8), takes connections from others up to this bound, and swaps
    /// one connection for another every minute, so records still reach every node.
    pub max_peers: u32,
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
            metrics: "off".into(),
            limits: Limits::default(),
            web: WebConfig::default(),
            alerts: crate::alerts::settings::AlertsConfig::default(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        let net = NetConfig::default();
        Limits {
            max_peers: net.max_peers as u32,
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
    /// Reads `path`; a missing file means all defaults. A key in the wrong table (say `listen`
    /// appended at the end of the file, which lands in its last table) is named with its line,
    /// the table it was found in and where it belongs.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(source) => return Err(ConfigError::Read { path: path.display().to_string(), source }),
        };
        toml::from_str(&text).map_err(|e| {
            let problems = check_text(&text);
            let message = if problems.is_empty() {
                e.to_string()
            } else {
                problems
                    .iter()
                    .map(|p| match p.line {
                        Some(line) => format!("line {line}: {}", p.message),
                        None => p.message.clone(),
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            ConfigError::Parse { path: path.display().to_string(), message }
        })
    }

    /// The file as written by `csx init`: every setting at its default, with comments.
    pub fn documented_default() -> String {
        Config::default().documented()
    }

    /// This configuration as a file, with the header `csx init` writes.
    pub fn documented(&self) -> String {
        let text = toml::to_string_pretty(self).expect("a configuration serialises");
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
            max_peers: self.limits.max_peers.max(1) as usize,
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

/// Where each setting written in a configuration file is: `table.key` (or `key` at the top)
/// and its line (1-based), in the order written. Multi-line arrays count at their first line.
pub fn setting_lines(text: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut table = String::new();
    let mut depth = 0i32;
    for (i, raw) in text.lines().enumerate() {
        let line = strip_comment(raw).trim().to_string();
        if depth > 0 {
            depth += brackets(&line);
            continue;
        }
        if line.starts_with('[') {
            table = line.trim_start_matches('[').trim_end_matches(']').trim().trim_matches('"').to_string();
            continue;
        }
        let Some((key, value)) = line.split_once('=') else { continue };
        let key = key.trim().trim_matches('"');
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)) {
            continue;
        }
        depth = brackets(value).max(0);
        let full = if table.is_empty() { key.to_string() } else { format!("{table}.{key}") };
        out.push((full, i + 1));
    }
    out
}

fn strip_comment(line: &str) -> &str {
    let mut in_str = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => in_str = !in_str,
            '#' if !in_str => return &line[..i],
            _ => {}
        }
    }
    line
}

/// Open minus closed square brackets outside strings.
fn brackets(s: &str) -> i32 {
    let mut in_str = false;
    let mut n = 0;
    for c in s.chars() {
        match c {
            '"' => in_str = !in_str,
            '[' if !in_str => n += 1,
            ']' if !in_str => n -= 1,
            _ => {}
        }
    }
    n
}

/// A problem `csx config check` found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The line it is on, when it is on one.
    pub line: Option<usize>,
    /// The setting concerned (`table.key`), when one is.
    pub setting: Option<String>,
    pub message: String,
}

/// Every setting this csx knows, as `table.key` (or `key`; `table.sub.key` in a nested table
/// such as `[alerts.smtp]`).
pub fn known_settings() -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(toml::Value::Table(t)) = toml::Value::try_from(Config::default()) {
        leaves("", &t, &mut out);
    }
    out
}

fn leaves(prefix: &str, table: &toml::Table, out: &mut Vec<String>) {
    for (k, v) in table {
        let full = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match v {
            toml::Value::Table(sub) => leaves(&full, sub, out),
            _ => out.push(full),
        }
    }
}

/// Where a setting is written: at the top of the file, or in its table.
fn place_of(setting: &str) -> String {
    match setting.rsplit_once('.') {
        Some((t, _)) => format!("in the [{t}] table"),
        None => "at the top, before the first [table] line (a key written after a [table] line belongs to that table)"
            .to_string(),
    }
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push((prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Checks the text of a configuration file: it parses, every key is known and in its table,
/// and every value is in range. Returns every problem found (none: the file is good).
pub fn check_text(text: &str) -> Vec<Problem> {
    let lines = setting_lines(text);
    let line_of = |setting: &str| lines.iter().find(|(s, _)| s == setting).map(|(_, l)| *l);
    let parsed: toml::Table = match toml::from_str(text) {
        Ok(t) => t,
        Err(e) => {
            let line = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            return vec![Problem { line, setting: None, message: format!("not valid TOML: {}", e.message()) }];
        }
    };
    let known = known_settings();
    let mut tables: Vec<String> = Vec::new();
    for k in &known {
        let mut t = k.as_str();
        while let Some((parent, _)) = t.rsplit_once('.') {
            tables.push(parent.to_string());
            t = parent;
        }
    }
    let mut problems = Vec::new();
    let unknown = |full: String, problems: &mut Vec<Problem>| {
        let key = full.rsplit('.').next().unwrap_or(&full).to_string();
        let line = line_of(&full);
        let mut elsewhere: Vec<&String> = known.iter().filter(|k| k.rsplit('.').next() == Some(key.as_str())).collect();
        // The top level first: a key appended at the end of the file is most often meant there.
        elsewhere.sort_by_key(|k| k.matches('.').count());
        let message = if !elsewhere.is_empty() {
            let places: Vec<String> = elsewhere.iter().map(|k| place_of(k)).collect();
            format!(
                "`{key}` is not a setting of {}: it belongs {}",
                match full.rsplit_once('.') {
                    Some((t, _)) => format!("the [{t}] table, where this line puts it"),
                    None => "the top level".to_string(),
                },
                places.join(", or ")
            )
        } else {
            let near = known.iter().filter(|k| distance(k, &full) <= 2).min_by_key(|k| distance(k, &full));
            match near {
                Some(n) => format!("unknown setting `{full}`; did you mean `{n}`?"),
                None => format!("unknown setting `{full}` (see `csx config show` for every setting)"),
            }
        };
        problems.push(Problem { line, setting: Some(full), message });
    };
    let mut walk = vec![(String::new(), &parsed)];
    while let Some((prefix, table)) = walk.pop() {
        for (k, v) in table {
            let full = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
            match v {
                toml::Value::Table(sub) if tables.contains(&full) => walk.push((full, sub)),
                _ if known.contains(&full) => {}
                _ => unknown(full, &mut problems),
            }
        }
    }
    problems.sort_by_key(|p| p.line);
    if !problems.is_empty() {
        return problems;
    }
    let config: Config = match toml::from_str(text) {
        Ok(c) => c,
        Err(e) => {
            let line = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            return vec![Problem { line, setting: None, message: e.message().to_string() }];
        }
    };
    let mut bad = |setting: &str, message: String| {
        problems.push(Problem { line: line_of(setting), setting: Some(setting.to_string()), message })
    };
    if let Err(e) = config.net_config(&[]) {
        let setting = match &e {
            ConfigError::Address { setting, .. } | ConfigError::Value { setting, .. } => setting.to_string(),
            _ => String::new(),
        };
        bad(&setting, e.to_string());
    }
    if let Err(e) =
        config.web.listen_addr().and_then(|_| config.web.tls_files()).and_then(|_| config.web.base_url().map(|_| ()))
    {
        let setting = match &e {
            ConfigError::Value { setting, .. } => setting.to_string(),
            _ => "web".into(),
        };
        // The dashboard may be off: no address to derive is fine.
        if !(config.web.listen_addr().ok().flatten().is_none() && setting == "web.listen") {
            bad(&setting, e.to_string());
        }
    }
    if let Ok(Some((cert, key))) = config.web.tls_files() {
        for (setting, path) in [("web.tls_cert", cert), ("web.tls_key", key)] {
            if let Err(e) = std::fs::File::open(&path) {
                bad(setting, format!("cannot read {}: {e}", path.display()));
            }
        }
    }
    if let Err(e) = crate::metrics::parse_addr(&config.metrics) {
        bad("metrics", e);
    }
    if !["text", "json"].contains(&config.log_format.as_str()) {
        bad("log_format", format!("`{}` is not text or json", config.log_format));
    }
    if config.store_cache_mib < 4 {
        bad("store_cache_mib", format!("{} MiB is below the least the store uses (4 MiB)", config.store_cache_mib));
    }
    let l = &config.limits;
    for (setting, value) in [
        ("limits.max_peers", u64::from(l.max_peers)),
        ("limits.max_connections", u64::from(l.max_connections)),
        ("limits.max_connections_per_peer", u64::from(l.max_connections_per_peer)),
        ("limits.max_pending_incoming", u64::from(l.max_pending_incoming)),
        ("limits.request_timeout_secs", l.request_timeout_secs),
        ("limits.verify_timeout_secs", l.verify_timeout_secs),
        ("limits.max_pending_per_author", l.max_pending_per_author as u64),
    ] {
        if value == 0 {
            bad(setting, "must be at least 1".into());
        }
    }
    if l.max_peers > l.max_connections {
        bad(
            "limits.max_peers",
            format!(
                "{} members' nodes cannot fit in limits.max_connections = {} (which also counts bootstrap servers \
                 and peers being verified)",
                l.max_peers, l.max_connections
            ),
        );
    }
    if config.sync_interval_secs > 86_400 || config.discover_interval_secs > 86_400 {
        bad("sync_interval_secs", "intervals longer than a day leave the node out of step; at most 86400".into());
    }
    problems
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
    fn check_names_unknown_keys_keys_in_the_wrong_table_and_values_out_of_range() {
        assert_eq!(check_text(&Config::documented_default()), vec![]);
        // `listen` appended at the end lands inside [web].
        let text = "sync_interval_secs = 5\n[limits]\npage_records = 10\n[web]\ntrust_proxy = false\nlisten = \"off\"\nbootstrap = []\n";
        let p = check_text(text);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!((p[0].line, p[0].setting.as_deref()), (Some(7), Some("web.bootstrap")));
        assert!(p[0].message.contains("belongs at the top, before the first [table] line"), "{}", p[0].message);
        let p = check_text("page_bytes = 70000\n");
        assert!(p[0].message.contains("belongs in the [limits] table"), "{p:?}");
        let p = check_text("sync_intervl_secs = 3\n");
        assert!(p[0].message.contains("did you mean `sync_interval_secs`"), "{p:?}");
        assert_eq!(p[0].line, Some(1));
        let p = check_text("a = [\n  \"x\",\n]\nlisten = [\"nope\"]\n");
        assert_eq!(p[0].setting.as_deref(), Some("a"));
        let p = check_text("listen = [\"nope\"]\nlog_format = \"xml\"\n[limits]\nverify_timeout_secs = 0\n");
        let named: Vec<_> = p.iter().map(|p| (p.setting.clone().unwrap_or_default(), p.line)).collect();
        assert_eq!(
            named,
            vec![
                ("listen".into(), Some(1)),
                ("log_format".into(), Some(2)),
                ("limits.verify_timeout_secs".into(), Some(4))
            ]
        );
        let p = check_text("listen = 4001\n");
        assert_eq!(p[0].line, Some(1), "{p:?}");
        let p = check_text("listen = [\n");
        assert!(p[0].message.starts_with("not valid TOML"), "{p:?}");
    }

    #[test]
    fn a_key_appended_after_the_last_table_is_named_with_its_table_and_where_it_belongs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.toml");
        let mut text = Config::documented_default();
        text.push_str("listen = [\"/ip4/0.0.0.0/tcp/4101\"]\n");
        let line = text.lines().count();
        let last_table = text
            .lines()
            .filter(|l| l.starts_with('['))
            .last()
            .expect("a table")
            .trim_matches(|c| c == '[' || c == ']')
            .to_string();
        std::fs::write(&path, &text).expect("write");
        let err = Config::load(&path).expect_err("listen in the last table").to_string();
        assert!(err.contains(&format!("line {line}: `listen` is not a setting of the [{last_table}] table")), "{err}");
        assert!(err.contains("it belongs at the top, before the first [table] line"), "{err}");
        assert!(err.contains("or in the [web] table"), "{err}");
        // Every known key, misplaced in a table it does not belong to, is named the same way.
        for setting in known_settings() {
            let key = setting.rsplit('.').next().expect("a key");
            let wrong = if setting.starts_with("limits.") { "web" } else { "limits" };
            std::fs::write(&path, format!("[{wrong}]\n{key} = 1\n")).expect("write");
            let err = Config::load(&path).expect_err("misplaced").to_string();
            assert!(
                err.contains(&format!("line 2: `{key}` is not a setting of the [{wrong}] table"))
                    && err.contains(&place_of(&setting)),
                "{setting}: {err}"
            );
        }
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
