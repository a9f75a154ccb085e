//! # azir-demo — a deterministic, realistic Azure incident, written as real export files
//!
//! [`generate`] writes an evidence tree for a small Contoso tenant: a week of benign activity
//! plus one intrusion told across every log source, each file in the shape a responder really
//! receives (ARM REST pages, diagnostic-setting blob trees, Event Hub captures, Graph pages,
//! Log Analytics CSV exports, gz and zip archives, AWS VPC flow log text). Same seed, same bytes:
//! a tiny SplitMix64 generator drives all randomness and the clock is never read.
//!
//! ## The tenant
//!
//! * Tenant `contoso.com`, id [`TENANT_ID`] (the tenant id in the seed article's claims).
//! * 16 users (Megan Bowen, Rob Robertson, Adele Vance, …), mostly around Redmond/Seattle (US)
//!   plus Johanna Lorenz in Munich (DE). Office egress `192.0.2.10`.
//! * Subscriptions [`SUB_PROD`] ("Contoso Production") and [`SUB_DEV`] ("Contoso Dev/Test").
//! * Production VNet `vnet-prod` 10.10.0.0/16: `snet-appgw` 10.10.0.0/24 (Application Gateway
//!   `agw-contoso-prod` v2 WAF, and the older `agw-contoso-legacy`), `snet-web` 10.10.1.0/24
//!   (`vm-web-01` 10.10.1.4 with public IP 192.0.2.120, `vm-web-02` 10.10.1.5, NSG `nsg-web`),
//!   `snet-app` 10.10.2.0/24 (`vm-app-01` 10.10.2.4, NSG `nsg-app`), `snet-data` 10.10.3.0/24
//!   (`vm-db-01` 10.10.3.4, NSG `nsg-data`), `AzureBastionSubnet` (`bas-contoso-prod`).
//!   Key Vault `kv-contoso-prod`, storage account `stcontosodata`.
//! * Dev VNet `vnet-dev` 10.20.0.0/16: `vm-dev-01` 10.20.1.4, `vm-dev-02` 10.20.1.5, egress
//!   through Azure Firewall `afw-contoso-dev`; storage account `stcontosodev`.
//! * Rob Robertson's lab resource group `myResourceGroup` with NSG `myNSG` (the seed article's
//!   Activity Log example).
//!
//! ## The storyline (all times UTC; the window ends 2026-03-15 00:00)
//!
//! | when | what | where it shows |
//! |---|---|---|
//! | 03-09 14:42 | Rob Robertson updates `myNSG` from the office (benign; seed example) | Activity REST |
//! | 03-09 14:51 | Rob connects to `vm-web-01` through Bastion, "Successfully Connected." | Bastion |
//! | 03-11 21:04–21:31 | [`SCANNER_IP`] scans both application gateways: hundreds of 404s (`/phpmyadmin/scripts/setup.php`, …), WAF matches and blocks (XSS 941320, SQLi, traversal), an XSS payload in a URI and a CSV-formula user agent | AppGW access, WAF |
//! | 03-11 21:04–21:10 | meanwhile [`SCANNER_IP`] port-scans `vm-web-01`'s public address (nmap's top 100 TCP ports, then 22/3389 again), every probe denied by `DefaultRule_DenyAllInBound` | NSG flow logs |
//! | 03-11 21:33–21:36 | [`SCANNER_IP`]'s SQL injection on `/products` is blocked (942100, 949110), then a JSON-operator variant is answered 200 | WAF, AppGW access |
//! | 03-12 02:13–02:43 | password spray from [`SPRAY_IP`] (Bucharest, RO) against every user and some that do not exist: 50126, 50034, 50053; Megan's password is right (50076) | Entra sign-ins (LA CSV) |
//! | 03-12 03:04–03:29 | MFA fatigue on [`COMPROMISED_USER`] from [`ATTACKER_IP`] (Amsterdam, NL): 50074 / 500121 pairs, then success at 03:29:41 to Azure Portal | Entra sign-ins (Graph) |
//! | 03-12 03:29:41 | Identity Protection: unfamiliar sign-in properties; Megan becomes a risky user | UserRiskEvents, RiskyUsers |
//! | 03-12 03:33 | Azure CLI sign-in from the attacker IP; 03:34 Graph enumeration of users/SPs | sign-ins, Graph activity |
//! | 03-12 03:35–03:39 | app registration [`BACKDOOR_APP`] + service principal, a client secret added ("Update application – Certificates and secrets management ", "Add service principal credentials"), SP added to Global Administrator | Entra audit (Graph) |
//! | 03-12 03:44 | `Microsoft.Authorization/roleAssignments/write`: Owner on the production subscription to the backdoor SP | Activity REST |
//! | 03-12 03:52 | `securityRules/write` on `nsg-web`: rule `AllowAnyInbound-Mgmt` allows `*`/Internet to 22 and 3389 | Activity REST |
//! | 03-12 03:58 | SSH from the attacker IP to `vm-web-01` 10.10.1.4:22, allowed by the new rule (and Internet scanners follow) | NSG flow logs |
//! | 03-12 04:06, 04:11 | `virtualMachines/runCommand/action` on `vm-app-01` and `vm-db-01` | Activity REST |
//! | 03-12 04:20, 04:23 | `snapshots/write` of `vm-db-01`'s OS disk, then `snapshots/beginGetAccess/action` (SAS export) | Activity REST |
//! | 03-12 04:30–04:40 | Key Vault `SecretList` then many `SecretGet` from the attacker IP | Key Vault AuditEvent |
//! | 03-12 04:46–05:09 | exfiltration to [`EXFIL_DST`]:443: ~2 GB from `vm-app-01` (NSG flow v2 C/E deltas) and ~3.4 GB from `vm-db-01` after a denied try on 4444 (VNet flow log v4, state D) | NSG flow, VNet flow |
//! | 03-12 05:15–05:35 | `GetBlob` burst from the attacker IP on `stcontosodata` (`backups`, `finance-exports`) | StorageRead |
//! | 03-12 05:41 | `listKeys` on the dev storage account `stcontosodev` | AzureActivity (LA CSV) |
//! | 03-12 05:52–06:10 | SSH from the attacker IP into the AWS instance (key read from Key Vault), then ~981 MB from it to [`EXFIL_DST`]:443 at 06:02 | AWS VPC flow |
//! | 03-13 09:14–09:40 | response: Adele resets Megan's password, revokes sessions, removes the role; Rob deletes the NSG rule | Entra audit, Activity REST |
//! | 03-13 11:30 | the attacker retries Megan's old password: 50126 | sign-ins |
//!
//! Benign background all week: Office/Teams sign-ins on local business hours, automation and
//! pipeline ARM operations (including nightly snapshots and benign role assignments), Key Vault
//! reads by `vm-app-01`'s managed identity, app blob reads, web traffic through the gateways with
//! occasional WAF false positives, Bastion admin sessions, Internet scanners denied by NSGs,
//! dev egress through the firewall, Entra provisioning to ServiceNow, AWS instance traffic.
//!
//! ## The evidence tree
//!
//! ```text
//! activity/rest/prod-NNN.json                 ARM REST pages {"value":[…],"nextLink":…} (prod, whole window)
//! diagnostics/insights-activity-logs/resourceId=/SUBSCRIPTIONS/<DEV>/y=/m=/d=/h=/m=00/PT1H.json[.gz]
//! diagnostics/insights-logs-signinlogs/tenantId=<TID>/y=…/PT1H.json[.gz]   (before 03-11)
//! diagnostics/insights-logs-auditlogs/tenantId=<TID>/…                    (before 03-11)
//! diagnostics/insights-logs-provisioninglogs|riskyusers|userriskevents|microsoftgraphactivitylogs/tenantId=<TID>/…
//! diagnostics/insights-logs-auditevent/resourceId=/…/VAULTS/KV-CONTOSO-PROD/…
//! diagnostics/insights-logs-storageread/resourceId=/…/STORAGEACCOUNTS/STCONTOSODATA/BLOBSERVICES/DEFAULT/…
//! diagnostics/insights-logs-applicationgatewayaccesslog|applicationgatewayfirewalllog/resourceId=/…
//! diagnostics/insights-logs-bastionauditlogs/…, insights-logs-azurefirewall/… (legacy msg, until 03-11 10:02)
//! diagnostics/insights-logs-networksecuritygroupflowevent/resourceId=/…/NETWORKSECURITYGROUPS/<NSG>/y=…/m=00/macAddress=<MAC>/PT1H.json   {"records":[…]}
//! diagnostics/insights-logs-flowlogflowevent/flowLogResourceID=/<SUB>_NETWORKWATCHERRG/NETWORKWATCHER_EASTUS_FL-SNET-DATA/…/macAddress=<MAC>/PT1H.json
//! eventhub/evh-contoso-entra-NN.json          Event Hub capture bodies {"records":[…]} (sign-ins + audits, 03-11)
//! entra/signins-NNN.json                      Graph beta pages (from 03-12 03:00), newest first
//! entra/directoryAudits.json                  Graph page (from 03-12)
//! loganalytics/SigninLogs_20260312_0000-0300.csv    portal CSV export (contains the spray)
//! loganalytics/AzureActivity_dev_20260312-20260315.csv
//! archives/afw-contoso-dev-resource-specific.zip    AZFWNetworkRule blob tree (from 03-11 10:02)
//! aws/vpcflow-seed-example.log, aws/vpcflow-742822827437_us-east-1_YYYYMMDD.log[.gz]
//! ```
//!
//! Older diagnostic blobs (before 2026-03-09) are gzipped. Hostile content sits in benign-looking
//! places: an XSS payload in AppGW/WAF request URIs and a CSV-formula user agent
//! (`=cmd|' /C calc'!A0`), so reports and CSV exports must neutralise them.
//!
//! `days` (minimum 4, so the storyline fits) extends the benign history backwards; `scale`
//! multiplies benign volume for benchmarks. The attack is always the same.

