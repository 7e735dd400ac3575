//! The local control API: how `csx` commands reach a running daemon.
//!
//! A Unix socket `control.sock` in the home directory (which is `0700`), itself `0600`, accepts
//! one request per connection as a line of JSON, `{"token": "…", "request": {…}}`, and answers
//! one line, `{"ok": …}` or `{"error": {"kind": …, "message": …}}`. The token is a random secret
//! the daemon writes to `control.token` (`0600`) at start; a caller must be able to read it, and
//! must run as the same user as the daemon (checked with the socket's peer credentials).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

use crate::api::{ApiError, ErrorKind, Request, Response};
use crate::home::Home;
use crate::runtime::NodeApi;

/// Largest request line (an import of many records is one request).
const MAX_REQUEST_BYTES: u64 = 64 * 1024 * 1024;

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
}

impl ControlServer {
    /// Creates the token and binds the socket (replacing a stale one from a dead daemon).
    pub fn bind(home: &Home) -> Result<ControlServer, ApiError> {
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
        Ok(ControlServer { listener, token, socket, token_file })
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
            let api = api.clone();
            let token = self.token.clone();
            tokio::spawn(async move {
                if let Err(e) = serve_one(stream, &token, owner, api).await {
                    tracing::debug!("control connection ended: {e}");
                }
            });
        }
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

async fn serve_one(stream: UnixStream, token: &str, owner: Option<u32>, api: NodeApi) -> std::io::Result<()> {
    let peer_uid = stream.peer_cred().ok().map(|c| c.uid());
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = tokio::io::BufReader::new(tokio::io::AsyncReadExt::take(read, MAX_REQUEST_BYTES));
    reader.read_line(&mut line).await?;
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
    let mut out = serde_json::to_vec(&reply).unwrap_or_else(|e| {
        format!("{{\"error\":{{\"kind\":\"internal\",\"message\":\"cannot encode the reply: {e}\"}}}}").into_bytes()
    });
    out.push(b'\n');
    write.write_all(&out).await?;
    write.shutdown().await
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
