//! Signing in and out: the password form (rate-limited, failures logged and audited), the
//! one-time link that sets a password, and the owner's link of `csx dashboard`.

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};

use super::{Page, PageError, render, safe_next};
use crate::accounts::{self, AccountError};
use crate::app::App;
use crate::auth::{Client, SESSION_COOKIE, SIGNIN_COOKIE, User, cookie, same, set_cookie};
use crate::html::error_summary;
use crate::sessions::{ABSOLUTE_MS, Holder, signin_keys};

#[derive(Template)]
#[template(path = "signin.html")]
struct SigninPage {
    page: Page,
    errors: String,
    csrf: String,
    name: String,
    next: String,
}

#[derive(Template)]
#[template(path = "set_password.html")]
struct SetPasswordPage {
    page: Page,
    errors: String,
    csrf: String,
    name: String,
    action: String,
    password_error: Option<String>,
}

/// A fresh value for the sign-in forms' CSRF cookie, or the one the browser already holds.
fn form_token(headers: &axum::http::HeaderMap) -> Result<String, PageError> {
    match cookie(headers, SIGNIN_COOKIE) {
        Some(t) if t.len() == 64 => Ok(t),
        _ => accounts::random_secret().map_err(|e| PageError::Internal(e.to_string())),
    }
}