#![recursion_limit = "512"]

mod activity;
mod config;
mod entra;
mod fmt;
mod network;
mod out;
mod resources;
mod rng;
mod tenant;
mod web;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};

use crate::fmt::{hours, parse, Ts};
use crate::out::Out;
use crate::rng::Rng;

/// Tenant id (from the seed article's Activity Log claims).
pub const TENANT_ID: &str = "1114444b-7467-4144-a616-e3a5d63e147b";
/// The tenant's primary domain.
pub const TENANT_DOMAIN: &str = "contoso.com";
/// "Contoso Production" subscription: the attack happens here.
pub const SUB_PROD: &str = "b7e3c1d2-5a4f-4e6b-9c8d-1f2e3a4b5c6d";
/// "Contoso Dev/Test" subscription.
pub const SUB_DEV: &str = "3f9a2b1c-8d7e-4c6b-a5f4-e3d2c1b0a9f8";

/// Password spray source (Bucharest, RO).
pub const SPRAY_IP: &str = "198.51.100.23";
/// The attacker's operating address after the compromise (Amsterdam, NL).
pub const ATTACKER_IP: &str = "203.0.113.77";
/// The web scanner that probes the application gateways the evening before.
pub const SCANNER_IP: &str = "198.51.100.200";
/// Exfiltration destination.
pub const EXFIL_DST: &str = "203.0.113.200";
/// Country shown for the attacker IP.
pub const ATTACKER_COUNTRY: &str = "NL";
/// Country shown for the spray IP.
pub const SPRAY_COUNTRY: &str = "RO";
/// The compromised account.
pub const COMPROMISED_USER: &str = "megan@contoso.com";
/// Its display name.
pub const COMPROMISED_USER_NAME: &str = "Megan Bowen";
/// The responder who contains the incident.
pub const RESPONDER: &str = "adele@contoso.com";
/// The network engineer from the seed article's NSG example.
pub const SEED_NSG_CALLER: &str = "rob.robertson@contoso.com";
/// His display name.
pub const SEED_NSG_CALLER_NAME: &str = "Rob Robertson";
/// The attacker's app registration / service principal.
pub const BACKDOOR_APP: &str = "Azure Sync Service";
/// NSG and rule the attacker opens.
pub const OPENED_NSG: &str = "nsg-web";
/// Name of the rule the attacker adds to [`OPENED_NSG`].
pub const OPENED_RULE: &str = "AllowAnyInbound-Mgmt";
/// The VM reached over SSH after the NSG change.
pub const SSH_TARGET_VM: &str = "vm-web-01";
/// Its private address.
pub const SSH_TARGET_IP: &str = "10.10.1.4";
/// VMs used for run command and exfiltration.
pub const EXFIL_VMS: [&str; 2] = ["vm-app-01", "vm-db-01"];
/// Their private addresses (NSG flow logs for the first, VNet flow logs for the second).
pub const EXFIL_SRC_IPS: [&str; 2] = ["10.10.2.4", "10.10.3.4"];
/// The snapshot the attacker creates and exports.
pub const SNAPSHOT_NAME: &str = "snap-vm-db-01-osdisk-0312";
/// Key Vault read by the attacker.
pub const KEY_VAULT: &str = "kv-contoso-prod";
/// Storage account read by the attacker.
pub const STORAGE_ACCOUNT: &str = "stcontosodata";
/// AWS account in the cross-cloud part of the story.
pub const AWS_ACCOUNT: &str = "742822827437";
/// The AWS instance the attacker reaches with the key from Key Vault, and exfiltrates from.
pub const AWS_INSTANCE_IP: &str = "172.31.9.12";
/// CSV formula injection planted in a user agent.
pub const HOSTILE_USER_AGENT: &str = "=cmd|' /C calc'!A0 Mozilla/5.0 (compatible; scan)";
/// XSS planted in a request URI.
pub const HOSTILE_URI: &str = "/search?q=<script>alert(\"x\")</script>";

