//! The local control API: how `csx` commands reach a running daemon.
//!
//! A Unix socket `control.sock` in the home directory (which is `0700`), itself `0600`, accepts
//! one request per connection as a line of JSON, `{"token": "…", "request": {…}}`, and answers
//! one line, `{"ok": …}` or `{"error": {"kind": …, "message": …}}`. The token is a random secret
//! the daemon writes to `control.token` (`0600`) at start; a caller must be able to read it, and
//! must run as the same user as the daemon (checked with the socket's peer credentials).
//!
//! Bounded ([`ControlLimits`]): a request line is at most 16 MiB (an import of about ten
//! thousand rows; the client says so before sending more), it must arrive within 10 seconds of
//! connecting, a reply must be read within 30, and at most 64 connections are open at once —
//! beyond, the one that has waited longest without sending its request is closed to make room,
//! so a client that asks is always answered.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Notify;

use crate::api::{Request, Response};
use crate::error_kind::{ApiError, ErrorKind};
use crate::home::Home;
use crate::runtime::NodeApi;

/// Largest request line: an import of about ten thousand rows (JSON of the bodies).
pub const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;

/// Bounds of the control socket.
#[derive(Debug, Clone, Copy)]
pub struct ControlLimits {
    /// Largest request line.
    pub max_request_bytes: usize,
    /// Time a client has, once connected, to send its whole request.
    pub read_timeout: Duration,
    /// Time a client has to read the reply.
    pub write_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
}

impl Default for ControlLimits {
    fn default() -> Self {
        ControlLimits {
            max_request_bytes: MAX_REQUEST_BYTES,
            read_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
            max_connections: 64,
        }
    }
}

/// The open connections: which are still waiting for their request (and may be closed to make
/// room), and how to close them.
#[derive(Debug, Default)]
struct Slots {
    next: u64,
    open: HashMap<u64, Slot>,
}

#[derive(Debug)]
struct Slot {
    since: Instant,
    reading: bool,
    close: Arc<Notify>,
}

/// Whether a new connection may be served.
#[derive(Debug, PartialEq, Eq)]
enum Admit {
    /// Yes, as this slot (after closing `evicted`, the idle connection that waited longest).
    Yes { id: u64, evicted: Option<u64> },
    /// No: every slot is busy with a request being answered.
    Busy,
}

impl Slots {
    fn admit(&mut self, max: usize, now: Instant) -> (Admit, Arc<Notify>) {
        let close = Arc::new(Notify::new());
        let mut evicted = None;
        if self.open.len() >= max {
            let idle = self.open.iter().filter(|(_, s)| s.reading).min_by_key(|(_, s)| s.since).map(|(id, _)| *id);
            match idle {
                Some(id) => {
                    if let Some(slot) = self.open.remove(&id) {
                        slot.close.notify_one();
                    }
                    evicted = Some(id);
                }
                None => return (Admit::Busy, close),
            }
        }
        self.next += 1;
        let id = self.next;
        self.open.insert(id, Slot { since: now, reading: true, close: close.clone() });
        (Admit::Yes { id, evicted }, close)
    }

    fn busy(&mut self, id: u64) {
        if let Some(s) = self.open.get_mut(&id) {
            s.reading = false;
        }
    }

    fn close(&mut self, id: u64) {
        self.open.remove(&id);
    }
}

/// Frees a slot when its connection ends, however it ends.
struct SlotGuard {
    slots: Arc<Mutex<Slots>>,
    id: u64,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).close(self.id);
    }
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    token: String,
    request: Request,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Reply {
    Ok(Response),
    Error(ApiError),
}

pub fn socket_path(home: &Home) -> PathBuf {
    home.path("control.sock")
}

pub fn token_path(home: &Home) -> PathBuf {
    home.path("control.token")
}

/// The listening side, owned by the daemon.
#[derive(Debug)]
pub struct ControlServer {
    listener: UnixListener,
    token: String,
    socket: PathBuf,
    token_file: PathBuf,
    limits: ControlLimits,
    slots: Arc<Mutex<Slots>>,
}

