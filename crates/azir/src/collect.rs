//! `azir collect`: pull what could expire from a live tenant into a case.
//!
//! The collector (`azir_azure`) writes each completed window to a file under the output
//! directory and tells this module as it lands: the file is hashed into the custody log at
//! once (before anything reads it), its window's completeness record goes to the case's
//! `collection.jsonl`, and when the sources are done every landed file is ingested. Storage
//! accounts' diagnostic containers are downloaded after the API sources, with their own state
//! file, and go the same way.
//!
//! The output directory lives beside the case (`<case>-collected/`) unless `--out` says
//! otherwise: ingest never reads files inside a case, and the collected files are the evidence
//! the manifest points at, so they must outlive any rebuild of the tables. Rerunning the same
//! command resumes: completed windows are skipped (the collector's checkpoint), and re-ingesting
//! a file already in the case is a no-op (by SHA-256).

use crate::progress::Bar;
use anyhow::{bail, Context, Result};
use azir_azure::storage::{self, BlobOutcome, BlobStatus, StorageAuth, StorageState, StorageTarget, StorageWindow};
use azir_azure::{
    Audience, CollectOptions, Credential, Credentials, Endpoints, GraphVersion, LandedFile, Secret, Sink, Source,
    StaticTokens, WindowRecord, WindowStatus,
};
use azir_store::{Case, IngestOptions};
use chrono::{DateTime, TimeZone, Utc};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use is_terminal::IsTerminal;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Args)]
#[command(after_help = "Examples:
  azir collect --case ./case --tenant contoso.onmicrosoft.com --since 30d
  azir collect --case ./case --auth cli --sources activity,network --subscriptions 11111111-2222-3333-4444-555555555555
  AZURE_TENANT_ID=… AZURE_CLIENT_ID=… AZURE_CLIENT_SECRET=… azir collect --case ./case --auth secret --since 2026-03-01
  azir collect --case ./case --token-file tokens.json --storage-account https://diaglogs.blob.core.windows.net --since 7d
  azir collect --case ./case --since 90d --dry-run

Sources: signins, signins-noninteractive, signins-sp, signins-mi, audit, provisioning, risk-detections,
risky-users (Microsoft Graph, tenant-wide), activity and network (ARM, per subscription), and storage
(diagnostic-setting containers insights-* of each --storage-account). Default: every API source, plus
storage when an account is given.