/// End of the evidence window (exclusive).
pub const WINDOW_END: &str = "2026-03-15T00:00:00Z";
/// First attacker-attributed event (the gateway scan).
pub const RECON_START: &str = "2026-03-11T21:04:00Z";
/// Password spray starts.
pub const SPRAY_START: &str = "2026-03-12T02:13:00Z";
/// Password spray ends.
pub const SPRAY_END: &str = "2026-03-12T02:43:00Z";
/// MFA fatigue starts.
pub const MFA_FATIGUE_START: &str = "2026-03-12T03:04:12Z";
/// Successful sign-in of the attacker as Megan.
pub const COMPROMISE_TIME: &str = "2026-03-12T03:29:41Z";
/// Owner role assignment.
pub const ROLE_ASSIGNMENT_TIME: &str = "2026-03-12T03:44:10Z";
/// NSG opened to the Internet.
pub const NSG_OPEN_TIME: &str = "2026-03-12T03:52:37Z";
/// Run command on vm-app-01.
pub const RUN_COMMAND_TIME: &str = "2026-03-12T04:06:15Z";
/// Snapshot created.
pub const SNAPSHOT_TIME: &str = "2026-03-12T04:20:05Z";
/// Snapshot SAS requested.
pub const SNAPSHOT_ACCESS_TIME: &str = "2026-03-12T04:23:31Z";
/// Key Vault `SecretList`.
pub const KV_LIST_TIME: &str = "2026-03-12T04:30:12Z";
/// Exfiltration flows start.
pub const EXFIL_START: &str = "2026-03-12T04:46:00Z";
/// Storage `GetBlob` burst starts.
pub const BLOB_BURST_START: &str = "2026-03-12T05:15:00Z";
/// Containment starts (password reset by the responder).
pub const CONTAINMENT_TIME: &str = "2026-03-13T09:14:00Z";
/// Last attacker event (a failed retry with the old password).
pub const ATTACK_END: &str = "2026-03-13T11:30:00Z";

