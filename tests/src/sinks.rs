//! Receivers for alert delivery, run by the tests themselves: an HTTP server that records what
//! is POSTed to it (answering 500 to the first few requests, to prove retries), and an SMTP
//! server (Python's aiosmtpd, which `.ci/run` installs) that parses each message it receives.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

use crate::process::{Proc, free_port, wait_for};

/// One request the webhook receiver took.
#[derive(Debug, Clone)]
pub struct Hit {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// What the receiver answered.
    pub status: u16,
}

impl Hit {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

#[derive(Debug, Default)]
struct Inner {
    hits: Vec<Hit>,
    /// Requests still to answer with 500.
    fail: usize,
}

/// A webhook receiver on 127.0.0.1, in a thread of its own (so blocking tests can use it).
#[derive(Debug, Clone)]
pub struct WebhookSink {
    pub port: u16,
    inner: Arc<Mutex<Inner>>,
}

impl WebhookSink {
    /// Starts a receiver that answers 500 to the first `fail` requests and 200 after.
    pub fn start(fail: usize) -> WebhookSink {
        let inner = Arc::new(Mutex::new(Inner { hits: vec![], fail }));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let state = inner.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async move {
                let app = axum::Router::new().fallback(receive).with_state(state);
                let l = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                let _ = axum::serve(l, app).await;
            });
        });
        WebhookSink { port, inner }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.inner.lock().expect("lock").hits.clone()
    }

    /// Requests answered 200 whose path is `path`.
    pub fn delivered(&self, path: &str) -> Vec<Hit> {
        self.hits().into_iter().filter(|h| h.status == 200 && h.path == path).collect()
    }
}

async fn receive(
    State(state): State<Arc<Mutex<Inner>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let mut s = state.lock().expect("lock");
    let status = if s.fail > 0 {
        s.fail -= 1;
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    let headers =
        headers.iter().map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or_default().to_string())).collect();
    s.hits.push(Hit { path: uri.path().to_string(), headers, body: body.to_vec(), status: status.as_u16() });
    status
}

/// Checks `X-Csx-Signature` of `hit` under `secret`, independently of csx's own code: the
/// HMAC-SHA256 of "<timestamp>.<body>", hex, after `sha256=`.
pub fn signature_valid(hit: &Hit, secret: &[u8]) -> bool {
    use hmac::{KeyInit, Mac};
    let (Some(ts), Some(sig)) = (hit.header("x-csx-timestamp"), hit.header("x-csx-signature")) else { return false };
    let Some(hex_sig) = sig.strip_prefix("sha256=") else { return false };
    let Ok(given) = hex::decode(hex_sig) else { return false };
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret).expect("any key length");
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(&hit.body);
    mac.verify_slice(&given).is_ok()
}

/// The Python that has aiosmtpd (`python3` first, then the system's).
pub fn python_with_aiosmtpd() -> Option<PathBuf> {
    ["python3", "/usr/bin/python3"].into_iter().map(PathBuf::from).find(|p| {
        Command::new(p)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

const SMTP_SINK: &str = r#"
import sys, os, json, email, time
from email import policy
from aiosmtpd.controller import Controller

port, out = int(sys.argv[1]), sys.argv[2]
n = [0]

class Handler:
    async def handle_DATA(self, server, session, envelope):
        m = email.message_from_bytes(envelope.content, policy=policy.default)
        body = m.get_body(preferencelist=("plain",))
        doc = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(m["From"]),
            "to": str(m["To"]),
            "subject": str(m["Subject"]),
            "content_type": m.get_content_type(),
            "body": body.get_content().replace("\r\n", "\n") if body is not None else "",
        }
        n[0] += 1
        tmp = os.path.join(out, "%04d.tmp" % n[0])
        with open(tmp, "w") as f:
            json.dump(doc, f)
        os.rename(tmp, os.path.join(out, "%04d.json" % n[0]))
        return "250 OK"

c = Controller(Handler(), hostname="127.0.0.1", port=port)
c.start()
open(os.path.join(out, "ready"), "w").close()
while True:
    time.sleep(3600)
"#;

/// An SMTP server started by the test; each message it receives is parsed (by Python's
/// `email` package) and written as a JSON file.
pub struct SmtpSink {
    pub port: u16,
    dir: PathBuf,
    _proc: Proc,
}

impl SmtpSink {
    /// Starts the server; `None` when no Python with aiosmtpd is installed.
    pub fn start(dir: &Path) -> Option<SmtpSink> {
        let python = python_with_aiosmtpd()?;
        std::fs::create_dir_all(dir).expect("mail dir");
        let port = free_port();
        let child = Command::new(python)
            .args(["-c", SMTP_SINK, &port.to_string()])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python starts");
        let proc = Proc { child, name: "smtp sink".into() };
        wait_for("the SMTP sink listens", Duration::from_secs(20), || dir.join("ready").exists());
        Some(SmtpSink { port, dir: dir.to_path_buf(), _proc: proc })
    }

    /// The messages received so far, in order.
    pub fn messages(&self) -> Vec<Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .expect("mail dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        files.iter().map(|p| serde_json::from_slice(&std::fs::read(p).expect("reads")).expect("json")).collect()
    }
}

/// Requires the SMTP sink: CI installs aiosmtpd, so its absence there is a failure; elsewhere
/// the caller is told how to install it.
pub fn smtp_sink(dir: &Path) -> SmtpSink {
    SmtpSink::start(dir).expect("python3 with aiosmtpd is needed (apt-get install python3-aiosmtpd, as .ci/run does)")
}
