//! Resource logs: Key Vault `AuditEvent`, storage `StorageRead`, Bastion audit logs and Azure
//! Firewall (legacy `properties.msg` blobs, then structured `AZFWNetworkRule` records in a zip).

use std::io;

use serde_json::{json, Value};

use crate::fmt::{iso7, mins, ms, parse, secs, Ts};
use crate::out::{blob_path, by_hour, json_lines, resource_prefix, ser, write_hourly, Out, ZipBuilder};
use crate::rng::{name_guid, Rng};
use crate::tenant::*;
use crate::{Ctx, ATTACKER_IP, COMPROMISED_USER, SUB_DEV, SUB_PROD, TENANT_ID};

// ---------------------------------------------------------------------------------------------
// Key Vault

const SECRETS: &[&str] = &[
    "app-db-connection",
    "sql-admin-password",
    "storage-conn-stcontosodata",
    "api-payments-key",
    "smtp-relay-password",
    "aws-backup-access-key-id",
    "aws-backup-secret-access-key",
    "aws-bastion-ssh-key",
    "sp-automation-secret",
    "jwt-signing-key",
    "servicenow-api-token",
    "vpn-psk-branch-london",
    "grafana-admin",
    "backup-encryption-passphrase",
];

fn kv_uri(path: &str) -> String {
    format!("https://{KEYVAULT}.vault.azure.net/{path}")
}

struct KvCall<'a> {
    t: Ts,
    op: &'a str,
    path: String,
    ip: &'a str,
    identity: Value,
    client: &'a str,
    status: u16,
}

fn kv_record(c: &KvCall, rng: &mut Rng) -> Value {
    let id_path = c.path.split('?').next().unwrap_or(&c.path).trim_end_matches('/').to_string();
    json!({
        "time": iso7(c.t),
        "category": "AuditEvent",
        "operationName": c.op,
        "resultType": if c.status < 400 { "Success" } else { "Failure" },
        "correlationId": rng.guid(),
        "callerIpAddress": c.ip,
        "identity": c.identity,
        "properties": {
            "id": kv_uri(&id_path),
            "clientInfo": c.client,
            "httpStatusCode": c.status,
            "requestUri": kv_uri(&c.path),
            "isAccessPolicyMatch": true,
            "isRbacAuthorized": false,
            "tlsVersion": "TLS1_2",
        },
        "resourceId": keyvault_id().to_uppercase(),
        "operationVersion": "7.4",
        "resultSignature": if c.status < 400 { "OK" } else { "Forbidden" },
        "resultDescription": "",
        "durationMs": rng.range(8, 120).to_string(),
    })
}

fn mi_identity() -> Value {
    json!({"claim": {
        "oid": MI_APP.object_id(),
        "http://schemas.microsoft.com/identity/claims/objectidentifier": MI_APP.object_id(),
        "appid": MI_APP.app_id(),
        "xms_mirid": VM_APP.id(),
        "http://schemas.microsoft.com/identity/claims/tenantid": TENANT_ID,
    }})
}

fn user_identity(u: &User, appid: &str, ip: &str) -> Value {
    json!({"claim": {
        "oid": u.id(),
        "http://schemas.microsoft.com/identity/claims/objectidentifier": u.id(),
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": u.upn,
        "appid": appid,
        "ipaddr": ip,
        "http://schemas.microsoft.com/identity/claims/tenantid": TENANT_ID,
    }})
}

const KV_MI_CLIENT: &str = "azsdk-net-Security.KeyVault.Secrets/4.6.0 (.NET 8.0.2; Ubuntu 22.04.4 LTS)";
const KV_CLI_CLIENT: &str = "AZURECLI/2.58.0 (DEB) azsdk-python-keyvault-secrets/4.7.0 Python/3.11.8 (Linux-6.5.0-21-generic-x86_64-with-glibc2.38)";
const KV_PORTAL_CLIENT: &str = "PortalExtension/KeyVault Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36";