/// Options for [`generate`].
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// Seed for all benign variation and attack jitter (the storyline facts do not move).
    pub seed: u64,
    /// Days of evidence ending 2026-03-14 (inclusive); raised to 4 if lower.
    pub days: u32,
    /// Multiplies benign volume (1 = default size); 0 is treated as 1.
    pub scale: u32,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions { seed: 0x00C0_FFEE, days: 7, scale: 1 }
    }
}

/// One step of the attack story, in time order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoryStep {
    /// When it happens.
    pub time: DateTime<Utc>,
    /// Short identifier (`spray`, `mfa_fatigue`, `role_assignment`, …).
    pub step: &'static str,
    /// Log source that shows it (`signin`, `activity`, `audit`, `nsg_flow`, …).
    pub source: &'static str,
    /// A needle that identifies the event in the evidence (operation name, error code, IP…).
    pub needle: &'static str,
    /// One sentence.
    pub summary: &'static str,
}

/// What was written.
#[derive(Clone, Debug)]
pub struct DemoSummary {
    /// Every file written, sorted.
    pub files: Vec<PathBuf>,
    /// Log records written (JSON records, CSV rows, text lines; a flow-log record counts once).
    pub records: u64,
    /// Flow tuples inside NSG/VNet flow-log records (AWS lines are counted as records).
    pub flow_tuples: u64,
    /// Bytes written.
    pub bytes: u64,
    /// First attacker-attributed event.
    pub attack_start: DateTime<Utc>,
    /// Last attacker-attributed event.
    pub attack_end: DateTime<Utc>,
    /// Evidence window start (inclusive).
    pub window_start: DateTime<Utc>,
    /// Evidence window end (exclusive).
    pub window_end: DateTime<Utc>,
    /// Records per log source (`activity`, `signin`, `audit`, `nsg_flow`, …).
    pub per_source: BTreeMap<String, u64>,
    /// The storyline.
    pub story: Vec<StoryStep>,
}

