//! The dashboard's shared state and its HTTP server.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::{get, post};
use csx_node::home::{Home, PublicIdentity};
use csx_node::service::Clock;

use crate::accounts::{Accounts, digest, random_secret};
use crate::audit::{AuditLog, Entry};
use crate::link::NodeLink;
use crate::sessions::{Sessions, SigninLimiter};

/// Largest request body accepted (a CSV import is the largest legitimate one).
pub const MAX_BODY: usize = 10 * 1024 * 1024;

/// How the dashboard is reached.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The address people use (e.g. `https://csx.example.nhs.uk`), for sign-in links; also says
    /// whether cookies must be `Secure` (an `https` address, or built-in TLS).
    pub public_url: String,
    /// TLS is terminated by this process (built-in TLS).
    pub tls: bool,
    /// Take the client's address from the last `X-Forwarded-For` entry (behind a reverse proxy).
    pub trust_proxy: bool,
}

impl Settings {
    pub fn secure_cookies(&self) -> bool {
        self.tls || self.public_url.starts_with("https://")
    }
}

/// Everything a request handler needs.
pub struct App {
    pub node: NodeLink,
    pub home: Home,
    pub identity: PublicIdentity,
    pub federation: String,
    pub accounts: Accounts,
    pub audit: AuditLog,
    pub sessions: Sessions,
    pub limiter: SigninLimiter,
    pub settings: Settings,
    clock: Clock,
    /// Digests of the owner's one-time sign-in links (`csx dashboard`).
    owner_links: Mutex<Vec<(String, u64)>>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").field("org", &self.identity.ods_code).finish()
    }
}

/// Why the dashboard could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Home(#[from] csx_node::home::HomeError),
    #[error(
        "cannot listen for the dashboard on {addr}: {source}; choose another address with [web] listen in config.toml or --web-listen (`off` turns the dashboard off)"
    )]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("dashboard TLS: {0}")]
    Tls(String),
    #[error("{0}")]
    Config(String),
}

/// How long the owner's one-time link from `csx dashboard` stays valid.
pub const OWNER_LINK_MS: u64 = 24 * 3600 * 1000;

impl App {
    pub fn new(node: NodeLink, home: Home, settings: Settings, clock: Clock) -> Result<Arc<App>, StartError> {
        let identity = home.identity()?;
        let federation = home.genesis()?.name;
        Ok(Arc::new(App {
            node,
            accounts: Accounts::open(home.root()),
            audit: AuditLog::open(home.root()),
            home,
            identity,
            federation,
            sessions: Sessions::default(),
            limiter: SigninLimiter::default(),
            settings,
            clock,
            owner_links: Mutex::new(Vec::new()),
        }))
    }

    pub fn now(&self) -> u64 {
        (self.clock)()
    }

    /// A one-time link that signs the person running `csx dashboard` in as an administrator
    /// (the path part; put the address in front).
    pub fn owner_link(&self) -> Option<String> {
        let secret = random_secret().ok()?;
        let mut links = self.owner_links.lock().ok()?;
        let now = self.now();
        links.retain(|(_, exp)| *exp > now);
        links.truncate(16);
        links.push((digest(&secret), now + OWNER_LINK_MS));
        Some(format!("/signin/owner/{secret}"))
    }

    /// Uses up an owner link; true if it was valid.
    pub fn take_owner_link(&self, secret: &str) -> bool {
        let d = digest(secret);
        let now = self.now();
        let Ok(mut links) = self.owner_links.lock() else { return false };
        let before = links.len();
        links.retain(|(x, exp)| *x != d && *exp > now);
        links.len() < before
    }

    /// Writes an audit entry.
    pub fn audit(&self, user: &str, via: &str, action: &str, detail: String, records: Vec<String>, client: &str) {
        self.audit.record(Entry {
            at: self.now(),
            user: user.to_string(),
            via: via.to_string(),
            action: action.to_string(),
            detail,
            records,
            client: Some(client.to_string()),
        });
    }
}

