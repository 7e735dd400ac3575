//! Who is asking: the signed-in session (cookie) or, on the API, a per-user token; the role
//! check every handler makes; CSRF tokens and the same-origin check on every form.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use cookie::{Cookie, SameSite};

use crate::accounts::Role;
use crate::app::App;
use crate::pages::PageError;
use crate::sessions::Holder;

pub const SESSION_COOKIE: &str = "csx_session";
/// The sign-in form's CSRF cookie (double submit: the form carries the same value).
pub const SIGNIN_COOKIE: &str = "csx_signin";

/// How the request was authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Session,
    Token,
}

/// The person making the request.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub role: Role,
    /// The session's CSRF token (empty for API tokens, which cannot post forms).
    pub csrf: String,
    pub via: Via,
    /// Signed in with the owner link of `csx dashboard`.
    pub owner: bool,
    /// The client's address, for logs and the audit log.
    pub client: String,
}

impl User {
    /// Refuses the request unless the user's role includes `needed`.
    pub fn require(&self, needed: Role) -> Result<(), PageError> {
        if self.role >= needed {
            Ok(())
        } else {
            Err(PageError::Forbidden(format!(
                "This needs the {needed} role; your account ({}) is a {}. Ask your csx administrator if you need it.",
                self.name, self.role
            )))
        }
    }

    /// Checks the CSRF token a form carried (field `csrf`).
    pub fn check_csrf(&self, form: &HashMap<String, String>) -> Result<(), PageError> {
        match form.get("csrf") {
            Some(t) if self.via == Via::Session && !self.csrf.is_empty() && same(t, &self.csrf) => Ok(()),
            _ => Err(PageError::Csrf),
        }
    }

    /// The name the audit log gives this user.
    pub fn audit_name(&self) -> String {
        if self.owner { format!("owner:{}", self.name) } else { self.name.clone() }
    }
}

/// Compares secrets in time independent of where they differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of cookie `name`, if the request carries it.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| Cookie::split_parse(v.to_string()))
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_string())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, path `/`, and Secure when served over TLS.
pub fn set_cookie(app: &App, name: &str, value: &str, max_age_secs: Option<i64>) -> String {
    let mut c = Cookie::build((name.to_string(), value.to_string()))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .secure(app.settings.secure_cookies());
    if let Some(s) = max_age_secs {
        c = c.max_age(cookie::time::Duration::seconds(s));
    }
    c.build().to_string()
}

/// The client's address: the connection's, or behind a trusted proxy the last
/// `X-Forwarded-For` entry (the address the proxy saw).
pub fn client_addr(app: &App, parts: &Parts) -> String {
    if app.settings.trust_proxy
        && let Some(last) = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|s| !s.is_empty())
    {
        return last.chars().take(64).collect();
    }
    parts
        .extensions
        .get::<ConnectInfo<crate::app::ClientAddr>>()
        .map(|c| c.0.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// The client's address as an extractor.
#[derive(Debug, Clone)]
pub struct Client(pub String);

impl FromRequestParts<Arc<App>> for Client {
    type Rejection = PageError;
    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Client, PageError> {
        Ok(Client(client_addr(app, parts)))
    }
}

/// Refuses a form posted from another site (a second line of defence beside the CSRF token):
/// when the browser names the request's origin, it must be this server's.
pub fn same_origin(parts: &Parts) -> bool {
    let Some(origin) = parts.headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return true };
    let Some(host) = parts.headers.get(header::HOST).and_then(|v| v.to_str().ok()) else { return false };
    let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or(origin);
    origin_host.eq_ignore_ascii_case(host)
}

impl FromRequestParts<Arc<App>> for User {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<User, PageError> {
        let client = client_addr(app, parts);
        // Under a nested router the URI is cut short: the original says where the request went.
        let uri = parts
            .extensions
            .get::<axum::extract::OriginalUri>()
            .map(|o| o.0.clone())
            .unwrap_or_else(|| parts.uri.clone());
        let api = uri.path().starts_with("/api/");
        if parts.method != axum::http::Method::GET && parts.method != axum::http::Method::HEAD && !same_origin(parts) {
            tracing::warn!(client = %client, path = %parts.uri.path(), "refused a form posted from another site");
            return Err(PageError::Csrf);
        }
        if let Some(secret) = cookie(&parts.headers, SESSION_COOKIE)
            && let Some(s) = app.sessions.get(&secret, app.now())
        {
            match &s.holder {
                Holder::Owner { name } => {
                    return Ok(User {
                        name: name.clone(),
                        role: Role::Admin,
                        csrf: s.csrf.clone(),
                        via: Via::Session,
                        owner: true,
                        client,
                    });
                }
                Holder::Account { name, epoch } => {
                    let account = app.accounts.get(name).map_err(|e| PageError::Internal(e.to_string()))?;
                    match account {
                        Some(a) if !a.disabled && a.epoch == *epoch => {
                            return Ok(User {
                                name: a.name,
                                role: a.role,
                                csrf: s.csrf.clone(),
                                via: Via::Session,
                                owner: false,
                                client,
                            });
                        }
                        _ => app.sessions.remove(&secret),
                    }
                }
            }
        }
        if api && let Some(token) = bearer(&parts.headers) {
            let account = app.accounts.by_token(&token).map_err(|e| PageError::Internal(e.to_string()))?;
            return match account {
                Some(a) => {
                    Ok(User { name: a.name, role: a.role, csrf: String::new(), via: Via::Token, owner: false, client })
                }
                None => {
                    tracing::warn!(client = %client, "refused an API request with an unknown or revoked token");
                    Err(PageError::SignIn { api, next: String::new() })
                }
            };
        }
        let next = uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_default();
        Err(PageError::SignIn { api, next })
    }
}

/// The API token of `Authorization: Bearer TOKEN`, or of Basic authentication with the token as
/// the password (what Excel's and Power BI's "From Web" dialogs send).
fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.trim().to_string());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, rest.trim()).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (_, password) = text.split_once(':')?;
        return Some(password.to_string());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_authentication_carries_the_token_as_password() {
        let mut h = HeaderMap::new();
        // "alice:csxt_abc" in base64.
        h.insert(header::AUTHORIZATION, "Basic YWxpY2U6Y3N4dF9hYmM=".parse().expect("header"));
        assert_eq!(bearer(&h).as_deref(), Some("csxt_abc"));
        h.insert(header::AUTHORIZATION, "Bearer csxt_def".parse().expect("header"));
        assert_eq!(bearer(&h).as_deref(), Some("csxt_def"));
        h.insert(header::AUTHORIZATION, "Basic !!!".parse().expect("header"));
        assert_eq!(bearer(&h), None);
    }

    #[test]
    fn cookies_are_found_among_several() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "a=1; csx_session=xyz; b=2".parse().expect("header"));
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("xyz"));
        assert_eq!(cookie(&h, "c"), None);
    }
}
