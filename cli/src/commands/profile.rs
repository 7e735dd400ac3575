//! `csx profile show|set`: this organisation's public profile.

use clap::{Args, Subcommand};
use csx_protocol::Body;

use crate::context::Ctx;
use crate::error::CliError;
use crate::output::fields;
use csx_node::input;

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Show the profile this node publishes
    #[command(after_help = "Examples:
  csx profile show")]
    Show,
    /// Change the profile and publish it
    #[command(after_help = "Examples:
  csx profile set --population 2450000 --population-year 2025/26
  csx profile set --region \"North East and Yorkshire\"")]
    Set(SetArgs),
}

#[derive(Debug, Args)]
pub struct SetArgs {
    /// Organisation name
    #[arg(long)]
    pub name: Option<String>,
    /// ccg | icb | sub_icb | other
    #[arg(long)]
    pub kind: Option<String>,
    /// Registered population
    #[arg(long, requires = "population_year")]
    pub population: Option<String>,
    /// Financial year of the population figure
    #[arg(long, requires = "population")]
    pub population_year: Option<String>,
    /// NHS England region
    #[arg(long)]
    pub region: Option<String>,
    /// ODS codes of organisations this one replaced, comma separated
    #[arg(long)]
    pub predecessors: Option<String>,
    /// ODS codes of organisations that replaced this one, comma separated
    #[arg(long)]
    pub successors: Option<String>,
}

pub fn run(ctx: &Ctx, cmd: ProfileCommand) -> anyhow::Result<()> {
    let mut profile = ctx.home.profile()?;
    if let ProfileCommand::Set(a) = cmd {
        let bad = |e: input::FieldErr| CliError::invalid(e.as_flag());
        if let Some(n) = input::opt(&a.name) {
            profile.name = n.to_string();
        }
        if let Some(k) = input::opt(&a.kind) {
            profile.org_kind = input::choice("kind", k).map_err(bad)?;
        }
        if let Some(p) = input::opt_with("population", &a.population, input::population).map_err(bad)? {
            profile.population = Some(p);
        }
        if let Some(y) = input::opt_with("population_year", &a.population_year, input::year).map_err(bad)? {
            profile.population_year = Some(y);
        }
        if let Some(r) = input::opt_string(&a.region) {
            profile.region = Some(r);
        }
        if a.predecessors.is_some() {
            profile.predecessors = input::list(&a.predecessors).iter().map(|c| c.to_ascii_uppercase()).collect();
        }
        if a.successors.is_some() {
            profile.successors = input::list(&a.successors).iter().map(|c| c.to_ascii_uppercase()).collect();
        }
        let body = Body::Profile(profile.clone());
        body.validate().map_err(|e| CliError::invalid(e.to_string()))?;
        if ctx.home.has_genesis() {
            super::write::publish(ctx, vec![body])?;
        }
        ctx.home.set_profile(&profile)?;
        return Ok(());
    }
    ctx.out.print(&profile, || {
        fields(vec![
            ("name".into(), profile.name.clone()),
            ("kind".into(), profile.org_kind.to_string()),
            ("population".into(), profile.population.map(|p| p.to_string()).unwrap_or_else(|| "–".into())),
            ("population year".into(), profile.population_year.map(|y| y.to_string()).unwrap_or_else(|| "–".into())),
            ("region".into(), profile.region.clone().unwrap_or_else(|| "–".into())),
            ("predecessors".into(), profile.predecessors.join(", ")),
            ("successors".into(), profile.successors.join(", ")),
        ])
    })
}