Credentials (--auth): default tries AZURE_CLIENT_SECRET / AZURE_CLIENT_CERTIFICATE_PATH, workload
identity, managed identity, then the Azure CLI; secret and certificate read AZURE_TENANT_ID,
AZURE_CLIENT_ID and AZURE_CLIENT_SECRET or --certificate; --token-file holds a bearer token or
{\"arm\":\"…\",\"graph\":\"…\",\"storage\":\"…\"}. Secrets are never printed or stored.
Storage accounts: key from --storage-key-env VAR, SAS from --storage-sas-env VAR, else a Storage
token of the credential.

Rerun the same command to resume: completed windows are skipped, interrupted ones redone.
Exit code 6: finished, but some windows could not be collected (403, failures: listed, and in
the case's collection.jsonl).")]
pub struct CollectArgs {
    /// The case directory (created if it does not exist).
    #[arg(long, short)]
    case: PathBuf,
    /// Where collected files are written (default: `<case>-collected` beside the case).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Start: RFC 3339 time, date, or `30d`/`12h` ago (default: 90 days ago, the Activity
    /// Log's retention).
    #[arg(long, default_value = "90d")]
    since: String,
    /// End (exclusive; default: now).
    #[arg(long)]
    until: Option<String>,
    /// Sources, comma-separated (see below).
    #[arg(long, value_delimiter = ',')]
    sources: Vec<String>,
    /// Subscription ids for the Activity Log and the network (default: every one the identity can see).
    #[arg(long, value_delimiter = ',')]
    subscriptions: Vec<String>,
    /// Tenant id or domain (default: the credential's).
    #[arg(long)]
    tenant: Option<String>,
    /// How to authenticate.
    #[arg(long, value_enum, default_value_t = AuthKind::Default)]
    auth: AuthKind,
    /// Application (client) id (else AZURE_CLIENT_ID); for managed identity, a user-assigned identity.
    #[arg(long)]
    client_id: Option<String>,
    /// PEM file with the app's private key and certificate (`--auth certificate`).
    #[arg(long)]
    certificate: Option<PathBuf>,
    /// A file with a bearer token, or JSON {"arm","graph","storage"} tokens (implies --auth token).
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// Name of an environment variable holding a bearer token (implies --auth token; a token on
    /// the command line would be visible to every user of the machine).
    #[arg(long)]
    token_env: Option<String>,
    /// Azure cloud.
    #[arg(long, value_enum, default_value_t = Cloud::Public)]
    cloud: Cloud,
    /// Base URL of a stand-in for every endpoint (authority, ARM, Graph, IMDS), e.g. a test fake.
    #[arg(long, hide = true)]
    endpoint: Option<String>,
    /// Storage account blob endpoint to collect diagnostic containers from (repeatable).
    #[arg(long = "storage-account")]
    storage_accounts: Vec<String>,
    /// Containers to collect (repeatable; default: every `insights-*` container).
    #[arg(long = "storage-container")]
    storage_containers: Vec<String>,
    /// Environment variable holding the storage account key.
    #[arg(long)]
    storage_key_env: Option<String>,
    /// Environment variable holding a storage SAS (query string).
    #[arg(long)]
    storage_sas_env: Option<String>,
    /// Also download blobs of the hour still being written (they are re-downloaded as new
    /// versions when they grow).
    #[arg(long)]
    include_open_hour: bool,
    /// Microsoft Graph version for the sources that have a v1.0 form.
    #[arg(long, value_enum, default_value_t = GraphApi::Beta)]
    graph: GraphApi,
    /// Worker threads.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Graph identity-report requests allowed per 10 s per tenant (Microsoft's limit is 5).
    #[arg(long, default_value_t = 5)]
    graph_rate: u32,
    /// Window length of the Activity Log and Graph queries (e.g. `1d`, `6h`).
    #[arg(long, default_value = "1d")]
    window: String,
    /// Ask every source for the whole range, even the part older than the service keeps (by
    /// default that part is recorded as `expired` and not asked: Activity Log 90 days, Entra
    /// sign-ins, audit and provisioning 30, risk detections 90).
    #[arg(long)]
    beyond_retention: bool,
    /// Print what would be called and stop.
    #[arg(long)]
    dry_run: bool,
    /// Collect only; do not ingest into the case.
    #[arg(long)]
    no_ingest: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum AuthKind {
    Default,
    Cli,
    Secret,
    Certificate,
    ManagedIdentity,
    WorkloadIdentity,
    Token,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Cloud {
    Public,
    UsGov,
    China,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum GraphApi {
    V1,
    Beta,
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.trim().is_empty())
}

fn parse_time(s: &str, now: DateTime<Utc>, flag: &str) -> Result<DateTime<Utc>> {
    let us = crate::timeline::parse_when(s, now.timestamp_micros()).with_context(|| format!("{flag} {s:?}"))?;
    Utc.timestamp_micros(us).single().with_context(|| format!("{flag} {s:?} is out of range"))
}

fn credential(a: &CollectArgs) -> Result<Credential> {
    let lookup = |k: &str| env(k);
    let tenant = || a.tenant.clone().or_else(|| env("AZURE_TENANT_ID"));
    let client_id = || a.client_id.clone().or_else(|| env("AZURE_CLIENT_ID"));
    let need = |v: Option<String>, what: &str| v.with_context(|| format!("--auth needs {what}"));
    if let Some(f) = &a.token_file {
        return Ok(Credential::Static(
            StaticTokens::from_file(f).map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?,
        ));
    }
    if let Some(var) = &a.token_env {
        let t = env(var).with_context(|| format!("--token-env {var}: the variable is not set"))?;
        return Ok(Credential::Static(StaticTokens::parse(&t).map_err(|e| anyhow::anyhow!("--token-env {var}: {e}"))?));
    }
    Ok(match a.auth {
        AuthKind::Default => {
            let mut c = Credential::from_environment(&lookup);
            if let (Some(t), Credential::Chain(chain)) = (&a.tenant, &mut c) {
                for c in chain.iter_mut() {
                    if let Credential::AzureCli { tenant, .. } = c {
                        *tenant = Some(t.clone());
                    }
                }
            }
            c
        }
        AuthKind::Cli => Credential::azure_cli(env("PATH").as_deref(), a.tenant.clone()),
        AuthKind::Secret => Credential::ClientSecret {
            tenant: need(tenant(), "--tenant or AZURE_TENANT_ID")?,
            client_id: need(client_id(), "--client-id or AZURE_CLIENT_ID")?,
            secret: Secret::new(need(env("AZURE_CLIENT_SECRET"), "AZURE_CLIENT_SECRET in the environment")?),
            authority: env("AZURE_AUTHORITY_HOST"),
        },
        AuthKind::Certificate => Credential::ClientCertificate {
            tenant: need(tenant(), "--tenant or AZURE_TENANT_ID")?,
            client_id: need(client_id(), "--client-id or AZURE_CLIENT_ID")?,
            path: a
                .certificate
                .clone()
                .or_else(|| env("AZURE_CLIENT_CERTIFICATE_PATH").map(PathBuf::from))
                .context("--auth certificate needs --certificate or AZURE_CLIENT_CERTIFICATE_PATH")?,
            authority: env("AZURE_AUTHORITY_HOST"),
        },
        AuthKind::ManagedIdentity => Credential::managed_identity(&lookup, a.client_id.clone()),
        AuthKind::WorkloadIdentity => Credential::workload_identity(&lookup).context(
            "--auth workload-identity needs AZURE_FEDERATED_TOKEN_FILE, AZURE_CLIENT_ID and AZURE_TENANT_ID",
        )?,
        AuthKind::Token => bail!("--auth token needs --token-file or --token-env"),
    })
}

fn endpoints(a: &CollectArgs) -> Endpoints {
    if let Some(base) = &a.endpoint {
        return Endpoints::all_at(base);
    }
    match a.cloud {
        Cloud::Public => Endpoints::public(),
        Cloud::UsGov => Endpoints::us_government(),
        Cloud::China => Endpoints::china(),
    }
}

/// What the run asked for: API sources, and whether storage is wanted.
fn sources(a: &CollectArgs) -> Result<(Vec<Source>, bool)> {
    if a.sources.is_empty() {
        return Ok((Source::ALL.to_vec(), !a.storage_accounts.is_empty()));
    }
    let (mut api, mut storage) = (Vec::new(), false);
    for s in &a.sources {
        let s = s.trim();
        if s.eq_ignore_ascii_case("storage") {
            storage = true;
        } else if s.eq_ignore_ascii_case("all") {
            api.extend(Source::ALL);
            storage |= !a.storage_accounts.is_empty();
        } else {
            let names = Source::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
            api.push(
                s.parse::<Source>().map_err(|_| anyhow::anyhow!("--sources: {s:?} is not one of {names}, storage"))?,
            );
        }
    }
    api.dedup();
    if storage && a.storage_accounts.is_empty() {
        bail!("--sources storage needs at least one --storage-account");
    }
    Ok((api, storage))
}

fn default_out(case: &Path) -> Result<PathBuf> {
    if crate::location::remote_of(case).is_some() {
        bail!("a remote case needs --out: a local directory for the collected files");
    }
    let name = case.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "case".into());
    Ok(case.with_file_name(format!("{name}-collected")))
}

/// Records what lands, as it lands.
struct CaseSink<'a> {
    case: &'a Case,
    out: &'a Path,
    /// Custody and collection appends, one at a time.
    lock: Mutex<Vec<PathBuf>>,
    /// SHA-256 of the files the custody log already records as collected (a resumed run
    /// reports earlier runs' files again).
    known: std::collections::HashSet<String>,
    errors: Mutex<Vec<String>>,
    bar: Option<ProgressBar>,
    quiet: bool,
}

impl CaseSink<'_> {
    fn note_error(&self, e: impl std::fmt::Display) {
        self.errors.lock().unwrap_or_else(|p| p.into_inner()).push(e.to_string());
    }

    fn say(&self, msg: &str) {
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(b) => b.println(msg),
            None => eprintln!("{msg}"),
        }
    }

    fn landed_path(&self, path: PathBuf, sha256: &str, detail: serde_json::Value) {
        let mut landed = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let shown = path.strip_prefix(self.out).map(|p| p.display().to_string()).unwrap_or(path.display().to_string());
        if !self.known.contains(sha256) {
            if let Err(e) = self.case.append_custody("collected", Some(sha256), Some(&shown), detail) {
                self.note_error(format!("custody entry for {shown}: {e}"));
            }
        }
        // A resumed run reports the files of earlier runs again: one custody entry each is enough.
        if !landed.contains(&path) {
            landed.push(path);
        }
    }
}

