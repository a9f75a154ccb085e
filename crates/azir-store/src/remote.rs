//! Cases on Azure Blob Storage or ADLS Gen2 (`--case az://container/path`), through
//! `object_store`.
//!
//! A remote case is the same directory tree as a local one, stored as blobs under a prefix, so
//! Spark (Fabric, Synapse, Databricks) reads its Parquet tables where they are. azir works on a
//! **local mirror** of it: [`RemoteCase::pull`] brings the mirror up to date (only blobs whose
//! ETag changed are downloaded, so a second command on the same case downloads nothing), the
//! command runs on the mirror exactly as on a local case, and commands that write (ingest,
//! hunt, acquire with `--case`) end with [`RemoteCase::push`].
//!
//! Why a mirror and not remote reads everywhere: the store's writers depend on atomic renames
//! and appends that blob storage does not have, and one code path for both keeps every command
//! (and every test of it) valid for remote cases. The cost is the first pull of a large case.
//!
//! Push order keeps the remote case consistent for readers at every moment: new table parts
//! and findings are uploaded first, then removed files are deleted, and the manifest and custody
//! log last, so no manifest line ever names a part that is not there yet (readers only trust
//! parts the manifest names, as locally). `manifest.jsonl` and `custody.jsonl` are written with
//! `If-Match` on the ETag seen at pull (or `If-None-Match: *` for a new case): if another azir
//! run changed the case meanwhile, the push is refused instead of losing that run's lines.
//!
//! Credentials come from the environment `object_store` reads (`AZURE_STORAGE_ACCOUNT_NAME`
//! with `AZURE_STORAGE_ACCOUNT_KEY`, `AZURE_STORAGE_SAS_KEY`, a service principal's
//! `AZURE_CLIENT_ID`/`AZURE_CLIENT_SECRET`/`AZURE_TENANT_ID`, managed identity, workload identity,
//! `AZURE_USE_AZURE_CLI=true`; Azurite with `AZURE_STORAGE_USE_EMULATOR=true` and
//! `AZURITE_BLOB_STORAGE_URL`) or from a SAS in an `https://` case URL. Neither is ever printed:
//! the case is shown without its query string, and `sig=` values are scrubbed from errors.
//!
//! The mirror lives in `$AZIR_CACHE_DIR` (default `$XDG_CACHE_HOME/azir` or `~/.cache/azir`)
//! under `remote-cases/<hash of the URL>`, with `.azir-sync.json` recording what was pulled.

use crate::case::{io_err, write_atomic, StoreError};
use azir_model::secret::scrub_sig;
use futures::{StreamExt, TryStreamExt};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion, WriteMultipart};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;
use tokio::runtime::Runtime;

/// Name of the sync record inside the mirror.
const SYNC_FILE: &str = ".azir-sync.json";
/// Files larger than this are uploaded in blocks.
const MULTIPART_OVER: u64 = 32 << 20;
/// Transfers in flight at once.
const PARALLEL: usize = 8;
/// Written last on push, in this order.
const LAST: [&str; 3] = ["case.json", "custody.jsonl", "manifest.jsonl"];

/// Whether `loc` names a remote case (`az://`, `azure://`, `abfs://`, `abfss://`, `adl://`, or
/// an `https://….blob.core.windows.net/…` / `….dfs.core.windows.net/…` URL).
pub fn is_remote(loc: &str) -> bool {
    let l = loc.to_ascii_lowercase();
    ["az://", "azure://", "abfs://", "abfss://", "adl://"].iter().any(|s| l.starts_with(s))
        || (l.starts_with("https://") && (l.contains(".blob.") || l.contains(".dfs.")))
}

fn remote_err(case: &str, what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Remote(format!("{case}: {what}: {}", scrub_sig(&e.to_string())))
}

/// What a pull or push moved.
#[derive(Debug, Default, Clone, Serialize)]
pub struct SyncReport {
    /// Files transferred.
    pub files: usize,
    /// Bytes transferred.
    pub bytes: u64,
    /// Files already up to date.
    pub unchanged: usize,
    /// Files removed (locally on pull, remotely on push).
    pub removed: usize,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
struct SyncEntry {
    size: u64,
    mtime_ns: u64,
    e_tag: Option<String>,
    version: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct SyncState {
    url: String,
    files: BTreeMap<String, SyncEntry>,
}

/// A case stored on Azure Blob Storage / ADLS Gen2, with its local mirror.
pub struct RemoteCase {
    display: String,
    store: Arc<dyn ObjectStore>,
    prefix: ObjPath,
    mirror: PathBuf,
    rt: Runtime,
}

fn cache_root() -> PathBuf {
    if let Some(d) = std::env::var_os("AZIR_CACHE_DIR") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(d).join("azir");
    }
    match std::env::var_os("HOME") {
        Some(h) => PathBuf::from(h).join(".cache").join("azir"),
        None => std::env::temp_dir().join("azir-cache"),
    }
}

fn mtime_ns(meta: &fs::Metadata) -> u64 {
    meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos() as u64)
}

