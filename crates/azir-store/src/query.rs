//! SQL over the case with DataFusion (`azir query`).
//!
//! Tables: `events`, `network`, `resources`, `quarantine` (the committed parts only: each is a
//! listing table over exactly the files [`Case::parts`] names, so a part no manifest line names
//! is never read), `findings` (every rule set's file under `tables/findings/`) and `manifest`
//! (one row per evidence stream, from `manifest.jsonl`). Column names are case-sensitive and
//! written as stored (`TimeGenerated`, `SrcIpAddr`); function names are not.
//!
//! The analyst functions of [`crate::udf`] are registered on every session: `cidr_match`,
//! `is_private`, `arm_part`, `json_get`, `time_bucket` (and DataFusion's own `date_bin`).
//!
//! The workspace is pinned to the arrow/parquet release DataFusion is built on (59), so the store's
//! schemas are handed to DataFusion as they are. Results leave this module as JSON cells
//! ([`Rows`]) or as a Parquet file ([`QueryEngine::write_parquet`]).

use crate::case::{Case, ManifestEntry, StoreError};
use crate::schema::Table;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, RecordBatch, StringBuilder, TimestampMicrosecondBuilder, UInt64Builder,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Field, Float64Type, Int64Type, Schema, SchemaRef, TimeUnit, TimestampMicrosecondType, UInt64Type,
};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::StreamExt;
use serde_json::Value;
use std::collections::VecDeque;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::runtime::Runtime;

/// What can go wrong planning or running a query.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// Opening the case or listing its parts failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The SQL does not plan or run (the message lists the tables or columns that exist).
    #[error("{0}")]
    Sql(String),
    /// Writing the output failed.
    #[error("{path}: {reason}")]
    Output {
        /// The output file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// One column of a table or result.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Column {
    /// Column name, as written in SQL.
    pub name: String,
    /// Arrow type, as DataFusion prints it.
    pub data_type: String,
    /// Whether the column may be NULL.
    pub nullable: bool,
}

/// One queryable table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TableInfo {
    /// Table name, as written in SQL.
    pub name: String,
    /// Files behind it (0 for `manifest`, which is built in memory).
    pub files: usize,
    /// Its columns.
    pub columns: Vec<Column>,
}

/// A DataFusion session over one case, with every table and function registered.
pub struct QueryEngine {
    rt: Runtime,
    ctx: SessionContext,
    tables: Vec<TableInfo>,
}

fn df_err(e: DataFusionError) -> QueryError {
    QueryError::Sql(e.to_string())
}

fn columns_of(schema: &Schema) -> Vec<Column> {
    schema
        .fields()
        .iter()
        .map(|f| Column { name: f.name().clone(), data_type: f.data_type().to_string(), nullable: f.is_nullable() })
        .collect()
}

fn manifest_batch(entries: &[ManifestEntry]) -> Result<RecordBatch, QueryError> {
    let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    let num = |name: &str| Field::new(name, DataType::UInt64, false);
    let schema = Arc::new(Schema::new(vec![
        text("sha256", false),
        text("member", true),
        text("path", false),
        text("origin", false),
        num("size"),
        text("format", false),
        num("records"),
        num("ok"),
        num("bad"),
        num("events"),
        num("flows"),
        text("sources", false),
        text("error", true),
        text("segment", false),
        num("segment_streams"),
        Field::new("ingested_at", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), true),
    ]));
    let strs = |f: &dyn Fn(&ManifestEntry) -> Option<String>| -> ArrayRef {
        let mut b = StringBuilder::new();
        for e in entries {
            b.append_option(f(e));
        }
        Arc::new(b.finish())
    };
    let nums = |f: &dyn Fn(&ManifestEntry) -> u64| -> ArrayRef {
        let mut b = UInt64Builder::new();
        for e in entries {
            b.append_value(f(e));
        }
        Arc::new(b.finish())
    };
    let mut at = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    for e in entries {
        at.append_option(chrono::DateTime::parse_from_rfc3339(&e.ingested_at).ok().map(|t| t.timestamp_micros()));
    }
    let cols: Vec<ArrayRef> = vec![
        strs(&|e| Some(e.sha256.clone())),
        strs(&|e| e.member.clone()),
        strs(&|e| Some(e.path.clone())),
        strs(&|e| Some(e.origin.clone())),
        nums(&|e| e.size),
        strs(&|e| Some(e.format.clone())),
        nums(&|e| e.records),
        nums(&|e| e.ok),
        nums(&|e| e.bad),
        nums(&|e| e.events),
        nums(&|e| e.flows),
        strs(&|e| serde_json::to_string(&e.sources).ok()),
        strs(&|e| e.error.clone()),
        strs(&|e| Some(e.segment.clone())),
        nums(&|e| e.segment_streams),
        Arc::new(at.finish()),
    ];
    RecordBatch::try_new(schema, cols).map_err(|e| QueryError::Sql(format!("internal: manifest table: {e}")))
}

