//! `azir lab plan`: the forensic environment the seed builds by hand, as a plan.
//!
//! Resource group; DFIR VNet and subnet in a range that overlaps nothing the case knows
//! ([`crate::addr`]); an NSG allowing SSH and RDP from the analyst only, denying all other
//! inbound explicitly, allowing outbound only to the VNet (the DFIR subnet and, when peered, the
//! target) and to Azure Storage, denying the Internet; a storage account closed to public
//! networks (default action Deny, a VNet rule for the DFIR subnet over a `Microsoft.Storage`
//! service endpoint, no public blob access, TLS 1.2, HTTPS only) with an `evidence` container
//! under a time-based immutability policy and a file share; optional peering with the target
//! VNet (both sides); and an analysis VM with the evidence disks (copies of snapshots) attached
//! with read-only host caching.
//!
//! Containers and shares are created through the control plane (`container-rm`, `share-rm`),
//! which the storage firewall does not filter: the analyst's workstation, outside the DFIR
//! subnet, can build the account it will then be refused from — as intended.

use crate::addr::{choose_space, overlaps};
use crate::facts::{CaseFacts, VnetFact};
use crate::plan::{lit, var, Action, Arg, Cmd, Plan, PlanKind, Step, Var};
use ipnet::IpNet;
use serde::Serialize;
use std::fmt::Write as _;

/// Options of a lab plan.
#[derive(Debug, Clone)]
pub struct LabOptions {
    /// The analyst's public address (CIDR) allowed to SSH/RDP.
    pub analyst_ip: IpNet,
    /// Region of the lab.
    pub location: String,
    /// The VNet to peer with (name or id, from the case).
    pub target_vnet: Option<String>,
    /// Resource group of the lab (default `rg-dfir-<case>`).
    pub resource_group: Option<String>,
    /// Address space of the DFIR VNet, instead of choosing one.
    pub address_space: Option<IpNet>,
    /// Snapshot ids to attach to the analysis VM (default: the snapshots in the case).
    pub evidence_disks: Vec<String>,
    /// Subscription of the lab (default: the target VNet's).
    pub subscription: Option<String>,
    /// VM size.
    pub vm_size: String,
    /// Admin user of the analysis VM.
    pub admin_user: String,
    /// Days of the immutability policy on `evidence`.
    pub retention_days: u32,
}

impl LabOptions {
    /// Options with defaults for everything but the analyst address and region.
    pub fn new(analyst_ip: IpNet, location: &str) -> Self {
        LabOptions {
            analyst_ip,
            location: location.to_string(),
            target_vnet: None,
            resource_group: None,
            address_space: None,
            evidence_disks: Vec::new(),
            subscription: None,
            vm_size: "Standard_D4s_v5".into(),
            admin_user: "dfir".into(),
            retention_days: 30,
        }
    }
}

/// A generated lab plan.
#[derive(Debug, Clone, Serialize)]
pub struct LabPlan {
    /// The steps (rendered to bash by [`crate::plan::render_bash`]).
    pub plan: Plan,
    /// The equivalent Bicep (resource-group scope).
    pub bicep: String,
    /// The module for the target side of the peering (deployed to the target's group).
    pub bicep_target: Option<String>,
    /// DFIR VNet space.
    #[serde(serialize_with = "crate::addr::ser_net")]
    pub vnet_space: IpNet,
    /// DFIR subnet.
    #[serde(serialize_with = "crate::addr::ser_net")]
    pub subnet: IpNet,
}

/// File name of the Bicep module of the target-side peering, referenced by the main file.
pub const TARGET_MODULE: &str = "lab-target-peering.bicep";

/// FNV-1a, for deterministic short names from the case id.
pub fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100000001b3))
}

/// A name part from case text: lower-case ASCII letters, digits and `-`, at most `max` chars.
pub fn slug(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    out.truncate(max);
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "case".into()
    } else {
        out
    }
}