impl ControlServer {
    /// Creates the token and binds the socket (replacing a stale one from a dead daemon).
    pub fn bind(home: &Home) -> Result<ControlServer, ApiError> {
        Self::bind_with(home, ControlLimits::default())
    }

    /// As [`ControlServer::bind`], with other limits (tests use short ones).
    pub fn bind_with(home: &Home, limits: ControlLimits) -> Result<ControlServer, ApiError> {
        let socket = socket_path(home);
        let token_file = token_path(home);
        if socket.exists() {
            if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
                return Err(ApiError::new(
                    ErrorKind::Unavailable,
                    format!("a daemon is already running for this home (its socket {} answers)", socket.display()),
                ));
            }
            let _ = std::fs::remove_file(&socket);
        }
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)
            .map_err(|e| ApiError::internal(format!("no randomness for the control token: {e}")))?;
        let token = hex::encode(secret);
        let _ = std::fs::remove_file(&token_file);
        crate::keyfile::write_private(&token_file, token.as_bytes())
            .map_err(|e| ApiError::internal(format!("cannot write {}: {e}", token_file.display())))?;
        let listener = UnixListener::bind(&socket).map_err(|e| {
            ApiError::new(ErrorKind::Unavailable, format!("cannot create the control socket {}: {e}", socket.display()))
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| ApiError::internal(format!("cannot restrict {}: {e}", socket.display())))?;
        }
        Ok(ControlServer { listener, token, socket, token_file, limits, slots: Arc::default() })
    }

    /// Serves requests until the returned future is dropped.
    pub async fn serve(&self, api: NodeApi) {
        let owner = owner_uid(&self.socket);
        loop {
            let (stream, _) = match self.listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("control socket accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let (admit, close) =
                self.slots.lock().unwrap_or_else(|p| p.into_inner()).admit(self.limits.max_connections, Instant::now());
            let id = match admit {
                Admit::Yes { id, evicted } => {
                    if evicted.is_some() {
                        tracing::warn!(
                            limit = self.limits.max_connections,
                            "control socket full: closed the connection idle longest to make room"
                        );
                    }
                    id
                }
                Admit::Busy => {
                    tracing::warn!(limit = self.limits.max_connections, "control socket full: refused a connection");
                    let busy = ApiError::new(
                        ErrorKind::Unavailable,
                        format!(
                            "the daemon is answering {} requests already; try again shortly",
                            self.limits.max_connections
                        ),
                    );
                    tokio::spawn(reply_and_close(stream, Reply::Error(busy), self.limits.write_timeout));
                    continue;
                }
            };
            let guard = SlotGuard { slots: self.slots.clone(), id };
            let api = api.clone();
            let token = self.token.clone();
            let limits = self.limits;
            tokio::spawn(async move {
                if let Err(e) = serve_one(stream, &token, owner, api, limits, guard, close).await {
                    tracing::debug!("control connection ended: {e}");
                }
            });
        }
    }
}

/// Writes one reply line and closes, within `timeout`.
async fn reply_and_close(stream: UnixStream, reply: Reply, timeout: Duration) {
    let (_, write) = stream.into_split();
    if let Err(e) = deliver(write, reply, timeout).await {
        tracing::debug!("a control reply could not be delivered: {e}");
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.socket);
        let _ = std::fs::remove_file(&self.token_file);
    }
}

fn owner_uid(path: &Path) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| m.uid())
}

/// Compares secrets in time independent of where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Why reading a request line stopped.
enum ReadFailure {
    TooLarge,
    TimedOut,
    Closed,
    Evicted,
    Io(std::io::Error),
}

