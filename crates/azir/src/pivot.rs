//! `azir pivot ip|user|app|resource VALUE`: one screen about one entity (see
//! `azir_store::pivot` for what matches and which questions are asked).

use crate::query::write_table;
use crate::timeline::terminal_safe;
use anyhow::Result;
use azir_store::pivot::{pivot, Kind, Pivot};
use azir_store::query::QueryEngine;
use clap::{Args, ValueEnum};
use serde_json::Value;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

/// What to pivot on.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    /// An IP address (IPv4 or IPv6) or a CIDR.
    Ip,
    /// A user: UPN, display name or object id.
    User,
    /// An application: name or app (client) id.
    App,
    /// An Azure resource: ARM id (with everything under it) or a resource name.
    Resource,
}

/// Arguments of `azir pivot`.
#[derive(Args)]
pub struct PivotArgs {
    /// What VALUE is.
    #[arg(value_enum)]
    kind: KindArg,
    /// The IP, CIDR, user, app or resource.
    value: String,
    /// The case directory.
    #[arg(long, short)]
    case: PathBuf,
    /// Rows of the timeline slice (the first events in time order).
    #[arg(long, default_value_t = 25)]
    limit: usize,
}

/// Widest cell on screen.
const WIDTH: usize = 60;

/// Runs `azir pivot`.
pub fn run(a: &PivotArgs, json: bool, quiet: bool) -> Result<i32> {
    let (case, _) = crate::location::open(&a.case, quiet)?;
    let engine = QueryEngine::open(&case)?;
    let kind = match a.kind {
        KindArg::Ip => Kind::Ip,
        KindArg::User => Kind::User,
        KindArg::App => Kind::App,
        KindArg::Resource => Kind::Resource,
    };
    let p = pivot(&engine, kind, &a.value, a.limit)?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&p.to_json())?)?;
    } else {
        print(&mut out, &p, quiet)?;
    }
    out.flush()?;
    Ok(0)
}

fn cell(v: &Value) -> String {
    let s = match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let s = terminal_safe(&s);
    // ARM ids say the most at their end (type and name): cut them from the front.
    if s.starts_with('/') && s.chars().count() > WIDTH {
        let tail: String = s.chars().rev().take(WIDTH - 1).collect::<Vec<_>>().into_iter().rev().collect();
        return format!("…{tail}");
    }
    crate::query::cut(&s, WIDTH)
}

fn print(out: &mut impl Write, p: &Pivot, quiet: bool) -> Result<()> {
    let kind = match p.kind {
        Kind::Ip => "ip",
        Kind::User => "user",
        Kind::App => "app",
        Kind::Resource => "resource",
    };
    writeln!(out, "{kind} {}", terminal_safe(&p.value))?;
    if p.events == 0 && p.flows == 0 {
        writeln!(out, "  not seen in this case (no event or flow matches)")?;
        return Ok(());
    }
    writeln!(
        out,
        "  seen {} → {}   {} event{}{}",
        p.first_seen.as_deref().unwrap_or("?"),
        p.last_seen.as_deref().unwrap_or("?"),
        p.events,
        if p.events == 1 { "" } else { "s" },
        if p.flows > 0 {
            format!(", {} flow record{}", p.flows, if p.flows == 1 { "" } else { "s" })
        } else {
            String::new()
        }
    )?;
    for s in &p.sections {
        writeln!(out)?;
        let shown = s.rows.len() as u64;
        match s.total {
            Some(t) if t > shown => writeln!(out, "{} (top {shown} of {t})", s.title)?,
            _ => writeln!(out, "{}", s.title)?,
        }
        let rows: Vec<Vec<String>> = s.rows.iter().map(|r| r.iter().map(cell).collect()).collect();
        let mut buf = Vec::new();
        write_table(&mut buf, &s.columns, &rows)?;
        for line in String::from_utf8_lossy(&buf).lines() {
            writeln!(out, "  {line}")?;
        }
    }
    if !quiet {
        writeln!(out)?;
        writeln!(
            out,
            "Each section is one SQL query: `azir --json pivot ...` prints them; run any with `azir query`."
        )?;
    }
    Ok(())
}
