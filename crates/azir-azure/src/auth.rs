//! Credentials and access tokens for ARM, Microsoft Graph and Storage.
//!
//! # Why not `azure_identity`
//!
//! The Azure SDK's credential crate would bring an async HTTP stack whose `reqwest` features
//! unify with the ones `object_store` (used by the case store) selects: the whole DataFusion
//! tree would rebuild, and the binary would carry a second TLS configuration. It would also not
//! let every credential's authority and endpoint be pointed at loopback, which the tests need
//! (IMDS is hard-wired to 169.254.169.254 there, for example). The protocols are small, so they
//! are written here by hand over the same blocking `ureq` client as the rest of the crate:
//!
//! | kind | how a token is obtained |
//! |---|---|
//! | client secret | `POST {authority}/{tenant}/oauth2/v2.0/token`, `grant_type=client_credentials`, `scope={audience}/.default` |
//! | client certificate | the same, with a JWT client assertion signed RS256 (`ring`), header `x5t` / `x5t#S256` = thumbprints of the certificate |
//! | managed identity | IMDS `GET /metadata/identity/oauth2/token` with `Metadata: true`; App Service / Functions when `IDENTITY_ENDPOINT` + `IDENTITY_HEADER` are set |
//! | Azure CLI | `az account get-access-token --resource R --output json` (the `az` found on `PATH`) |
//! | workload identity | the token file `AZURE_FEDERATED_TOKEN_FILE` as a `jwt-bearer` client assertion (re-read at every refresh: it rotates) |
//! | static token | `--token` / `--token-file`: one token, or JSON `{"arm":…,"graph":…,"storage":…}` |
//!
//! [`Credential::from_environment`] chooses like the SDK's `DefaultAzureCredential`: the
//! environment (`AZURE_CLIENT_SECRET` or `AZURE_CLIENT_CERTIFICATE_PATH` with `AZURE_CLIENT_ID`
//! and `AZURE_TENANT_ID`), workload identity, managed identity, then the Azure CLI. The chain
//! keeps the first kind that yields a token.
//!
//! Tokens are cached per audience until five minutes before they expire and fetched again
//! transparently; after a 401 the HTTP client drops the rejected token ([`Credentials::invalidate`])
//! and retries once with a fresh one.
//!
//! # Secrets
//!
//! Client secrets, identity headers and tokens are held in [`Secret`], whose `Debug` and
//! `Display` print `***`. No error text of this module contains one: service error bodies are
//! reduced to their error code and the first line of their description and passed through
//! [`redact`].

use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde::Deserialize;
use sha1::Digest;

/// Tokens are renewed this long before they expire.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// A secret string whose `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `s`.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The API a token is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Audience {
    /// Azure Resource Manager.
    Arm,
    /// Microsoft Graph.
    Graph,
    /// Azure Storage (Blob, ADLS).
    Storage,
}

impl Audience {
    /// The key of this audience in a token file (`arm`, `graph`, `storage`).
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Arm => "arm",
            Audience::Graph => "graph",
            Audience::Storage => "storage",
        }
    }
}

/// Where the services are: the public cloud, a sovereign cloud, or a fake on loopback.
///
/// The `*_audience` fields are the token audiences (resources); they stay those of the cloud
/// when the endpoints are redirected, so a test fake sees the same scopes as Azure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    /// Microsoft Entra authority host, e.g. `https://login.microsoftonline.com`.
    pub authority: String,
    /// Azure Resource Manager, e.g. `https://management.azure.com`.
    pub arm: String,
    /// Microsoft Graph, e.g. `https://graph.microsoft.com`.
    pub graph: String,
    /// Instance Metadata Service base, `http://169.254.169.254`.
    pub imds: String,
    /// Token audience of ARM.
    pub arm_audience: String,
    /// Token audience of Graph.
    pub graph_audience: String,
    /// Token audience of Storage.
    pub storage_audience: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints::public()
    }
}

impl Endpoints {
    /// The public Azure cloud.
    pub fn public() -> Endpoints {
        Endpoints {
            authority: "https://login.microsoftonline.com".into(),
            arm: "https://management.azure.com".into(),
            graph: "https://graph.microsoft.com".into(),
            imds: "http://169.254.169.254".into(),
            arm_audience: "https://management.azure.com".into(),
            graph_audience: "https://graph.microsoft.com".into(),
            storage_audience: "https://storage.azure.com".into(),
        }
    }

    /// Azure US Government.
    pub fn us_government() -> Endpoints {
        Endpoints {
            authority: "https://login.microsoftonline.us".into(),
            arm: "https://management.usgovcloudapi.net".into(),
            graph: "https://graph.microsoft.us".into(),
            arm_audience: "https://management.usgovcloudapi.net".into(),
            graph_audience: "https://graph.microsoft.us".into(),
            ..Endpoints::public()
        }
    }

    /// Azure operated by 21Vianet (China).
    pub fn china() -> Endpoints {
        Endpoints {
            authority: "https://login.chinacloudapi.cn".into(),
            arm: "https://management.chinacloudapi.cn".into(),
            graph: "https://microsoftgraph.chinacloudapi.cn".into(),
            arm_audience: "https://management.chinacloudapi.cn".into(),
            graph_audience: "https://microsoftgraph.chinacloudapi.cn".into(),
            ..Endpoints::public()
        }
    }

