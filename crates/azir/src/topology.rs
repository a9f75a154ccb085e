//! `azir topology` and `azir exposure`: the network drawn from the case's configuration, and
//! what is reachable from the Internet.

use anyhow::{bail, Result};
use clap::Args;
use std::path::PathBuf;

/// Examples shown by `azir topology --help`.
pub const TOPOLOGY_HELP: &str = "Examples:\n  azir topology --case ./case --format svg > net.svg";
/// Examples shown by `azir exposure --help`.
pub const EXPOSURE_HELP: &str = "Examples:\n  azir exposure --case ./case";

/// Options of `azir topology` (being built).
#[derive(Args)]
pub struct TopologyArgs {
    /// The case directory.
    #[arg(long, short)]
    case: PathBuf,
}

/// Options of `azir exposure` (being built).
#[derive(Args)]
pub struct ExposureArgs {
    /// The case directory.
    #[arg(long, short)]
    case: PathBuf,
}

/// Runs `azir topology`.
pub fn run_topology(a: &TopologyArgs, _json: bool) -> Result<i32> {
    bail!("topology for {} is being built", a.case.display())
}

/// Runs `azir exposure`.
pub fn run_exposure(a: &ExposureArgs, _json: bool) -> Result<i32> {
    bail!("exposure for {} is being built", a.case.display())
}
