//! What every writing command shares: prompting for missing fields, converting, publishing.

use csx_protocol::{Body, Record};
use serde::Serialize;

use crate::context::Ctx;
use crate::error::CliError;
use crate::output::Grid;
use crate::view;
use csx_node::input;
use csx_node::input::kinds::{InputCtx, KindInput};

/// Converts `input` (prompting on a terminal for missing required fields) and publishes it.
pub fn add<T: KindInput>(ctx: &Ctx, input: T) -> anyhow::Result<()> {
    let input = if ctx.interactive { super::prompt::fill_missing(input, T::REQUIRED)? } else { input };
    let body = with_input_ctx(ctx, |ictx| input.to_valid_body(ictx))?.map_err(|e| CliError::invalid(e.as_flag()))?;
    publish(ctx, vec![body]).map_err(as_flag_error)
}

/// A node's refusal of a field (`motion.closes_on: … is in the past`) as the flag it came
/// from (`--closes-on: … is in the past`); other errors unchanged.
fn as_flag_error(e: anyhow::Error) -> anyhow::Error {
    let api = match e.downcast_ref::<csx_node::client::ClientError>() {
        Some(client) => client.api(),
        None => e.downcast_ref::<csx_node::api::ApiError>(),
    };
    let Some(api) = api else { return e };
    match input::field_of_message(&api.message) {
        Some((field, rest)) => {
            CliError::new(crate::error::CliError::from(api.clone()).code, input::FieldErr::new(field, rest).as_flag())
                .into()
        }
        None => e,
    }
}

/// Runs `f` with what converting inputs needs from this node: its population, today, the
/// providers it knows, and a way to resolve record ids.
pub fn with_input_ctx<R>(ctx: &Ctx, f: impl FnOnce(&InputCtx<'_>) -> R) -> anyhow::Result<R> {
    let own_population = ctx.home.profile().ok().and_then(|p| p.population);
    let resolve = |s: &str| ctx.resolve(s).map_err(|e| format!("{e:#}"));
    let mut providers = input::ProviderNames::builtin();
    for p in ctx.node()?.providers()? {
        providers.add(&p.code, &p.name, &p.aliases);
    }
    let today = csx_protocol::Date::from_unix_ms(crate::now_ms())
        .ok_or_else(|| anyhow::anyhow!("the clock is outside the years csx handles"))?;
    Ok(f(&InputCtx { own_population, resolve: &resolve, today, providers: &providers }))
}

#[derive(Serialize)]
struct Saved {
    id: String,
    seq: u64,
    kind: String,
}

/// Validates and publishes `bodies` as one all-or-nothing batch, then reports what was saved.
pub fn publish(ctx: &Ctx, bodies: Vec<Body>) -> anyhow::Result<()> {
    let n = bodies.len();
    let records = publish_quietly(ctx, bodies)?;
    // A first write also publishes the node's certificate and profile; report the user's records.
    let mine = &records[records.len().saturating_sub(n)..];
    let saved: Vec<Saved> =
        mine.iter().map(|r| Saved { id: r.id().to_hex(), seq: r.seq(), kind: r.body().kind_name() }).collect();
    ctx.out.print(&saved, || {
        let mut t = Grid::new().keep("saved").keep("id").num("record").wide().text("what");
        for r in mine {
            t.row(vec![
                crate::labels::words(&r.body().kind_name()),
                r.id().short(),
                r.seq().to_string(),
                view::summary(r.body()),
            ]);
        }
        t
    })
}

/// Validates and publishes `bodies` as one all-or-nothing batch; returns the records written.
pub fn publish_quietly(ctx: &Ctx, bodies: Vec<Body>) -> anyhow::Result<Vec<Record>> {
    for (i, b) in bodies.iter().enumerate() {
        b.validate().map_err(|e| {
            if bodies.len() > 1 {
                CliError::invalid(format!("row {}: {e}", i + 1))
            } else {
                CliError::invalid(e.to_string())
            }
        })?;
    }
    let records = ctx.node()?.publish(bodies)?;
    Ok(records.iter().map(|r| r.decode()).collect::<Result<Vec<Record>, _>>()?)
}

/// Makes sure this node's certificate and profile head its feed (done on joining).
pub fn publish_setup(ctx: &Ctx) -> anyhow::Result<()> {
    ctx.node()?.publish(vec![])?;
    Ok(())
}