    /// A named cloud: `public` (`AzureCloud`), `usgov` (`AzureUSGovernment`), `china`
    /// (`AzureChinaCloud`).
    pub fn cloud(name: &str) -> Option<Endpoints> {
        match name.to_ascii_lowercase().as_str() {
            "public" | "azurecloud" | "azure" => Some(Endpoints::public()),
            "usgov" | "usgovernment" | "azureusgovernment" => Some(Endpoints::us_government()),
            "china" | "azurechinacloud" => Some(Endpoints::china()),
            _ => None,
        }
    }

    /// Every endpoint (authority, ARM, Graph, IMDS) at `base` — a fake on loopback — with the
    /// public cloud's audiences.
    pub fn all_at(base: &str) -> Endpoints {
        let base = base.trim_end_matches('/').to_string();
        Endpoints { authority: base.clone(), arm: base.clone(), graph: base.clone(), imds: base, ..Endpoints::public() }
    }

    /// The token audience of `a`.
    pub fn audience(&self, a: Audience) -> &str {
        match a {
            Audience::Arm => &self.arm_audience,
            Audience::Graph => &self.graph_audience,
            Audience::Storage => &self.storage_audience,
        }
    }

    /// The token endpoint of `tenant` under `authority` (or this cloud's authority).
    pub fn token_url(&self, authority: Option<&str>, tenant: &str) -> String {
        let a = authority.unwrap_or(&self.authority).trim_end_matches('/');
        format!("{a}/{tenant}/oauth2/v2.0/token")
    }
}

/// An error getting a token. Never contains a secret.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    /// The credential is misconfigured (missing variable, unreadable file, bad key).
    #[error("{0}")]
    Config(String),
    /// The credential's token service refused or failed.
    #[error("{credential}: {message}")]
    Token {
        /// What was asked (kind, app, tenant; never a secret).
        credential: String,
        /// HTTP status of the token service, when it answered.
        status: Option<u16>,
        /// The service's error code (`invalid_client`, `AADSTS7000215`…).
        code: Option<String>,
        /// What went wrong.
        message: String,
    },
    /// No credential of the default chain could give a token.
    #[error("no credential worked: {0}")]
    Unavailable(String),
}

/// Tokens given on the command line or in a token file.
#[derive(Clone, Default)]
pub struct StaticTokens {
    /// Used for every audience without its own token.
    pub any: Option<Secret>,
    /// Per audience.
    pub per_audience: HashMap<Audience, Secret>,
}

impl fmt::Debug for StaticTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut keys: Vec<&str> = self.per_audience.keys().map(|a| a.as_str()).collect();
        keys.sort_unstable();
        write!(f, "StaticTokens {{ any: {}, audiences: {keys:?} }}", if self.any.is_some() { "***" } else { "-" })
    }
}

impl StaticTokens {
    /// One token used for every audience.
    pub fn single(token: Secret) -> StaticTokens {
        StaticTokens { any: Some(Secret::new(token.expose().trim())), per_audience: HashMap::new() }
    }

    /// Parses a token file: a raw token, or JSON `{"arm":…,"graph":…,"storage":…}`.
    pub fn parse(text: &str) -> Result<StaticTokens, AuthError> {
        let t = text.trim();
        if t.starts_with('{') {
            let map: HashMap<String, String> = serde_json::from_str(t).map_err(|e| {
                AuthError::Config(format!(
                    "token file is JSON but not an object of strings {{\"arm\":…,\"graph\":…,\"storage\":…}} (line {}, column {})",
                    e.line(),
                    e.column()
                ))
            })?;
            let mut out = StaticTokens::default();
            for (k, v) in map {
                let a = match k.to_ascii_lowercase().as_str() {
                    "arm" | "management" => Audience::Arm,
                    "graph" => Audience::Graph,
                    "storage" | "blob" => Audience::Storage,
                    _ => return Err(AuthError::Config(format!("token file: unknown key {k:?} (arm, graph, storage)"))),
                };
                out.per_audience.insert(a, Secret::new(v.trim()));
            }
            if out.per_audience.is_empty() {
                return Err(AuthError::Config("token file: no token in the JSON object".into()));
            }
            Ok(out)
        } else if t.is_empty() {
            Err(AuthError::Config("token file is empty".into()))
        } else if t.chars().any(char::is_whitespace) {
            Err(AuthError::Config("token file: a raw token is one word (no spaces or several lines)".into()))
        } else {
            Ok(StaticTokens::single(Secret::new(t)))
        }
    }