fn when(t: Option<DateTime<Utc>>) -> serde_json::Value {
    t.map_or(serde_json::Value::Null, |t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true).into())
}

impl Sink for CaseSink<'_> {
    fn landed(&self, f: &LandedFile) {
        let detail = json!({"source": f.source.as_str(), "scope": f.scope, "item": f.item, "start": when(f.start),
            "end": when(f.end), "records": f.records, "bytes": f.bytes, "resumed": f.resumed});
        self.landed_path(f.path.clone(), &f.sha256, detail);
    }

    fn window(&self, rec: &WindowRecord) {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut v = serde_json::to_value(rec).unwrap_or_default();
        v["kind"] = "window".into();
        if let Err(e) = self.case.append_collection(&[v]) {
            self.note_error(format!("collection record: {e}"));
        }
        drop(_g);
        if !matches!(rec.status, WindowStatus::Complete | WindowStatus::Split | WindowStatus::Expired) {
            let window = match (rec.start, rec.end) {
                (Some(s), Some(e)) => format!(" {} .. {}", s.format("%Y-%m-%d %H:%M"), e.format("%Y-%m-%d %H:%M")),
                _ => String::new(),
            };
            self.say(&format!(
                "  ! {} {}{}: {}{}",
                rec.source.as_str(),
                rec.scope,
                window,
                rec.status.as_str(),
                rec.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()
            ));
        }
    }

    fn progress(&self, source: Source, scope: &str, records: u64, pages: u64) {
        if let Some(b) = &self.bar {
            b.set_message(format!("{} {scope}: {records} records, {pages} pages", source.as_str()));
            b.tick();
        }
    }

    fn warn(&self, msg: &str) {
        self.say(&format!("  ! {msg}"));
    }
}