fn findings_files(case: &Case) -> Vec<PathBuf> {
    let Ok(rd) = fs::read_dir(crate::findings::dir(case)) else { return Vec::new() };
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "parquet")
                && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    files
}

impl QueryEngine {
    /// A session over `case`: every table registered, every analyst function available.
    pub fn open(case: &Case) -> Result<QueryEngine, QueryError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .build()
            .map_err(|e| QueryError::Sql(format!("cannot start the query runtime: {e}")))?;
        let config = SessionConfig::new()
            .set_bool("datafusion.sql_parser.enable_ident_normalization", false)
            .set_bool("datafusion.execution.parquet.schema_force_view_types", false);
        let ctx = SessionContext::new_with_config(config);
        for f in crate::udf::all() {
            ctx.register_udf(f);
        }
        let mut engine = QueryEngine { rt, ctx, tables: Vec::new() };
        // The manifest is read and the table folders walked once, not once per table.
        let manifest = case.manifest()?;
        let committed: std::collections::HashSet<&str> = manifest.iter().map(|e| e.segment.as_str()).collect();
        let parts = case.all_parts()?;
        for table in [Table::Events, Table::Network, Table::Resources, Table::Quarantine] {
            let files: Vec<PathBuf> = parts
                .iter()
                .filter(|p| p.table == table && committed.contains(p.segment.as_str()))
                .map(|p| p.path.clone())
                .collect();
            engine.register_files(table.name(), table.schema(), &files)?;
        }
        engine.register_files("findings", crate::findings::schema(), &findings_files(case))?;
        let batch = manifest_batch(&manifest)?;
        let schema = batch.schema();
        let mem = MemTable::try_new(schema.clone(), vec![vec![batch]]).map_err(df_err)?;
        engine.ctx.register_table("manifest", Arc::new(mem)).map_err(df_err)?;
        engine.tables.push(TableInfo { name: "manifest".into(), files: 0, columns: columns_of(&schema) });
        Ok(engine)
    }

    /// Registers `name` as a listing table over exactly `files` (an empty table when none).
    fn register_files(&mut self, name: &str, schema: SchemaRef, files: &[PathBuf]) -> Result<(), QueryError> {
        if files.is_empty() {
            let mem = MemTable::try_new(schema.clone(), vec![vec![]]).map_err(df_err)?;
            self.ctx.register_table(name, Arc::new(mem)).map_err(df_err)?;
        } else {
            let urls = files
                .iter()
                .map(|p| ListingTableUrl::parse(p.to_string_lossy()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(df_err)?;
            let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
            let config = ListingTableConfig::new_with_multi_paths(urls)
                .with_listing_options(options)
                .with_schema(schema.clone());
            let table = ListingTable::try_new(config).map_err(df_err)?;
            self.ctx.register_table(name, Arc::new(table)).map_err(df_err)?;
        }
        self.tables.push(TableInfo { name: name.to_string(), files: files.len(), columns: columns_of(&schema) });
        Ok(())
    }

    /// The queryable tables and their columns.
    pub fn tables(&self) -> &[TableInfo] {
        &self.tables
    }

    fn table_names(&self) -> String {
        self.tables.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")
    }

    /// A DataFusion error, with what exists when the SQL names a table or column that does not.
    fn explain(&self, e: DataFusionError) -> QueryError {
        // Identifiers are not normalised here, so that advice of DataFusion's does not apply.
        let msg =
            e.to_string().replace(" or disable the datafusion.sql_parser.enable_ident_normalization configuration", "");
        let lower = msg.to_ascii_lowercase();
        if lower.contains("table '") && lower.contains("not found") {
            QueryError::Sql(format!(
                "{msg}\ntables: {}\n(`azir query --schema` lists their columns)",
                self.table_names()
            ))
        } else if lower.contains("no field named") {
            // Column names are case-sensitive; name the columns of the tables that have a close match.
            let wanted = msg
                .split("No field named ")
                .nth(1)
                .and_then(|r| r.split(['.', ' ']).next())
                .map(|w| w.trim_matches('"').to_ascii_lowercase())
                .unwrap_or_default();
            let mut hint = String::new();
            for t in &self.tables {
                if let Some(c) = t.columns.iter().find(|c| c.name.to_ascii_lowercase() == wanted) {
                    hint.push_str(&format!("\ndid you mean {}.{} (column names are case-sensitive)?", t.name, c.name));
                }
            }
            QueryError::Sql(format!("{msg}{hint}\n(`azir query --schema` lists every table's columns)"))
        } else {
            QueryError::Sql(msg)
        }
    }

    fn stream(&self, sql: &str, limit: Option<usize>) -> Result<SendableRecordBatchStream, QueryError> {
        self.rt.block_on(async {
            let mut df = self.ctx.sql(sql).await.map_err(|e| self.explain(e))?;
            if let Some(n) = limit {
                df = df.limit(0, Some(n)).map_err(|e| self.explain(e))?;
            }
            df.execute_stream().await.map_err(|e| self.explain(e))
        })
    }

    /// Plans and starts `sql`; rows are produced as they are read. `limit` caps the rows.
    pub fn query(&self, sql: &str, limit: Option<usize>) -> Result<Rows<'_>, QueryError> {
        let stream = self.stream(sql, limit)?;
        let columns = columns_of(&stream.schema());
        Ok(Rows { engine: self, stream, columns, pending: VecDeque::new(), done: false })
    }

    /// Runs `sql` and writes the result to the Parquet file `out` (Snappy; written to a
    /// temporary name beside it, then renamed). Returns the number of rows.
    pub fn write_parquet(&self, sql: &str, limit: Option<usize>, out: &Path) -> Result<u64, QueryError> {
        use datafusion::parquet::arrow::ArrowWriter;
        use datafusion::parquet::basic::Compression;
        use datafusion::parquet::file::properties::WriterProperties;
        let mut stream = self.stream(sql, limit)?;
        let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = out.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
        let oerr = |e: String| QueryError::Output { path: out.to_path_buf(), reason: e };
        let file = File::create(&tmp).map_err(|e| oerr(e.to_string()))?;
        let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
        let mut w = ArrowWriter::try_new(file, stream.schema(), Some(props)).map_err(|e| oerr(e.to_string()))?;
        let mut rows = 0u64;
        let result = self.rt.block_on(async {
            while let Some(b) = stream.next().await {
                let b = b.map_err(|e| self.explain(e))?;
                rows += b.num_rows() as u64;
                w.write(&b).map_err(|e| oerr(e.to_string()))?;
            }
            Ok::<(), QueryError>(())
        });
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        w.close().map_err(|e| oerr(e.to_string()))?;
        fs::rename(&tmp, out).map_err(|e| oerr(e.to_string()))?;
        Ok(rows)
    }
}