    /// Reads a token file (see [`StaticTokens::parse`]).
    pub fn from_file(path: &Path) -> Result<StaticTokens, AuthError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| AuthError::Config(format!("token file {}: {e}", path.display())))?;
        StaticTokens::parse(&text).map_err(|e| match e {
            AuthError::Config(m) => AuthError::Config(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    fn get(&self, a: Audience) -> Option<&Secret> {
        self.per_audience.get(&a).or(self.any.as_ref())
    }
}

/// Where a managed identity gets its tokens.
#[derive(Clone, Debug)]
pub enum ManagedIdentityEndpoint {
    /// The Instance Metadata Service (VMs, scale sets, AKS nodes): base URL from [`Endpoints::imds`].
    Imds,
    /// App Service / Functions / Container Apps: `IDENTITY_ENDPOINT` with header `IDENTITY_HEADER`.
    AppService {
        /// `IDENTITY_ENDPOINT`.
        endpoint: String,
        /// `IDENTITY_HEADER`.
        header: Secret,
    },
}

/// One way of getting tokens, as plain data. Build [`Credentials`] from it.
#[derive(Clone, Debug)]
pub enum Credential {
    /// An app registration's client secret.
    ClientSecret {
        /// Tenant id or domain.
        tenant: String,
        /// Application (client) id.
        client_id: String,
        /// The secret.
        secret: Secret,
        /// Authority host overriding [`Endpoints::authority`].
        authority: Option<String>,
    },
    /// An app registration's certificate: a PEM file holding the private key (PKCS#8 or
    /// PKCS#1 RSA) and the certificate.
    ClientCertificate {
        /// Tenant id or domain.
        tenant: String,
        /// Application (client) id.
        client_id: String,
        /// The PEM file.
        path: PathBuf,
        /// Authority host overriding [`Endpoints::authority`].
        authority: Option<String>,
    },
    /// A managed identity (system-assigned, or user-assigned by client id).
    ManagedIdentity {
        /// The user-assigned identity's client id.
        client_id: Option<String>,
        /// IMDS or App Service.
        endpoint: ManagedIdentityEndpoint,
    },
    /// The signed-in Azure CLI.
    AzureCli {
        /// The `az` program (found on `PATH` by [`Credential::azure_cli`]).
        program: PathBuf,
        /// `--tenant` for `az account get-access-token`.
        tenant: Option<String>,
    },
    /// Workload identity federation (AKS, GitHub Actions…): a federated token file.
    WorkloadIdentity {
        /// Tenant id.
        tenant: String,
        /// Application (client) id.
        client_id: String,
        /// The federated token file (re-read at every refresh).
        token_file: PathBuf,
        /// Authority host (`AZURE_AUTHORITY_HOST`) overriding [`Endpoints::authority`].
        authority: Option<String>,
    },
    /// Tokens supplied by the user.
    Static(StaticTokens),
    /// Several kinds tried in order; the first that gives a token is kept.
    Chain(Vec<Credential>),
}

/// Environment lookup (`std::env::var` in production, a map in tests).
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

impl Credential {
    /// The Azure CLI credential, with `az` looked up on `path` (the `PATH` value).
    pub fn azure_cli(path: Option<&str>, tenant: Option<String>) -> Credential {
        let program = find_program("az", path).unwrap_or_else(|| PathBuf::from("az"));
        Credential::AzureCli { program, tenant }
    }

    /// A managed identity as the environment describes it: App Service when
    /// `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` are set, else IMDS.
    pub fn managed_identity(env: EnvLookup<'_>, client_id: Option<String>) -> Credential {
        let endpoint = match (non_empty(env("IDENTITY_ENDPOINT")), non_empty(env("IDENTITY_HEADER"))) {
            (Some(endpoint), Some(header)) => ManagedIdentityEndpoint::AppService { endpoint, header: Secret(header) },
            _ => ManagedIdentityEndpoint::Imds,
        };
        Credential::ManagedIdentity { client_id, endpoint }
    }

    /// The client-secret or client-certificate credential the environment describes
    /// (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and `AZURE_CLIENT_SECRET` or
    /// `AZURE_CLIENT_CERTIFICATE_PATH`; `AZURE_AUTHORITY_HOST`), if any.
    pub fn environment(env: EnvLookup<'_>) -> Option<Credential> {
        let tenant = non_empty(env("AZURE_TENANT_ID"))?;
        let client_id = non_empty(env("AZURE_CLIENT_ID"))?;
        let authority = non_empty(env("AZURE_AUTHORITY_HOST"));
        if let Some(secret) = non_empty(env("AZURE_CLIENT_SECRET")) {
            return Some(Credential::ClientSecret { tenant, client_id, secret: Secret(secret), authority });
        }
        let path = non_empty(env("AZURE_CLIENT_CERTIFICATE_PATH"))?;
        Some(Credential::ClientCertificate { tenant, client_id, path: PathBuf::from(path), authority })
    }

    /// Workload identity as the environment describes it (`AZURE_FEDERATED_TOKEN_FILE`,
    /// `AZURE_CLIENT_ID`, `AZURE_TENANT_ID`, `AZURE_AUTHORITY_HOST`), if it does.
    pub fn workload_identity(env: EnvLookup<'_>) -> Option<Credential> {
        Some(Credential::WorkloadIdentity {
            token_file: PathBuf::from(non_empty(env("AZURE_FEDERATED_TOKEN_FILE"))?),
            client_id: non_empty(env("AZURE_CLIENT_ID"))?,
            tenant: non_empty(env("AZURE_TENANT_ID"))?,
            authority: non_empty(env("AZURE_AUTHORITY_HOST")),
        })
    }

    /// The chain of `DefaultAzureCredential`: environment, workload identity, managed
    /// identity (`AZURE_CLIENT_ID` as the user-assigned identity), Azure CLI.
    pub fn from_environment(env: EnvLookup<'_>) -> Credential {
        let mut chain = Vec::new();
        if let Some(c) = Credential::environment(env) {
            chain.push(c);
        }
        if let Some(c) = Credential::workload_identity(env) {
            chain.push(c);
        }
        chain.push(Credential::managed_identity(env, non_empty(env("AZURE_CLIENT_ID"))));
        chain.push(Credential::azure_cli(env("PATH").as_deref(), non_empty(env("AZURE_TENANT_ID"))));
        Credential::Chain(chain)
    }

    /// The tenant this credential names, if it does.
    pub fn tenant(&self) -> Option<&str> {
        match self {
            Credential::ClientSecret { tenant, .. }
            | Credential::ClientCertificate { tenant, .. }
            | Credential::WorkloadIdentity { tenant, .. } => Some(tenant),
            Credential::AzureCli { tenant, .. } => tenant.as_deref(),
            Credential::Chain(c) => c.iter().find_map(Credential::tenant),
            Credential::ManagedIdentity { .. } | Credential::Static(_) => None,
        }
    }

    /// What this credential is, for messages (no secret).
    pub fn describe(&self) -> String {
        match self {
            Credential::ClientSecret { tenant, client_id, .. } => {
                format!("client secret of app {client_id} in tenant {tenant}")
            }
            Credential::ClientCertificate { tenant, client_id, path, .. } => {
                format!("certificate {} of app {client_id} in tenant {tenant}", path.display())
            }
            Credential::ManagedIdentity { client_id, endpoint } => {
                let id = client_id.as_deref().map(|c| format!(" {c}")).unwrap_or_else(|| " (system-assigned)".into());
                match endpoint {
                    ManagedIdentityEndpoint::Imds => format!("managed identity{id} via IMDS"),
                    ManagedIdentityEndpoint::AppService { .. } => format!("managed identity{id} via IDENTITY_ENDPOINT"),
                }
            }
            Credential::AzureCli { program, .. } => format!("Azure CLI ({})", program.display()),
            Credential::WorkloadIdentity { tenant, client_id, token_file, .. } => {
                format!("workload identity of app {client_id} in tenant {tenant} ({})", token_file.display())
            }
            Credential::Static(_) => "supplied token".into(),
            Credential::Chain(c) => {
                format!("default chain [{}]", c.iter().map(Credential::describe).collect::<Vec<_>>().join(", "))
            }
        }
    }
}

/// `name` in the directories of `path` (a `PATH` value), if it is there.
pub fn find_program(name: &str, path: Option<&str>) -> Option<PathBuf> {
    let path = path?;
    std::env::split_paths(path).map(|d| d.join(name)).find(|p| p.is_file())
}

/// An access token and when it expires.
#[derive(Clone)]
struct Token {
    secret: Secret,
    expires_at: Option<SystemTime>,
}

/// A certificate credential prepared once: the key and the assertion header.
struct Signer {
    key: ring::rsa::KeyPair,
    header_b64: String,
}

/// A credential ready to give tokens: the cache, the HTTP agent for token services, and the
/// certificate key parsed once. `Send + Sync`: share it behind an `Arc`.
pub struct Credentials {
    credential: Credential,
    endpoints: Endpoints,
    agent: ureq::Agent,
    signers: HashMap<PathBuf, Signer>,
    cache: Mutex<HashMap<Audience, Token>>,
    /// For a chain: the index of the kind that worked.
    chosen: Mutex<Option<usize>>,
    timeout: Duration,
    fetches: std::sync::atomic::AtomicU64,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("credential", &self.credential.describe()).finish_non_exhaustive()
    }
}

impl Credentials {
    /// Prepares `credential` against `endpoints` (reads and checks a certificate file now, so a
    /// bad key is reported before any collection starts).
    pub fn new(credential: Credential, endpoints: Endpoints) -> Result<Credentials, AuthError> {
        let mut signers = HashMap::new();
        let mut stack = vec![&credential];
        while let Some(c) = stack.pop() {
            match c {
                Credential::ClientCertificate { path, .. } => {
                    signers.insert(path.clone(), Signer::from_pem_file(path)?);
                }
                Credential::Chain(v) => stack.extend(v.iter()),
                _ => {}
            }
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(Duration::from_secs(10)))
            .user_agent(concat!("azir/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Credentials {
            credential,
            endpoints,
            agent,
            signers,
            cache: Mutex::new(HashMap::new()),
            chosen: Mutex::new(None),
            timeout: Duration::from_secs(30),
            fetches: Default::default(),
        })
    }

    /// The endpoints these credentials were built for.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// The credential, as configured.
    pub fn credential(&self) -> &Credential {
        &self.credential
    }

    /// What the credential is (no secret); for a chain, the kind that worked once known.
    pub fn describe(&self) -> String {
        if let Credential::Chain(v) = &self.credential {
            if let Some(i) = *lock(&self.chosen) {
                return v[i].describe();
            }
        }
        self.credential.describe()
    }

    /// The tenant the credential names, if any.
    pub fn tenant(&self) -> Option<String> {
        self.credential.tenant().map(str::to_string)
    }

    /// How many tokens were fetched from a token service (cache misses), for tests.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A token for `audience`: from the cache while it has more than five minutes left, else
    /// fetched (one fetch at a time per credential).
    pub fn token(&self, audience: Audience) -> Result<Secret, AuthError> {
        let mut cache = lock(&self.cache);
        if let Some(t) = cache.get(&audience) {
            let fresh = t.expires_at.is_none_or(|e| SystemTime::now() + REFRESH_MARGIN < e);
            if fresh {
                return Ok(t.secret.clone());
            }
        }
        let t = self.fetch(audience)?;
        self.fetches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let s = t.secret.clone();
        cache.insert(audience, t);
        Ok(s)
    }

    /// Drops the cached token for `audience` if it is `rejected` (the service answered 401),
    /// so the next [`Credentials::token`] fetches a new one. Returns false when nothing can be
    /// refreshed (a supplied token).
    pub fn invalidate(&self, audience: Audience, rejected: &Secret) -> bool {
        if self.is_static() {
            return false;
        }
        let mut cache = lock(&self.cache);
        if cache.get(&audience).is_some_and(|t| &t.secret == rejected) {
            cache.remove(&audience);
        }
        true
    }

    fn is_static(&self) -> bool {
        match &self.credential {
            Credential::Static(_) => true,
            Credential::Chain(v) => lock(&self.chosen).is_some_and(|i| matches!(v[i], Credential::Static(_))),
            _ => false,
        }
    }

    fn fetch(&self, audience: Audience) -> Result<Token, AuthError> {
        match &self.credential {
            Credential::Chain(v) => {
                let chosen = *lock(&self.chosen);
                if let Some(i) = chosen {
                    return self.fetch_one(&v[i], audience, false);
                }
                let mut errors = Vec::new();
                for (i, c) in v.iter().enumerate() {
                    match self.fetch_one(c, audience, true) {
                        Ok(t) => {
                            *lock(&self.chosen) = Some(i);
                            return Ok(t);
                        }
                        Err(e) => errors.push(format!("{}: {e}", kind_name(c))),
                    }
                }
                Err(AuthError::Unavailable(errors.join("; ")))
            }
            c => self.fetch_one(c, audience, false),
        }
    }

    fn fetch_one(&self, c: &Credential, audience: Audience, probing: bool) -> Result<Token, AuthError> {
        let resource = self.endpoints.audience(audience).to_string();
        let scope = format!("{}/.default", resource.trim_end_matches('/'));
        let who = c.describe();
        match c {
            Credential::ClientSecret { tenant, client_id, secret, authority } => {
                let url = self.endpoints.token_url(authority.as_deref(), tenant);
                let form = [
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id.as_str()),
                    ("client_secret", secret.expose()),
                    ("scope", scope.as_str()),
                ];
                self.post_token(&who, &url, &form)
            }
            Credential::ClientCertificate { tenant, client_id, path, authority } => {
                let url = self.endpoints.token_url(authority.as_deref(), tenant);
                let signer = self
                    .signers
                    .get(path)
                    .ok_or_else(|| AuthError::Config(format!("{}: certificate not loaded", path.display())))?;
                let assertion = signer.assertion(client_id, &url)?;
                let form = [
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id.as_str()),
                    ("client_assertion_type", JWT_BEARER),
                    ("client_assertion", assertion.expose()),
                    ("scope", scope.as_str()),
                ];
                self.post_token(&who, &url, &form)
            }
            Credential::WorkloadIdentity { tenant, client_id, token_file, authority } => {
                let url = self.endpoints.token_url(authority.as_deref(), tenant);
                let assertion = std::fs::read_to_string(token_file)
                    .map_err(|e| AuthError::Config(format!("federated token file {}: {e}", token_file.display())))?;
                let assertion = Secret::new(assertion.trim());
                if assertion.expose().is_empty() {
                    return Err(AuthError::Config(format!("federated token file {} is empty", token_file.display())));
                }
                let form = [
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id.as_str()),
                    ("client_assertion_type", JWT_BEARER),
                    ("client_assertion", assertion.expose()),
                    ("scope", scope.as_str()),
                ];
                self.post_token(&who, &url, &form)
            }
            Credential::ManagedIdentity { client_id, endpoint } => {
                self.managed_identity(&who, client_id.as_deref(), endpoint, &resource, probing)
            }
            Credential::AzureCli { program, tenant } => azure_cli_token(program, tenant.as_deref(), &resource, &who),
            Credential::Static(tokens) => {
                let secret = tokens.get(audience).cloned().ok_or_else(|| {
                    AuthError::Config(format!(
                        "no {} token supplied (the token file names {})",
                        audience.as_str(),
                        tokens.per_audience.keys().map(|a| a.as_str()).collect::<Vec<_>>().join(", ")
                    ))
                })?;
                let expires_at = jwt_expiry(secret.expose());
                if let Some(e) = expires_at {
                    if e <= SystemTime::now() {
                        return Err(AuthError::Config(format!(
                            "the supplied {} token expired at {}",
                            audience.as_str(),
                            chrono::DateTime::<chrono::Utc>::from(e).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                        )));
                    }
                }
                // A supplied token is used until the service rejects it, even inside the
                // refresh margin: there is nothing to refresh it with.
                Ok(Token { secret, expires_at: None })
            }
            Credential::Chain(_) => Err(AuthError::Config("nested credential chains are not supported".into())),
        }
    }

    fn post_token(&self, who: &str, url: &str, form: &[(&str, &str)]) -> Result<Token, AuthError> {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let req = self
            .agent
            .post(url)
            .config()
            .timeout_global(Some(self.timeout))
            .build()
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Accept", "application/json");
        let resp = req.send(body.as_bytes());
        self.token_answer(who, resp)
    }

    fn managed_identity(
        &self,
        who: &str,
        client_id: Option<&str>,
        endpoint: &ManagedIdentityEndpoint,
        resource: &str,
        probing: bool,
    ) -> Result<Token, AuthError> {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        let req = match endpoint {
            ManagedIdentityEndpoint::Imds => {
                q.append_pair("api-version", "2018-02-01").append_pair("resource", resource);
                if let Some(c) = client_id {
                    q.append_pair("client_id", c);
                }
                let url = format!(
                    "{}/metadata/identity/oauth2/token?{}",
                    self.endpoints.imds.trim_end_matches('/'),
                    q.finish()
                );
                // In a chain, an unreachable IMDS (not on Azure) must fail fast.
                let connect = if probing { Duration::from_secs(1) } else { Duration::from_secs(10) };
                self.agent
                    .get(&url)
                    .config()
                    .timeout_connect(Some(connect))
                    .timeout_global(Some(self.timeout))
                    .build()
                    .header("Metadata", "true")
            }
            ManagedIdentityEndpoint::AppService { endpoint, header } => {
                q.append_pair("api-version", "2019-08-01").append_pair("resource", resource);
                if let Some(c) = client_id {
                    q.append_pair("client_id", c);
                }
                let sep = if endpoint.contains('?') { '&' } else { '?' };
                let url = format!("{endpoint}{sep}{}", q.finish());
                self.agent
                    .get(&url)
                    .config()
                    .timeout_global(Some(self.timeout))
                    .build()
                    .header("X-IDENTITY-HEADER", header.expose())
                    .header("Metadata", "true")
            }
        };
        self.token_answer(who, req.call())
    }

    fn token_answer(
        &self,
        who: &str,
        resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Token, AuthError> {
        let fail = |status: Option<u16>, code: Option<String>, message: String| AuthError::Token {
            credential: who.to_string(),
            status,
            code,
            message: redact(&message),
        };
        let mut resp = resp.map_err(|e| fail(None, None, format!("token service unreachable: {e}")))?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_vec()
            .map_err(|e| fail(Some(status), None, format!("token answer cut: {e}")))?;
        if !(200..300).contains(&status) {
            let (code, message) = token_error(&body);
            return Err(fail(Some(status), code, message));
        }
        let t: TokenAnswer = serde_json::from_slice(&body).map_err(|e| {
            fail(
                Some(status),
                None,
                format!("token answer is not the expected JSON (line {}, column {})", e.line(), e.column()),
            )
        })?;
        let now = SystemTime::now();
        let expires_at = match (t.expires_on.as_ref().and_then(number), t.expires_in.as_ref().and_then(number)) {
            (Some(on), _) if on > 0 => Some(UNIX_EPOCH + Duration::from_secs(on as u64)),
            (_, Some(inn)) => Some(now + Duration::from_secs(inn.max(0) as u64)),
            _ => Some(now + Duration::from_secs(3600)),
        };
        if t.access_token.is_empty() {
            return Err(fail(Some(status), None, "token answer without access_token".into()));
        }
        Ok(Token { secret: Secret(t.access_token), expires_at })
    }
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn kind_name(c: &Credential) -> &'static str {
    match c {
        Credential::ClientSecret { .. } => "environment (client secret)",
        Credential::ClientCertificate { .. } => "environment (client certificate)",
        Credential::ManagedIdentity { .. } => "managed identity",
        Credential::AzureCli { .. } => "Azure CLI",
        Credential::WorkloadIdentity { .. } => "workload identity",
        Credential::Static(_) => "supplied token",
        Credential::Chain(_) => "chain",
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    expires_on: Option<serde_json::Value>,
}

/// An integer sent as a number or a string (IMDS sends `"3599"`).
fn number(v: &serde_json::Value) -> Option<i64> {
    match v {
        serde_json::Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The error code and first line of the description of a token service error body
/// (`{"error":"invalid_client","error_description":"AADSTS7000215: …"}`, IMDS and App Service
/// variants included).
fn token_error(body: &[u8]) -> (Option<String>, String) {
    let v: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => {
            let text = String::from_utf8_lossy(&body[..body.len().min(300)]).to_string();
            return (None, first_line(&text));
        }
    };
    let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    let nested = v.get("error").and_then(|e| e.as_object());
    let code = nested
        .and_then(|e| e.get("code").and_then(|c| c.as_str()).map(str::to_string))
        .or_else(|| text("error"))
        .or_else(|| text("code"));
    let message = nested
        .and_then(|e| e.get("message").and_then(|c| c.as_str()).map(str::to_string))
        .or_else(|| text("error_description"))
        .or_else(|| text("message"))
        .unwrap_or_default();
    (code, first_line(&message))
}

fn first_line(s: &str) -> String {
    let l = s.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    let mut end = l.len().min(400);
    while !l.is_char_boundary(end) {
        end -= 1;
    }
    l[..end].to_string()
}

/// The `exp` claim of a JWT, if `token` is one.
fn jwt_expiry(token: &str) -> Option<SystemTime> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let exp = number(v.get("exp")?)?;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(exp).ok()?))
}