/// The storyline, in time order.
pub fn storyline() -> Vec<StoryStep> {
    let s = |t: &str, step, source, needle, summary| StoryStep { time: parse(t), step, source, needle, summary };
    vec![
        s(
            RECON_START,
            "recon_scan",
            "appgw_access",
            "/phpmyadmin/scripts/setup.php",
            "Scanner probes the application gateways (404s, WAF blocks)",
        ),
        s(
            "2026-03-11T21:20:09Z",
            "waf_block",
            "waf",
            "941320",
            "WAF blocks an XSS probe from the scanner (seed example)",
        ),
        s(SPRAY_START, "spray", "signin", "50126", "Password spray from SPRAY_IP against all users"),
        s(MFA_FATIGUE_START, "mfa_fatigue", "signin", "500121", "Repeated MFA prompts to Megan from ATTACKER_IP"),
        s(
            COMPROMISE_TIME,
            "compromise",
            "signin",
            ATTACKER_IP,
            "Megan's account signs in to Azure Portal from ATTACKER_IP (NL)",
        ),
        s("2026-03-12T03:33:12Z", "cli_signin", "signin", "Microsoft Azure CLI", "Azure CLI sign-in from ATTACKER_IP"),
        s(
            "2026-03-12T03:34:05Z",
            "graph_recon",
            "graph_activity",
            "https://graph.microsoft.com/v1.0/users",
            "Graph enumeration of users and service principals",
        ),
        s("2026-03-12T03:35:20Z", "backdoor_app", "audit", "Add application", "Backdoor app registration created"),
        s(
            "2026-03-12T03:36:48Z",
            "app_secret",
            "audit",
            "Update application – Certificates and secrets management ",
            "Client secret added to the backdoor app",
        ),
        s(
            "2026-03-12T03:37:02Z",
            "sp_credentials",
            "audit",
            "Add service principal credentials",
            "Credentials added to the backdoor service principal",
        ),
        s(
            "2026-03-12T03:39:30Z",
            "global_admin",
            "audit",
            "Add member to role",
            "Backdoor SP added to Global Administrator",
        ),
        s(
            ROLE_ASSIGNMENT_TIME,
            "role_assignment",
            "activity",
            "Microsoft.Authorization/roleAssignments/write",
            "Owner on the production subscription for the backdoor SP",
        ),
        s(
            NSG_OPEN_TIME,
            "nsg_open",
            "activity",
            "Microsoft.Network/networkSecurityGroups/securityRules/write",
            "nsg-web opened to the Internet on 22/3389",
        ),
        s(
            "2026-03-12T03:58:03Z",
            "ssh_in",
            "nsg_flow",
            ATTACKER_IP,
            "SSH from ATTACKER_IP to vm-web-01 allowed by the new rule",
        ),
        s(
            RUN_COMMAND_TIME,
            "run_command",
            "activity",
            "Microsoft.Compute/virtualMachines/runCommand/action",
            "Run command on vm-app-01 (and vm-db-01 at 04:11)",
        ),
        s(SNAPSHOT_TIME, "snapshot", "activity", "Microsoft.Compute/snapshots/write", "Snapshot of vm-db-01's OS disk"),
        s(
            SNAPSHOT_ACCESS_TIME,
            "snapshot_export",
            "activity",
            "Microsoft.Compute/snapshots/beginGetAccess/action",
            "SAS export of the snapshot",
        ),
        s(KV_LIST_TIME, "kv_list", "keyvault", "SecretList", "Key Vault secrets listed from ATTACKER_IP"),
        s("2026-03-12T04:30:40Z", "kv_get", "keyvault", "SecretGet", "Key Vault secrets read from ATTACKER_IP"),
        s(EXFIL_START, "exfil", "nsg_flow", EXFIL_DST, "Large outbound transfer vm-app-01 -> EXFIL_DST:443"),
        s(
            "2026-03-12T04:47:10Z",
            "exfil_denied",
            "vnet_flow",
            EXFIL_DST,
            "vm-db-01 -> EXFIL_DST:4444 denied, then 443 allowed",
        ),
        s(BLOB_BURST_START, "blob_burst", "storage", "GetBlob", "GetBlob burst from ATTACKER_IP"),
        s("2026-03-12T05:41:27Z", "dev_listkeys", "activity", "listKeys", "Dev storage account keys listed"),
        s("2026-03-12T05:52:00Z", "aws_ssh", "vpc_flow", ATTACKER_IP, "SSH into the AWS instance from ATTACKER_IP"),
        s(CONTAINMENT_TIME, "containment", "audit", "Reset user password", "Responder resets Megan's password"),
        s(
            "2026-03-13T09:40:00Z",
            "nsg_closed",
            "activity",
            "Microsoft.Network/networkSecurityGroups/securityRules/delete",
            "Rob deletes the rogue NSG rule",
        ),
        s(ATTACK_END, "retry", "signin", ATTACKER_IP, "Attacker retries the old password: 50126"),
    ]
}