/// The rows of a running query, each a list of JSON cells in column order: NULL as `null`,
/// integers and floats as numbers, booleans, text as strings, timestamps as RFC 3339 UTC text,
/// lists as arrays, anything else as DataFusion prints it.
pub struct Rows<'a> {
    engine: &'a QueryEngine,
    stream: SendableRecordBatchStream,
    columns: Vec<Column>,
    pending: VecDeque<Vec<Value>>,
    done: bool,
}

impl Rows<'_> {
    /// The result's columns.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }
}

impl Iterator for Rows<'_> {
    type Item = Result<Vec<Value>, QueryError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(r) = self.pending.pop_front() {
                return Some(Ok(r));
            }
            if self.done {
                return None;
            }
            match self.engine.rt.block_on(self.stream.next()) {
                None => {
                    self.done = true;
                    return None;
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Some(Err(self.engine.explain(e)));
                }
                Some(Ok(b)) => self.pending.extend(batch_rows(&b)),
            }
        }
    }
}

fn batch_rows(b: &RecordBatch) -> Vec<Vec<Value>> {
    let cols: Vec<Vec<Value>> = b.columns().iter().map(json_cells).collect();
    (0..b.num_rows()).map(|i| cols.iter().map(|c| c[i].clone()).collect()).collect()
}

