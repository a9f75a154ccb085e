//! `azir query`: SQL over the case (DataFusion, in `azir-store`), printed as an aligned table,
//! CSV, JSON Lines, or written to a Parquet file.

use crate::timeline::{csv_safe, terminal_safe};
use anyhow::{bail, Result};
use azir_store::query::{QueryEngine, TableInfo};
use clap::{Args, ValueEnum};
use serde_json::Value;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

/// Rows the table format prints at most (unless `--limit` asks for fewer).
const TABLE_ROWS: usize = 1000;
/// Widest column of the table format, in characters.
const TABLE_WIDTH: usize = 80;

/// Arguments of `azir query`.
#[derive(Args)]
pub struct QueryArgs {
    /// The case directory.
    #[arg(long, short)]
    case: PathBuf,
    /// The SQL query (tables: events, network, resources, quarantine, findings, manifest).
    #[arg(required_unless_present = "schema")]
    sql: Option<String>,
    /// Print every table with its columns and types instead of running a query.
    #[arg(long, conflicts_with = "sql")]
    schema: bool,
    /// Output format (the table format prints at most 1000 rows; csv and jsonl print them all).
    #[arg(long, short, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Write the result to this Parquet file instead of printing it.
    #[arg(long, conflicts_with = "format")]
    out: Option<PathBuf>,
    /// At most this many rows.
    #[arg(long)]
    limit: Option<usize>,
}

/// Output formats of `azir query`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns for the terminal (control characters neutralised).
    Table,
    /// CSV with a header; cells cannot start spreadsheet formulas.
    Csv,
    /// One JSON object per row.
    Jsonl,
}

/// Runs `azir query`.
pub fn run(a: &QueryArgs, json: bool, quiet: bool) -> Result<i32> {
    let (case, _) = crate::location::open(&a.case, quiet)?;
    let engine = QueryEngine::open(&case)?;
    if a.schema {
        return print_schema(engine.tables(), json);
    }
    let Some(sql) = a.sql.as_deref() else { bail!("give a SQL query, or --schema") };
    if let Some(out) = &a.out {
        let rows = engine.write_parquet(sql, a.limit, out)?;
        if !quiet {
            eprintln!("wrote {rows} rows to {}", out.display());
        }
        return Ok(0);
    }
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match a.format {
        Format::Table => {
            let show = a.limit.unwrap_or(TABLE_ROWS).min(TABLE_ROWS);
            let mut rows = engine.query(sql, Some(show.saturating_add(1)))?;
            let names: Vec<String> = rows.columns().iter().map(|c| c.name.clone()).collect();
            let mut cells: Vec<Vec<String>> = Vec::new();
            let mut more = false;
            for r in rows.by_ref() {
                let r = r?;
                if cells.len() == show {
                    more = true;
                    break;
                }
                cells.push(r.iter().map(|v| cut(&terminal_safe(&text(v, "NULL")), TABLE_WIDTH)).collect());
            }
            write_table(&mut out, &names, &cells)?;
            out.flush()?;
            if !quiet {
                if more {
                    eprintln!(
                        "({} rows shown; more exist: use --limit, --format csv|jsonl or --out FILE.parquet for all)",
                        cells.len()
                    );
                } else {
                    eprintln!("({} row{})", cells.len(), if cells.len() == 1 { "" } else { "s" });
                }
            }
        }
        Format::Csv => {
            let rows = engine.query(sql, a.limit)?;
            let mut w = csv::Writer::from_writer(&mut out);
            w.write_record(rows.columns().iter().map(|c| csv_safe(&c.name)))?;
            for r in rows {
                w.write_record(r?.iter().map(|v| csv_safe(&text(v, ""))))?;
            }
            w.flush()?;
        }
        Format::Jsonl => {
            let rows = engine.query(sql, a.limit)?;
            let names: Vec<String> =
                rows.columns().iter().map(|c| serde_json::to_string(&c.name)).collect::<Result<_, _>>()?;
            for r in rows {
                let r = r?;
                let mut line = String::from("{");
                for (i, (k, v)) in names.iter().zip(&r).enumerate() {
                    if i > 0 {
                        line.push(',');
                    }
                    line.push_str(k);
                    line.push(':');
                    line.push_str(&serde_json::to_string(v)?);
                }
                line.push('}');
                writeln!(out, "{line}")?;
            }
        }
    }
    out.flush()?;
    Ok(0)
}

/// A cell as text: strings as they are, NULL as `null_text`, anything else as JSON.
fn text(v: &Value, null_text: &str) -> String {
    match v {
        Value::Null => null_text.to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub(crate) fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

pub(crate) fn write_table(out: &mut impl Write, names: &[String], rows: &[Vec<String>]) -> Result<()> {
    let names: Vec<String> = names.iter().map(|n| cut(&terminal_safe(n), TABLE_WIDTH)).collect();
    let mut widths: Vec<usize> = names.iter().map(|n| n.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| -> String {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            s.push_str(c);
            if i + 1 < cells.len() {
                s.push_str(&" ".repeat(w - c.chars().count()));
            }
        }
        s
    };
    writeln!(out, "{}", line(&names))?;
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    writeln!(out, "{}", line(&rule))?;
    for r in rows {
        writeln!(out, "{}", line(r))?;
    }
    Ok(())
}

fn print_schema(tables: &[TableInfo], json: bool) -> Result<i32> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(tables)?)?;
    } else {
        for t in tables {
            let files = if t.name == "manifest" {
                "from manifest.jsonl".to_string()
            } else {
                format!("{} file{}", t.files, if t.files == 1 { "" } else { "s" })
            };
            writeln!(out, "{} ({files})", t.name)?;
            let w = t.columns.iter().map(|c| c.name.len()).max().unwrap_or(0);
            for c in &t.columns {
                let null = if c.nullable { "" } else { " not null" };
                writeln!(out, "  {:w$}  {}{null}", c.name, c.data_type)?;
            }
        }
    }
    out.flush()?;
    Ok(0)
}
