//! Signed-in sessions (in memory: a restart signs everyone out) and the sign-in rate limit.
//! Both tables are bounded: a stranger cannot grow them without limit.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::accounts::{digest, random_secret};

/// Most sessions kept in all; the least recently used goes first.
pub const MAX_SESSIONS: usize = 10_000;
/// Most sessions of one account (several browsers); its oldest goes first.
pub const MAX_SESSIONS_PER_USER: usize = 10;
/// A session unused this long ends.
pub const IDLE_MS: u64 = 8 * 3600 * 1000;
/// A session ends this long after sign-in, used or not.
pub const ABSOLUTE_MS: u64 = 12 * 3600 * 1000;

/// Who a session belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// A staff account, valid while the account's epoch is unchanged.
    Account { name: String, epoch: u64 },
    /// The person running `csx dashboard` on their own machine, signed in with the link it
    /// printed: an administrator for as long as the command runs.
    Owner { name: String },
}

#[derive(Debug, Clone)]
pub struct Session {
    pub holder: Holder,
    /// The session's CSRF token, put in every form and checked on every POST.
    pub csrf: String,
    pub created_ms: u64,
    pub last_ms: u64,
}

impl Session {
    pub fn name(&self) -> &str {
        match &self.holder {
            Holder::Account { name, .. } | Holder::Owner { name } => name,
        }
    }
}

/// The session table, keyed by the digest of the cookie's secret.
#[derive(Debug, Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// Starts a session; returns the cookie's secret.
    pub fn create(&self, holder: Holder, now_ms: u64) -> Option<String> {
        let secret = random_secret().ok()?;
        let csrf = random_secret().ok()?;
        let mut map = self.map.lock().ok()?;
        map.retain(|_, s| live(s, now_ms));
        let name = match &holder {
            Holder::Account { name, .. } | Holder::Owner { name } => name.clone(),
        };
        let mut mine: Vec<(String, u64)> =
            map.iter().filter(|(_, s)| s.name() == name).map(|(k, s)| (k.clone(), s.last_ms)).collect();
        if mine.len() >= MAX_SESSIONS_PER_USER {
            mine.sort_by_key(|(_, t)| *t);
            for (k, _) in mine.iter().take(mine.len() + 1 - MAX_SESSIONS_PER_USER) {
                map.remove(k);
            }
        }
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map.iter().min_by_key(|(_, s)| s.last_ms).map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(digest(&secret), Session { holder, csrf, created_ms: now_ms, last_ms: now_ms });
        Some(secret)
    }

    /// The live session of a cookie's secret, marked as used now.
    pub fn get(&self, secret: &str, now_ms: u64) -> Option<Session> {
        let mut map = self.map.lock().ok()?;
        let key = digest(secret);
        let s = map.get_mut(&key)?;
        if !live(s, now_ms) {
            map.remove(&key);
            return None;
        }
        s.last_ms = now_ms;
        Some(s.clone())
    }

    pub fn remove(&self, secret: &str) {
        if let Ok(mut map) = self.map.lock() {
            map.remove(&digest(secret));
        }
    }

    /// Ends every session of account `name`.
    pub fn remove_account(&self, name: &str) {
        if let Ok(mut map) = self.map.lock() {
            map.retain(|_, s| !matches!(&s.holder, Holder::Account { name: n, .. } if n == name));
        }
    }

    pub fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn live(s: &Session, now_ms: u64) -> bool {
    now_ms.saturating_sub(s.last_ms) < IDLE_MS && now_ms.saturating_sub(s.created_ms) < ABSOLUTE_MS
}

/// Failed sign-ins allowed per client address in a window.
pub const FAILURES_PER_CLIENT: u32 = 10;
/// Failed sign-ins allowed per account name in a window.
pub const FAILURES_PER_ACCOUNT: u32 = 5;
/// The window (and the lock-out once a limit is reached).
pub const WINDOW_MS: u64 = 15 * 60 * 1000;
/// Most addresses and names the limiter remembers; the oldest window goes first.
pub const MAX_TRACKED: usize = 10_000;

/// Counts failed sign-ins per client address and per account name in fixed windows.
#[derive(Debug, Default)]
pub struct SigninLimiter {
    map: Mutex<HashMap<String, (u64, u32)>>,
}

impl SigninLimiter {
    fn limit(key: &str) -> u32 {
        if key.starts_with("account:") { FAILURES_PER_ACCOUNT } else { FAILURES_PER_CLIENT }
    }