fn rfc3339(micros: i64) -> Value {
    match chrono::DateTime::from_timestamp_micros(micros) {
        Some(t) => Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
        None => Value::Null,
    }
}

/// One column as JSON cells.
fn json_cells(a: &ArrayRef) -> Vec<Value> {
    let n = a.len();
    let nulls = |v: &mut Vec<Value>| {
        for (i, c) in v.iter_mut().enumerate() {
            if a.is_null(i) {
                *c = Value::Null;
            }
        }
    };
    let mut out: Vec<Value> = match a.data_type() {
        DataType::Boolean => {
            let b = a.as_boolean();
            (0..n).map(|i| Value::Bool(b.value(i))).collect()
        }
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => {
            let Ok(c) = cast(a, &DataType::Int64) else { return display_cells(a) };
            let p = c.as_primitive::<Int64Type>();
            (0..n).map(|i| Value::from(p.value(i))).collect()
        }
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
            let Ok(c) = cast(a, &DataType::UInt64) else { return display_cells(a) };
            let p = c.as_primitive::<UInt64Type>();
            (0..n).map(|i| Value::from(p.value(i))).collect()
        }
        DataType::Float16 | DataType::Float32 | DataType::Float64 => {
            let Ok(c) = cast(a, &DataType::Float64) else { return display_cells(a) };
            let p = c.as_primitive::<Float64Type>();
            (0..n).map(|i| serde_json::Number::from_f64(p.value(i)).map(Value::Number).unwrap_or(Value::Null)).collect()
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let Ok(c) = cast(a, &DataType::Utf8) else { return display_cells(a) };
            let s = c.as_string::<i32>();
            (0..n).map(|i| Value::String(s.value(i).to_string())).collect()
        }
        DataType::Timestamp(_, _) => {
            let Ok(c) = cast(a, &DataType::Timestamp(TimeUnit::Microsecond, None)) else { return display_cells(a) };
            let p = c.as_primitive::<TimestampMicrosecondType>();
            (0..n).map(|i| if p.is_null(i) { Value::Null } else { rfc3339(p.value(i)) }).collect()
        }
        DataType::List(_) | DataType::LargeList(_) => {
            let Ok(c) = cast(a, &DataType::List(Arc::new(Field::new("item", list_item(a.data_type()), true)))) else {
                return display_cells(a);
            };
            let l = c.as_list::<i32>();
            (0..n).map(|i| if l.is_null(i) { Value::Null } else { Value::Array(json_cells(&l.value(i))) }).collect()
        }
        _ => return display_cells(a),
    };
    nulls(&mut out);
    out
}

fn list_item(t: &DataType) -> DataType {
    match t {
        DataType::List(f) | DataType::LargeList(f) => f.data_type().clone(),
        other => other.clone(),
    }
}

fn display_cells(a: &ArrayRef) -> Vec<Value> {
    let opts = FormatOptions::default();
    let Ok(f) = ArrayFormatter::try_new(a.as_ref(), &opts) else {
        return vec![Value::Null; a.len()];
    };
    (0..a.len()).map(|i| if a.is_null(i) { Value::Null } else { Value::String(f.value(i).to_string()) }).collect()
}
