//! Forensic environment (`azir lab plan`) and containment plans (`azir contain plan`), generated
//! from the case's network configuration as reviewable `az` CLI scripts and Bicep, and checked
//! (`azir lab check`) before anyone runs them. Nothing here talks to Azure.
//!
//! Design:
//! - A plan is data ([`plan::Plan`]: steps with their reasons, state queries before and after,
//!   and actions), built from [`facts::CaseFacts`] (what the case's `resources` rows and the
//!   audit events behind its findings say) by [`lab::lab_plan`] and [`contain::contain_plan`],
//!   then rendered: bash by [`plan::render_bash`], Bicep by the lab generator. Everything taken
//!   from the case reaches the script only as a single-quoted variable at its top; command
//!   templates are constants of this crate.
//! - Checks never look at the plan data: they read the rendered text back ([`read`]: an `az`
//!   argument reader over a small shell lexer; a Bicep declaration parser) into a
//!   [`read::PlanModel`] and examine that ([`check`]). Generated and hand-edited plans therefore
//!   go through exactly the same path, and a generated plan whose text says something other
//!   than its data is caught by the same checks. Every generated plan is checked before it is
//!   written.
//! - The context of the case travels inside the plan as `azir:` comment lines (known ranges,
//!   the forensic subnet), so a plan file checked on its own still knows what it must not
//!   overlap.

pub mod addr;
pub mod check;
pub mod contain;
pub mod facts;
pub mod lab;
pub mod plan;
pub mod read;

pub use ipnet;

pub use check::{check, Finding, Severity, CHECKS};
pub use contain::{contain_plan, ContainOptions, ContainPlan, ContainTarget};
pub use facts::{credentials_from_audit, AddedCredential, CaseFacts, GrantFact, KnownPrefix};
pub use lab::{lab_plan, LabOptions, LabPlan};
pub use plan::{render_bash, Plan};
pub use read::{bicep_structure, detect, read_plan, Format, PlanModel};

/// Reads a plan file's text (format detected unless given) and runs every check.
pub fn check_text(text: &str, format: Option<Format>, known: &[KnownPrefix]) -> (PlanModel, Vec<Finding>) {
    let model = read_plan(text, format.unwrap_or_else(|| detect(text)));
    let findings = check(&model, known);
    (model, findings)
}