fn keyvault(ctx: &Ctx, rng: &mut Rng) -> Vec<(Ts, String)> {
    let mut v = Vec::new();
    for hour in ctx.hours() {
        // The app reads its secrets every few minutes, all day.
        let n = rng.count((5.0 + 4.0 * Ctx::web_diurnal(hour)) * ctx.scale);
        for _ in 0..n {
            let t = hour + ms(rng.range(0, 3_600_000));
            let name = *rng.pick(&SECRETS[..4]);
            let c = KvCall {
                t,
                op: "SecretGet",
                path: format!("secrets/{name}/?api-version=7.4"),
                ip: NAT_GW_IP,
                identity: mi_identity(),
                client: KV_MI_CLIENT,
                status: 200,
            };
            v.push((t, ser(&kv_record(&c, rng))));
        }
        // Admins in the portal, now and then.
        if rng.chance(0.12 * Ctx::diurnal(hour) * ctx.scale.min(4.0)) {
            let t = hour + ms(rng.range(0, 3_600_000));
            let admin = user(rng.pick_str(&["megan@contoso.com", "henrietta@contoso.com", "adele@contoso.com"]));
            let id = user_identity(admin, APP_PORTAL.id, HQ_EGRESS_IP);
            let ops: &[(&str, String)] = &[
                ("VaultGet", String::new()),
                ("SecretList", "secrets?api-version=7.4".into()),
                ("SecretGet", format!("secrets/{}/?api-version=7.4", SECRETS[rng.below(6) as usize])),
            ];
            for (i, (op, path)) in ops.iter().enumerate() {
                let c = KvCall {
                    t: t + secs(i as i64 * 7),
                    op,
                    path: path.clone(),
                    ip: HQ_EGRESS_IP,
                    identity: id.clone(),
                    client: KV_PORTAL_CLIENT,
                    status: 200,
                };
                v.push((c.t, ser(&kv_record(&c, rng))));
            }
        }
    }
    // The attacker: list, then read everything (some twice, some versions).
    let megan = user(COMPROMISED_USER);
    let id = user_identity(megan, APP_CLI.id, ATTACKER_IP);
    let mut t = parse(crate::KV_LIST_TIME);
    let list = KvCall {
        t,
        op: "SecretList",
        path: "secrets?api-version=7.4".into(),
        ip: ATTACKER_IP,
        identity: id.clone(),
        client: KV_CLI_CLIENT,
        status: 200,
    };
    v.push((t, ser(&kv_record(&list, rng))));
    t += secs(28);
    for (i, name) in SECRETS.iter().enumerate() {
        t += ms(rng.range(9_000, 31_000));
        let c = KvCall {
            t,
            op: "SecretGet",
            path: format!("secrets/{name}/?api-version=7.4"),
            ip: ATTACKER_IP,
            identity: id.clone(),
            client: KV_CLI_CLIENT,
            status: 200,
        };
        v.push((t, ser(&kv_record(&c, rng))));
        if i % 3 == 1 {
            let t2 = t + ms(rng.range(1500, 4000));
            let c = KvCall {
                t: t2,
                op: "SecretListVersions",
                path: format!("secrets/{name}/versions?api-version=7.4"),
                ip: ATTACKER_IP,
                identity: id.clone(),
                client: KV_CLI_CLIENT,
                status: 200,
            };
            v.push((t2, ser(&kv_record(&c, rng))));
            let t3 = t2 + ms(rng.range(1500, 4000));
            let c = KvCall {
                t: t3,
                op: "SecretGet",
                path: format!("secrets/{name}/{}?api-version=7.4", rng.hex(32)),
                ip: ATTACKER_IP,
                identity: id.clone(),
                client: KV_CLI_CLIENT,
                status: 200,
            };
            v.push((t3, ser(&kv_record(&c, rng))));
        }
    }
    // A denied key operation (no key permissions).
    t += secs(21);
    let c = KvCall {
        t,
        op: "KeyList",
        path: "keys?api-version=7.4".into(),
        ip: ATTACKER_IP,
        identity: id,
        client: KV_CLI_CLIENT,
        status: 403,
    };
    v.push((t, ser(&kv_record(&c, rng))));
    v.retain(|(t, _)| ctx.in_window(*t));
    v
}

// ---------------------------------------------------------------------------------------------
// Storage

struct BlobRead<'a> {
    t: Ts,
    op: &'a str,
    path: String,
    ip: String,
    identity: Value,
    ua: &'a str,
    size: i64,
}

fn storage_record(b: &BlobRead, rng: &mut Rng) -> Value {
    let uri = format!("https://{STORAGE}.blob.core.windows.net/{}", b.path);
    json!({
        "time": iso7(b.t),
        "resourceId": format!("{}/blobServices/default", storage_id()),
        "category": "StorageRead",
        "operationName": b.op,
        "operationVersion": "2023-11-03",
        "schemaVersion": "1.0",
        "statusCode": 200,
        "statusText": "Success",
        "durationMs": rng.range(3, 40) + b.size / 2_000_000,
        "callerIpAddress": b.ip,
        "correlationId": rng.guid(),
        "identity": b.identity,
        "location": "eastus",
        "protocol": "HTTPS",
        "uri": uri,
        "properties": {
            "accountName": STORAGE,
            "userAgentHeader": b.ua,
            "clientRequestId": rng.guid(),
            "etag": format!("0x8DC{}", rng.hex(12).to_uppercase()),
            "serverLatencyMs": rng.range(2, 30),
            "serviceType": "blob",
            "operationCount": 0,
            "requestHeaderSize": rng.range(380, 1400),
            "requestBodySize": 0,
            "responseHeaderSize": rng.range(300, 500),
            "responseBodySize": b.size,
            "contentLengthHeader": 0,
            "tlsVersion": "TLS 1.2",
            "accessTier": "Hot",
        },
    })
}

fn oauth_identity(oid: &str, ptype: &str, appid: &str, upn: Option<&str>, rng: &mut Rng) -> Value {
    json!({
        "type": "OAuth",
        "tokenHash": rng.hex(64).to_uppercase(),
        "authorization": [{
            "action": "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",
            "roleAssignmentId": name_guid(&format!("ra:{oid}:blobreader")),
            "roleDefinitionId": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
            "principals": [{"id": oid, "type": ptype}],
            "denyAssignmentId": "",
            "type": "RBAC",
            "result": "Granted",
            "reason": "Policy",
        }],
        "requester": {
            "appId": appid,
            "audience": "https://storage.azure.com",
            "objectId": oid,
            "tenantId": TENANT_ID,
            "tokenIssuer": format!("https://sts.windows.net/{TENANT_ID}/"),
            "upn": upn,
        },
    })
}

const AZCOPY_UA: &str = "AzCopy/10.24.0 azsdk-go-azblob/v1.3.0 (go1.21.5; linux)";