/// The dashboard's routes.
pub fn router(app: Arc<App>) -> Router {
    use crate::pages::*;
    Router::new()
        .route("/", get(overview::page))
        .route("/prices", get(prices::page))
        .route("/providers", get(providers::page))
        .route("/providers/{code}", get(providers::one))
        .route("/switching", get(switching::page))
        .route("/motions", get(motions::page))
        .route("/motions/{id}", get(motions::one))
        .route("/motions/{id}/support", post(motions::support))
        .route("/renewals", get(renewals::page))
        .route("/tenders", get(tenders::page))
        .route("/tenders/join", post(tenders::join))
        .route("/alerts", get(alerts::page))
        .route("/alerts/rules", post(alerts::mute))
        .route("/record", get(record::index))
        .route("/record/{kind}", get(record::form).post(record::submit))
        .route("/import", get(import::form).post(import::submit))
        .route("/records", get(record::mine))
        .route("/retract/{id}", get(record::retract_form).post(record::retract))
        .route("/saved", get(record::saved))
        .route("/node", get(node::page))
        .route("/node/endorse", post(node::endorse))
        .route("/accounts", get(accounts::page).post(accounts::add))
        .route("/accounts/{name}/{action}", post(accounts::act))
        .route("/account", get(account::page))
        .route("/account/password", post(account::password))
        .route("/account/tokens", post(account::create_token))
        .route("/account/tokens/{id}/revoke", post(account::revoke_token))
        .route("/signin", get(signin::form).post(signin::submit))
        .route("/signin/owner/{secret}", get(signin::owner))
        .route("/signin/link/{secret}", get(signin::link_form).post(signin::link_submit))
        .route("/signout", post(signin::signout))
        .route("/help/api", get(crate::api::help))
        .nest("/api/v1", crate::api::routes())
        .route("/assets/{*path}", get(crate::assets::serve))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(app)
}

async fn not_found() -> crate::pages::PageError {
    crate::pages::PageError::NotFound("There is no page at this address.".into())
}

/// Headers every response carries: no framing, no inline script, no referrer to other sites
/// (sign-in links carry a secret in their path), and no caching of pages that hold market data.
async fn security_headers(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let asset = request.uri().path().starts_with("/assets/");
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
        ),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Same-origin, not no-referrer: with no-referrer, browsers send `Origin: null` on forms.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !asset {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Serves the dashboard on `listener` until `shutdown` resolves.
pub async fn serve(
    app: Arc<App>,
    listener: tokio::net::TcpListener,
    tls: Option<crate::tls::Acceptor>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let service = router(app).into_make_service_with_connect_info::<ClientAddr>();
    match tls {
        None => axum::serve(listener, service).with_graceful_shutdown(shutdown).await,
        Some(acceptor) => {
            axum::serve(crate::tls::TlsListener::new(listener, acceptor), service)
                .with_graceful_shutdown(shutdown)
                .await
        }
    }
}

/// The address a connection came from (the connection info every request carries).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>> for ClientAddr {
    fn connect_info(stream: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> ClientAddr {
        ClientAddr(*stream.remote_addr())
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, crate::tls::TlsListener>> for ClientAddr {
    fn connect_info(stream: axum::serve::IncomingStream<'_, crate::tls::TlsListener>) -> ClientAddr {
        ClientAddr(*stream.remote_addr())
    }
}

/// Binds `addr`, naming the address and the remedy when it cannot.
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, StartError> {
    tokio::net::TcpListener::bind(addr).await.map_err(|source| StartError::Bind { addr, source })
}

/// A running dashboard.
#[derive(Debug)]
pub struct Running {
    pub app: Arc<App>,
    /// The address people use (for sign-in links).
    pub base_url: String,
    pub local_addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Stops accepting requests, lets requests in flight finish, and returns.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(Err(e)) => tracing::error!("the dashboard stopped with an error: {e}"),
            Err(e) => tracing::error!("the dashboard task failed: {e}"),
            Ok(Ok(())) => {}
        }
    }
}

/// Starts the dashboard `config` describes over `node`; `None` when it is configured off.
pub async fn start(
    node: NodeLink,
    home: Home,
    config: &csx_node::config::WebConfig,
    clock: Clock,
) -> Result<Option<Running>, StartError> {
    let Some(addr) = config.listen_addr().map_err(|e| StartError::Config(e.to_string()))? else { return Ok(None) };
    let tls = match config.tls_files().map_err(|e| StartError::Config(e.to_string()))? {
        Some((cert, key)) => Some(crate::tls::Acceptor::from_files(&cert, &key).map_err(StartError::Tls)?),
        None => None,
    };
    let listener = bind(addr).await?;
    let local_addr = listener.local_addr().map_err(|source| StartError::Bind { addr, source })?;
    // With port 0 the address people use is the one the system chose.
    let with_port = csx_node::config::WebConfig { listen: local_addr.to_string(), ..config.clone() };
    let base_url = with_port.base_url().map_err(|e| StartError::Config(e.to_string()))?;
    let settings = Settings {
        public_url: config.public_url.trim().to_string(),
        tls: tls.is_some(),
        trust_proxy: config.trust_proxy,
    };
    let app = App::new(node, home, settings, clock)?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve(app.clone(), listener, tls, async move {
        let _ = stopped.await;
    }));
    tracing::info!(address = %base_url, "dashboard started");
    Ok(Some(Running { app, base_url, local_addr, stop, task }))
}
