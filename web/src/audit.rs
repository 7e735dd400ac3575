//! The local audit log, `web/audit.log` in the node's home (owner-only): one JSON line per
//! event — who signed in (or failed to), who wrote which records from the dashboard or the API,
//! and who changed which account. Records published to the federation name only the node that
//! signed them; this log is where the node's own organisation finds the person. `csx audit`
//! reads it. It holds no secrets (never a password, link or token).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Unix milliseconds.
    pub at: u64,
    /// The staff account (or, for `csx` commands, `cli:` and the operating-system user).
    pub user: String,
    /// `web`, `api` or `cli`.
    pub via: String,
    /// What happened, e.g. `signin`, `signin_failed`, `record`, `import`, `support`, `user_add`.
    pub action: String,
    /// In words.
    pub detail: String,
    /// Ids of the records written, if any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<String>,
    /// The client's address, for web and API events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
}

/// Which entries to read.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub user: Option<String>,
    pub action: Option<String>,
    pub since_ms: Option<u64>,
    /// The newest this many (after the other filters).
    pub limit: usize,
}

/// The audit log of one home.
#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
}

impl AuditLog {
    pub fn open(home: &Path) -> AuditLog {
        AuditLog { path: home.join("web").join("audit.log") }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `entry` (one line, written with one call, so concurrent writers do not interleave).
    pub fn append(&self, entry: &Entry) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut opts = std::fs::OpenOptions::new();
        opts.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&self.path)?;
        let mut line = serde_json::to_vec(entry).expect("an audit entry serialises");
        line.push(b'\n');
        f.write_all(&line)
    }

    /// Appends `entry`, logging (not failing) when the log cannot be written: the action itself
    /// has already happened.
    pub fn record(&self, entry: Entry) {
        if let Err(e) = self.append(&entry) {
            tracing::error!(path = %self.path.display(), action = %entry.action, "cannot write the audit log: {e}");
        }
    }

    /// The entries matching `filter`, oldest first, and how many lines could not be read.
    pub fn read(&self, filter: &Filter) -> std::io::Result<(Vec<Entry>, usize)> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((vec![], 0)),
            Err(e) => return Err(e),
        };
        let mut damaged = 0;
        let user = filter.user.as_deref().map(str::to_ascii_lowercase);
        let mut out: Vec<Entry> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .filter_map(|l| match serde_json::from_str::<Entry>(l) {
                Ok(e) => Some(e),
                Err(_) => {
                    damaged += 1;
                    None
                }
            })
            .filter(|e| user.as_deref().is_none_or(|u| e.user.eq_ignore_ascii_case(u)))
            .filter(|e| filter.action.as_deref().is_none_or(|a| e.action == a))
            .filter(|e| filter.since_ms.is_none_or(|s| e.at >= s))
            .collect();
        if filter.limit > 0 && out.len() > filter.limit {
            out.drain(..out.len() - filter.limit);
        }
        Ok((out, damaged))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(at: u64, user: &str, action: &str) -> Entry {
        Entry {
            at,
            user: user.into(),
            via: "web".into(),
            action: action.into(),
            detail: format!("{user} {action}"),
            records: vec![],
            client: Some("127.0.0.1".into()),
        }
    }

    #[test]
    fn entries_are_appended_filtered_and_limited() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = AuditLog::open(dir.path());
        assert!(log.read(&Filter::default()).expect("empty").0.is_empty());
        for (i, (u, a)) in
            [("alice", "signin"), ("bob", "record"), ("alice", "record"), ("alice", "signout")].into_iter().enumerate()
        {
            log.append(&entry(i as u64, u, a)).expect("appended");
        }
        std::fs::OpenOptions::new()
            .append(true)
            .open(log.path())
            .and_then(|mut f| f.write_all(b"not json\n"))
            .expect("damage");
        let (all, damaged) = log.read(&Filter::default()).expect("read");
        assert_eq!((all.len(), damaged), (4, 1));
        let f = Filter { user: Some("ALICE".into()), limit: 2, ..Filter::default() };
        let (some, _) = log.read(&f).expect("read");
        assert_eq!(some.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), ["record", "signout"]);
        let f = Filter { action: Some("record".into()), since_ms: Some(2), ..Filter::default() };
        assert_eq!(log.read(&f).expect("read").0, vec![entry(2, "alice", "record")]);
    }
}