fn storage(ctx: &Ctx, rng: &mut Rng) -> Vec<(Ts, String)> {
    let mut v = Vec::new();
    let mi = MI_APP.object_id();
    let mi_app = MI_APP.app_id();
    for hour in ctx.hours() {
        let n = rng.count((6.0 + 14.0 * Ctx::web_diurnal(hour)) * ctx.scale);
        for _ in 0..n {
            let t = hour + ms(rng.range(0, 3_600_000));
            let (op, path, size) = if rng.chance(0.08) {
                (
                    "ListBlobs",
                    format!("invoices?restype=container&comp=list&prefix=2026/03/{}", rng.range(1, 15)),
                    rng.range(2_000, 40_000),
                )
            } else if rng.chance(0.5) {
                (
                    "GetBlob",
                    format!("invoices/2026/03/INV-{:06}.pdf", rng.range(100_000, 140_000)),
                    rng.range(40_000, 400_000),
                )
            } else {
                ("GetBlob", format!("app-assets/img/product-{}.webp", rng.range(1, 400)), rng.range(8_000, 120_000))
            };
            let id = oauth_identity(&mi, "ServicePrincipal", &mi_app, None, rng);
            let b = BlobRead {
                t,
                op,
                path,
                ip: format!("{}:{}", VM_APP.ip, rng.range(49_152, 65_535)),
                identity: id,
                ua: "azsdk-net-Storage.Blobs/12.19.1 (.NET 8.0.2; Ubuntu 22.04.4 LTS)",
                size,
            };
            v.push((t, ser(&storage_record(&b, rng))));
        }
        // Anonymous reads of the public container (images on the shop site).
        let n = rng.count(3.0 * Ctx::web_diurnal(hour) * ctx.scale);
        for _ in 0..n {
            let t = hour + ms(rng.range(0, 3_600_000));
            let ip = format!("{}:{}", rng.pick(&ctx.visitors), rng.range(1024, 65_535));
            let b = BlobRead { t, op: "GetBlob", path: format!("public/banners/spring-{}.jpg", rng.range(1, 12)), ip, identity: json!({"type": "Anonymous"}), ua: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36", size: rng.range(60_000, 300_000) };
            v.push((t, ser(&storage_record(&b, rng))));
        }
    }
    // The attacker's burst with AzCopy as Megan.
    let megan = user(COMPROMISED_USER);
    let oid = megan.id();
    let mut t = parse(crate::BLOB_BURST_START);
    let listing = [
        ("ListContainers", "?comp=list".to_string()),
        ("ListBlobs", "backups?restype=container&comp=list".to_string()),
        ("ListBlobs", "finance-exports?restype=container&comp=list".to_string()),
        ("ListBlobs", "invoices?restype=container&comp=list".to_string()),
    ];
    for (op, path) in listing {
        t += ms(rng.range(800, 4000));
        let id = oauth_identity(&oid, "User", APP_CLI.id, Some(megan.upn), rng);
        let b = BlobRead {
            t,
            op,
            path,
            ip: format!("{ATTACKER_IP}:{}", rng.range(40_000, 60_000)),
            identity: id,
            ua: AZCOPY_UA,
            size: rng.range(20_000, 900_000),
        };
        v.push((t, ser(&storage_record(&b, rng))));
    }
    let end = t + mins(20);
    let mut i = 0;
    while t < end {
        t += ms(rng.range(900, 6500));
        i += 1;
        let path = if i % 3 == 0 {
            format!("backups/sql/contoso-sales-{:02}-{}.bak.part{:03}", 1 + i % 12, 2026 - (i % 2), i)
        } else {
            format!("finance-exports/2025/Q{}/ledger-{:05}.csv", 1 + i % 4, 10_000 + i * 7)
        };
        let id = oauth_identity(&oid, "User", APP_CLI.id, Some(megan.upn), rng);
        let b = BlobRead {
            t,
            op: "GetBlob",
            path,
            ip: format!("{ATTACKER_IP}:{}", rng.range(40_000, 60_000)),
            identity: id,
            ua: AZCOPY_UA,
            size: rng.range(2_000_000, 64_000_000),
        };
        v.push((t, ser(&storage_record(&b, rng))));
    }
    v.retain(|(t, _)| ctx.in_window(*t));
    v
}

// ---------------------------------------------------------------------------------------------
// Bastion

/// A Bastion SSH session (also seen in the NSG flow logs of the target VM).
pub(crate) struct Session {
    pub t: Ts,
    pub end: Ts,
    pub vm: &'static Vm,
    pub user_name: &'static str,
    pub client_ip: String,
    pub client_port: i64,
    pub ua: String,
    pub instance_ip: &'static str,
}

const CHROME77: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/77.0.3865.90 Safari/537.36";

pub(crate) fn bastion_sessions(ctx: &Ctx) -> Vec<Session> {
    let mut rng = ctx.rng("bastion");
    let mut v = Vec::new();
    for hour in ctx.hours() {
        if rng.chance((0.22 * Ctx::diurnal(hour) * ctx.scale).min(0.95)) {
            let t = hour + ms(rng.range(0, 3_600_000));
            let who = user(rng.pick_str(&["megan@contoso.com", "rob.robertson@contoso.com", "henrietta@contoso.com"]));
            let vm = rng.pick(PROD_VMS);
            let ip = if rng.chance(0.7) { HQ_EGRESS_IP } else { who.home_ip };
            v.push(Session {
                t,
                end: t + secs(rng.range(90, 2400)),
                vm,
                user_name: if who.upn.starts_with("rob") { "rob" } else { "contosoadmin" },
                client_ip: ip.to_string(),
                client_port: rng.range(20_000, 65_000),
                ua: who.ua.to_string(),
                instance_ip: rng.pick_str(BASTION_INSTANCE_IPS),
            });
        }
    }
    // The seed article's example: Rob connects with Chrome 77, "Successfully Connected.".
    let t = parse("2026-03-09T14:51:06.776Z");
    v.push(Session {
        t,
        end: t + secs(1312),
        vm: &VM_WEB1,
        user_name: "rob",
        client_ip: HQ_EGRESS_IP.to_string(),
        client_port: 24039,
        ua: CHROME77.to_string(),
        instance_ip: BASTION_INSTANCE_IPS[0],
    });
    v.retain(|s| ctx.in_window(s.t));
    v.sort_by_key(|s| s.t);
    v
}

fn bastion(ctx: &Ctx, rng: &mut Rng) -> Vec<(Ts, Value)> {
    bastion_sessions(ctx)
        .iter()
        .map(|s| {
            let vm_id = s.vm.id().to_uppercase();
            (
                s.t,
                json!({
                    "time": iso7(s.t),
                    "resourceId": bastion_id().to_uppercase(),
                    "operationName": "Microsoft.Network/BastionHost/connect",
                    "category": "BastionAuditLogs",
                    "level": "Informational",
                    "location": "eastus",
                    "properties": {
                        "userName": s.user_name,
                        "userAgent": s.ua,
                        "clientIpAddress": s.client_ip,
                        "clientPort": s.client_port,
                        "protocol": "ssh",
                        "targetResourceId": vm_id,
                        "subscriptionId": SUB_PROD,
                        "message": "Successfully Connected.",
                        "resourceType": "VM",
                        "targetVMIPAddress": s.vm.ip,
                        "tunnelId": rng.guid(),
                        "sessionStartTime": iso7(s.t),
                        "sessionEndTime": iso7(s.end),
                        "duration": (s.end - s.t).num_milliseconds(),
                    },
                }),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Azure Firewall (dev egress)

struct FwFlow {
    t: Ts,
    proto: &'static str,
    src: &'static str,
    sport: i64,
    dst: String,
    dport: i64,
    allow: bool,
    collection: &'static str,
    rule: &'static str,
    app: bool,
}

const FW_SWITCH: &str = "2026-03-11T10:02:44Z";

fn fw_flows(ctx: &Ctx, rng: &mut Rng) -> Vec<FwFlow> {
    let mut v = Vec::new();
    for hour in ctx.hours() {
        let n = rng.count((3.0 + 9.0 * Ctx::diurnal(hour)) * ctx.scale);
        for _ in 0..n {
            let t = hour + ms(rng.range(0, 3_600_000));
            let src = rng.pick(&[VM_DEV1.ip, VM_DEV2.ip]);
            let sport = rng.range(32_768, 60_999);
            let f = match rng.below(10) {
                0..=3 => FwFlow {
                    t,
                    proto: "TCP",
                    src,
                    sport,
                    dst: rng.pick(&["91.189.91.83", "185.125.190.36", "20.42.73.29", "140.82.112.4"]).to_string(),
                    dport: 443,
                    allow: true,
                    collection: "rc-dev-outbound",
                    rule: "allow-https",
                    app: false,
                },
                4 => FwFlow {
                    t,
                    proto: "UDP",
                    src,
                    sport: 123,
                    dst: "162.159.200.123".into(),
                    dport: 123,
                    allow: true,
                    collection: "rc-dev-outbound",
                    rule: "allow-ntp",
                    app: false,
                },
                5 => FwFlow {
                    t,
                    proto: "UDP",
                    src,
                    sport,
                    dst: "168.63.129.16".into(),
                    dport: 53,
                    allow: true,
                    collection: "rc-dev-outbound",
                    rule: "allow-dns",
                    app: false,
                },
                6 => FwFlow {
                    t,
                    proto: "TCP",
                    src,
                    sport,
                    dst: rng.pick(&["45.9.148.35", "94.102.61.7"]).to_string(),
                    dport: *rng.pick(&[6667, 25, 8333]),
                    allow: false,
                    collection: "",
                    rule: "",
                    app: false,
                },
                _ => FwFlow {
                    t,
                    proto: "HTTPS",
                    src,
                    sport,
                    dst: rng
                        .pick(&[
                            "github.com",
                            "pypi.org",
                            "files.pythonhosted.org",
                            "registry.npmjs.org",
                            "packages.microsoft.com",
                        ])
                        .to_string(),
                    dport: 443,
                    allow: true,
                    collection: "rc-dev-apps",
                    rule: "allow-dev-repos",
                    app: true,
                },
            };
            v.push(f);
        }
    }
    v.retain(|f| ctx.in_window(f.t));
    v
}

fn fw_legacy(f: &FwFlow) -> Value {
    let tail = if f.allow {
        format!("Action: Allow. Rule Collection: {}. Rule: {}", f.collection, f.rule)
    } else {
        "Action: Deny".to_string()
    };
    let msg = format!("{} request from {}:{} to {}:{}. {tail}", f.proto, f.src, f.sport, f.dst, f.dport);
    let (category, op) = if f.app {
        ("AzureFirewallApplicationRule", "AzureFirewallApplicationRuleLog")
    } else {
        ("AzureFirewallNetworkRule", "AzureFirewallNetworkRuleLog")
    };
    json!({
        "category": category,
        "time": iso7(f.t),
        "resourceId": firewall_id().to_uppercase(),
        "operationName": op,
        "properties": {"msg": msg},
    })
}

fn fw_structured(f: &FwFlow) -> Value {
    json!({
        "time": iso7(f.t),
        "resourceId": firewall_id().to_uppercase(),
        "category": "AZFWNetworkRule",
        "operationName": "AZFWNetworkRule",
        "properties": {
            "Protocol": f.proto,
            "SourceIp": f.src,
            "SourcePort": f.sport,
            "DestinationIp": f.dst,
            "DestinationPort": f.dport,
            "Action": if f.allow { "Allow" } else { "Deny" },
            "Policy": "",
            "RuleCollectionGroup": "",
            "RuleCollection": f.collection,
            "Rule": f.rule,
            "ActionReason": if f.allow { "" } else { "Default Action" },
        },
    })
}

// ---------------------------------------------------------------------------------------------

pub(crate) fn write(ctx: &Ctx, out: &mut Out) -> io::Result<()> {
    let mut rng = ctx.rng("keyvault");
    write_hourly(
        out,
        ctx,
        "insights-logs-auditevent",
        &resource_prefix(&keyvault_id()),
        "keyvault",
        keyvault(ctx, &mut rng),
    )?;
    let mut rng = ctx.rng("storage");
    let prefix = resource_prefix(&format!("{}/blobServices/default", storage_id()));
    write_hourly(out, ctx, "insights-logs-storageread", &prefix, "storage", storage(ctx, &mut rng))?;
    let mut rng = ctx.rng("bastion-records");
    write_hourly(
        out,
        ctx,
        "insights-logs-bastionauditlogs",
        &resource_prefix(&bastion_id()),
        "bastion",
        bastion(ctx, &mut rng),
    )?;

    let mut rng = ctx.rng("firewall");
    let switch = parse(FW_SWITCH);
    let flows = fw_flows(ctx, &mut rng);
    let fw_prefix = resource_prefix(&firewall_id());
    let legacy: Vec<(Ts, Value)> = flows.iter().filter(|f| f.t < switch).map(|f| (f.t, fw_legacy(f))).collect();
    write_hourly(out, ctx, "insights-logs-azurefirewall", &fw_prefix, "firewall", legacy)?;
    let structured: Vec<(Ts, Value)> =
        flows.iter().filter(|f| f.t >= switch && !f.app).map(|f| (f.t, fw_structured(f))).collect();
    let mut zip = ZipBuilder::new();
    for (hour, recs) in by_hour(structured) {
        out.count("firewall", recs.len() as u64);
        let vals: Vec<Value> = recs.into_iter().map(|(_, v)| v).collect();
        let path = blob_path("insights-logs-azfwnetworkrule", &fw_prefix, hour, "");
        zip.add(path.trim_start_matches("diagnostics/").to_string(), json_lines(&vals));
    }
    if !zip.is_empty() {
        out.put("archives/afw-contoso-dev-resource-specific.zip", &zip.finish()?)?;
    }
    write_config(out)
}

// ---------------------------------------------------------------------------------------------
// Network configuration of the Internet-facing pieces, as `az network public-ip list`,
// `az network lb list`, `az network application-gateway list`, `az network bastion list`,
// `az network firewall list` and `az network vnet list/peering list` print them (properties
// flattened, `resourceGroup` added), collected with the VNets, NSGs and NICs (see `config`):
//
// - vm-web-01 has a public IP (what the scanners and the attacker reach); vm-web-02 has none.
// - agw-contoso-prod (WAF_v2, snet-appgw) listens on 443 for shop.contoso.com and forwards to
//   pool-web (vm-web-01, vm-web-02) on 80 (the names its access log uses).
// - bas-contoso-prod sits in AzureBastionSubnet with its own public IP.
// - lb-dev-ssh, a public load balancer in front of the dev VMs, has inbound NAT rules for SSH;
//   nsg-dev blocks them (DenyAllInBound).
// - afw-contoso-dev sits in a hub VNet (vnet-dev-hub, peered with vnet-dev) with a public IP.

/// Public addresses of the configuration (documentation range, like Contoso's other addresses).
pub(crate) const WEB1_PUBLIC_IP: &str = "192.0.2.50";
pub(crate) const APPGW_PUBLIC_IP: &str = "192.0.2.100";
pub(crate) const BASTION_PUBLIC_IP: &str = "192.0.2.120";
pub(crate) const LB_DEV_PUBLIC_IP: &str = "192.0.2.140";
pub(crate) const FIREWALL_PUBLIC_IP: &str = "192.0.2.130";
pub(crate) const FIREWALL_PRIVATE_IP: &str = "10.21.0.4";

fn net_id(sub: &str, rg: &str, rest: &str) -> String {
    rid(sub, rg, &format!("Microsoft.Network/{rest}"))
}

fn reference(id: &str, rg: &str) -> Value {
    json!({"id": id, "resourceGroup": rg})
}

fn nic_ipconfig_id(vm: &Vm) -> String {
    format!("{}/ipConfigurations/ipconfig1", net_id(vm.sub, vm.rg, &format!("networkInterfaces/{}-nic", vm.name)))
}

fn prod_subnet(name: &str) -> String {
    net_id(SUB_PROD, "rg-prod-network", &format!("virtualNetworks/vnet-prod/subnets/{name}"))
}

const HUB_RG: &str = "rg-dev-network";

fn hub_vnet_id() -> String {
    net_id(SUB_DEV, HUB_RG, "virtualNetworks/vnet-dev-hub")
}

fn dev_vnet_id() -> String {
    net_id(SUB_DEV, "rg-dev", "virtualNetworks/vnet-dev")
}

/// (subscription, resource group, name, address, attached ipConfiguration id)
fn public_ips() -> Value {
    let lb = net_id(SUB_DEV, "rg-dev", "loadBalancers/lb-dev-ssh");
    let list = [
        (SUB_PROD, "rg-prod-web", "pip-vm-web-01", WEB1_PUBLIC_IP, nic_ipconfig_id(&VM_WEB1), None),
        (
            SUB_PROD,
            "rg-prod-web",
            "pip-agw-contoso-prod",
            APPGW_PUBLIC_IP,
            format!("{}/frontendIPConfigurations/appGwPublicFrontendIp", appgw_id()),
            Some("shop-contoso"),
        ),
        (
            SUB_PROD,
            "rg-prod-network",
            "pip-bas-contoso-prod",
            BASTION_PUBLIC_IP,
            format!("{}/bastionHostIpConfigurations/IpConf", bastion_id()),
            None,
        ),
        (
            SUB_DEV,
            "rg-dev",
            "pip-lb-dev-ssh",
            LB_DEV_PUBLIC_IP,
            format!("{lb}/frontendIPConfigurations/fe-public"),
            None,
        ),
        (
            SUB_DEV,
            HUB_RG,
            "pip-afw-contoso-dev",
            FIREWALL_PUBLIC_IP,
            format!("{}/azureFirewallIpConfigurations/afw-ipconfig", firewall_id()),
            None,
        ),
    ];
    let all: Vec<Value> = list
        .iter()
        .map(|(sub, rg, name, ip, attached, dns)| {
            let attached_rg = attached.split('/').nth(4).unwrap_or(rg);
            let mut v = json!({
                "name": name,
                "id": net_id(sub, rg, &format!("publicIPAddresses/{name}")),
                "type": "Microsoft.Network/publicIPAddresses",
                "location": "westeurope",
                "resourceGroup": rg,
                "provisioningState": "Succeeded",
                "resourceGuid": name_guid(&format!("pip:{name}")),
                "ipAddress": ip,
                "publicIPAddressVersion": "IPv4",
                "publicIPAllocationMethod": "Static",
                "idleTimeoutInMinutes": 4,
                "ipTags": [],
                "sku": {"name": "Standard", "tier": "Regional"},
                "zones": ["1", "2", "3"],
                "ipConfiguration": reference(attached, attached_rg),
            });
            if let Some(label) = dns {
                v["dnsSettings"] =
                    json!({"domainNameLabel": label, "fqdn": format!("{label}.westeurope.cloudapp.azure.com")});
            }
            v
        })
        .collect();
    Value::Array(all)
}

fn app_gateways() -> Value {
    let id = appgw_id();
    let child = |kind: &str, name: &str| format!("{id}/{kind}/{name}");
    let rg = "rg-prod-web";
    json!([{
        "name": "agw-contoso-prod",
        "id": id,
        "type": "Microsoft.Network/applicationGateways",
        "location": "westeurope",
        "resourceGroup": rg,
        "provisioningState": "Succeeded",
        "operationalState": "Running",
        "resourceGuid": name_guid("appgw:agw-contoso-prod"),
        "sku": {"name": "WAF_v2", "tier": "WAF_v2", "capacity": 2},
        "zones": ["1", "2"],
        "enableHttp2": true,
        "webApplicationFirewallConfiguration": {"enabled": true, "firewallMode": "Prevention", "ruleSetType": "OWASP", "ruleSetVersion": "3.2"},
        "gatewayIPConfigurations": [{
            "name": "appGatewayIpConfig",
            "id": child("gatewayIPConfigurations", "appGatewayIpConfig"),
            "etag": format!("W/\"{}\"", name_guid("etag:agw")),
            "provisioningState": "Succeeded",
            "resourceGroup": rg,
            "subnet": reference(&prod_subnet("snet-appgw"), "rg-prod-network"),
            "type": "Microsoft.Network/applicationGateways/gatewayIPConfigurations",
        }],
        "frontendIPConfigurations": [{
            "name": "appGwPublicFrontendIp",
            "id": child("frontendIPConfigurations", "appGwPublicFrontendIp"),
            "privateIPAllocationMethod": "Dynamic",
            "provisioningState": "Succeeded",
            "publicIPAddress": reference(&net_id(SUB_PROD, rg, "publicIPAddresses/pip-agw-contoso-prod"), rg),
            "resourceGroup": rg,
            "httpListeners": [reference(&child("httpListeners", "lst-https-shop"), rg)],
            "type": "Microsoft.Network/applicationGateways/frontendIPConfigurations",
        }],
        "frontendPorts": [{
            "name": "port_443",
            "id": child("frontendPorts", "port_443"),
            "port": 443,
            "provisioningState": "Succeeded",
            "resourceGroup": rg,
            "type": "Microsoft.Network/applicationGateways/frontendPorts",
        }],
        "httpListeners": [{
            "name": "lst-https-shop",
            "id": child("httpListeners", "lst-https-shop"),
            "frontendIPConfiguration": reference(&child("frontendIPConfigurations", "appGwPublicFrontendIp"), rg),
            "frontendPort": reference(&child("frontendPorts", "port_443"), rg),
            "protocol": "Https",
            "hostName": "shop.contoso.com",
            "hostNames": [],
            "requireServerNameIndication": true,
            "sslCertificate": reference(&child("sslCertificates", "cert-shop-contoso"), rg),
            "provisioningState": "Succeeded",
            "resourceGroup": rg,
            "type": "Microsoft.Network/applicationGateways/httpListeners",
        }],
        "backendAddressPools": [{
            "name": "pool-web",
            "id": child("backendAddressPools", "pool-web"),
            "backendAddresses": [{"ipAddress": VM_WEB1.ip}, {"ipAddress": VM_WEB2.ip}],
            "provisioningState": "Succeeded",
            "resourceGroup": rg,
            "type": "Microsoft.Network/applicationGateways/backendAddressPools",
        }],
        "backendHttpSettingsCollection": [{
            "name": "bs-web-80",
            "id": child("backendHttpSettingsCollection", "bs-web-80"),
            "port": 80,
            "protocol": "Http",
            "cookieBasedAffinity": "Disabled",
            "requestTimeout": 30,
            "pickHostNameFromBackendAddress": false,
            "provisioningState": "Succeeded",
            "resourceGroup": rg,
            "type": "Microsoft.Network/applicationGateways/backendHttpSettingsCollection",
        }],
        "requestRoutingRules": [{
            "name": "rule-shop",
            "id": child("requestRoutingRules", "rule-shop"),
            "ruleType": "Basic",
            "priority": 100,
            "httpListener": reference(&child("httpListeners", "lst-https-shop"), rg),
            "backendAddressPool": reference(&child("backendAddressPools", "pool-web"), rg),
            "backendHttpSettings": reference(&child("backendHttpSettingsCollection", "bs-web-80"), rg),
            "provisioningState": "Succeeded",
            "resourceGroup": rg,
            "type": "Microsoft.Network/applicationGateways/requestRoutingRules",
        }],
    }])
}

fn bastions() -> Value {
    let id = bastion_id();
    let rg = "rg-prod-network";
    json!([{
        "name": "bas-contoso-prod",
        "id": id,
        "type": "Microsoft.Network/bastionHosts",
        "location": "westeurope",
        "resourceGroup": rg,
        "provisioningState": "Succeeded",
        "sku": {"name": "Standard"},
        "scaleUnits": 2,
        "dnsName": "bst-5a1d2c3e-7f90-4b1c-9d2e-3f4a5b6c7d8e.bastion.azure.com",
        "disableCopyPaste": false,
        "enableTunneling": true,
        "enableIpConnect": false,
        "ipConfigurations": [{
            "name": "IpConf",
            "id": format!("{id}/bastionHostIpConfigurations/IpConf"),
            "privateIPAllocationMethod": "Dynamic",
            "provisioningState": "Succeeded",
            "publicIPAddress": reference(&net_id(SUB_PROD, rg, "publicIPAddresses/pip-bas-contoso-prod"), rg),
            "resourceGroup": rg,
            "subnet": reference(&prod_subnet("AzureBastionSubnet"), rg),
            "type": "Microsoft.Network/bastionHosts/bastionHostIpConfigurations",
        }],
    }])
}

fn load_balancers() -> Value {
    let rg = "rg-dev";
    let id = net_id(SUB_DEV, rg, "loadBalancers/lb-dev-ssh");
    let child = |kind: &str, name: &str| format!("{id}/{kind}/{name}");
    let fe = child("frontendIPConfigurations", "fe-public");
    let nat = |vm: &Vm, port: u16| {
        let name = format!("nat-ssh-{}", vm.name);
        json!({
            "name": name,
            "id": child("inboundNatRules", &name),
            "frontendIPConfiguration": reference(&fe, rg),
            "frontendPort": port,
            "backendPort": 22,
            "protocol": "Tcp",
            "enableFloatingIP": false,
            "enableTcpReset": true,
            "idleTimeoutInMinutes": 4,
            "backendIPConfiguration": reference(&nic_ipconfig_id(vm), vm.rg),
            "provisioningState": "Succeeded",
            "resourceGroup": rg,
            "type": "Microsoft.Network/loadBalancers/inboundNatRules",
        })
    };
    json!([{
        "name": "lb-dev-ssh",
        "id": id,
        "type": "Microsoft.Network/loadBalancers",
        "location": "westeurope",
        "resourceGroup": rg,
        "provisioningState": "Succeeded",
        "resourceGuid": name_guid("lb:lb-dev-ssh"),
        "sku": {"name": "Standard", "tier": "Regional"},
        "frontendIPConfigurations": [{
            "name": "fe-public",
            "id": fe,
            "privateIPAllocationMethod": "Dynamic",
            "publicIPAddress": reference(&net_id(SUB_DEV, rg, "publicIPAddresses/pip-lb-dev-ssh"), rg),
            "inboundNatRules": [reference(&child("inboundNatRules", "nat-ssh-vm-dev-01"), rg), reference(&child("inboundNatRules", "nat-ssh-vm-dev-02"), rg)],
            "provisioningState": "Succeeded",
            "resourceGroup": rg,
            "type": "Microsoft.Network/loadBalancers/frontendIPConfigurations",
        }],
        "backendAddressPools": [{
            "name": "pool-dev",
            "id": child("backendAddressPools", "pool-dev"),
            "backendIPConfigurations": [reference(&nic_ipconfig_id(&VM_DEV1), rg), reference(&nic_ipconfig_id(&VM_DEV2), rg)],
            "provisioningState": "Succeeded",
            "resourceGroup": rg,
            "type": "Microsoft.Network/loadBalancers/backendAddressPools",
        }],
        "loadBalancingRules": [],
        "probes": [],
        "inboundNatRules": [nat(&VM_DEV1, 50001), nat(&VM_DEV2, 50002)],
        "outboundRules": [],
    }])
}

fn firewalls() -> Value {
    let id = firewall_id();
    json!([{
        "name": "afw-contoso-dev",
        "id": id,
        "type": "Microsoft.Network/azureFirewalls",
        "location": "westeurope",
        "resourceGroup": HUB_RG,
        "provisioningState": "Succeeded",
        "sku": {"name": "AZFW_VNet", "tier": "Standard"},
        "threatIntelMode": "Alert",
        "ipConfigurations": [{
            "name": "afw-ipconfig",
            "id": format!("{id}/azureFirewallIpConfigurations/afw-ipconfig"),
            "privateIPAddress": FIREWALL_PRIVATE_IP,
            "provisioningState": "Succeeded",
            "publicIPAddress": reference(&net_id(SUB_DEV, HUB_RG, "publicIPAddresses/pip-afw-contoso-dev"), HUB_RG),
            "resourceGroup": HUB_RG,
            "subnet": reference(&format!("{}/subnets/AzureFirewallSubnet", hub_vnet_id()), HUB_RG),
            "type": "Microsoft.Network/azureFirewalls/azureFirewallIpConfigurations",
        }],
        "applicationRuleCollections": [],
        "natRuleCollections": [],
        "networkRuleCollections": [{
            "name": "rc-dev-outbound",
            "id": format!("{id}/networkRuleCollections/rc-dev-outbound"),
            "priority": 200,
            "action": {"type": "Allow"},
            "rules": [
                {"name": "allow-https", "protocols": ["TCP"], "sourceAddresses": ["10.20.1.0/24"], "destinationAddresses": ["*"], "destinationPorts": ["443"]},
                {"name": "allow-ntp", "protocols": ["UDP"], "sourceAddresses": ["10.20.1.0/24"], "destinationAddresses": ["*"], "destinationPorts": ["123"]},
                {"name": "allow-dns", "protocols": ["UDP"], "sourceAddresses": ["10.20.1.0/24"], "destinationAddresses": ["168.63.129.16"], "destinationPorts": ["53"]},
            ],
            "provisioningState": "Succeeded",
            "resourceGroup": HUB_RG,
        }],
    }])
}

fn peering(name: &str, vnet: &str, remote: &str, rg: &str, remote_space: &str) -> Value {
    json!({
        "name": name,
        "id": format!("{vnet}/virtualNetworkPeerings/{name}"),
        "type": "Microsoft.Network/virtualNetworks/virtualNetworkPeerings",
        "resourceGroup": rg,
        "provisioningState": "Succeeded",
        "peeringState": "Connected",
        "peeringSyncLevel": "FullyInSync",
        "allowVirtualNetworkAccess": true,
        "allowForwardedTraffic": true,
        "allowGatewayTransit": false,
        "useRemoteGateways": false,
        "remoteVirtualNetwork": reference(remote, remote.split('/').nth(4).unwrap_or(rg)),
        "remoteAddressSpace": {"addressPrefixes": [remote_space]},
        "remoteVirtualNetworkAddressSpace": {"addressPrefixes": [remote_space]},
    })
}

/// The hub VNet (`az network vnet list -g rg-dev-network`) with its peering to vnet-dev.
fn hub_vnets() -> Value {
    let id = hub_vnet_id();
    json!([{
        "name": "vnet-dev-hub",
        "id": id,
        "type": "Microsoft.Network/virtualNetworks",
        "location": "westeurope",
        "resourceGroup": HUB_RG,
        "provisioningState": "Succeeded",
        "addressSpace": {"addressPrefixes": ["10.21.0.0/24"]},
        "enableDdosProtection": false,
        "subnets": [{
            "name": "AzureFirewallSubnet",
            "id": format!("{id}/subnets/AzureFirewallSubnet"),
            "type": "Microsoft.Network/virtualNetworks/subnets",
            "addressPrefix": "10.21.0.0/26",
            "provisioningState": "Succeeded",
            "resourceGroup": HUB_RG,
        }],
        "virtualNetworkPeerings": [peering("peer-hub-to-dev", &id, &dev_vnet_id(), HUB_RG, "10.20.0.0/16")],
    }])
}

/// vnet-dev's side of the peering (`az network vnet peering list -g rg-dev --vnet-name vnet-dev`).
fn dev_peerings() -> Value {
    json!([peering("peer-dev-to-hub", &dev_vnet_id(), &hub_vnet_id(), "rg-dev", "10.21.0.0/24")])
}

/// Writes the configuration files of the Internet-facing pieces under `network-config/`.
fn write_config(out: &mut Out) -> io::Result<()> {
    for (file, v) in [
        ("az-network-public-ip-list.json", public_ips()),
        ("az-network-application-gateway-list.json", app_gateways()),
        ("az-network-bastion-list.json", bastions()),
        ("az-network-lb-list.json", load_balancers()),
        ("az-network-firewall-list.json", firewalls()),
        ("az-network-vnet-list-rg-dev-network.json", hub_vnets()),
        ("az-network-vnet-peering-list-vnet-dev.json", dev_peerings()),
    ] {
        let n = v.as_array().map_or(0, |a| a.len()) as u64;
        let mut text = serde_json::to_string_pretty(&v).expect("serializes");
        text.push('\n');
        out.put(&format!("network-config/{file}"), text.as_bytes())?;
        out.count("network_config", n);
    }
    Ok(())
}