/// Removes what could be a secret from a message: SAS signatures (`sig=`), bearer tokens,
/// `access_token` / `client_secret` / `client_assertion` values and anything shaped like a JWT.
pub fn redact(msg: &str) -> String {
    let mut s = azir_model::secret::scrub_sig(msg);
    for key in ["client_secret=", "client_assertion=", "access_token=", "password="] {
        s = redact_after(&s, key, |c| c == '&' || c == '"' || c == '\'' || c.is_whitespace());
    }
    for key in ["\"access_token\":\"", "\"client_secret\":\"", "\"refresh_token\":\""] {
        s = redact_after(&s, key, |c| c == '"');
    }
    s = redact_after(&s, "Bearer ", |c| c.is_whitespace() || c == '"' || c == '\'');
    redact_jwts(&s)
}

fn redact_after(s: &str, key: &str, end: impl Fn(char) -> bool) -> String {
    let lower = s.to_ascii_lowercase();
    let key_l = key.to_ascii_lowercase();
    let mut out = String::with_capacity(s.len());
    let mut pos = 0;
    while let Some(i) = lower[pos..].find(&key_l) {
        let vstart = pos + i + key.len();
        out.push_str(&s[pos..vstart]);
        let tail = &s[vstart..];
        let vend = tail.find(&end).unwrap_or(tail.len());
        if vend > 0 {
            out.push_str("***");
        }
        pos = vstart + vend;
    }
    out.push_str(&s[pos..]);
    out
}