/// Reads one request line of at most `limits.max_request_bytes`, within the read timeout,
/// unless the connection is closed to make room.
async fn read_request(
    read: tokio::net::unix::OwnedReadHalf,
    limits: &ControlLimits,
    close: &Notify,
) -> Result<String, ReadFailure> {
    let max = limits.max_request_bytes;
    let mut reader = tokio::io::BufReader::new(tokio::io::AsyncReadExt::take(read, max as u64 + 1));
    let mut line = Vec::new();
    let read = tokio::time::timeout(limits.read_timeout, reader.read_until(b'\n', &mut line));
    let n = tokio::select! {
        _ = close.notified() => return Err(ReadFailure::Evicted),
        r = read => match r {
            Err(_) => return Err(ReadFailure::TimedOut),
            Ok(Err(e)) => return Err(ReadFailure::Io(e)),
            Ok(Ok(n)) => n,
        },
    };
    if line.len() > max {
        return Err(ReadFailure::TooLarge);
    }
    if n == 0 {
        return Err(ReadFailure::Closed);
    }
    String::from_utf8(line).map_err(|_| ReadFailure::Io(std::io::ErrorKind::InvalidData.into()))
}

async fn serve_one(
    stream: UnixStream,
    token: &str,
    owner: Option<u32>,
    api: NodeApi,
    limits: ControlLimits,
    slot: SlotGuard,
    close: Arc<Notify>,
) -> std::io::Result<()> {
    let peer_uid = stream.peer_cred().ok().map(|c| c.uid());
    let (read, write) = stream.into_split();
    let failed = |message: String| Reply::Error(ApiError::invalid(message));
    let line = match read_request(read, &limits, &close).await {
        Ok(line) => Some(line),
        Err(ReadFailure::TooLarge) => {
            tracing::warn!(limit = limits.max_request_bytes, "refused a control request over the size limit");
            let reply = failed(format!(
                "request too large: over {} bytes, the control socket's limit; split an import into smaller files",
                limits.max_request_bytes
            ));
            return deliver(write, reply, limits.write_timeout).await;
        }
        Err(ReadFailure::TimedOut) => {
            let reply = failed(format!(
                "no complete request within {}s of connecting; closed",
                limits.read_timeout.as_secs_f64()
            ));
            return deliver(write, reply, limits.write_timeout).await;
        }
        Err(ReadFailure::Evicted) => {
            let reply = Reply::Error(ApiError::new(
                ErrorKind::Unavailable,
                "closed: the control socket is full and this connection sent no request",
            ));
            return deliver(write, reply, limits.write_timeout).await;
        }
        Err(ReadFailure::Closed) => None,
        Err(ReadFailure::Io(e)) => return Err(e),
    };
    let Some(line) = line else { return Ok(()) };
    slot.slots.lock().unwrap_or_else(|p| p.into_inner()).busy(slot.id);
    let reply = if owner.is_some() && peer_uid != owner {
        Reply::Error(ApiError::new(ErrorKind::Unavailable, "refused: the caller is not the user running the daemon"))
    } else {
        match serde_json::from_str::<Envelope>(&line) {
            Err(e) => Reply::Error(ApiError::invalid(format!("malformed control request: {e}"))),
            Ok(env) if !same(&env.token, token) => {
                tracing::warn!("refused a control request without the right token");
                Reply::Error(ApiError::new(ErrorKind::Unavailable, "refused: wrong or missing control token"))
            }
            Ok(env) => match api.handle(env.request).await {
                Ok(r) => Reply::Ok(r),
                Err(e) => Reply::Error(e),
            },
        }
    };
    deliver(write, reply, limits.write_timeout).await
}

/// Writes the reply line, within `timeout`, and closes the connection.
async fn deliver(mut write: tokio::net::unix::OwnedWriteHalf, reply: Reply, timeout: Duration) -> std::io::Result<()> {
    let mut out = serde_json::to_vec(&reply).unwrap_or_else(|e| {
        format!("{{\"error\":{{\"kind\":\"internal\",\"message\":\"cannot encode the reply: {e}\"}}}}").into_bytes()
    });
    out.push(b'\n');
    let send = async {
        write.write_all(&out).await?;
        write.shutdown().await
    };
    tokio::time::timeout(timeout, send).await.unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}

/// The CLI's side: a connection to the daemon of a home, if one is running.
#[derive(Debug)]
pub struct ControlClient {
    socket: PathBuf,
    token: String,
}

