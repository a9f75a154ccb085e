//! Reading committed table parts back: projection, day pruning, and row filters.

use crate::case::{Case, StoreError};
use crate::schema::Table;
use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use std::fs::File;

/// Reads every committed batch of `table` whose day lies in `[from, to]`, keeping only
/// `columns` (all when `None`), and hands each batch to `f`.
pub fn scan(
    case: &Case,
    table: Table,
    from_day: Option<&str>,
    to_day: Option<&str>,
    columns: Option<&[&str]>,
    f: &mut dyn FnMut(RecordBatch) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    scan_parts(&case.parts(table, from_day, to_day)?, columns, f)
}

/// [`scan`] over parts listed beforehand ([`Case::parts`]): a reader that walks a case day by
/// day lists its parts once instead of reading the manifest again for every day.
pub fn scan_parts(
    parts: &[crate::case::Part],
    columns: Option<&[&str]>,
    f: &mut dyn FnMut(RecordBatch) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    for part in parts {
        let file = File::open(&part.path).map_err(crate::case::io_err(&part.path))?;
        let perr =
            |e: parquet::errors::ParquetError| StoreError::Parquet { path: part.path.clone(), reason: e.to_string() };
        let mut builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(perr)?;
        if let Some(cols) = columns {
            let mask = ProjectionMask::columns(builder.parquet_schema(), cols.iter().copied());
            builder = builder.with_projection(mask);
        }
        let reader = builder.with_batch_size(8192).build().map_err(perr)?;
        for batch in reader {
            let batch = batch.map_err(|e| StoreError::Parquet { path: part.path.clone(), reason: e.to_string() })?;
            f(batch)?;
        }
    }
    Ok(())
}

/// Every committed `resources` row (configuration snapshots) of the case.
pub fn resources(case: &Case) -> Result<Vec<azir_model::Resource>, StoreError> {
    let mut out = Vec::new();
    scan(case, Table::Resources, None, None, None, &mut |b| {
        out.extend(crate::schema::resources_from_batch(&b));
        Ok(())
    })?;
    Ok(out)
}

/// Row count of the committed parts of a table (from Parquet footers; no data read).
pub fn count(case: &Case, table: Table) -> Result<u64, StoreError> {
    let mut n = 0u64;
    for part in case.parts(table, None, None)? {
        let file = File::open(&part.path).map_err(crate::case::io_err(&part.path))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| StoreError::Parquet { path: part.path.clone(), reason: e.to_string() })?;
        n += builder.metadata().file_metadata().num_rows() as u64;
    }
    Ok(n)
}