/// Replaces `xxx.yyy.zzz` base64url runs starting with `eyJ` (a JWT header) by `***`.
fn redact_jwts(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("eyJ") {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let end =
            tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')).unwrap_or(tail.len());
        if tail[..end].matches('.').count() >= 2 {
            out.push_str("***");
        } else {
            out.push_str(&tail[..end]);
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

impl Signer {
    fn from_pem_file(path: &Path) -> Result<Signer, AuthError> {
        let pem = std::fs::read(path).map_err(|e| AuthError::Config(format!("certificate {}: {e}", path.display())))?;
        Signer::from_pem(&pem).map_err(|m| AuthError::Config(format!("certificate {}: {m}", path.display())))
    }

    /// The RSA key (PKCS#8 or PKCS#1) and the certificate whose public key it is.
    fn from_pem(pem: &[u8]) -> Result<Signer, String> {
        use rustls_pki_types::pem::{PemObject, SectionKind};
        let mut key = None;
        let mut certs = Vec::new();
        let mut others = Vec::new();
        for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(pem) {
            let (kind, der) = section.map_err(|e| format!("unreadable PEM: {e}"))?;
            match kind {
                SectionKind::PrivateKey if key.is_none() => {
                    key = Some(ring::rsa::KeyPair::from_pkcs8(&der).map_err(|e| {
                        format!(
                            "the PKCS#8 private key is not an RSA key ring accepts ({e}); Entra certificates are RSA"
                        )
                    })?)
                }
                SectionKind::RsaPrivateKey if key.is_none() => {
                    key = Some(
                        ring::rsa::KeyPair::from_der(&der)
                            .map_err(|e| format!("the PKCS#1 RSA private key is not usable ({e})"))?,
                    )
                }
                SectionKind::EcPrivateKey => {
                    return Err("EC private key: Entra client certificates must be RSA".into());
                }
                SectionKind::Certificate => certs.push(der),
                other => others.push(format!("{other:?}")),
            }
        }
        let key = key.ok_or_else(|| {
            let encrypted = String::from_utf8_lossy(pem).contains("ENCRYPTED PRIVATE KEY");
            if encrypted {
                "the private key is encrypted; decrypt it first (openssl pkcs8 -in key.pem -out plain.pem)".to_string()
            } else {
                "no private key (BEGIN PRIVATE KEY or BEGIN RSA PRIVATE KEY) in the PEM file".to_string()
            }
        })?;
        if certs.is_empty() {
            return Err("no certificate (BEGIN CERTIFICATE) in the PEM file".into());
        }
        // The certificate's SubjectPublicKeyInfo holds the RSAPublicKey DER verbatim.
        let public = ring::signature::KeyPair::public_key(&key).as_ref().to_vec();
        let cert = certs
            .iter()
            .find(|c| c.windows(public.len()).any(|w| w == public.as_slice()))
            .ok_or("no certificate in the PEM file matches its private key")?;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let x5t = b64.encode(sha1::Sha1::digest(cert));
        let x5t256 = b64.encode(sha2::Sha256::digest(cert));
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5t": x5t, "x5t#S256": x5t256});
        Ok(Signer { key, header_b64: b64.encode(header.to_string()) })
    }

    /// A signed client assertion for `client_id` at the token endpoint `aud`, valid 10 minutes.
    fn assertion(&self, client_id: &str, aud: &str) -> Result<Secret, AuthError> {
        let rng = ring::rand::SystemRandom::new();
        let mut jti = [0u8; 16];
        ring::rand::SecureRandom::fill(&rng, &mut jti)
            .map_err(|_| AuthError::Config("no system randomness for the assertion id".into()))?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let claims = serde_json::json!({
            "aud": aud,
            "iss": client_id,
            "sub": client_id,
            "jti": jti.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "nbf": now.saturating_sub(60),
            "iat": now,
            "exp": now + 600,
        });
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let signing_input = format!("{}.{}", self.header_b64, b64.encode(claims.to_string()));
        let mut sig = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(&ring::signature::RSA_PKCS1_SHA256, &rng, signing_input.as_bytes(), &mut sig)
            .map_err(|_| AuthError::Config("RSA signing of the client assertion failed".into()))?;
        Ok(Secret(format!("{signing_input}.{}", b64.encode(sig))))
    }
}

/// `az account get-access-token` for `resource`.
fn azure_cli_token(program: &Path, tenant: Option<&str>, resource: &str, who: &str) -> Result<Token, AuthError> {
    let fail = |message: String| AuthError::Token {
        credential: who.to_string(),
        status: None,
        code: None,
        message: redact(&message),
    };
    let mut cmd = Command::new(program);
    cmd.args(["account", "get-access-token", "--resource", resource, "--output", "json"]);
    if let Some(t) = tenant {
        cmd.args(["--tenant", t]);
    }
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().map_err(|e| {
        fail(format!("cannot run {} ({e}); is the Azure CLI installed and on PATH?", program.display()))
    })?;
    // Read both pipes on threads so a chatty az cannot block on a full pipe.
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let t_out = std::thread::spawn(move || {
        let mut b = Vec::new();
        if let Some(o) = out.as_mut() {
            let _ = o.read_to_end(&mut b);
        }
        b
    });
    let t_err = std::thread::spawn(move || {
        let mut b = Vec::new();
        if let Some(o) = err.as_mut() {
            let _ = o.read_to_end(&mut b);
        }
        b
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(fail("az did not answer within 60 s".into()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(fail(format!("waiting for az: {e}"))),
        }
    };
    let stdout = t_out.join().unwrap_or_default();
    let stderr = t_err.join().unwrap_or_default();
    if !status.success() {
        let text = String::from_utf8_lossy(&stderr);
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("ERROR") || l.contains("az login"))
            .or_else(|| text.lines().map(str::trim).find(|l| !l.is_empty()))
            .unwrap_or("no message");
        return Err(fail(format!("az exited with {status}: {}", first_line(line))));
    }
    #[derive(Deserialize)]
    struct CliToken {
        #[serde(rename = "accessToken")]
        access_token: String,
        #[serde(default)]
        expires_on: Option<serde_json::Value>,
        #[serde(rename = "expiresOn", default)]
        expires_on_local: Option<String>,
    }
    let t: CliToken = serde_json::from_slice(&stdout).map_err(|e| {
        fail(format!("az printed something other than a token (line {}, column {})", e.line(), e.column()))
    })?;
    let expires_at = t
        .expires_on
        .as_ref()
        .and_then(number)
        .and_then(|n| u64::try_from(n).ok())
        .map(|s| UNIX_EPOCH + Duration::from_secs(s))
        .or_else(|| t.expires_on_local.as_deref().and_then(parse_cli_local_time));
    Ok(Token { secret: Secret(t.access_token), expires_at })
}

/// The CLI's `expiresOn`: local time without offset, `2024-05-01 12:00:00.000000`.
fn parse_cli_local_time(s: &str) -> Option<SystemTime> {
    use chrono::TimeZone;
    let naive = chrono::NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S%.f").ok()?;
    let local = chrono::Local.from_local_datetime(&naive).earliest()?;
    Some(SystemTime::from(local.with_timezone(&chrono::Utc)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_print_as_stars() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "*** ***");
        let c = Credential::ClientSecret {
            tenant: "t".into(),
            client_id: "c".into(),
            secret: Secret::new("hunter2"),
            authority: None,
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!format!("{:?}", StaticTokens::single(Secret::new("tok"))).contains("tok"));
    }

    #[test]
    fn token_files() {
        let t = StaticTokens::parse(" abc.def.ghi\n").unwrap();
        assert_eq!(t.get(Audience::Graph).unwrap().expose(), "abc.def.ghi");
        let t = StaticTokens::parse(r#"{"arm":"A","graph":"G"}"#).unwrap();
        assert_eq!(t.get(Audience::Arm).unwrap().expose(), "A");
        assert!(t.get(Audience::Storage).is_none());
        assert!(StaticTokens::parse(r#"{"arm":"A","nope":"G"}"#).is_err());
        assert!(StaticTokens::parse("").is_err());
        assert!(StaticTokens::parse("two words").is_err());
    }

    #[test]
    fn redaction() {
        assert_eq!(redact("x?sv=1&sig=abc&y"), "x?sv=1&sig=REDACTED&y");
        assert_eq!(redact("Authorization: Bearer abc.def"), "Authorization: Bearer ***");
        assert_eq!(redact(r#"{"access_token":"xyz","a":1}"#), r#"{"access_token":"***","a":1}"#);
        assert_eq!(redact("client_secret=s3cr3t&scope=x"), "client_secret=***&scope=x");
        assert_eq!(redact("token eyJhbGciOi.eyJzdWIi.c2ln end"), "token *** end");
        assert_eq!(redact("eyJ alone"), "eyJ alone");
    }

    #[test]
    fn jwt_exp_is_read() {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let tok = format!("{}.{}.sig", b64.encode("{\"alg\":\"none\"}"), b64.encode("{\"exp\":2000000000}"));
        assert_eq!(jwt_expiry(&tok), Some(UNIX_EPOCH + Duration::from_secs(2_000_000_000)));
        assert_eq!(jwt_expiry("opaque"), None);
    }

    #[test]
    fn environment_selection() {
        let vars: HashMap<&str, &str> = [
            ("AZURE_TENANT_ID", "t1"),
            ("AZURE_CLIENT_ID", "c1"),
            ("AZURE_CLIENT_SECRET", "s1"),
            ("AZURE_FEDERATED_TOKEN_FILE", "/tmp/f"),
            ("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi"),
            ("IDENTITY_HEADER", "h"),
        ]
        .into_iter()
        .collect();
        let env = |k: &str| vars.get(k).map(|v| v.to_string());
        let Credential::Chain(chain) = Credential::from_environment(&env) else { panic!() };
        assert!(matches!(chain[0], Credential::ClientSecret { .. }));
        assert!(matches!(chain[1], Credential::WorkloadIdentity { .. }));
        assert!(matches!(
            chain[2],
            Credential::ManagedIdentity { endpoint: ManagedIdentityEndpoint::AppService { .. }, .. }
        ));
        assert!(matches!(chain[3], Credential::AzureCli { .. }));
        let none = |_: &str| None;
        let Credential::Chain(chain) = Credential::from_environment(&none) else { panic!() };
        assert_eq!(chain.len(), 2);
    }

    #[test]
    fn cli_local_time() {
        assert!(parse_cli_local_time("2030-05-01 12:00:00.000000").is_some());
        assert!(parse_cli_local_time("soon").is_none());
    }

    #[test]
    fn token_service_errors() {
        let (code, msg) = token_error(
            br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret.\r\nTrace ID: x"}"#,
        );
        assert_eq!(code.as_deref(), Some("invalid_client"));
        assert_eq!(msg, "AADSTS7000215: Invalid client secret.");
        let (code, _) = token_error(br#"{"error":{"code":"BadRequest","message":"m"}}"#);
        assert_eq!(code.as_deref(), Some("BadRequest"));
    }
}
