//! Writing files: plain, gzip, zip, diagnostic-setting blob paths, record counting.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::{Compression, GzBuilder};
use serde_json::Value;

use crate::fmt::{blob_hour, Ts};

pub(crate) struct Out {
    root: PathBuf,
    pub files: Vec<PathBuf>,
    pub per_source: BTreeMap<String, u64>,
    pub records: u64,
    pub tuples: u64,
    pub bytes: u64,
}

impl Out {
    pub(crate) fn new(root: &Path) -> Out {
        Out {
            root: root.to_path_buf(),
            files: Vec::new(),
            per_source: BTreeMap::new(),
            records: 0,
            tuples: 0,
            bytes: 0,
        }
    }

    /// Writes `data` at `rel` (a `/`-separated path under the root).
    pub(crate) fn put(&mut self, rel: &str, data: &[u8]) -> io::Result<()> {
        let path = rel.split('/').fold(self.root.clone(), |p, seg| p.join(seg));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, data)?;
        self.bytes += data.len() as u64;
        self.files.push(path);
        Ok(())
    }

    /// Writes `data` gzip-compressed at `rel` + `.gz`.
    pub(crate) fn put_gz(&mut self, rel: &str, data: &[u8]) -> io::Result<()> {
        let gz = gzip(data)?;
        self.put(&format!("{rel}.gz"), &gz)
    }

    pub(crate) fn put_maybe_gz(&mut self, rel: &str, data: &[u8], gz: bool) -> io::Result<()> {
        if gz {
            self.put_gz(rel, data)
        } else {
            self.put(rel, data)
        }
    }

    /// Counts `n` records of `source`.
    pub(crate) fn count(&mut self, source: &str, n: u64) {
        *self.per_source.entry(source.to_string()).or_default() += n;
        self.records += n;
    }
}

pub(crate) fn gzip(data: &[u8]) -> io::Result<Vec<u8>> {
    let mut enc: GzEncoder<Vec<u8>> = GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::with_capacity(data.len() / 4 + 64), Compression::default());
    enc.write_all(data)?;
    enc.finish()
}

/// A zip archive built in memory with fixed timestamps and permissions.
pub(crate) struct ZipBuilder {
    entries: BTreeMap<String, Vec<u8>>,
}

impl ZipBuilder {
    pub(crate) fn new() -> ZipBuilder {
        ZipBuilder { entries: BTreeMap::new() }
    }

    pub(crate) fn add(&mut self, name: String, data: Vec<u8>) {
        self.entries.insert(name, data);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn finish(self) -> io::Result<Vec<u8>> {
        use zip::write::SimpleFileOptions;
        let to_io = |e: zip::result::ZipError| io::Error::other(e.to_string());
        let when =
            zip::DateTime::from_date_and_time(2026, 3, 14, 18, 30, 0).map_err(|e| io::Error::other(e.to_string()))?;
        let options = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(when)
            .unix_permissions(0o644);
        let mut zw = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        for (name, data) in self.entries {
            zw.start_file(name, options).map_err(to_io)?;
            zw.write_all(&data)?;
        }
        Ok(zw.finish().map_err(to_io)?.into_inner())
    }
}

/// `diagnostics/<container>/<prefix>/y=…/m=00<suffix>/PT1H.json`.
pub(crate) fn blob_path(container: &str, prefix: &str, hour: Ts, suffix: &str) -> String {
    format!("diagnostics/{container}/{prefix}/{}{suffix}/PT1H.json", blob_hour(hour))
}

/// `resourceId=/SUBSCRIPTIONS/…` for a resource id.
pub(crate) fn resource_prefix(resource_id: &str) -> String {
    format!("resourceId={}", resource_id.to_uppercase())
}

/// A log record: a JSON value, or one already serialised (cheaper to hold at large scales).
pub(crate) trait Record {
    fn write_json(&self, buf: &mut Vec<u8>);
}

impl Record for Value {
    fn write_json(&self, buf: &mut Vec<u8>) {
        serde_json::to_writer(buf, self).expect("serialising a Value cannot fail");
    }
}

impl Record for String {
    fn write_json(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(self.as_bytes());
    }
}

/// Serialises a record now.
pub(crate) fn ser(v: &Value) -> String {
    serde_json::to_string(v).expect("serialising a Value cannot fail")
}

/// JSON Lines (one record per line, trailing newline), as diagnostic settings write since 2018.
pub(crate) fn json_lines<R: Record>(records: &[R]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(records.len() * 600);
    for r in records {
        r.write_json(&mut buf);
        buf.push(b'\n');
    }
    buf
}

/// `{"records":[…]}` on one line, as Event Hubs and flow logs write.
pub(crate) fn records_object(records: Vec<Value>) -> Vec<u8> {
    let mut buf = Vec::with_capacity(records.len() * 600 + 16);
    buf.extend_from_slice(b"{\"records\":[");
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        serde_json::to_writer(&mut buf, r).expect("serialising a Value cannot fail");
    }
    buf.extend_from_slice(b"]}");
    buf
}

/// Groups time-stamped records by hour (BTreeMap: deterministic order).
pub(crate) fn by_hour<T>(items: Vec<(Ts, T)>) -> BTreeMap<Ts, Vec<(Ts, T)>> {
    let mut map: BTreeMap<Ts, Vec<(Ts, T)>> = BTreeMap::new();
    for (t, v) in items {
        map.entry(crate::fmt::hour_floor(t)).or_default().push((t, v));
    }
    for v in map.values_mut() {
        v.sort_by_key(|(t, _)| *t);
    }
    map
}

/// Writes one JSON Lines blob per hour under a diagnostic-setting container.
pub(crate) fn write_hourly<R: Record>(
    out: &mut Out,
    ctx: &crate::Ctx,
    container: &str,
    prefix: &str,
    source: &str,
    items: Vec<(Ts, R)>,
) -> io::Result<()> {
    for (hour, recs) in by_hour(items) {
        let vals: Vec<R> = recs.into_iter().map(|(_, v)| v).collect();
        out.count(source, vals.len() as u64);
        let path = blob_path(container, prefix, hour, "");
        out.put_maybe_gz(&path, &json_lines(&vals), hour < ctx.gz_before)?;
    }
    Ok(())
}