impl ControlClient {
    /// `Ok(None)` when no daemon runs for this home (no socket, or a stale one).
    pub fn connect(home: &Home) -> Result<Option<ControlClient>, ApiError> {
        let socket = socket_path(home);
        if !socket.exists() {
            return Ok(None);
        }
        match std::os::unix::net::UnixStream::connect(&socket) {
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound) => {
                return Ok(None);
            }
            Err(e) => {
                return Err(ApiError::new(
                    ErrorKind::Unavailable,
                    format!("cannot reach the daemon at {}: {e}", socket.display()),
                ));
            }
        }
        let token_file = token_path(home);
        let token = std::fs::read_to_string(&token_file).map_err(|e| {
            ApiError::new(
                ErrorKind::Unavailable,
                format!("a daemon runs for this home but its token {} cannot be read: {e}", token_file.display()),
            )
        })?;
        Ok(Some(ControlClient { socket, token: token.trim().to_string() }))
    }

    /// A client with an explicit token (tests use it to check refusals).
    pub fn with_token(socket: PathBuf, token: String) -> ControlClient {
        ControlClient { socket, token }
    }

    /// Sends one request and waits for its reply (up to `timeout`).
    pub fn call(&self, request: &Request, timeout: Duration) -> Result<Response, ApiError> {
        let unavailable =
            |e: std::io::Error| ApiError::new(ErrorKind::Unavailable, format!("the daemon did not answer: {e}"));
        let mut stream = std::os::unix::net::UnixStream::connect(&self.socket).map_err(unavailable)?;
        stream.set_read_timeout(Some(timeout)).map_err(unavailable)?;
        #[derive(Serialize)]
        struct Out<'a> {
            token: &'a str,
            request: &'a Request,
        }
        let mut line = serde_json::to_vec(&Out { token: &self.token, request })
            .map_err(|e| ApiError::internal(format!("cannot encode the request: {e}")))?;
        if line.len() > MAX_REQUEST_BYTES {
            return Err(ApiError::invalid(format!(
                "the request is {:.1} MiB, over the daemon's limit of {} MiB; split the import into smaller files",
                line.len() as f64 / (1024.0 * 1024.0),
                MAX_REQUEST_BYTES / (1024 * 1024)
            )));
        }
        line.push(b'\n');
        stream.write_all(&line).map_err(unavailable)?;
        let mut reply = String::new();
        BufReader::new(stream).read_line(&mut reply).map_err(|e| {
            if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) {
                ApiError::new(ErrorKind::Timeout, format!("the daemon did not answer within {}s", timeout.as_secs()))
            } else {
                unavailable(e)
            }
        })?;
        match serde_json::from_str::<Reply>(&reply) {
            Ok(Reply::Ok(r)) => Ok(r),
            Ok(Reply::Error(e)) => Err(e),
            Err(e) => Err(ApiError::internal(format!("the daemon's reply is malformed: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_socket_closes_the_connection_idle_longest_or_refuses_when_all_are_busy() {
        let mut slots = Slots::default();
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let (first, first_close) = slots.admit(2, at(0));
        let (second, _) = slots.admit(2, at(1));
        assert_eq!(first, Admit::Yes { id: 1, evicted: None });
        assert_eq!(second, Admit::Yes { id: 2, evicted: None });
        // Full: the first (idle, oldest) makes room and is told to close.
        assert_eq!(slots.admit(2, at(2)).0, Admit::Yes { id: 3, evicted: Some(1) });
        let told = first_close.notified();
        tokio::pin!(told);
        assert!(futures::FutureExt::now_or_never(told.as_mut()).is_some(), "the evicted connection is told");
        // Connections answering a request are never evicted.
        slots.busy(2);
        slots.busy(3);
        assert_eq!(slots.admit(2, at(3)).0, Admit::Busy);
        slots.close(2);
        assert_eq!(slots.admit(2, at(4)).0, Admit::Yes { id: 4, evicted: None });
        assert_eq!(slots.open.len(), 2);
    }
}