/// A Bicep string literal.
pub fn bicep_str(s: &str) -> String {
    let mut out = String::from("'");
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' if chars.peek() == Some(&'{') => out.push_str("\\$"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

fn v(name: &str, value: impl Into<String>, comment: &str) -> Var {
    Var { name: name.into(), value: value.into(), comment: comment.into() }
}

/// An `az network nsg rule create` with every field explicit (no `az` defaults: its default
/// destination port is 80 and its default access Allow).
#[allow(clippy::too_many_arguments)]
pub fn nsg_rule(
    rg: &str,
    nsg: &str,
    name: &str,
    priority: u32,
    direction: &str,
    access: &str,
    protocol: &str,
    src: Vec<Arg>,
    dst: Vec<Arg>,
    ports: &[&str],
    description: &str,
) -> Cmd {
    Cmd::az(&["network", "nsg", "rule", "create"])
        .opt("--resource-group", var(rg))
        .opt("--nsg-name", var(nsg))
        .opt("--name", lit(name))
        .opt("--priority", lit(priority.to_string()))
        .opt("--direction", lit(direction))
        .opt("--access", lit(access))
        .opt("--protocol", lit(protocol))
        .opts("--source-address-prefixes", src)
        .opt("--source-port-ranges", lit("*"))
        .opts("--destination-address-prefixes", dst)
        .opts("--destination-port-ranges", ports.iter().map(|p| lit(*p)).collect())
        .opt("--description", lit(description))
}

/// The NSG rules of the lab, shared by the bash and the Bicep renderings:
/// (name, priority, direction, access, protocol, source, destination, ports, description).
type RuleSpec = (
    &'static str,
    u32,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static str,
);

/// `ANALYST` and `SUBNET` stand for the analyst's address and the DFIR subnet.
const LAB_RULES: [RuleSpec; 7] = [
    ("Allow-SSH-Analyst", 100, "Inbound", "Allow", "Tcp", "ANALYST", "*", &["22"], "SSH from the analyst only"),
    ("Allow-RDP-Analyst", 110, "Inbound", "Allow", "Tcp", "ANALYST", "*", &["3389"], "RDP from the analyst only"),
    (
        "Deny-All-Inbound",
        4096,
        "Inbound",
        "Deny",
        "*",
        "*",
        "*",
        &["*"],
        "Explicit deny of all other inbound, peered target included",
    ),
    (
        "Allow-Storage-Outbound",
        100,
        "Outbound",
        "Allow",
        "Tcp",
        "SUBNET",
        "Storage",
        &["443", "445"],
        "Evidence storage over the service endpoint (HTTPS, SMB)",
    ),
    (
        "Allow-VNet-Outbound",
        110,
        "Outbound",
        "Allow",
        "*",
        "SUBNET",
        "VirtualNetwork",
        &["*"],
        "The DFIR subnet and the peered target VNet (collection)",
    ),
    (
        "Deny-Internet-Outbound",
        4000,
        "Outbound",
        "Deny",
        "*",
        "*",
        "Internet",
        &["*"],
        "No Internet egress: nothing leaks, no tool phones home",
    ),
    (
        "Deny-All-Outbound",
        4096,
        "Outbound",
        "Deny",
        "*",
        "*",
        "*",
        &["*"],
        "Anything else (other service tags) denied too",
    ),
];

fn rule_addr(spec: &str) -> Arg {
    match spec {
        "ANALYST" => var("ANALYST_IP"),
        "SUBNET" => var("DFIR_SUBNET_PREFIX"),
        other => lit(other),
    }
}

/// Builds the lab plan from the case's facts.
pub fn lab_plan(facts: &CaseFacts, o: &LabOptions) -> Result<LabPlan, String> {
    let target: Option<&VnetFact> = match &o.target_vnet {
        None => None,
        Some(t) => Some(facts.vnet(t).ok_or_else(|| {
            let known: Vec<&str> = facts.vnets.iter().map(|v| v.name.as_str()).collect();
            format!(
                "target VNet {t:?} is not in the case's network configuration (known: {})",
                if known.is_empty() {
                    "none; ingest `az network vnet list` output".to_string()
                } else {
                    known.join(", ")
                }
            )
        })?),
    };
    let mut avoid: Vec<IpNet> = facts.known.iter().map(|k| k.prefix).collect();
    avoid.push(o.analyst_ip);
    let (vnet_space, subnet) = match o.address_space {
        Some(s) => (s.trunc(), crate::addr::subnet_of(&s.trunc())),
        None => choose_space(&avoid).ok_or("no free /24 left in the private ranges: pass --address-space")?,
    };
    let case_slug = slug(&facts.case_id, 20);
    let rg = o.resource_group.clone().unwrap_or_else(|| format!("rg-dfir-{case_slug}"));
    let storage = format!("stdfir{:010x}", fnv(&facts.case_id) & 0xff_ffff_ffff);
    let subscription = o
        .subscription
        .clone()
        .or_else(|| target.map(|t| t.subscription.clone()))
        .or_else(|| facts.vnets.first().map(|v| v.subscription.clone()))
        .unwrap_or_default();
    let snapshots: Vec<String> =
        if o.evidence_disks.is_empty() { facts.snapshots.clone() } else { o.evidence_disks.clone() };

    let mut vars = vec![
        v("CASE_ID", &facts.case_id, "Case these resources belong to (tags)."),
        v("DFIR_SUBSCRIPTION", &subscription, "Subscription of the lab (empty: the current `az account`)."),
        v("LOCATION", &o.location, "Region of every lab resource."),
        v("RG", &rg, "Resource group of the lab."),
        v("ANALYST_IP", o.analyst_ip.to_string(), "The only source allowed to SSH/RDP."),
        v("DFIR_VNET", "vnet-dfir", "DFIR VNet."),
        v(
            "DFIR_VNET_PREFIX",
            vnet_space.to_string(),
            "DFIR address space: overlaps no VNet, peering or route of the case.",
        ),
        v("DFIR_SUBNET", "snet-dfir", "DFIR subnet."),
        v("DFIR_SUBNET_PREFIX", subnet.to_string(), "DFIR subnet range."),
        v("DFIR_NSG", "nsg-dfir", "NSG of the DFIR subnet."),
        v("STORAGE_ACCOUNT", &storage, "Evidence storage account (globally unique; change if taken)."),
        v("EVIDENCE_CONTAINER", "evidence", "Blob container under an immutability policy."),
        v("FILE_SHARE", "dfirfileshare", "File share for working copies and tools."),
        v("RETENTION_DAYS", o.retention_days.to_string(), "Immutability period of the evidence container, in days."),
        v("VM_NAME", "vm-dfir-01", "Analysis VM."),
        v("VM_SIZE", &o.vm_size, "Analysis VM size."),
        v("ADMIN_USER", &o.admin_user, "Admin user of the analysis VM (SSH key only)."),
    ];
    if let Some(t) = target {
        vars.push(v("TARGET_VNET", &t.name, "The compromised VNet to peer with."));
        vars.push(v("TARGET_RG", &t.resource_group, "Its resource group."));
        vars.push(v("TARGET_SUBSCRIPTION", &t.subscription, "Its subscription."));
        vars.push(v("TARGET_VNET_ID", &t.id, "Its resource id."));
    }
    for (i, s) in snapshots.iter().enumerate() {
        vars.push(v(
            &format!("EVIDENCE_SNAPSHOT_{}", i + 1),
            s,
            "Snapshot to attach as evidence (same region as the lab).",
        ));
    }

    let mut steps = Vec::new();
    let tags = || vec![Arg::Join(vec![lit("azir-case="), var("CASE_ID")]), lit("azir-purpose=forensic-lab")];

    // 1. Subscription.
    let mut s = Step::new(
        "Select the lab subscription",
        &["Every command below runs in the lab subscription; the target side of the peering names its own."],
    );
    s.actions.push(Action::Shell {
        lines: vec![
            "if [[ -z \"${DFIR_SUBSCRIPTION}\" ]]; then".into(),
            "  DFIR_SUBSCRIPTION=$(az account show --query id -o tsv)".into(),
            "fi".into(),
        ],
    });
    s.actions.push(Action::Run { cmd: Cmd::az(&["account", "set"]).opt("--subscription", var("DFIR_SUBSCRIPTION")) });
    s.after.push(
        Cmd::az(&["account", "show"]).opt("--query", lit("{name:name, id:id, user:user.name}")).opt("-o", lit("json")),
    );
    steps.push(s);

    // 2. Resource group.
    let mut s = Step::new(
        "Resource group",
        &["A group of its own: the lab is deleted in one command when the case closes, and its activity is easy to tell from the attacker's."],
    );
    s.before.push(Cmd::az(&["group", "show"]).opt("--name", var("RG")).opt("-o", lit("table")));
    s.actions.push(Action::Run {
        cmd: Cmd::az(&["group", "create"])
            .opt("--name", var("RG"))
            .opt("--location", var("LOCATION"))
            .opts("--tags", tags()),
    });
    steps.push(s);

    // 3. NSG.
    let mut s = Step::new(
        "NSG: SSH/RDP from the analyst only, deny all other inbound, deny Internet egress",
        &[
            "Inbound: only the analyst's address reaches 22/3389; an explicit Deny-All-Inbound (4096) sits above the defaults,",
            "so the peered (compromised) VNet cannot reach the lab even though the default AllowVnetInBound would let it.",
            "Outbound: Azure Storage (443 for blobs, 445 for the SMB file share) and VirtualNetwork (the lab and the peered",
            "target, for collection) are allowed; the Internet is denied (4000) and everything else after it (4096).",
            "Tools must therefore come in through the storage account, not from the Internet: that is the point.",
            "The NSG is created only when absent (`az network nsg create` would reset its rules); rules are create-or-update.",
        ],
    );
    s.before.push(
        Cmd::az(&["network", "nsg", "rule", "list"])
            .opt("--resource-group", var("RG"))
            .opt("--nsg-name", var("DFIR_NSG"))
            .opt("-o", lit("table")),
    );
    s.actions.push(Action::Ensure {
        check: Cmd::az(&["network", "nsg", "show"]).opt("--resource-group", var("RG")).opt("--name", var("DFIR_NSG")),
        create: Cmd::az(&["network", "nsg", "create"])
            .opt("--resource-group", var("RG"))
            .opt("--name", var("DFIR_NSG"))
            .opt("--location", var("LOCATION"))
            .opts("--tags", tags()),
    });
    for (name, prio, dir, access, proto, src, dst, ports, desc) in LAB_RULES {
        s.actions.push(Action::Run {
            cmd: nsg_rule(
                "RG",
                "DFIR_NSG",
                name,
                prio,
                dir,
                access,
                proto,
                vec![rule_addr(src)],
                vec![rule_addr(dst)],
                ports,
                desc,
            ),
        });
    }
    s.after.push(
        Cmd::az(&["network", "nsg", "rule", "list"])
            .opt("--resource-group", var("RG"))
            .opt("--nsg-name", var("DFIR_NSG"))
            .opt("-o", lit("table")),
    );
    steps.push(s);

    // 4. VNet and subnet.
    let mut s = Step::new(
        "DFIR VNet and subnet, with the NSG and a Microsoft.Storage service endpoint",
        &[
            "The range was chosen to overlap no VNet, peering or UDR prefix of the case (see the azir:known-prefix lines):",
            "peering refuses overlapping spaces, and an overlap with a range the target routes to would hide evidence hosts.",
            "The service endpoint lets the subnet reach the storage account over the Azure backbone, which is what the",
            "account's VNet rule (next step) admits. The VNet is created only when absent (create would reset its subnets).",
        ],
    );
    s.before.push(
        Cmd::az(&["network", "vnet", "list"])
            .opt("--query", lit("[].{name:name, prefixes:addressSpace.addressPrefixes}"))
            .opt("-o", lit("table")),
    );
    s.actions.push(Action::Ensure {
        check: Cmd::az(&["network", "vnet", "show"]).opt("--resource-group", var("RG")).opt("--name", var("DFIR_VNET")),
        create: Cmd::az(&["network", "vnet", "create"])
            .opt("--resource-group", var("RG"))
            .opt("--name", var("DFIR_VNET"))
            .opt("--location", var("LOCATION"))
            .opt("--address-prefixes", var("DFIR_VNET_PREFIX"))
            .opt("--subnet-name", var("DFIR_SUBNET"))
            .opt("--subnet-prefixes", var("DFIR_SUBNET_PREFIX"))
            .opts("--tags", tags()),
    });
    s.actions.push(Action::Run {
        cmd: Cmd::az(&["network", "vnet", "subnet", "update"])
            .opt("--resource-group", var("RG"))
            .opt("--vnet-name", var("DFIR_VNET"))
            .opt("--name", var("DFIR_SUBNET"))
            .opt("--network-security-group", var("DFIR_NSG"))
            .opt("--service-endpoints", lit("Microsoft.Storage")),
    });
    s.after.push(
        Cmd::az(&["network", "vnet", "subnet", "show"])
            .opt("--resource-group", var("RG"))
            .opt("--vnet-name", var("DFIR_VNET"))
            .opt("--name", var("DFIR_SUBNET"))
            .opt(
                "--query",
                lit("{prefix:addressPrefix, nsg:networkSecurityGroup.id, endpoints:serviceEndpoints[].service}"),
            )
            .opt("-o", lit("json")),
    );
    steps.push(s);

    // 5. Storage account.
    let mut s = Step::new(
        "Evidence storage account reachable only from the DFIR subnet",
        &[
            "Default action Deny with no IP rule: no public network reaches the data plane; the VNet rule admits the DFIR",
            "subnet through its service endpoint. Public blob access off, TLS 1.2 minimum, HTTPS only. Bypass None: not even",
            "'trusted Azure services' reach the evidence. The update re-asserts these settings when the account already exists.",
        ],
    );
    let sa_show = || {
        Cmd::az(&["storage", "account", "show"])
            .opt("--resource-group", var("RG"))
            .opt("--name", var("STORAGE_ACCOUNT"))
            .opt("--query", lit("{defaultAction:networkRuleSet.defaultAction, vnetRules:networkRuleSet.virtualNetworkRules[].virtualNetworkResourceId, ipRules:networkRuleSet.ipRules, publicBlob:allowBlobPublicAccess, tls:minimumTlsVersion}"))
            .opt("-o", lit("json"))
    };
    s.before.push(sa_show());
    s.actions.push(Action::Ensure {
        check: Cmd::az(&["storage", "account", "show"])
            .opt("--resource-group", var("RG"))
            .opt("--name", var("STORAGE_ACCOUNT")),
        create: Cmd::az(&["storage", "account", "create"])
            .opt("--resource-group", var("RG"))
            .opt("--name", var("STORAGE_ACCOUNT"))
            .opt("--location", var("LOCATION"))
            .opt("--sku", lit("Standard_LRS"))
            .opt("--kind", lit("StorageV2"))
            .opt("--default-action", lit("Deny"))
            .opt("--bypass", lit("None"))
            .opt("--allow-blob-public-access", lit("false"))
            .opt("--min-tls-version", lit("TLS1_2"))
            .opt("--https-only", lit("true"))
            .opts("--tags", tags()),
    });
    s.actions.push(Action::Run {
        cmd: Cmd::az(&["storage", "account", "update"])
            .opt("--resource-group", var("RG"))
            .opt("--name", var("STORAGE_ACCOUNT"))
            .opt("--default-action", lit("Deny"))
            .opt("--bypass", lit("None"))
            .opt("--allow-blob-public-access", lit("false"))
            .opt("--min-tls-version", lit("TLS1_2"))
            .opt("--https-only", lit("true")),
    });
    let rule_add = Cmd::az(&["storage", "account", "network-rule", "add"])
        .opt("--resource-group", var("RG"))
        .opt("--account-name", var("STORAGE_ACCOUNT"))
        .opt("--vnet-name", var("DFIR_VNET"))
        .opt("--subnet", var("DFIR_SUBNET"));
    s.actions.push(Action::Shell {
        lines: vec![
            "# The VNet rule, added once (the list is read back so a rerun does not add it twice).".into(),
            "if ! az storage account network-rule list --resource-group \"${RG}\" --account-name \"${STORAGE_ACCOUNT}\" \\".into(),
            "    --query 'virtualNetworkRules[].virtualNetworkResourceId' -o tsv | grep -qiF \"/subnets/${DFIR_SUBNET}\"; then".into(),
            crate::plan::render_cmd(&rule_add, "  "),
            "fi".into(),
        ],
    });
    s.after.push(sa_show());
    steps.push(s);

    // 6. Evidence container with immutability.
    let mut s = Step::new(
        "Evidence container under a time-based immutability policy",
        &[
            "Blobs in `evidence` cannot be modified or deleted for RETENTION_DAYS days once written (WORM): the copy you",
            "analyse can be shown to be the copy you acquired. The policy is left unlocked so a wrong period can be fixed;",
            "locking it is irreversible and left as a manual step. Created through ARM (container-rm), unaffected by the firewall.",
        ],
    );
    s.actions.push(Action::Ensure {
        check: Cmd::az(&["storage", "container-rm", "show"])
            .opt("--resource-group", var("RG"))
            .opt("--storage-account", var("STORAGE_ACCOUNT"))
            .opt("--name", var("EVIDENCE_CONTAINER")),
        create: Cmd::az(&["storage", "container-rm", "create"])
            .opt("--resource-group", var("RG"))
            .opt("--storage-account", var("STORAGE_ACCOUNT"))
            .opt("--name", var("EVIDENCE_CONTAINER"))
            .opt("--public-access", lit("off")),
    });
    s.actions.push(Action::Run {
        cmd: Cmd::az(&["storage", "container", "immutability-policy", "create"])
            .opt("--resource-group", var("RG"))
            .opt("--account-name", var("STORAGE_ACCOUNT"))
            .opt("--container-name", var("EVIDENCE_CONTAINER"))
            .opt("--period", var("RETENTION_DAYS")),
    });
    s.actions.push(Action::Manual {
        cmd: Cmd::az(&["storage", "container", "immutability-policy", "lock"])
            .opt("--resource-group", var("RG"))
            .opt("--account-name", var("STORAGE_ACCOUNT"))
            .opt("--container-name", var("EVIDENCE_CONTAINER"))
            .opt("--if-match", lit("<etag from the show above>")),
        reason: "irreversible: lock only once the period is right".to_string(),
    });
    s.after.push(
        Cmd::az(&["storage", "container", "immutability-policy", "show"])
            .opt("--resource-group", var("RG"))
            .opt("--account-name", var("STORAGE_ACCOUNT"))
            .opt("--container-name", var("EVIDENCE_CONTAINER"))
            .opt("-o", lit("json")),
    );
    steps.push(s);

    // 7. File share.
    let mut s = Step::new(
        "File share for working copies and tools",
        &["Mounted from the analysis VM over SMB 3 (port 445, allowed to Storage only). Created through ARM (share-rm)."],
    );
    s.actions.push(Action::Ensure {
        check: Cmd::az(&["storage", "share-rm", "show"])
            .opt("--resource-group", var("RG"))
            .opt("--storage-account", var("STORAGE_ACCOUNT"))
            .opt("--name", var("FILE_SHARE")),
        create: Cmd::az(&["storage", "share-rm", "create"])
            .opt("--resource-group", var("RG"))
            .opt("--storage-account", var("STORAGE_ACCOUNT"))
            .opt("--name", var("FILE_SHARE"))
            .opt("--quota", lit("1024")),
    });
    s.after.push(
        Cmd::az(&["storage", "share-rm", "list"])
            .opt("--resource-group", var("RG"))
            .opt("--storage-account", var("STORAGE_ACCOUNT"))
            .opt("-o", lit("table")),
    );
    steps.push(s);

    // 8. Peering.
    if target.is_some() {
        let mut s = Step::new(
            "Peer the DFIR VNet with the target VNet (both sides)",
            &[
                "A peering needs both sides before traffic flows. Forwarded traffic and gateway transit stay off: the lab reaches",
                "the target's own hosts only. Inbound from the target into the lab is still denied by the lab NSG (Deny-All-Inbound).",
                "The target side is written in the target's subscription and group: its owner may have to run that command.",
            ],
        );
        let dfir_vnet_id = Arg::Join(vec![
            lit("/subscriptions/"),
            var("DFIR_SUBSCRIPTION"),
            lit("/resourceGroups/"),
            var("RG"),
            lit("/providers/Microsoft.Network/virtualNetworks/"),
            var("DFIR_VNET"),
        ]);
        let local_name = Arg::Join(vec![var("DFIR_VNET"), lit("-to-"), var("TARGET_VNET")]);
        let remote_name = Arg::Join(vec![var("TARGET_VNET"), lit("-to-"), var("DFIR_VNET")]);
        s.actions.push(Action::Ensure {
            check: Cmd::az(&["network", "vnet", "peering", "show"])
                .opt("--resource-group", var("RG"))
                .opt("--vnet-name", var("DFIR_VNET"))
                .opt("--name", local_name.clone()),
            create: Cmd::az(&["network", "vnet", "peering", "create"])
                .opt("--resource-group", var("RG"))
                .opt("--vnet-name", var("DFIR_VNET"))
                .opt("--name", local_name)
                .opt("--remote-vnet", var("TARGET_VNET_ID"))
                .flag("--allow-vnet-access"),
        });
        s.actions.push(Action::Ensure {
            check: Cmd::az(&["network", "vnet", "peering", "show"])
                .opt("--subscription", var("TARGET_SUBSCRIPTION"))
                .opt("--resource-group", var("TARGET_RG"))
                .opt("--vnet-name", var("TARGET_VNET"))
                .opt("--name", remote_name.clone()),
            create: Cmd::az(&["network", "vnet", "peering", "create"])
                .opt("--subscription", var("TARGET_SUBSCRIPTION"))
                .opt("--resource-group", var("TARGET_RG"))
                .opt("--vnet-name", var("TARGET_VNET"))
                .opt("--name", remote_name)
                .opt("--remote-vnet", dfir_vnet_id)
                .flag("--allow-vnet-access"),
        });
        s.after.push(
            Cmd::az(&["network", "vnet", "peering", "list"])
                .opt("--resource-group", var("RG"))
                .opt("--vnet-name", var("DFIR_VNET"))
                .opt("-o", lit("table")),
        );
        s.after.push(
            Cmd::az(&["network", "vnet", "peering", "list"])
                .opt("--subscription", var("TARGET_SUBSCRIPTION"))
                .opt("--resource-group", var("TARGET_RG"))
                .opt("--vnet-name", var("TARGET_VNET"))
                .opt("-o", lit("table")),
        );
        steps.push(s);
    }

    // 9. Analysis VM.
    let mut s = Step::new(
        "Analysis VM in the DFIR subnet",
        &[
            "SSH key only. A Standard public IP is closed unless an NSG allows: the subnet NSG admits the analyst alone.",
            "No NIC-level NSG (--nsg ''), so the subnet NSG above is the one policy to review.",
        ],
    );
    s.actions.push(Action::Ensure {
        check: Cmd::az(&["vm", "show"]).opt("--resource-group", var("RG")).opt("--name", var("VM_NAME")),
        create: Cmd::az(&["vm", "create"])
            .opt("--resource-group", var("RG"))
            .opt("--name", var("VM_NAME"))
            .opt("--location", var("LOCATION"))
            .opt("--image", lit("Ubuntu2204"))
            .opt("--size", var("VM_SIZE"))
            .opt("--admin-username", var("ADMIN_USER"))
            .opt("--authentication-type", lit("ssh"))
            .flag("--generate-ssh-keys")
            .opt("--vnet-name", var("DFIR_VNET"))
            .opt("--subnet", var("DFIR_SUBNET"))
            .opt("--nsg", lit(""))
            .opt("--public-ip-sku", lit("Standard"))
            .opts("--tags", tags()),
    });
    s.after.push(
        Cmd::az(&["vm", "show"])
            .flag("--show-details")
            .opt("--resource-group", var("RG"))
            .opt("--name", var("VM_NAME"))
            .opt("--query", lit("{name:name, power:powerState, private:privateIps, public:publicIps}"))
            .opt("-o", lit("json")),
    );
    steps.push(s);

    // 10. Evidence disks.
    let mut s = Step::new(
        "Evidence disks: copies of the snapshots, attached with read-only caching",
        &[
            "The snapshot stays the untouched original; a managed disk is created from it and attached with host caching",
            "ReadOnly. Azure has no write-protected attach: mount read-only in the guest (`mount -o ro,noload`, or",
            "`blockdev --setro` first) and hash the device before and after. A snapshot in another region must be copied",
            "first (`az snapshot create --copy-start`).",
        ],
    );
    if snapshots.is_empty() {
        s.why.push(
            "No snapshot was given (--evidence-disk) or found in the case: attach them later the same way.".into(),
        );
    }
    for (i, _) in snapshots.iter().enumerate() {
        let n = i + 1;
        let disk = format!("EVIDENCE_DISK_{n}");
        vars.push(v(&disk, format!("vm-dfir-01-evidence-{n}"), "Managed disk copied from the snapshot above."));
        s.actions.push(Action::Ensure {
            check: Cmd::az(&["disk", "show"]).opt("--resource-group", var("RG")).opt("--name", var(&disk)),
            create: Cmd::az(&["disk", "create"])
                .opt("--resource-group", var("RG"))
                .opt("--name", var(&disk))
                .opt("--location", var("LOCATION"))
                .opt("--source", var(format!("EVIDENCE_SNAPSHOT_{n}")))
                .opts("--tags", tags()),
        });
        let attach = Cmd::az(&["vm", "disk", "attach"])
            .opt("--resource-group", var("RG"))
            .opt("--vm-name", var("VM_NAME"))
            .opt("--name", var(&disk))
            .opt("--lun", lit(n.to_string()))
            .opt("--caching", lit("ReadOnly"));
        s.actions.push(Action::Shell {
            lines: vec![
                format!("if ! az vm show --resource-group \"${{RG}}\" --name \"${{VM_NAME}}\" --query 'storageProfile.dataDisks[].name' -o tsv | grep -qxF \"${{{disk}}}\"; then"),
                crate::plan::render_cmd(&attach, "  "),
                "fi".into(),
            ],
        });
    }
    s.after.push(
        Cmd::az(&["vm", "show"])
            .opt("--resource-group", var("RG"))
            .opt("--name", var("VM_NAME"))
            .opt("--query", lit("storageProfile.dataDisks[].{lun:lun, name:name, caching:caching}"))
            .opt("-o", lit("table")),
    );
    steps.push(s);

    let mut meta: Vec<(String, String)> = facts
        .known
        .iter()
        .map(|k| ("known-prefix".to_string(), format!("{} {}", k.prefix, crate::plan::comment_safe(&k.source))))
        .collect();
    meta.push(("forensic-prefix".into(), subnet.to_string()));
    let mut header = vec![
        format!("Generated by azir lab plan from case {}. Nothing has been run: review, then `bash lab.sh 2>&1 | tee lab.log`.", facts.case_id),
        "Requires az CLI 2.50+ logged in (`az login`) with rights to create resources in the lab subscription.".into(),
        "Re-running is safe: existing resources are kept (show || create) and settings re-asserted.".into(),
        format!("DFIR range {vnet_space} (subnet {subnet}) avoids {} known range(s) of the case.", facts.known.len()),
    ];
    if let Some(over) = facts.known.iter().find(|k| overlaps(&k.prefix, &vnet_space)) {
        header.push(format!("WARNING: {vnet_space} overlaps {} ({}): see azir lab check.", over.prefix, over.source));
    }
    let plan = Plan {
        kind: PlanKind::Lab,
        title: "azir forensic lab: DFIR VNet, NSG, evidence storage, analysis VM".into(),
        header,
        meta,
        vars,
        steps,
    };
    let bicep = render_bicep(&plan, facts, target, &snapshots);
    let bicep_target = target.map(|_| TARGET_MODULE_TEXT.to_string());
    Ok(LabPlan { plan, bicep, bicep_target, vnet_space, subnet })
}

const TARGET_MODULE_TEXT: &str = r"// Target side of the DFIR peering, deployed into the target VNet's resource group by lab.bicep.
targetScope = 'resourceGroup'

@description('Name of the target (compromised) VNet.')
param targetVnetName string

@description('Name of the peering on the target side.')
param peeringName string

@description('Resource id of the DFIR VNet.')
param remoteVnetId string

resource targetVnet 'Microsoft.Network/virtualNetworks@2023-09-01' existing = {
  name: targetVnetName
}

resource targetPeering 'Microsoft.Network/virtualNetworks/virtualNetworkPeerings@2023-09-01' = {
  parent: targetVnet
  name: peeringName
  properties: {
    remoteVirtualNetwork: {
      id: remoteVnetId
    }
    allowVirtualNetworkAccess: true
    allowForwardedTraffic: false
    allowGatewayTransit: false
    useRemoteGateways: false
  }
}
";

fn render_bicep(p: &Plan, facts: &CaseFacts, target: Option<&VnetFact>, snapshots: &[String]) -> String {
    let val = |n: &str| p.var(n).unwrap_or_default().to_string();
    let mut b = String::new();
    let _ = writeln!(b, "// {}", p.title);
    let _ = writeln!(
        b,
        "// Generated by azir lab plan from case {}; equivalent to lab.sh.",
        crate::plan::comment_safe(&facts.case_id)
    );
    let _ = writeln!(b, "// Deploy: az group create -n <rg> -l <region> && az deployment group create -g <rg> -f lab.bicep -p adminPublicKey=\"$(cat ~/.ssh/id_rsa.pub)\"");
    let _ = writeln!(b, "// azir:plan lab");
    for (k, v) in &p.meta {
        let _ = writeln!(b, "// azir:{} {}", k, v);
    }
    b.push_str("targetScope = 'resourceGroup'\n\n");
    let param = |b: &mut String, desc: &str, name: &str, ty: &str, default: Option<String>| {
        let _ = writeln!(b, "@description({})", bicep_str(desc));
        match default {
            Some(d) => {
                let _ = writeln!(b, "param {name} {ty} = {d}\n");
            }
            None => {
                let _ = writeln!(b, "param {name} {ty}\n");
            }
        }
    };
    param(&mut b, "Region of every lab resource.", "location", "string", Some(bicep_str(&val("LOCATION"))));
    param(&mut b, "Case these resources belong to.", "caseId", "string", Some(bicep_str(&val("CASE_ID"))));
    param(&mut b, "The only source allowed to SSH/RDP.", "analystIp", "string", Some(bicep_str(&val("ANALYST_IP"))));
    param(&mut b, "DFIR VNet.", "vnetName", "string", Some(bicep_str(&val("DFIR_VNET"))));
    param(
        &mut b,
        "DFIR address space (overlaps no known range of the case).",
        "vnetPrefix",
        "string",
        Some(bicep_str(&val("DFIR_VNET_PREFIX"))),
    );
    param(&mut b, "DFIR subnet.", "subnetName", "string", Some(bicep_str(&val("DFIR_SUBNET"))));
    param(&mut b, "DFIR subnet range.", "subnetPrefix", "string", Some(bicep_str(&val("DFIR_SUBNET_PREFIX"))));
    param(&mut b, "NSG of the DFIR subnet.", "nsgName", "string", Some(bicep_str(&val("DFIR_NSG"))));
    param(
        &mut b,
        "Evidence storage account (globally unique).",
        "storageAccountName",
        "string",
        Some(bicep_str(&val("STORAGE_ACCOUNT"))),
    );
    param(
        &mut b,
        "Immutability period of the evidence container, in days.",
        "retentionDays",
        "int",
        Some(val("RETENTION_DAYS")),
    );
    param(&mut b, "Analysis VM.", "vmName", "string", Some(bicep_str(&val("VM_NAME"))));
    param(&mut b, "Analysis VM size.", "vmSize", "string", Some(bicep_str(&val("VM_SIZE"))));
    param(&mut b, "Admin user of the analysis VM.", "adminUsername", "string", Some(bicep_str(&val("ADMIN_USER"))));
    param(&mut b, "SSH public key of the analyst.", "adminPublicKey", "string", None);
    let snaps: Vec<String> = snapshots.iter().map(|s| format!("  {}", bicep_str(s))).collect();
    param(
        &mut b,
        "Snapshots attached as evidence (same region as the lab).",
        "evidenceSnapshotIds",
        "array",
        Some(if snaps.is_empty() { "[]".into() } else { format!("[\n{}\n]", snaps.join("\n")) }),
    );
    if let Some(t) = target {
        param(&mut b, "Resource id of the target VNet.", "targetVnetId", "string", Some(bicep_str(&t.id)));
        param(&mut b, "Name of the target VNet.", "targetVnetName", "string", Some(bicep_str(&t.name)));
        param(
            &mut b,
            "Subscription of the target VNet.",
            "targetSubscriptionId",
            "string",
            Some(bicep_str(&t.subscription)),
        );
        param(
            &mut b,
            "Resource group of the target VNet.",
            "targetResourceGroup",
            "string",
            Some(bicep_str(&t.resource_group)),
        );
    }
    b.push_str("var tags = {\n  'azir-case': caseId\n  'azir-purpose': 'forensic-lab'\n}\n\n");
    b.push_str("// NSG: SSH/RDP from the analyst only, explicit deny-all inbound; outbound to Storage and the VNet only, Internet denied.\n");
    b.push_str("resource nsg 'Microsoft.Network/networkSecurityGroups@2023-09-01' = {\n  name: nsgName\n  location: location\n  tags: tags\n  properties: {\n    securityRules: [\n");
    for (name, prio, dir, access, proto, src, dst, ports, desc) in LAB_RULES {
        let addr = |s: &str| match s {
            "ANALYST" => "analystIp".to_string(),
            "SUBNET" => "subnetPrefix".to_string(),
            o => bicep_str(o),
        };
        let port_field = if ports.len() == 1 {
            format!("destinationPortRange: {}", bicep_str(ports[0]))
        } else {
            format!(
                "destinationPortRanges: [\n{}\n            ]",
                ports.iter().map(|p| format!("              {}", bicep_str(p))).collect::<Vec<_>>().join("\n")
            )
        };
        let _ = write!(
            b,
            "      {{\n        name: {}\n        properties: {{\n          description: {}\n          priority: {prio}\n          direction: '{dir}'\n          access: '{access}'\n          protocol: '{proto}'\n          sourceAddressPrefix: {}\n          sourcePortRange: '*'\n          destinationAddressPrefix: {}\n          {port_field}\n        }}\n      }}\n",
            bicep_str(name),
            bicep_str(desc),
            addr(src),
            addr(dst)
        );
    }
    b.push_str("    ]\n  }\n}\n\n");
    b.push_str(
        "// DFIR VNet and subnet with the NSG and a Microsoft.Storage service endpoint.
resource vnet 'Microsoft.Network/virtualNetworks@2023-09-01' = {
  name: vnetName
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        vnetPrefix
      ]
    }
    subnets: [
      {
        name: subnetName
        properties: {
          addressPrefix: subnetPrefix
          networkSecurityGroup: {
            id: nsg.id
          }
          serviceEndpoints: [
            {
              service: 'Microsoft.Storage'
            }
          ]
        }
      }
    ]
  }
}

// Evidence storage: default action Deny, the DFIR subnet only, no public blob access, TLS 1.2, HTTPS only.
resource storage 'Microsoft.Storage/storageAccounts@2023-01-01' = {
  name: storageAccountName
  location: location
  tags: tags
  sku: {
    name: 'Standard_LRS'
  }
  kind: 'StorageV2'
  properties: {
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    networkAcls: {
      defaultAction: 'Deny'
      bypass: 'None'
      ipRules: []
      virtualNetworkRules: [
        {
          id: vnet.properties.subnets[0].id
          action: 'Allow'
        }
      ]
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-01-01' = {
  parent: storage
  name: 'default'
}

resource evidenceContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-01-01' = {
  parent: blobService
  name: 'evidence'
  properties: {
    publicAccess: 'None'
  }
}

// WORM: evidence blobs cannot be changed or deleted during the period (unlocked; lock by hand once right).
resource evidenceImmutability 'Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies@2023-01-01' = {
  parent: evidenceContainer
  name: 'default'
  properties: {
    immutabilityPeriodSinceCreationInDays: retentionDays
    allowProtectedAppendWrites: false
  }
}

resource fileService 'Microsoft.Storage/storageAccounts/fileServices@2023-01-01' = {
  parent: storage
  name: 'default'
}

resource share 'Microsoft.Storage/storageAccounts/fileServices/shares@2023-01-01' = {
  parent: fileService
  name: 'dfirfileshare'
  properties: {
    shareQuota: 1024
  }
}

",
    );
    if target.is_some() {
        b.push_str(&format!(
            "// Peering, DFIR side; the target side is the module below (its own subscription and group).
resource dfirPeering 'Microsoft.Network/virtualNetworks/virtualNetworkPeerings@2023-09-01' = {{
  parent: vnet
  name: '${{vnetName}}-to-${{targetVnetName}}'
  properties: {{
    remoteVirtualNetwork: {{
      id: targetVnetId
    }}
    allowVirtualNetworkAccess: true
    allowForwardedTraffic: false
    allowGatewayTransit: false
    useRemoteGateways: false
  }}
}}

module targetPeering '{TARGET_MODULE}' = {{
  name: 'azir-target-peering'
  scope: resourceGroup(targetSubscriptionId, targetResourceGroup)
  params: {{
    targetVnetName: targetVnetName
    peeringName: '${{targetVnetName}}-to-${{vnetName}}'
    remoteVnetId: vnet.id
  }}
}}

"
        ));
    }
    b.push_str(
        "// Analysis VM: SSH key only, Standard public IP (closed unless the NSG allows: the analyst only).
resource pip 'Microsoft.Network/publicIPAddresses@2023-09-01' = {
  name: '${vmName}-pip'
  location: location
  tags: tags
  sku: {
    name: 'Standard'
  }
  properties: {
    publicIPAllocationMethod: 'Static'
  }
}

resource nic 'Microsoft.Network/networkInterfaces@2023-09-01' = {
  name: '${vmName}-nic'
  location: location
  tags: tags
  properties: {
    ipConfigurations: [
      {
        name: 'ipconfig1'
        properties: {
          subnet: {
            id: vnet.properties.subnets[0].id
          }
          privateIPAllocationMethod: 'Dynamic'
          publicIPAddress: {
            id: pip.id
          }
        }
      }
    ]
  }
}

// Evidence: disks copied from the snapshots (the snapshots stay the originals), attached with ReadOnly caching.
// Azure has no write-protected attach: mount read-only in the guest and hash before and after.
resource evidenceDisks 'Microsoft.Compute/disks@2023-04-02' = [for (snap, i) in evidenceSnapshotIds: {
  name: '${vmName}-evidence-${i + 1}'
  location: location
  tags: tags
  sku: {
    name: 'Premium_LRS'
  }
  properties: {
    creationData: {
      createOption: 'Copy'
      sourceResourceId: snap
    }
  }
}]

resource vm 'Microsoft.Compute/virtualMachines@2023-09-01' = {
  name: vmName
  location: location
  tags: tags
  properties: {
    hardwareProfile: {
      vmSize: vmSize
    }
    osProfile: {
      computerName: vmName
      adminUsername: adminUsername
      linuxConfiguration: {
        disablePasswordAuthentication: true
        ssh: {
          publicKeys: [
            {
              path: '/home/${adminUsername}/.ssh/authorized_keys'
              keyData: adminPublicKey
            }
          ]
        }
      }
    }
    storageProfile: {
      imageReference: {
        publisher: 'Canonical'
        offer: '0001-com-ubuntu-server-jammy'
        sku: '22_04-lts-gen2'
        version: 'latest'
      }
      osDisk: {
        createOption: 'FromImage'
        managedDisk: {
          storageAccountType: 'Premium_LRS'
        }
      }
      dataDisks: [for (snap, i) in evidenceSnapshotIds: {
        lun: i + 1
        createOption: 'Attach'
        caching: 'ReadOnly'
        managedDisk: {
          id: evidenceDisks[i].id
        }
      }]
    }
    networkProfile: {
      networkInterfaces: [
        {
          id: nic.id
        }
      ]
    }
  }
}

output vnetId string = vnet.id
output storageAccountId string = storage.id
output vmId string = vm.id
",
    );
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_literals() {
        assert_eq!(slug("Contoso Breach #1!", 20), "contoso-breach-1");
        assert_eq!(slug("$$$", 20), "case");
        assert_eq!(bicep_str("a'b\\c${x}\n"), r"'a\'b\\c\${x}\n'");
        assert_eq!(fnv("x"), fnv("x"));
        assert_ne!(fnv("x"), fnv("y"));
    }
}
