//! Logsource routing: which azir event `source` values a rule's `logsource` applies to.
//!
//! | product | service | azir `source` |
//! |---|---|---|
//! | azure | activitylogs | `activity` |
//! | azure | signinlogs (also `signin`, `noninteractive…`, `serviceprincipal…`, `managedidentity…`) | `signin` |
//! | azure | auditlogs | `audit` |
//! | azure | provisioninglogs | `provisioning` |
//! | azure | riskdetection, riskyusers, identityprotection | `identity_protection` |
//! | azure | pim | `audit`, `identity_protection` (PIM writes both) |
//! | azure | graphactivitylogs | `graph_activity` |
//! | azure | appgw | `appgw_access`, `waf` |
//! | azure | waf | `waf` |
//! | azure | keyvault | `keyvault` |
//! | azure | storage | `storage` |
//! | azure | bastion | `bastion` |
//! | azure | firewall | `firewall` |
//! | azure | nsgflow, vnetflow | `nsg_flow`, `vnet_flow` (flow tuples of the `network` table; see the crate docs) |
//! | azure | (none), category `network_connection` | `nsg_flow`, `vnet_flow` |
//! | azure | (none), other or no category | every azure source above except the flows |
//! | (none) or azure | (none), category `firewall` | `firewall`, `nsg_flow`, `vnet_flow`, `vpc_flow` |
//! | aws | vpcflow | `vpc_flow` |
//! | m365 | any (audit, exchange, threat_management, threat_detection, …) or none | `m365_audit` |
//!
//! A rule whose logsource routes to nothing still loads; the hunt reports it as not applicable.
//!
//! Every `m365` service is one source: the unified audit log carries Exchange, SharePoint,
//! Entra (AzureActiveDirectory), threat-intelligence and Security & Compliance alert records
//! alike (the `Workload` field tells them apart), in every export shape azir reads
//! (Management Activity API / `Search-UnifiedAuditLog` AuditData, the Purview and `Export-Csv`
//! CSVs, Log Analytics `OfficeActivity`). SigmaHQ's `threat_management` and `threat_detection`
//! rules describe Security & Compliance alerts, which the UAL records as
//! `SecurityComplianceAlerts` (Workload `SecurityComplianceCenter`), so they route there too.

use crate::fields::Family;
use serde::Serialize;

/// A rule's `logsource`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LogSource {
    /// `product`.
    pub product: Option<String>,
    /// `service`.
    pub service: Option<String>,
    /// `category`.
    pub category: Option<String>,
}

const AZURE_ALL: &[&str] = &[
    "activity",
    "signin",
    "audit",
    "provisioning",
    "identity_protection",
    "graph_activity",
    "appgw_access",
    "waf",
    "keyvault",
    "storage",
    "bastion",
    "firewall",
];

/// Sigma's generic `category: firewall`: Azure Firewall records and every flow tuple (an NSG or
/// VNet flow log is the firewall log of the NSG; an AWS VPC flow log of its security groups).
const FIREWALL: &[&str] = &["firewall", "nsg_flow", "vnet_flow", "vpc_flow"];

/// The sources of the `network` table that rules can route to.
pub const FLOW_SOURCES: &[&str] = &["nsg_flow", "vnet_flow", "vpc_flow"];

