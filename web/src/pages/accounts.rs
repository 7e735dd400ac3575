//! Accounts (administrators): who can use the dashboard, with which role; add an account (its
//! one-time sign-in link is shown once), change a role, disable, re-enable, reset. The same as
//! `csx user …`, and audited alike.

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::{Page, PageError, base_url, date, render};
use crate::accounts::{AccountError, Role};
use crate::app::App;
use crate::auth::User;
use crate::html::{Field, collect, error_summary};

/// An account as the page lists it.
#[derive(Debug, Clone)]
pub struct Row {
    pub name: String,
    pub role: String,
    pub state: String,
    pub created: String,
    pub tokens: usize,
    pub disabled: bool,
    pub me: bool,
}

#[derive(Template)]
#[template(path = "accounts.html")]
struct AccountsPage {
    page: Page,
    errors: String,
    accounts: Vec<Row>,
    name_field: String,
    role_field: String,
    /// A sign-in link to hand over, shown once: (account, link).
    link: Option<(String, String)>,
    done: String,
}

fn roles() -> Vec<(String, String)> {
    vec![
        ("viewer".into(), "Viewer: reads every page and the API".into()),
        ("editor".into(), "Editor: also records reviews, prices, switches and motions".into()),
        ("admin".into(), "Administrator: also manages accounts and the node".into()),
    ]
}

fn page_of(
    app: &App,
    user: &User,
    errors: &[(Option<String>, String)],
    values: &HashMap<String, String>,
    link: Option<(String, String)>,
    done: String,
) -> Result<Response, PageError> {
    let now = app.now();
    let accounts = app
        .accounts
        .snapshot()
        .map_err(|e| PageError::Internal(e.to_string()))?
        .iter()
        .map(|a| Row {
            name: a.name.clone(),
            role: a.role.to_string(),
            state: a.state(now).into(),
            created: date(a.created_at),
            tokens: a.tokens.len(),
            disabled: a.disabled,
            me: a.name == user.name && !user.owner,
        })
        .collect();
    let err = |f: &str| errors.iter().find(|(x, _)| x.as_deref() == Some(f)).map(|(_, m)| m.as_str());
    let t = AccountsPage {
        page: Page::new(app, user, "Accounts", "/accounts"),
        errors: error_summary(errors),
        accounts,
        name_field: Field::text("name", "Account name")
            .hint("Letters, digits, dots, hyphens or @, for example a.smith@nhs.net")
            .required()
            .render(values.get("name").map(String::as_str).unwrap_or(""), err("name")),
        role_field: Field::radios("role", "Role", roles(), false)
            .required()
            .render(values.get("role").map(String::as_str).unwrap_or("viewer"), err("role")),
        link,
        done,
    };
    render(&t)
}

pub async fn page(State(app): State<Arc<App>>, user: User) -> Result<Response, PageError> {
    user.require(Role::Admin)?;
    page_of(&app, &user, &[], &HashMap::new(), None, String::new())
}

fn account_error(e: AccountError) -> Result<(Option<String>, String), PageError> {
    match e {
        AccountError::Io { .. } => Err(PageError::Internal(e.to_string())),
        other => Ok((Some("name".into()), other.to_string())),
    }
}

pub async fn add(
    State(app): State<Arc<App>>,
    user: User,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    user.require(Role::Admin)?;
    let form = collect(pairs);
    user.check_csrf(&form)?;
    let name = form.get("name").cloned().unwrap_or_default();
    let role: Role = match form.get("role").map(|r| r.parse()) {
        Some(Ok(r)) => r,
        _ => return page_of(&app, &user, &[(Some("role".into()), "Choose a role".into())], &form, None, String::new()),
    };
    match app.accounts.add(&name, role, app.now()) {
        Ok(secret) => {
            let name = crate::accounts::check_name(&name).unwrap_or(name);
            app.audit(
                &user.audit_name(),
                "web",
                "user_add",
                format!("added account {name} as {role}"),
                vec![],
                &user.client,
            );
            let link = format!("{}/signin/link/{}", base_url(&app, &headers), secret.0);
            page_of(&app, &user, &[], &HashMap::new(), Some((name, link)), String::new())
        }
        Err(e) => page_of(&app, &user, &[account_error(e)?], &form, None, String::new()),
    }
}

/// `disable`, `enable`, `reset`, or `role` (with the form's `role`).
pub async fn act(
    State(app): State<Arc<App>>,
    user: User,
    headers: HeaderMap,
    Path((name, action)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    user.require(Role::Admin)?;
    let form = collect(pairs);
    user.check_csrf(&form)?;
    if name == user.name && !user.owner && action != "reset" {
        return page_of(&app, &user, &[(None, "You cannot disable your own account or change your own role: ask another administrator, or use `csx user` on the node".into())], &HashMap::new(), None, String::new());
    }
    let now = app.now();
    let (result, detail, link) = match action.as_str() {
        "disable" => (app.accounts.set_disabled(&name, true), format!("disabled account {name}"), None),
        "enable" => (app.accounts.set_disabled(&name, false), format!("re-enabled account {name}"), None),
        "reset" => match app.accounts.reset(&name, now) {
            Ok(secret) => (
                Ok(()),
                format!("reset account {name} (new sign-in link)"),
                Some(format!("{}/signin/link/{}", base_url(&app, &headers), secret.0)),
            ),
            Err(e) => (Err(e), String::new(), None),
        },
        "role" => match form.get("role").map(|r| r.parse::<Role>()) {
            Some(Ok(role)) => (app.accounts.set_role(&name, role), format!("made account {name} a {role}"), None),
            _ => return page_of(&app, &user, &[(None, "Choose a role".into())], &HashMap::new(), None, String::new()),
        },
        other => return Err(PageError::NotFound(format!("There is no account action `{other}`."))),
    };
    match result {
        Ok(()) => {
            if action != "enable" {
                app.sessions.remove_account(&name);
            }
            app.audit(&user.audit_name(), "web", &format!("user_{action}"), detail.clone(), vec![], &user.client);
            page_of(&app, &user, &[], &HashMap::new(), link.map(|l| (name.clone(), l)), format!("Done: {detail}."))
        }
        Err(e) => page_of(&app, &user, &[account_error(e)?], &HashMap::new(), None, String::new()),
    }
}