impl RemoteCase {
    /// Connects to the case at `url` (nothing is read yet), with credentials from the environment.
    pub fn new(url: &str) -> Result<RemoteCase, StoreError> {
        Self::new_with(url, &[])
    }

    /// As [`RemoteCase::new`], with `object_store` Azure settings (`azure_storage_account_key`,
    /// `azure_storage_endpoint`, ...) on top of the environment's.
    pub fn new_with(url: &str, config: &[(&str, &str)]) -> Result<RemoteCase, StoreError> {
        let (base, query) = match url.split_once('?') {
            Some((b, q)) => (b.trim_end_matches('/'), Some(q)),
            None => (url.trim_end_matches('/'), None),
        };
        let display = base.to_string();
        let parsed = url::Url::parse(base).map_err(|e| remote_err(&display, "not a storage URL", e))?;
        let scheme = parsed.scheme().to_ascii_lowercase();
        let mut builder = MicrosoftAzureBuilder::from_env();
        let prefix: String = match scheme.as_str() {
            "https" => {
                builder = builder.with_url(base);
                // https://ACCOUNT.blob.core.windows.net/CONTAINER/path: the container is the first segment.
                let segs: Vec<&str> = parsed.path().trim_matches('/').splitn(2, '/').collect();
                segs.get(1).copied().unwrap_or_default().to_string()
            }
            "az" | "azure" | "adl" | "abfs" | "abfss" => {
                builder = builder.with_url(base);
                parsed.path().trim_matches('/').to_string()
            }
            other => return Err(remote_err(&display, "unsupported scheme", other)),
        };
        for (k, v) in config {
            let key: AzureConfigKey = k.parse().map_err(|e| remote_err(&display, "storage setting", e))?;
            builder = builder.with_config(key, *v);
        }
        if let Some(q) = query.filter(|q| q.contains("sig=")) {
            builder = builder.with_config(AzureConfigKey::SasKey, q);
        }
        let store = builder.build().map_err(|e| remote_err(&display, "storage configuration", e))?;
        let mut h = Sha256::new();
        h.update(display.as_bytes());
        let key = azir_logs::input::hex(&h.finalize()[..8]);
        let mirror = cache_root().join("remote-cases").join(key);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| remote_err(&display, "cannot start the I/O runtime", e))?;
        Ok(RemoteCase { display, store: Arc::new(store), prefix: ObjPath::from(prefix), mirror, rt })
    }

    /// The case URL without its query string (safe to print).
    pub fn display(&self) -> &str {
        &self.display
    }

    /// The same case with its mirror in `dir` instead of the cache.
    pub fn with_mirror(mut self, dir: PathBuf) -> RemoteCase {
        self.mirror = dir;
        self
    }

    /// The local mirror directory.
    pub fn mirror(&self) -> &Path {
        &self.mirror
    }

    fn rel(&self, p: &ObjPath) -> Option<String> {
        let parts: Vec<String> = p.prefix_match(&self.prefix)?.map(|s| s.as_ref().to_string()).collect();
        (!parts.is_empty()).then(|| parts.join("/"))
    }

    fn obj(&self, rel: &str) -> ObjPath {
        if self.prefix.as_ref().is_empty() {
            ObjPath::from(rel)
        } else {
            ObjPath::from(format!("{}/{rel}", self.prefix.as_ref()))
        }
    }

    fn load_state(&self) -> SyncState {
        fs::read(self.mirror.join(SYNC_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice::<SyncState>(&b).ok())
            .filter(|s| s.url == self.display)
            .unwrap_or_else(|| SyncState { url: self.display.clone(), files: BTreeMap::new() })
    }

    fn save_state(&self, s: &SyncState) -> Result<(), StoreError> {
        let body = serde_json::to_vec_pretty(s).unwrap_or_default();
        write_atomic(&self.mirror.join(SYNC_FILE), &body)
    }

    /// Whether the remote location holds a case (`case.json`).
    pub fn exists(&self) -> Result<bool, StoreError> {
        match self.rt.block_on(self.store.head(&self.obj("case.json"))) {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(remote_err(&self.display, "reading case.json", e)),
        }
    }

    /// Brings the mirror up to date with the remote case.
    pub fn pull(&self) -> Result<SyncReport, StoreError> {
        fs::create_dir_all(&self.mirror).map_err(io_err(&self.mirror))?;
        let mut state = self.load_state();
        let listed: Vec<object_store::ObjectMeta> = self
            .rt
            .block_on(self.store.list(Some(&self.prefix)).try_collect())
            .map_err(|e| remote_err(&self.display, "listing", e))?;
        let mut report = SyncReport::default();
        let mut todo = Vec::new();
        let mut remote = std::collections::HashSet::new();
        for m in listed {
            let Some(rel) = self.rel(&m.location) else { continue };
            if rel.split('/').any(|s| s.starts_with('.')) || rel.contains("..") {
                continue;
            }
            remote.insert(rel.clone());
            let local = self.mirror.join(&rel);
            let fresh = state.files.get(&rel).is_some_and(|e| {
                e.e_tag.is_some()
                    && e.e_tag == m.e_tag
                    && fs::metadata(&local).is_ok_and(|lm| lm.len() == e.size && mtime_ns(&lm) == e.mtime_ns)
            });
            if fresh {
                report.unchanged += 1;
            } else {
                todo.push((rel, m));
            }
        }
        // Files another run removed remotely (orphan parts, replaced findings).
        let gone: Vec<String> = state.files.keys().filter(|k| !remote.contains(*k)).cloned().collect();
        for rel in gone {
            let _ = fs::remove_file(self.mirror.join(&rel));
            state.files.remove(&rel);
            report.removed += 1;
        }
        let results: Vec<Result<(String, SyncEntry), StoreError>> = self.rt.block_on(
            futures::stream::iter(todo.into_iter().map(|(rel, m)| self.download(rel, m)))
                .buffer_unordered(PARALLEL)
                .collect(),
        );
        for r in results {
            let (rel, e) = r?;
            report.files += 1;
            report.bytes += e.size;
            state.files.insert(rel, e);
        }
        self.save_state(&state)?;
        Ok(report)
    }

    async fn download(&self, rel: String, m: object_store::ObjectMeta) -> Result<(String, SyncEntry), StoreError> {
        let local = self.mirror.join(&rel);
        if let Some(dir) = local.parent() {
            fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        let name = local.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = local.with_file_name(format!(".{name}.download"));
        let got = self.store.get(&m.location).await.map_err(|e| remote_err(&self.display, &rel, e))?;
        let mut stream = got.into_stream();
        let mut f = fs::File::create(&tmp).map_err(io_err(&tmp))?;
        let mut size = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| remote_err(&self.display, &rel, e))?;
            size += chunk.len() as u64;
            f.write_all(&chunk).map_err(io_err(&tmp))?;
        }
        f.sync_all().map_err(io_err(&tmp))?;
        drop(f);
        if size != m.size {
            let _ = fs::remove_file(&tmp);
            return Err(remote_err(&self.display, &rel, format!("short download: {size} of {} bytes", m.size)));
        }
        fs::rename(&tmp, &local).map_err(io_err(&local))?;
        let lm = fs::metadata(&local).map_err(io_err(&local))?;
        Ok((rel, SyncEntry { size, mtime_ns: mtime_ns(&lm), e_tag: m.e_tag, version: m.version }))
    }

    /// Every file of the mirror (relative, `/`-separated), skipping hidden ones and staging.
    fn local_files(&self) -> Result<Vec<String>, StoreError> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), StoreError> {
            let Ok(rd) = fs::read_dir(dir) else { return Ok(()) };
            for e in rd {
                let e = e.map_err(io_err(dir))?;
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') {
                    continue;
                }
                let p = e.path();
                let ft = e.file_type().map_err(io_err(&p))?;
                if ft.is_dir() {
                    walk(root, &p, out)?;
                } else if ft.is_file() {
                    let rel = p.strip_prefix(root).unwrap_or(&p);
                    out.push(rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/"));
                }
            }
            Ok(())
        }
        let mut out = Vec::new();
        walk(&self.mirror, &self.mirror, &mut out)?;
        out.sort();
        Ok(out)
    }

    /// Uploads what the last command changed in the mirror (see the module docs for the order).
    pub fn push(&self) -> Result<SyncReport, StoreError> {
        let mut state = self.load_state();
        let mut report = SyncReport::default();
        let files = self.local_files()?;
        let mut changed = Vec::new();
        for rel in &files {
            let p = self.mirror.join(rel);
            let m = fs::metadata(&p).map_err(io_err(&p))?;
            let same = state.files.get(rel).is_some_and(|e| e.size == m.len() && e.mtime_ns == mtime_ns(&m));
            if same {
                report.unchanged += 1;
            } else {
                changed.push(rel.clone());
            }
        }
        let (last, first): (Vec<String>, Vec<String>) = changed.into_iter().partition(|r| LAST.contains(&r.as_str()));
        let results: Vec<Result<(String, SyncEntry), StoreError>> = self.rt.block_on(
            futures::stream::iter(first.into_iter().map(|rel| self.upload(rel, None)))
                .buffer_unordered(PARALLEL)
                .collect(),
        );
        for r in results {
            let (rel, e) = r?;
            report.files += 1;
            report.bytes += e.size;
            state.files.insert(rel, e);
        }
        let present: std::collections::HashSet<&String> = files.iter().collect();
        let gone: Vec<String> = state.files.keys().filter(|k| !present.contains(k)).cloned().collect();
        for rel in gone {
            match self.rt.block_on(self.store.delete(&self.obj(&rel))) {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(remote_err(&self.display, &format!("deleting {rel}"), e)),
            }
            state.files.remove(&rel);
            report.removed += 1;
        }
        for name in LAST {
            if !last.iter().any(|r| r == name) {
                continue;
            }
            let prev = state.files.get(name).cloned();
            let (rel, e) = self.rt.block_on(self.upload(name.to_string(), Some(prev)))?;
            report.files += 1;
            report.bytes += e.size;
            state.files.insert(rel, e);
            self.save_state(&state)?;
        }
        self.save_state(&state)?;
        Ok(report)
    }

    /// Uploads one file. `guard` is `Some` for the files written conditionally: `Some(None)`
    /// creates (fails if the blob exists), `Some(Some(entry))` replaces only that version.
    async fn upload(&self, rel: String, guard: Option<Option<SyncEntry>>) -> Result<(String, SyncEntry), StoreError> {
        let local = self.mirror.join(&rel);
        let meta = fs::metadata(&local).map_err(io_err(&local))?;
        let path = self.obj(&rel);
        let result = if guard.is_none() && meta.len() > MULTIPART_OVER {
            let upload = self.store.put_multipart(&path).await.map_err(|e| remote_err(&self.display, &rel, e))?;
            let mut w = WriteMultipart::new_with_chunk_size(upload, 8 << 20);
            let mut f = fs::File::open(&local).map_err(io_err(&local))?;
            let mut buf = vec![0u8; 8 << 20];
            loop {
                let n = std::io::Read::read(&mut f, &mut buf).map_err(io_err(&local))?;
                if n == 0 {
                    break;
                }
                w.wait_for_capacity(PARALLEL).await.map_err(|e| remote_err(&self.display, &rel, e))?;
                w.write(&buf[..n]);
            }
            w.finish().await.map_err(|e| remote_err(&self.display, &rel, e))?
        } else {
            let body = fs::read(&local).map_err(io_err(&local))?;
            let mode = match guard {
                None => PutMode::Overwrite,
                Some(None) => PutMode::Create,
                Some(Some(e)) => match e.e_tag {
                    Some(tag) => PutMode::Update(UpdateVersion { e_tag: Some(tag), version: e.version }),
                    None => PutMode::Create,
                },
            };
            let opts = PutOptions { mode, ..Default::default() };
            match self.store.put_opts(&path, PutPayload::from(body), opts).await {
                Ok(r) => r,
                Err(object_store::Error::Precondition { .. } | object_store::Error::AlreadyExists { .. }) => {
                    return Err(StoreError::Remote(format!(
                        "{}: {rel} was changed by another run since this one read it; nothing of that run was \
                         overwritten. Run the command again (the case is pulled afresh).",
                        self.display
                    )));
                }
                Err(e) => return Err(remote_err(&self.display, &rel, e)),
            }
        };
        // The mirror's copy is what was uploaded; a later change shows as a new size or mtime.
        Ok((
            rel,
            SyncEntry { size: meta.len(), mtime_ns: mtime_ns(&meta), e_tag: result.e_tag, version: result.version },
        ))
    }

    /// Empties the mirror (for a new case, or when the remote case was replaced).
    pub fn reset_mirror(&self) -> Result<(), StoreError> {
        if self.mirror.exists() {
            fs::remove_dir_all(&self.mirror).map_err(io_err(&self.mirror))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_locations() {
        assert!(is_remote("az://cases/contoso"));
        assert!(is_remote("abfss://cases@acct.dfs.core.windows.net/contoso"));
        assert!(is_remote("https://acct.blob.core.windows.net/cases/contoso?sv=1&sig=abc"));
        assert!(!is_remote("./case"));
        assert!(!is_remote("/tmp/az:/x"));
    }
}