/// Shared generation context.
pub(crate) struct Ctx {
    pub seed: u64,
    pub scale: f64,
    pub start: Ts,
    pub end: Ts,
    /// Midnight starting the attack day (2026-03-12).
    pub attack_day: Ts,
    /// Diagnostic blobs for hours before this are gzipped.
    pub gz_before: Ts,
    pub visitors: Vec<String>,
}

impl Ctx {
    fn new(opts: &DemoOptions) -> Ctx {
        let end = parse(WINDOW_END);
        let days = i64::from(opts.days.max(4));
        let attack_day = parse("2026-03-12T00:00:00Z");
        Ctx {
            seed: opts.seed,
            scale: f64::from(opts.scale.max(1)),
            start: end - hours(24 * days),
            end,
            attack_day,
            gz_before: attack_day - hours(72),
            visitors: tenant::visitor_pool(opts.seed, 400),
        }
    }

    pub(crate) fn rng(&self, stream: &str) -> Rng {
        Rng::new(self.seed, stream)
    }

    /// Start of every hour in the window.
    pub(crate) fn hours(&self) -> impl Iterator<Item = Ts> + '_ {
        let n = (self.end - self.start).num_hours();
        (0..n).map(move |h| self.start + hours(h))
    }

    pub(crate) fn in_window(&self, t: Ts) -> bool {
        t >= self.start && t < self.end
    }

    /// Business-hours weight for Contoso (Pacific time, UTC-7 in March 2026).
    pub(crate) fn diurnal(t: Ts) -> f64 {
        let local = t - hours(7);
        let w = match local.hour() {
            0..=5 => 0.06,
            6 => 0.2,
            7 => 0.5,
            8..=11 => 1.0,
            12 => 0.75,
            13..=16 => 1.0,
            17 => 0.55,
            18..=20 => 0.25,
            _ => 0.12,
        };
        match local.weekday() {
            Weekday::Sat | Weekday::Sun => w * 0.2,
            _ => w,
        }
    }

    /// Weight for consumer web traffic (peaks in the US evening, never zero).
    pub(crate) fn web_diurnal(t: Ts) -> f64 {
        let local = t - hours(7);
        match local.hour() {
            0..=5 => 0.25,
            6..=8 => 0.5,
            9..=16 => 0.85,
            17..=22 => 1.0,
            _ => 0.5,
        }
    }
}

/// Writes the demo evidence tree under `dir` (created if missing). Deterministic: same seed, same bytes.
pub fn generate(dir: &Path, opts: &DemoOptions) -> std::io::Result<DemoSummary> {
    std::fs::create_dir_all(dir)?;
    let ctx = Ctx::new(opts);
    let mut out = Out::new(dir);
    activity::write(&ctx, &mut out)?;
    entra::write(&ctx, &mut out)?;
    resources::write(&ctx, &mut out)?;
    web::write(&ctx, &mut out)?;
    network::write(&ctx, &mut out)?;
    config::write(&ctx, &mut out)?;
    let mut files = out.files;
    files.sort();
    Ok(DemoSummary {
        files,
        records: out.records,
        flow_tuples: out.tuples,
        bytes: out.bytes,
        attack_start: parse(RECON_START),
        attack_end: parse(ATTACK_END),
        window_start: ctx.start,
        window_end: ctx.end,
        per_source: out.per_source,
        story: storyline(),
    })
}