fn storage_auth(a: &CollectArgs, creds: &Credentials) -> Result<StorageAuth> {
    if let Some(var) = &a.storage_key_env {
        return Ok(StorageAuth::AccountKey(
            env(var).with_context(|| format!("--storage-key-env {var}: the variable is not set"))?,
        ));
    }
    if let Some(var) = &a.storage_sas_env {
        let sas = env(var).with_context(|| format!("--storage-sas-env {var}: the variable is not set"))?;
        return Ok(StorageAuth::Sas(sas.trim_start_matches('?').to_string()));
    }
    let token = creds
        .token(Audience::Storage)
        .map_err(|e| anyhow::anyhow!("a Storage token for the diagnostic containers: {e}"))?;
    Ok(StorageAuth::Bearer(token.expose().to_string()))
}

pub fn run(a: &CollectArgs, json_out: bool, quiet: bool) -> Result<i32> {
    let now = Utc::now();
    let since = parse_time(&a.since, now, "--since")?;
    let until = a.until.as_deref().map(|u| parse_time(u, now, "--until")).transpose()?.unwrap_or(now);
    let (api, want_storage) = sources(a)?;
    let window = crate::timeline::duration_secs(&a.window)
        .ok()
        .filter(|&s| s >= 60)
        .map(|s| Duration::from_secs(s as u64))
        .context("--window: e.g. 1d, 6h, 30m (at least 1m)")?;
    let mut opts = CollectOptions::new(since, until);
    opts.tenant = a.tenant.clone();
    opts.sources = api.clone();
    opts.subscriptions = (!a.subscriptions.is_empty()).then(|| a.subscriptions.clone());
    opts.endpoints = endpoints(a);
    opts.graph_version = if a.graph == GraphApi::V1 { GraphVersion::V1 } else { GraphVersion::Beta };
    opts.graph_rate = Some(azir_azure::Rate::new(a.graph_rate, Duration::from_secs(10)));
    opts.concurrency = a.concurrency.max(1);
    opts.activity_window = window;
    opts.graph_window = window;
    opts.skip_beyond_retention = !a.beyond_retention;
    let cancel = opts.cancel.clone();
    let _ = ctrlc::set_handler(move || cancel.store(true, Ordering::SeqCst));
    let creds = Arc::new(
        Credentials::new(credential(a)?, opts.endpoints.clone()).map_err(|e| anyhow::anyhow!("credentials: {e}"))?,
    );
    let out = match &a.out {
        Some(o) => o.clone(),
        None => default_out(&a.case)?,
    };

    if a.dry_run {
        let plan = if api.is_empty() {
            None
        } else {
            Some(azir_azure::plan(&opts, creds.clone(), Some(&out)).map_err(|e| anyhow::anyhow!("{e}"))?)
        };
        if json_out {
            let v = json!({"plan": plan, "storage_accounts": if want_storage { a.storage_accounts.clone() } else { vec![] },
                "out": out, "since": since.to_rfc3339(), "until": until.to_rfc3339(), "credential": creds.describe()});
            println!("{}", serde_json::to_string_pretty(&v)?);
            return Ok(0);
        }
        let mut o = std::io::stdout().lock();
        writeln!(o, "credential: {}", creds.describe())?;
        writeln!(o, "range:      {} .. {}", since.to_rfc3339(), until.to_rfc3339())?;
        writeln!(o, "output:     {}", out.display())?;
        if let Some(p) = &plan {
            writeln!(
                o,
                "subscriptions: {}",
                if p.subscriptions.is_empty() { "(none)".into() } else { p.subscriptions.join(", ") }
            )?;
            writeln!(o, "\n{:<24} {:<38} {:>8} {:>6} {:>9}  QUERY", "SOURCE", "SCOPE", "WINDOWS", "DONE", "REQUESTS")?;
            for e in &p.entries {
                writeln!(
                    o,
                    "{:<24} {:<38} {:>8} {:>6} {:>9}  {}",
                    e.source.as_str(),
                    e.scope,
                    e.windows,
                    e.done,
                    e.min_requests,
                    e.query
                )?;
            }
            let total: u64 = p.entries.iter().map(|e| e.min_requests).sum();
            writeln!(
                o,
                "\nat least {total} requests; the Graph reports limit alone needs {:.0} s",
                p.graph_min_seconds
            )?;
            for w in &p.warnings {
                writeln!(o, "  ! {w}")?;
            }
        }
        if want_storage {
            for s in &a.storage_accounts {
                writeln!(
                    o,
                    "storage: {s} ({})",
                    if a.storage_containers.is_empty() {
                        "every insights-* container".to_string()
                    } else {
                        a.storage_containers.join(", ")
                    }
                )?;
            }
        }
        return Ok(0);
    }

    let (case, home) = crate::location::open_or_init(&a.case, quiet)?;
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
        let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        b.set_style(
            ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        b.enable_steady_tick(Duration::from_millis(200));
        b
    });
    let known = case.custody()?.into_iter().filter(|e| e.action == "collected").filter_map(|e| e.sha256).collect();
    let sink = CaseSink {
        case: &case,
        out: &out,
        lock: Mutex::new(Vec::new()),
        known,
        errors: Mutex::new(Vec::new()),
        bar,
        quiet,
    };
    case.append_custody(
        "collect-start",
        None,
        None,
        json!({"since": since.to_rfc3339(), "until": until.to_rfc3339(), "sources": api.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            "storage_accounts": a.storage_accounts, "credential": creds.describe(), "out": out.display().to_string()}),
    )?;

    let report = if api.is_empty() {
        None
    } else {
        Some(azir_azure::collect(&opts, creds.clone(), &out, &sink).map_err(|e| anyhow::anyhow!("{e}"))?)
    };

    let mut storage_failed = 0u64;
    let mut storage_summaries = Vec::new();
    if want_storage && !opts.cancel.load(Ordering::SeqCst) {
        let auth = storage_auth(a, &creds)?;
        let state_path = out.join("storage-state.json");
        let mut state = StorageState::load(&state_path).map_err(|e| anyhow::anyhow!("{e}"))?;
        for account in &a.storage_accounts {
            let target = StorageTarget {
                account_url: account.clone(),
                containers: a.storage_containers.clone(),
                auth: auth.clone(),
            };
            let w = StorageWindow { since, until, include_open_hour: a.include_open_hour };
            if let Some(b) = &sink.bar {
                b.set_message(format!("storage {account}"));
            }
            let mut on_blob = |o: &BlobOutcome| match &o.status {
                BlobStatus::Downloaded | BlobStatus::Changed => {
                    if let (Some(local), Some(sha)) = (&o.local, &o.sha256) {
                        let detail = json!({"source": "storage", "account": o.account, "container": o.container, "blob": o.name,
                            "etag": o.etag, "size": o.size, "last_modified": o.last_modified.to_rfc3339(), "hour": when(o.hour),
                            "changed": matches!(o.status, BlobStatus::Changed)});
                        sink.landed_path(out.join(local), sha, detail);
                    }
                }
                BlobStatus::Failed(why) => {
                    sink.say(&format!("  ! storage {}/{}/{}: {why}", o.account, o.container, o.name))
                }
                BlobStatus::Unchanged | BlobStatus::OpenHour => {}
            };
            let result = storage::collect(&target, &w, &out, &mut state, &mut on_blob);
            state.save(&state_path).map_err(|e| anyhow::anyhow!("{e}"))?;
            let rec = match &result {
                Ok(s) => {
                    storage_failed += s.failed + s.container_errors.len() as u64;
                    json!({"kind": "storage", "source": "storage", "scope": account, "start": when(Some(since)), "end": when(Some(until)),
                        "status": if s.failed == 0 && s.container_errors.is_empty() { "complete" } else { "failed" }, "summary": s,
                        "collected_at": when(Some(Utc::now()))})
                }
                Err(e) => {
                    storage_failed += 1;
                    sink.say(&format!("  ! storage {account}: {e}"));
                    json!({"kind": "storage", "source": "storage", "scope": account, "start": when(Some(since)), "end": when(Some(until)),
                        "status": "failed", "reason": e.to_string(), "collected_at": when(Some(Utc::now()))})
                }
            };
            case.append_collection(&[rec])?;
            storage_summaries.push((account.clone(), result.map_err(|e| e.to_string())));
        }
    }
    if let Some(b) = &sink.bar {
        b.finish_and_clear();
    }
    let landed = std::mem::take(&mut *sink.lock.lock().unwrap_or_else(|p| p.into_inner()));
    let errors = std::mem::take(&mut *sink.errors.lock().unwrap_or_else(|p| p.into_inner()));
    let interrupted = opts.cancel.load(Ordering::SeqCst);
    case.append_custody(
        "collect-end",
        None,
        None,
        json!({"files": landed.len(), "interrupted": interrupted,
            "records": report.as_ref().map_or(0, |r| r.records), "failures": report.as_ref().map_or(0, |r| r.failures.len())}),
    )?;

    let ingest = if a.no_ingest || landed.is_empty() {
        None
    } else {
        let bar = Bar::new(quiet);
        let r = azir_store::ingest(&case, &landed, &IngestOptions::default(), &bar)?;
        bar.finish();
        Some(r)
    };
    home.push()?;

    let api_failures = report.as_ref().map_or(0, |r| r.failures.len() as u64);
    let incomplete = api_failures + storage_failed + errors.len() as u64 > 0 || interrupted;
    if json_out {
        let storage: Vec<_> = storage_summaries
            .iter()
            .map(|(acct, r)| match r {
                Ok(s) => json!({"account": acct, "summary": s}),
                Err(e) => json!({"account": acct, "error": e}),
            })
            .collect();
        let v = json!({"collect": report, "storage": storage, "files": landed.len(), "ingest": ingest,
            "errors": errors, "out": out, "interrupted": interrupted});
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else if !quiet {
        let mut o = std::io::stdout().lock();
        if let Some(r) = &report {
            writeln!(
                o,
                "{:<24} {:>8} {:>9} {:>6} {:>8} {:>5} {:>8} {:>5}",
                "SOURCE", "WINDOWS", "RECORDS", "PAGES", "REQUESTS", "429s", "RETRIES", "FAIL"
            )?;
            for s in &r.sources {
                let fail = s.failed + s.forbidden + s.not_available;
                writeln!(
                    o,
                    "{:<24} {:>8} {:>9} {:>6} {:>8} {:>5} {:>8} {:>5}",
                    s.source.map_or("?", |s| s.as_str()),
                    s.complete + s.resumed,
                    s.records,
                    s.pages,
                    s.requests,
                    s.throttled,
                    s.retries,
                    fail
                )?;
            }
            writeln!(o, "collected {} records into {} files in {:.1} s", r.records, r.files, r.duration.as_secs_f64())?;
            for f in &r.failures {
                writeln!(
                    o,
                    "  ! {} {} {}: {}{}",
                    f.source.as_str(),
                    f.scope,
                    f.status.as_str(),
                    f.error_code.as_deref().unwrap_or(""),
                    f.reason.as_deref().map(|r| format!(" {r}")).unwrap_or_default()
                )?;
            }
        }
        for (acct, r) in &storage_summaries {
            match r {
                Ok(s) => writeln!(
                    o,
                    "storage {acct}: {} containers, {} blobs in range: {} downloaded, {} changed, {} unchanged, {} open hour deferred, {} failed",
                    s.containers, s.in_window, s.downloaded, s.changed, s.unchanged, s.open_hour, s.failed
                )?,
                Err(e) => writeln!(o, "storage {acct}: {e}")?,
            }
        }
        for e in &errors {
            writeln!(o, "  ! {e}")?;
        }
        match &ingest {
            Some(r) => writeln!(
                o,
                "ingested {} files: {} events, {} flows, {} quarantined",
                r.files, r.events, r.flows, r.bad
            )?,
            None if a.no_ingest => {
                writeln!(o, "not ingested (--no-ingest): azir ingest {} --case {}", out.display(), a.case.display())?
            }
            None => writeln!(o, "nothing new to ingest")?,
        }
        writeln!(o, "completeness per window: {}", case.root().join("collection.jsonl").display())?;
        if interrupted {
            writeln!(o, "interrupted: run the same command again to resume")?;
        }
    }
    Ok(if incomplete { 6 } else { 0 })
}
