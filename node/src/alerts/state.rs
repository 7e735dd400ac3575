//! What the alert watcher remembers across evaluations and restarts, in `alerts/state.json`
//! (owner-only, replaced atomically): the keys of alerts already raised, the log, where each
//! feed was read up to, and the rules' [`Memory`]. Every table is bounded.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::rules::Memory;
use super::{Alert, Raised, Rule};

/// Keys of raised alerts remembered (the oldest are forgotten first; an event old enough to be
/// forgotten has long stopped being new).
pub const MAX_KEYS: usize = 20_000;
/// The version of the file's layout.
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    /// The seq the next alert gets.
    pub next_seq: u64,
    /// The newest alerts, oldest first.
    pub log: VecDeque<Alert>,
    /// Keys of alerts raised, oldest first.
    pub keys: VecDeque<String>,
    #[serde(skip)]
    key_set: HashSet<String>,
    /// Each feed's seq read up to (hex node key → seq).
    pub cursor: BTreeMap<String, u64>,
    pub memory: Memory,
    /// When the rules were last evaluated (Unix ms).
    pub evaluated_at: u64,
}

impl State {
    /// A fresh state: the first evaluation only learns what holds (see [`State::seeded`]).
    pub fn new() -> State {
        State { version: VERSION, next_seq: 1, ..State::default() }
    }

    /// Whether the rules have run once: before that, alerts describe history, not news, and
    /// only date rules (deadlines still ahead) are logged.
    pub fn seeded(&self) -> bool {
        self.evaluated_at > 0
    }

    /// Reads the state; `Ok(None)` when there is none yet.
    pub fn load(path: &Path) -> Result<Option<State>, String> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let mut s: State = serde_json::from_slice(&bytes).map_err(|e| format!("{} is damaged: {e}", path.display()))?;
        if s.version != VERSION {
            return Err(format!("{} has layout version {}, this csx reads {VERSION}", path.display(), s.version));
        }
        s.key_set = s.keys.iter().cloned().collect();
        Ok(Some(s))
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        write_atomic(path, &bytes)
    }

    pub fn seen(&self, key: &str) -> bool {
        self.key_set.contains(key)
    }

    fn remember(&mut self, key: String) {
        if self.key_set.insert(key.clone()) {
            self.keys.push_back(key);
        }
        while self.keys.len() > MAX_KEYS {
            if let Some(old) = self.keys.pop_front() {
                self.key_set.remove(&old);
            }
        }
    }

    /// Takes what the rules raised: each key not seen before is remembered and, when `log`
    /// says so for its rule, numbered, dated and logged (the log kept to `limit`). Returns the
    /// alerts logged now.
    pub fn record(
        &mut self,
        raised: Vec<Raised>,
        now_ms: u64,
        base_url: Option<&str>,
        limit: usize,
        log: impl Fn(Rule) -> bool,
    ) -> Vec<Alert> {
        let mut out = Vec::new();
        for r in raised {
            if self.seen(&r.key) {
                continue;
            }
            self.remember(r.key.clone());
            if !log(r.rule) {
                continue;
            }
            out.push(self.push(r, now_ms, base_url, limit));
        }
        out
    }

    /// Logs one alert without deduplication (a test alert).
    pub fn push(&mut self, raised: Raised, now_ms: u64, base_url: Option<&str>, limit: usize) -> Alert {
        let url = match (base_url, &raised.link) {
            (Some(b), Some(l)) => Some(format!("{}{l}", b.trim_end_matches('/'))),
            _ => None,
        };
        let alert = Alert { seq: self.next_seq.max(1), at: now_ms, raised, url };
        self.next_seq = alert.seq + 1;
        self.log.push_back(alert.clone());
        while self.log.len() > limit.max(1) {
            self.log.pop_front();
        }
        alert
    }

    /// Alerts with a seq above `after` and raised at or after `since_ms`, oldest first.
    pub fn list(&self, after: u64, since_ms: u64) -> Vec<Alert> {
        self.log.iter().filter(|a| a.seq > after && a.at >= since_ms).cloned().collect()
    }
}

/// Writes `bytes` to `path` owner-only, through a temporary file renamed over it, so a crash
/// leaves the old file or the new one, never half of one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    crate::keyfile::write_private(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raised(key: &str, rule: Rule) -> Raised {
        Raised {
            key: key.into(),
            rule,
            title: key.into(),
            text: String::new(),
            service_line: None,
            provider: None,
            records: vec![],
            authors: vec![],
            link: Some("/prices".into()),
        }
    }

    #[test]
    fn a_key_is_logged_once_across_a_reload_and_the_log_is_bounded() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("alerts").join("state.json");
        let mut s = State::new();
        let first = s.record(vec![raised("a", Rule::SwitchAway), raised("a", Rule::SwitchAway)], 5, None, 3, |_| true);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].seq, 1);
        s.save(&path).expect("save");
        let mode = std::fs::metadata(&path).map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()));
        assert_eq!(mode.expect("meta") & 0o777, 0o600);
        let mut back = State::load(&path).expect("load").expect("present");
        assert!(back.record(vec![raised("a", Rule::SwitchAway)], 6, None, 3, |_| true).is_empty());
        let more: Vec<Raised> = ["b", "c", "d", "e"].iter().map(|k| raised(k, Rule::MemberJoined)).collect();
        let logged = back.record(more, 7, Some("https://csx.example.nhs.uk/"), 3, |_| true);
        assert_eq!(logged.iter().map(|a| a.seq).collect::<Vec<_>>(), [2, 3, 4, 5]);
        assert_eq!(logged[0].url.as_deref(), Some("https://csx.example.nhs.uk/prices"));
        assert_eq!(back.log.len(), 3, "bounded to the limit");
        assert_eq!(back.list(3, 0).iter().map(|a| a.seq).collect::<Vec<_>>(), [4, 5]);
        // Not logged (a seeding pass), but remembered: never logged later.
        let silent = back.record(vec![raised("f", Rule::MemberJoined)], 8, None, 3, |_| false);
        assert!(silent.is_empty());
        assert!(back.record(vec![raised("f", Rule::MemberJoined)], 9, None, 3, |_| true).is_empty());
    }

    #[test]
    fn the_remembered_keys_are_bounded() {
        let mut s = State::new();
        let many: Vec<Raised> = (0..MAX_KEYS + 10).map(|i| raised(&i.to_string(), Rule::SwitchAway)).collect();
        s.record(many, 1, None, 10, |_| false);
        assert_eq!(s.keys.len(), MAX_KEYS);
        assert!(!s.seen("0") && s.seen(&(MAX_KEYS + 9).to_string()));
    }

    #[test]
    fn a_damaged_file_is_named() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("state.json");
        std::fs::write(&path, "{not json").expect("write");
        assert!(State::load(&path).expect_err("damaged").contains("is damaged"));
    }
}
