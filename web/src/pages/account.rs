//! Your account: change your password, and create or revoke your API tokens (a new token is
//! shown once).

use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;

use super::{Page, PageError, date, render};
use crate::accounts::{self, Role};
use crate::app::App;
use crate::auth::User;
use crate::html::{collect, error_summary};

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    page: Page,
    name: String,
    role: String,
    owner: bool,
    errors: String,
    tokens: Vec<(String, String, String)>,
    new_token: Option<String>,
    done: String,
}

fn page_of(
    app: &App,
    user: &User,
    errors: &[(Option<String>, String)],
    new_token: Option<String>,
    done: &str,
) -> Result<Response, PageError> {
    let account =
        if user.owner { None } else { app.accounts.get(&user.name).map_err(|e| PageError::Internal(e.to_string()))? };
    let t = AccountPage {
        page: Page::new(app, user, "Your account", ""),
        name: user.name.clone(),
        role: user.role.to_string(),
        owner: user.owner,
        errors: error_summary(errors),
        tokens: account
            .map(|a| a.tokens.iter().map(|t| (t.id.clone(), t.label.clone(), date(t.created_at))).collect())
            .unwrap_or_default(),
        new_token,
        done: done.to_string(),
    };
    render(&t)
}

pub async fn page(State(app): State<Arc<App>>, user: User) -> Result<Response, PageError> {
    user.require(Role::Viewer)?;
    page_of(&app, &user, &[], None, "")
}

fn not_owner(user: &User) -> Result<(), PageError> {
    if user.owner {
        return Err(PageError::Forbidden(
            "You signed in with the link of `csx dashboard`, which has no account. Use `csx user` to make accounts."
                .into(),
        ));
    }
    Ok(())
}

pub async fn password(
    State(app): State<Arc<App>>,
    user: User,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    user.require(Role::Viewer)?;
    not_owner(&user)?;
    let form = collect(pairs);
    user.check_csrf(&form)?;
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    let (current, new, confirm) = (get("current"), get("password"), get("confirm"));
    let accounts = app.accounts.clone();
    let name = user.name.clone();
    let ok = super::blocking(move || accounts.verify(&name, &current)).await?;
    if ok.is_none() {
        tracing::warn!(user = %user.name, client = %user.client, "wrong current password when changing it");
        return page_of(
            &app,
            &user,
            &[(Some("current".into()), "Your current password is not right".into())],
            None,
            "",
        );
    }
    if let Err(m) = accounts::check_password(&user.name, &new, &confirm) {
        return page_of(&app, &user, &[(Some("password".into()), m)], None, "");
    }
    let hash = super::blocking(move || accounts::hash_password(&new)).await?;
    app.accounts.change_password(&user.name, hash).map_err(|e| PageError::Internal(e.to_string()))?;
    app.sessions.remove_account(&user.name);
    app.audit(&user.name, "web", "password_change", "changed their password".into(), vec![], &user.client);
    Err(PageError::SignIn { api: false, next: "/account".into() })
}

pub async fn create_token(
    State(app): State<Arc<App>>,
    user: User,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    user.require(Role::Viewer)?;
    not_owner(&user)?;
    let form = collect(pairs);
    user.check_csrf(&form)?;
    let label = form.get("label").cloned().unwrap_or_default();
    let label = if label.trim().is_empty() { "API token".to_string() } else { label };
    match app.accounts.create_token(&user.name, &label, app.now()) {
        Ok((id, secret)) => {
            app.audit(
                &user.name,
                "web",
                "token_create",
                format!("created API token {id} ({label})"),
                vec![],
                &user.client,
            );
            page_of(&app, &user, &[], Some(secret.0), "")
        }
        Err(e) => page_of(&app, &user, &[(Some("label".into()), e.to_string())], None, ""),
    }
}

pub async fn revoke_token(
    State(app): State<Arc<App>>,
    user: User,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    user.require(Role::Viewer)?;
    not_owner(&user)?;
    let form = collect(pairs);
    user.check_csrf(&form)?;
    match app.accounts.revoke_token(&user.name, &id) {
        Ok(()) => {
            app.audit(&user.name, "web", "token_revoke", format!("revoked API token {id}"), vec![], &user.client);
            page_of(&app, &user, &[], None, &format!("API token {id} revoked."))
        }
        Err(e) => page_of(&app, &user, &[(None, e.to_string())], None, ""),
    }
}