fn with_form_cookie(app: &App, token: &str, r: Result<Response, PageError>) -> Result<Response, PageError> {
    let mut r = r?;
    if let Ok(v) = set_cookie(app, SIGNIN_COOKIE, token, Some(3600)).parse() {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(r)
}

/// Checks the double-submitted CSRF token of a sign-in form.
fn check_form_token(headers: &axum::http::HeaderMap, form: &HashMap<String, String>) -> Result<(), PageError> {
    match (cookie(headers, SIGNIN_COOKIE), form.get("csrf")) {
        (Some(c), Some(f)) if !c.is_empty() && same(&c, f) => Ok(()),
        _ => Err(PageError::Csrf),
    }
}

/// Starts a session and sends the browser on to `next`.
fn signed_in(app: &App, holder: Holder, next: &str) -> Result<Response, PageError> {
    let secret =
        app.sessions.create(holder, app.now()).ok_or_else(|| PageError::Internal("cannot start a session".into()))?;
    let mut r = Redirect::to(&safe_next(next)).into_response();
    let v = set_cookie(app, SESSION_COOKIE, &secret, Some((ABSOLUTE_MS / 1000) as i64));
    r.headers_mut().append(header::SET_COOKIE, v.parse().map_err(|_| PageError::Internal("bad cookie".into()))?);
    Ok(r)
}

pub async fn form(
    State(app): State<Arc<App>>,
    headers: axum::http::HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let token = form_token(&headers)?;
    let next = safe_next(q.get("next").map(String::as_str).unwrap_or("/"));
    let t = SigninPage {
        page: Page::bare("Sign in"),
        errors: String::new(),
        csrf: token.clone(),
        name: String::new(),
        next,
    };
    with_form_cookie(&app, &token, render(&t))
}

pub async fn submit(
    State(app): State<Arc<App>>,
    Client(client): Client,
    headers: axum::http::HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    check_form_token(&headers, &form)?;
    let name = form.get("name").map(|s| s.trim().to_ascii_lowercase()).unwrap_or_default();
    let password = form.get("password").cloned().unwrap_or_default();
    let next = safe_next(form.get("next").map(String::as_str).unwrap_or("/"));
    let token = form_token(&headers)?;
    let again = |message: &str| {
        let t = SigninPage {
            page: Page::bare("Sign in"),
            errors: error_summary(&[(Some("name".into()), message.to_string())]),
            csrf: token.clone(),
            name: name.clone(),
            next: next.clone(),
        };
        with_form_cookie(&app, &token, render(&t))
    };
    let keys = signin_keys(&client, &name);
    let now = app.now();
    if let Err(wait) = app.limiter.check(&keys, now) {
        tracing::warn!(client = %client, "sign-in refused: too many failures; locked for {wait}s");
        let mut r = again(&format!(
            "Too many failed sign-ins for this account or from this computer. Try again in {} minutes.",
            wait.div_ceil(60)
        ))?;
        *r.status_mut() = axum::http::StatusCode::TOO_MANY_REQUESTS;
        return Ok(r);
    }
    if name.is_empty() || password.is_empty() {
        return again("Enter your account name and password");
    }
    let accounts = app.accounts.clone();
    let (n, p) = (name.clone(), password);
    let verified = super::blocking(move || accounts.verify(&n, &p)).await?;
    match verified {
        Some(account) => {
            app.limiter.succeeded(&keys[1]);
            tracing::info!(user = %account.name, client = %client, "signed in");
            app.audit(&account.name, "web", "signin", "signed in with a password".into(), vec![], &client);
            signed_in(&app, Holder::Account { name: account.name, epoch: account.epoch }, &next)
        }
        None => {
            app.limiter.failed(&keys, now);
            // Name the account only when it exists: a mistyped password in the name field is
            // never written to a log.
            let known = app.accounts.get(&name).ok().flatten().map(|a| a.name);
            let who = known.clone().unwrap_or_else(|| "(unknown account)".into());
            tracing::warn!(user = %who, client = %client, "failed sign-in");
            app.audit(&who, "web", "signin_failed", "wrong account name or password".into(), vec![], &client);
            again("Enter a correct account name and password")
        }
    }
}

pub async fn link_form(
    State(app): State<Arc<App>>,
    headers: axum::http::HeaderMap,
    Path(secret): Path<String>,
) -> Result<Response, PageError> {
    let account = app.accounts.link_account(&secret, app.now()).map_err(link_error)?;
    let token = form_token(&headers)?;
    let t = SetPasswordPage {
        page: Page::bare("Set your password"),
        errors: String::new(),
        csrf: token.clone(),
        name: account.name,
        action: format!("/signin/link/{secret}"),
        password_error: None,
    };
    with_form_cookie(&app, &token, render(&t))
}

fn link_error(e: AccountError) -> PageError {
    match e {
        AccountError::BadLink => PageError::NotFound(e.to_string()),
        other => PageError::Internal(other.to_string()),
    }
}

pub async fn link_submit(
    State(app): State<Arc<App>>,
    Client(client): Client,
    headers: axum::http::HeaderMap,
    Path(secret): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    check_form_token(&headers, &form)?;
    let account = app.accounts.link_account(&secret, app.now()).map_err(link_error)?;
    let password = form.get("password").cloned().unwrap_or_default();
    let confirm = form.get("confirm").cloned().unwrap_or_default();
    if let Err(message) = accounts::check_password(&account.name, &password, &confirm) {
        let token = form_token(&headers)?;
        let t = SetPasswordPage {
            page: Page::bare("Set your password"),
            errors: error_summary(&[(Some("password".into()), message.clone())]),
            csrf: token.clone(),
            name: account.name,
            action: format!("/signin/link/{secret}"),
            password_error: Some(message),
        };
        return with_form_cookie(&app, &token, render(&t));
    }
    let hash = super::blocking(move || accounts::hash_password(&password)).await?;
    let account = app.accounts.redeem_link(&secret, hash, app.now()).map_err(link_error)?;
    app.sessions.remove_account(&account.name);
    tracing::info!(user = %account.name, client = %client, "password set with a sign-in link");
    app.audit(
        &account.name,
        "web",
        "password_set",
        "set a password with a one-time sign-in link".into(),
        vec![],
        &client,
    );
    signed_in(&app, Holder::Account { name: account.name, epoch: account.epoch }, "/")
}

pub async fn owner(
    State(app): State<Arc<App>>,
    Client(client): Client,
    Path(secret): Path<String>,
) -> Result<Response, PageError> {
    if !app.take_owner_link(&secret) {
        return Err(PageError::NotFound(
            "This sign-in link was used already or has expired. Stop `csx dashboard` and start it again for a new one."
                .into(),
        ));
    }
    let name = std::env::var("USER").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| "owner".into());
    tracing::info!(user = %name, client = %client, "signed in with the owner's link of csx dashboard");
    app.audit(
        &format!("owner:{name}"),
        "web",
        "signin",
        "signed in with the link of `csx dashboard`".into(),
        vec![],
        &client,
    );
    signed_in(&app, Holder::Owner { name }, "/")
}

pub async fn signout(
    State(app): State<Arc<App>>,
    user: User,
    headers: axum::http::HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    user.check_csrf(&form)?;
    if let Some(secret) = cookie(&headers, SESSION_COOKIE) {
        app.sessions.remove(&secret);
    }
    app.audit(&user.audit_name(), "web", "signout", "signed out".into(), vec![], &user.client);
    let mut r = Redirect::to("/signin").into_response();
    if let Ok(v) = set_cookie(&app, SESSION_COOKIE, "", Some(0)).parse() {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(r)
}
