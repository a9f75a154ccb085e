//! Parallel reading of a table for aggregations: every (part, row group) is a unit of work,
//! and each worker thread folds the batches of the units it takes into its own accumulator.
//!
//! [`crate::read::scan`] decodes one part after another on the calling thread; analytics over
//! hundreds of millions of flow tuples are dominated by Parquet decoding, so here the decoding
//! itself runs on every core. The caller merges the per-thread accumulators (one per worker,
//! not one per unit, so merging costs are bounded by the thread count).

use crate::case::{Case, StoreError};
use crate::schema::Table;
use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ProjectionMask;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

fn parquet_err(path: &Path) -> impl Fn(parquet::errors::ParquetError) -> StoreError + '_ {
    move |e| StoreError::Parquet { path: path.to_path_buf(), reason: e.to_string() }
}

fn open(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>, StoreError> {
    let file = File::open(path).map_err(crate::case::io_err(path))?;
    ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet_err(path))
}

/// Opens `path` reading the `Utf8` columns named in `dictionary` as `Dictionary(Int32, Utf8)`.
fn open_with(path: &Path, dictionary: &[&str]) -> Result<ParquetRecordBatchReaderBuilder<File>, StoreError> {
    let builder = open(path)?;
    if dictionary.is_empty() {
        return Ok(builder);
    }
    let schema = builder.schema();
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            let f = f.as_ref().clone();
            if *f.data_type() == DataType::Utf8 && dictionary.contains(&f.name().as_str()) {
                f.with_data_type(DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)))
            } else {
                f
            }
        })
        .collect();
    let hint = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
    let file = File::open(path).map_err(crate::case::io_err(path))?;
    ParquetRecordBatchReaderBuilder::try_new_with_options(file, ArrowReaderOptions::new().with_schema(hint))
        .map_err(parquet_err(path))
}

/// How [`par_scan_with`] reads.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScanOptions<'a> {
    /// Keep only these columns (all when `None`).
    pub columns: Option<&'a [&'a str]>,
    /// String columns to read as `Dictionary(Int32, Utf8)` arrays. Parquet stores repetitive
    /// strings (resource ids, rule names, evidence paths) dictionary-encoded; asking for a
    /// dictionary array keeps them so, instead of copying the string into every row, and lets
    /// the caller work once per distinct value.
    pub dictionary: &'a [&'a str],
    /// Rows per batch handed to `fold` (default [`BATCH_ROWS`]). Wide rows (the `events`
    /// table's `raw`, ~1.5 KB a row) read faster in small batches: a batch then stays in cache
    /// while it is folded, and its buffers are reused instead of faulted in afresh (`azir hunt`
    /// on the scale-10 demo: 0.94–1.02 s at 512 rows against 1.30–1.66 s at 16,384, peak memory
    /// 155–186 MB against 415–439 MB; 256 rows measured the same within noise, 64 slower).
    pub batch_rows: Option<usize>,
}

/// Rows per batch unless a scan asks otherwise: columnar aggregations over narrow rows (flow
/// tuples) like large batches.
pub const BATCH_ROWS: usize = 16 * 1024;

/// Reads the committed parts of `table` whose day lies in `days` (`[from, to]`, `YYYY-MM-DD`,
/// open ends when `None`), keeping only
/// `columns` (all when `None`), on `threads` worker threads. Each worker starts from `init()`
/// and hands every batch it decodes to `fold`; the accumulators come back in worker order.
/// An error from `fold` (a message) is reported with the part's path; the first error stops
/// every worker.
pub fn par_scan<A: Send>(
    case: &Case,
    table: Table,
    days: (Option<&str>, Option<&str>),
    columns: Option<&[&str]>,
    threads: usize,
    init: &(dyn Fn() -> A + Sync),
    fold: &(dyn Fn(&mut A, &RecordBatch) -> Result<(), String> + Sync),
) -> Result<Vec<A>, StoreError> {
    par_scan_with(case, table, days, ScanOptions { columns, dictionary: &[], batch_rows: None }, threads, init, fold)
}

/// [`par_scan`] with more reading options.
pub fn par_scan_with<A: Send>(
    case: &Case,
    table: Table,
    days: (Option<&str>, Option<&str>),
    opts: ScanOptions<'_>,
    threads: usize,
    init: &(dyn Fn() -> A + Sync),
    fold: &(dyn Fn(&mut A, &RecordBatch) -> Result<(), String> + Sync),
) -> Result<Vec<A>, StoreError> {
    let columns = opts.columns;
    let mut units: Vec<(PathBuf, usize)> = Vec::new();
    for part in case.parts(table, days.0, days.1)? {
        let groups = open(&part.path)?.metadata().num_row_groups();
        units.extend((0..groups).map(|g| (part.path.clone(), g)));
    }
    let workers = threads.max(1).min(units.len().max(1));
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let first_error: Mutex<Option<StoreError>> = Mutex::new(None);
    let work = |acc: &mut A| -> Result<(), StoreError> {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= units.len() || stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            let (path, group) = &units[i];
            let mut builder = open_with(path, opts.dictionary)?;
            if let Some(cols) = columns {
                let mask = ProjectionMask::columns(builder.parquet_schema(), cols.iter().copied());
                builder = builder.with_projection(mask);
            }
            let reader = builder
                .with_row_groups(vec![*group])
                .with_batch_size(opts.batch_rows.unwrap_or(BATCH_ROWS).max(1))
                .build()
                .map_err(parquet_err(path))?;
            for batch in reader {
                let batch = batch.map_err(|e| StoreError::Parquet { path: path.clone(), reason: e.to_string() })?;
                fold(acc, &batch).map_err(|reason| StoreError::Parquet { path: path.clone(), reason })?;
            }
        }
    };
    let accs: Vec<A> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut acc = init();
                    if let Err(e) = work(&mut acc) {
                        stop.store(true, Ordering::Relaxed);
                        first_error.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
                    }
                    acc
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
    });
    if let Some(e) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    Ok(accs)
}
