//! `azir lab` and `azir contain`: forensic environment and containment plans (see `azir-plan`).

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// Examples shown by `azir lab --help`.
pub const LAB_HELP: &str = "Examples:\n  azir lab plan --case ./case --analyst-ip 198.51.100.7/32 --location eastus --out ./lab";
/// Examples shown by `azir contain --help`.
pub const CONTAIN_HELP: &str = "Examples:\n  azir contain plan --case ./case --vm vm-app-01 --out ./contain";

/// `azir lab` subcommands.
#[derive(Subcommand)]
pub enum LabCmd {
    /// Write the forensic environment plan.
    Plan(PlanArgs),
}

/// `azir contain` subcommands.
#[derive(Subcommand)]
pub enum ContainCmd {
    /// Write a containment plan.
    Plan(PlanArgs),
}

/// Options (being built).
#[derive(Args)]
pub struct PlanArgs {
    /// The case directory.
    #[arg(long, short)]
    case: PathBuf,
}

/// Runs `azir lab`.
pub fn run_lab(cmd: &LabCmd, _json: bool) -> Result<i32> {
    match cmd {
        LabCmd::Plan(a) => bail!("lab plan for {} is being built", a.case.display()),
    }
}

/// Runs `azir contain`.
pub fn run_contain(cmd: &ContainCmd, _json: bool) -> Result<i32> {
    match cmd {
        ContainCmd::Plan(a) => bail!("contain plan for {} is being built", a.case.display()),
    }
}