/// The event sources a logsource applies to (empty: none that azir ingests).
pub fn sources(ls: &LogSource) -> &'static [&'static str] {
    let product = ls.product.as_deref().map(str::to_ascii_lowercase);
    let service = ls.service.as_deref().map(str::to_ascii_lowercase);
    let category = ls.category.as_deref().map(str::to_ascii_lowercase);
    match (product.as_deref(), service.as_deref()) {
        (Some("azure"), None) if category.as_deref() == Some("network_connection") => &["nsg_flow", "vnet_flow"],
        (None | Some("azure"), None) if category.as_deref() == Some("firewall") => FIREWALL,
        (Some("azure"), None) => AZURE_ALL,
        (Some("azure"), Some(s)) => match s {
            "activitylogs" | "activitylog" | "activity" => &["activity"],
            "signinlogs"
            | "signin"
            | "noninteractiveusersigninlogs"
            | "serviceprincipalsigninlogs"
            | "managedidentitysigninlogs" => &["signin"],
            "auditlogs" | "audit" => &["audit"],
            "provisioninglogs" | "provisioning" => &["provisioning"],
            "riskdetection" | "riskyusers" | "userriskevents" | "identityprotection" => &["identity_protection"],
            "pim" => &["audit", "identity_protection"],
            "graphactivitylogs" | "microsoftgraphactivitylogs" => &["graph_activity"],
            "appgw" | "applicationgateway" => &["appgw_access", "waf"],
            "waf" => &["waf"],
            "keyvault" => &["keyvault"],
            "storage" => &["storage"],
            "bastion" => &["bastion"],
            "firewall" => &["firewall"],
            "nsgflow" => &["nsg_flow"],
            "vnetflow" => &["vnet_flow"],
            _ => &[],
        },
        (Some("aws"), Some("vpcflow" | "vpcflowlogs" | "vpc_flow")) => &["vpc_flow"],
        (Some("m365"), _) => &["m365_audit"],
        _ => &[],
    }
}

/// The alias family of a logsource.
pub fn family(ls: &LogSource) -> Family {
    match sources(ls) {
        ["activity"] => Family::Activity,
        ["signin"] => Family::SignIn,
        ["audit"] | ["audit", "identity_protection"] => Family::Audit,
        ["m365_audit"] => Family::M365,
        FIREWALL => Family::Firewall,
        ["keyvault"] | ["appgw_access", "waf"] | ["waf"] | ["bastion"] | ["firewall"] => Family::Diagnostic,
        _ => Family::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ls(p: &str, s: Option<&str>) -> LogSource {
        LogSource { product: Some(p.into()), service: s.map(Into::into), category: None }
    }

    #[test]
    fn routes_azure_services_to_parser_sources() {
        assert_eq!(sources(&ls("azure", Some("activitylogs"))), ["activity"]);
        assert_eq!(sources(&ls("Azure", Some("SigninLogs"))), ["signin"]);
        assert_eq!(sources(&ls("azure", Some("riskdetection"))), ["identity_protection"]);
        assert_eq!(sources(&ls("azure", Some("pim"))), ["audit", "identity_protection"]);
        assert_eq!(sources(&ls("azure", Some("keyvault"))), ["keyvault"]);
        assert!(sources(&ls("azure", None)).contains(&"waf"));
        for service in ["audit", "exchange", "threat_management", "threat_detection", "Audit", "something_new"] {
            assert_eq!(sources(&ls("m365", Some(service))), ["m365_audit"], "{service}");
        }
        assert_eq!(sources(&ls("M365", None)), ["m365_audit"]);
        assert!(!AZURE_ALL.contains(&"m365_audit"), "azure rules do not run on the UAL");
        assert!(sources(&ls("windows", Some("security"))).is_empty());
        assert_eq!(family(&ls("azure", Some("auditlogs"))), Family::Audit);
        assert_eq!(sources(&ls("azure", Some("nsgflow"))), ["nsg_flow"]);
        assert_eq!(sources(&ls("aws", Some("vpcflow"))), ["vpc_flow"]);
        let conn = LogSource { category: Some("network_connection".into()), ..ls("azure", None) };
        assert_eq!(sources(&conn), ["nsg_flow", "vnet_flow"]);
        assert!(sources(&ls("aws", Some("cloudtrail"))).is_empty());
        let fw = LogSource { category: Some("Firewall".into()), ..LogSource::default() };
        assert_eq!(sources(&fw), ["firewall", "nsg_flow", "vnet_flow", "vpc_flow"]);
        assert_eq!(family(&fw), Family::Firewall);
        assert_eq!(sources(&LogSource { product: Some("azure".into()), ..fw.clone() }), FIREWALL);
        assert!(sources(&LogSource { product: Some("fortigate".into()), ..fw }).is_empty());
    }
}
