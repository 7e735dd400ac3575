//! Import a spreadsheet: a CSV (or JSON) file of one record kind, uploaded, read and checked
//! row by row with the same code as `csx import`, and written all or nothing.

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Multipart, State};
use axum::response::{IntoResponse, Redirect, Response};
use csx_node::input::file::{RowErrors, convert_rows, csv_rows, json_rows};
use csx_node::input::kinds::*;

use super::{Page, PageError, render};
use crate::accounts::Role;
use crate::app::App;
use crate::auth::User;
use crate::html::{Field, error_summary};

/// Bad rows listed on the page (the rest are counted).
const SHOWN: usize = 20;

/// The kinds a file may hold: (value, label, columns).
fn kinds() -> Vec<(&'static str, &'static str, String)> {
    fn cols<T: KindInput>() -> String {
        match serde_json::to_value(T::default()) {
            Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect::<Vec<_>>().join(", "),
            _ => String::new(),
        }
    }
    vec![
        ("review", "Reviews", cols::<ReviewInput>()),
        ("price", "Price disclosures", cols::<PriceInput>()),
        ("switch", "Switches", cols::<SwitchInput>()),
        ("switch_outcome", "Outcomes of switches", cols::<OutcomeInput>()),
        ("motion", "Motions", cols::<MotionInput>()),
        ("provider", "Providers", cols::<ProviderInput>()),
    ]
}

#[derive(Template)]
#[template(path = "import.html")]
struct ImportPage {
    page: Page,
    errors: String,
    kind_field: String,
    file_error: Option<String>,
    columns: Vec<(String, String)>,
    problems: Vec<String>,
    more: usize,
}

fn import_page(
    app: &App,
    user: &User,
    kind: &str,
    errors: &[(Option<String>, String)],
    problems: Vec<String>,
    more: usize,
) -> Result<Response, PageError> {
    let options: Vec<(String, String)> = kinds().iter().map(|(v, l, _)| (v.to_string(), l.to_string())).collect();
    let kind_error = errors.iter().find(|(f, _)| f.as_deref() == Some("kind")).map(|(_, m)| m.as_str());
    let t = ImportPage {
        page: Page::new(app, user, "Import a spreadsheet", "/record"),
        errors: error_summary(errors),
        kind_field: Field::radios("kind", "What each row is", options, false).required().render(kind, kind_error),
        file_error: errors.iter().find(|(f, _)| f.as_deref() == Some("file")).map(|(_, m)| m.clone()),
        columns: kinds().into_iter().map(|(_, l, c)| (l.to_string(), c)).collect(),
        problems,
        more,
    };
    let mut r = render(&t)?;
    if !errors.is_empty() {
        *r.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(r)
}

pub async fn form(State(app): State<Arc<App>>, user: User) -> Result<Response, PageError> {
    user.require(Role::Editor)?;
    import_page(&app, &user, "", &[], vec![], 0)
}

/// Reads the rows of `bytes` as `T` and converts them all.
fn read<T: KindInput>(
    bytes: &[u8],
    json: bool,
    ctx: &InputCtx<'_>,
) -> Result<Result<Vec<csx_protocol::Body>, RowErrors>, String> {
    let rows = if json {
        let text = std::str::from_utf8(bytes).map_err(|_| "is not UTF-8 text".to_string())?;
        json_rows::<T>(text)?
    } else {
        csv_rows::<T>(bytes)?
    };
    Ok(convert_rows(rows, ctx))
}

pub async fn submit(State(app): State<Arc<App>>, user: User, mut multipart: Multipart) -> Result<Response, PageError> {
    user.require(Role::Editor)?;
    let mut form: HashMap<String, String> = HashMap::new();
    let mut file: Option<(String, Vec<u8>)> = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| PageError::Node(csx_node::api::ApiError::invalid(format!("the upload is not readable: {e}"))))?
    {
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            let file_name = field.file_name().unwrap_or_default().to_string();
            let bytes = field.bytes().await.map_err(|e| {
                PageError::Node(csx_node::api::ApiError::invalid(format!("the file could not be read: {e}")))
            })?;
            file = Some((file_name, bytes.to_vec()));
        } else {
            let text = field.text().await.unwrap_or_default();
            form.insert(name, text);
        }
    }
    user.check_csrf(&form)?;
    let kind = form.get("kind").cloned().unwrap_or_default();
    let Some((file_name, bytes)) = file.filter(|(n, b)| !n.is_empty() || !b.is_empty()) else {
        return import_page(
            &app,
            &user,
            &kind,
            &[(Some("file".into()), "Select a CSV file to import".into())],
            vec![],
            0,
        );
    };
    if !kinds().iter().any(|(v, _, _)| *v == kind) {
        return import_page(
            &app,
            &user,
            &kind,
            &[(Some("kind".into()), "Select what each row of the file is".into())],
            vec![],
            0,
        );
    }
    let json = file_name.to_ascii_lowercase().ends_with(".json");
    let k = kind.clone();
    let outcome = super::record::convert_on_node(&app, move |ctx| match k.as_str() {
        "review" => read::<ReviewInput>(&bytes, json, ctx),
        "price" => read::<PriceInput>(&bytes, json, ctx),
        "switch" => read::<SwitchInput>(&bytes, json, ctx),
        "switch_outcome" => read::<OutcomeInput>(&bytes, json, ctx),
        "motion" => read::<MotionInput>(&bytes, json, ctx),
        _ => read::<ProviderInput>(&bytes, json, ctx),
    })
    .await?;
    let name = if file_name.is_empty() { "the file".to_string() } else { file_name.clone() };
    let bodies = match outcome {
        Err(problem) => {
            return import_page(
                &app,
                &user,
                &kind,
                &[(Some("file".into()), format!("{name} {problem}; nothing was imported"))],
                vec![],
                0,
            );
        }
        Ok(Err(bad)) => {
            let message =
                format!("{} of {} rows of {name} are not valid; nothing was imported", bad.errors.len(), bad.rows);
            let problems: Vec<String> =
                bad.errors.iter().take(SHOWN).map(|(row, e)| format!("Row {row}: {e}")).collect();
            let more = bad.errors.len().saturating_sub(SHOWN);
            return import_page(&app, &user, &kind, &[(Some("file".into()), message)], problems, more);
        }
        Ok(Ok(bodies)) if bodies.is_empty() => {
            return import_page(
                &app,
                &user,
                &kind,
                &[(Some("file".into()), format!("{name} has no rows to import"))],
                vec![],
                0,
            );
        }
        Ok(Ok(bodies)) => bodies,
    };
    let n = bodies.len();
    match super::record::publish(&app, &user, bodies, "import", &format!("imported {n} {kind} records from {name}"))
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/saved?imported={n}")).into_response()),
        Err(PageError::Node(e))
            if matches!(e.kind, csx_node::api::ErrorKind::InvalidInput | csx_node::api::ErrorKind::NotFound) =>
        {
            import_page(
                &app,
                &user,
                &kind,
                &[(Some("file".into()), format!("{}; nothing was imported", e.message))],
                vec![],
                0,
            )
        }
        Err(e) => Err(e),
    }
}