    /// `Err(seconds to wait)` when any of `keys` has used up its failures.
    pub fn check(&self, keys: &[String], now_ms: u64) -> Result<(), u64> {
        let Ok(map) = self.map.lock() else { return Ok(()) };
        let mut wait = 0;
        for k in keys {
            if let Some((start, n)) = map.get(k)
                && now_ms.saturating_sub(*start) < WINDOW_MS
                && *n >= Self::limit(k)
            {
                wait = wait.max((start + WINDOW_MS).saturating_sub(now_ms).div_ceil(1000));
            }
        }
        if wait > 0 { Err(wait) } else { Ok(()) }
    }

    pub fn failed(&self, keys: &[String], now_ms: u64) {
        let Ok(mut map) = self.map.lock() else { return };
        for k in keys {
            if !map.contains_key(k) && map.len() >= MAX_TRACKED {
                map.retain(|_, (start, _)| now_ms.saturating_sub(*start) < WINDOW_MS);
                if map.len() >= MAX_TRACKED
                    && let Some(oldest) = map.iter().min_by_key(|(_, (s, _))| *s).map(|(k, _)| k.clone())
                {
                    map.remove(&oldest);
                }
            }
            let e = map.entry(k.clone()).or_insert((now_ms, 0));
            if now_ms.saturating_sub(e.0) >= WINDOW_MS {
                *e = (now_ms, 0);
            }
            e.1 += 1;
        }
    }

    /// A successful sign-in clears the account's count (not the address's).
    pub fn succeeded(&self, account_key: &str) {
        if let Ok(mut map) = self.map.lock() {
            map.remove(account_key);
        }
    }

    pub fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The limiter keys of a sign-in attempt.
pub fn signin_keys(client: &str, name: &str) -> [String; 2] {
    [format!("client:{client}"), format!("account:{}", name.trim().to_ascii_lowercase())]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(name: &str) -> Holder {
        Holder::Account { name: name.into(), epoch: 1 }
    }

    #[test]
    fn sessions_expire_when_idle_or_old() {
        let s = Sessions::default();
        let id = s.create(holder("alice"), 0).expect("created");
        assert!(s.get(&id, IDLE_MS - 1).is_some());
        assert!(s.get(&id, ABSOLUTE_MS - 1).is_some(), "use renews the idle timer");
        assert!(s.get(&id, ABSOLUTE_MS).is_none(), "but not past the absolute limit");
        let id = s.create(holder("alice"), 0).expect("created");
        assert!(s.get(&id, IDLE_MS).is_none());
        assert!(s.get("not a session", 0).is_none());
    }

    #[test]
    fn the_session_table_is_bounded_per_account_and_in_all() {
        let s = Sessions::default();
        let first = s.create(holder("alice"), 0).expect("created");
        for t in 1..=MAX_SESSIONS_PER_USER as u64 {
            s.create(holder("alice"), t).expect("created");
        }
        assert_eq!(s.len(), MAX_SESSIONS_PER_USER);
        assert!(s.get(&first, 20).is_none(), "the oldest of the account's sessions went");
        for i in 0..MAX_SESSIONS + 5 {
            s.create(holder(&format!("u{i}")), 100 + i as u64);
        }
        assert_eq!(s.len(), MAX_SESSIONS);
        s.remove_account("u10004");
        assert_eq!(s.len(), MAX_SESSIONS - 1);
    }

    #[test]
    fn failures_lock_out_an_account_and_a_client_for_the_window() {
        let l = SigninLimiter::default();
        let keys = signin_keys("10.0.0.1", "alice");
        for _ in 0..FAILURES_PER_ACCOUNT {
            assert!(l.check(&keys, 1000).is_ok());
            l.failed(&keys, 1000);
        }
        assert_eq!(l.check(&keys, 1000), Err(WINDOW_MS / 1000));
        // Another account from the same address is not locked until the address's limit.
        let other = signin_keys("10.0.0.1", "bob");
        assert!(l.check(&other, 1000).is_ok());
        for _ in FAILURES_PER_ACCOUNT..FAILURES_PER_CLIENT {
            l.failed(&other, 1000);
        }
        assert!(l.check(&signin_keys("10.0.0.1", "carol"), 1000).is_err(), "the address is now locked");
        assert!(l.check(&keys, 1000 + WINDOW_MS).is_ok(), "the window passes");
    }

    #[test]
    fn the_limiter_is_bounded() {
        let l = SigninLimiter::default();
        for i in 0..MAX_TRACKED + 100 {
            l.failed(&[format!("client:{i}")], i as u64);
        }
        assert!(l.len() <= MAX_TRACKED);
    }
}
