//! What is collected: the sources, their queries, and how a time window becomes a filter.
//!
//! # Window boundaries
//!
//! Windows are half-open, `[start, end)`, and adjacent windows share their boundary, so every
//! instant belongs to exactly one window. The services do not all offer the operators to say
//! that:
//!
//! | source | time field | documented operators | query sent | trimmed client-side |
//! |---|---|---|---|---|
//! | Activity Log | `eventTimestamp` | `ge`, `le` (quoted literals) | `ge 'start' and le 'end'` | time ≥ end dropped |
//! | sign-ins | `createdDateTime` | `eq`, `ge`, `le` | `ge start and le end` | time ≥ end dropped |
//! | directory audits | `activityDateTime` | `eq`, `ge`, `le` | `ge start and le end` | time ≥ end dropped |
//! | provisioning | `activityDateTime` | `eq`, `gt`, `lt` | `gt start−1s and lt end` | time < start dropped |
//! | risky users | `riskLastUpdatedDateTime` | `ge`, `le` | `ge start and le end` | time ≥ end dropped |
//! | risk detections | `detectedDateTime` | `ge`, `le` | `ge start and le end` | time ≥ end dropped |
//!
//! Each query asks the service for a superset of the window using only operators it documents,
//! and the collector keeps exactly the records whose own timestamp lies in `[start, end)`: a
//! record stamped exactly on a boundary comes back from both neighbours and is kept by the later
//! one only. The dropped records are counted in the window's record (`outside`). A record whose
//! time cannot be read is kept (the service placed it in the window; losing it is worse than a
//! possible duplicate) and counted as `unplaced`. Within a window, records are also deduplicated
//! by id (`eventDataId` for the Activity Log, `id` for Graph), which absorbs pages that overlap
//! while the service is appending.
//!
//! Boundaries inside a collection are whole seconds (windows are aligned to multiples of their
//! length since the Unix epoch, and splits round to the second), so a service that prints fewer
//! fractional digits than it stores cannot move a record across a boundary by its printed time.
//! OData date-time literals are unquoted for Graph and quoted for the Activity Log, as each API
//! documents.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// A source of records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// Azure Activity Log of a subscription.
    Activity,
    /// Entra interactive user sign-ins.
    SignIns,
    /// Entra non-interactive user sign-ins (beta).
    NonInteractiveSignIns,
    /// Entra service principal sign-ins (beta).
    ServicePrincipalSignIns,
    /// Entra managed identity sign-ins (beta).
    ManagedIdentitySignIns,
    /// Entra directory audit log.
    DirectoryAudits,
    /// Entra provisioning log.
    Provisioning,
    /// Identity Protection risky users.
    RiskyUsers,
    /// Identity Protection risk detections.
    RiskDetections,
    /// Network configuration of a subscription (ARM list calls).
    Network,
}

impl Source {
    /// Every source, in collection priority: the shortest retention first.
    pub const ALL: [Source; 10] = [
        Source::SignIns,
        Source::NonInteractiveSignIns,
        Source::ServicePrincipalSignIns,
        Source::ManagedIdentitySignIns,
        Source::DirectoryAudits,
        Source::Provisioning,
        Source::RiskDetections,
        Source::RiskyUsers,
        Source::Activity,
        Source::Network,
    ];

    /// The command-line name.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Activity => "activity",
            Source::SignIns => "signins",
            Source::NonInteractiveSignIns => "signins-noninteractive",
            Source::ServicePrincipalSignIns => "signins-sp",
            Source::ManagedIdentitySignIns => "signins-mi",
            Source::DirectoryAudits => "audit",
            Source::Provisioning => "provisioning",
            Source::RiskyUsers => "risky-users",
            Source::RiskDetections => "risk-detections",
            Source::Network => "network",
        }
    }

    /// What it is, in the analyst's words.
    pub fn describe(self) -> &'static str {
        match self {
            Source::Activity => "Azure Activity Log",
            Source::SignIns => "Entra interactive sign-ins",
            Source::NonInteractiveSignIns => "Entra non-interactive sign-ins",
            Source::ServicePrincipalSignIns => "Entra service principal sign-ins",
            Source::ManagedIdentitySignIns => "Entra managed identity sign-ins",
            Source::DirectoryAudits => "Entra audit log",
            Source::Provisioning => "Entra provisioning log",
            Source::RiskyUsers => "Identity Protection risky users",
            Source::RiskDetections => "Identity Protection risk detections",
            Source::Network => "network configuration",
        }
    }

    /// How far back the service answers, in days, for sources that expire: the Activity Log
    /// keeps 90 days; Entra sign-ins, audit and provisioning 30 (P1/P2; 7 on Free); risk
    /// detections 90. Risky users are current state (`None`), as is the network.
    pub fn retention_days(self) -> Option<u32> {
        match self {
            Source::Activity | Source::RiskDetections => Some(90),
            Source::SignIns
            | Source::NonInteractiveSignIns
            | Source::ServicePrincipalSignIns
            | Source::ManagedIdentitySignIns
            | Source::DirectoryAudits
            | Source::Provisioning => Some(30),
            Source::RiskyUsers | Source::Network => None,
        }
    }

    /// True for Microsoft Graph sources (one tenant-wide scope, the reports rate limit).
    pub fn is_graph(self) -> bool {
        !matches!(self, Source::Activity | Source::Network)
    }

    /// True for sources collected in time windows.
    pub fn is_windowed(self) -> bool {
        self != Source::Network
    }

    /// The record field the window filters on.
    pub fn time_field(self) -> Option<&'static str> {
        match self {
            Source::Activity => Some("eventTimestamp"),
            Source::SignIns
            | Source::NonInteractiveSignIns
            | Source::ServicePrincipalSignIns
            | Source::ManagedIdentitySignIns => Some("createdDateTime"),
            Source::DirectoryAudits | Source::Provisioning => Some("activityDateTime"),
            Source::RiskyUsers => Some("riskLastUpdatedDateTime"),
            Source::RiskDetections => Some("detectedDateTime"),
            Source::Network => None,
        }
    }

    /// The Graph path under the version segment.
    pub fn graph_path(self) -> Option<&'static str> {
        match self {
            Source::SignIns
            | Source::NonInteractiveSignIns
            | Source::ServicePrincipalSignIns
            | Source::ManagedIdentitySignIns => Some("auditLogs/signIns"),
            Source::DirectoryAudits => Some("auditLogs/directoryAudits"),
            Source::Provisioning => Some("auditLogs/provisioning"),
            Source::RiskyUsers => Some("identityProtection/riskyUsers"),
            Source::RiskDetections => Some("identityProtection/riskDetections"),
            Source::Activity | Source::Network => None,
        }
    }

    /// The `signInEventTypes` value selecting this kind of sign-in (beta only).
    pub fn sign_in_event_type(self) -> Option<&'static str> {
        match self {
            Source::NonInteractiveSignIns => Some("nonInteractiveUser"),
            Source::ServicePrincipalSignIns => Some("servicePrincipal"),
            Source::ManagedIdentitySignIns => Some("managedIdentity"),
            _ => None,
        }
    }

    /// Page size asked with `$top` (the documented maximum, or a conservative value).
    pub fn page_size(self) -> Option<u32> {
        match self {
            Source::SignIns
            | Source::NonInteractiveSignIns
            | Source::ServicePrincipalSignIns
            | Source::ManagedIdentitySignIns => Some(1000),
            Source::DirectoryAudits => Some(999),
            // Provisioning pages only carry a skip token when $top is given.
            Source::Provisioning | Source::RiskyUsers | Source::RiskDetections => Some(500),
            Source::Activity | Source::Network => None,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Source {
    type Err = String;

    fn from_str(s: &str) -> Result<Source, String> {
        let s = s.trim().to_ascii_lowercase();
        Source::ALL.into_iter().find(|x| x.as_str() == s).ok_or_else(|| {
            format!(
                "unknown source {s:?} (one of {})",
                Source::ALL.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(", ")
            )
        })
    }
}

impl Serialize for Source {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Source {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Source, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Microsoft Graph API version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum GraphVersion {
    /// `v1.0`.
    #[serde(rename = "v1.0")]
    V1,
    /// `beta`: the superset of sign-in fields; required for non-interactive, service principal
    /// and managed identity sign-ins, which always use it.
    #[default]
    #[serde(rename = "beta")]
    Beta,
}

impl GraphVersion {
    /// The URL segment.
    pub fn as_str(self) -> &'static str {
        match self {
            GraphVersion::V1 => "v1.0",
            GraphVersion::Beta => "beta",
        }
    }
}

impl FromStr for GraphVersion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "v1.0" | "v1" | "1.0" => Ok(GraphVersion::V1),
            "beta" => Ok(GraphVersion::Beta),
            other => Err(format!("unknown Graph version {other:?} (v1.0 or beta)")),
        }
    }
}

/// One network configuration list call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetworkType {
    /// ARM resource type.
    pub resource_type: &'static str,
    /// api-version used.
    pub api_version: &'static str,
    /// File name stem in the output.
    pub name: &'static str,
}

/// The network configuration collected per subscription (subnets and peerings are inside
/// their virtual networks, rules inside their NSGs).
pub const NETWORK_TYPES: &[NetworkType] = &[
    NetworkType {
        resource_type: "Microsoft.Network/virtualNetworks",
        api_version: "2024-05-01",
        name: "virtualNetworks",
    },
    NetworkType {
        resource_type: "Microsoft.Network/networkInterfaces",
        api_version: "2024-05-01",
        name: "networkInterfaces",
    },
    NetworkType {
        resource_type: "Microsoft.Network/networkSecurityGroups",
        api_version: "2024-05-01",
        name: "networkSecurityGroups",
    },
    NetworkType {
        resource_type: "Microsoft.Network/applicationSecurityGroups",
        api_version: "2024-05-01",
        name: "applicationSecurityGroups",
    },
    NetworkType { resource_type: "Microsoft.Network/routeTables", api_version: "2024-05-01", name: "routeTables" },
    NetworkType {
        resource_type: "Microsoft.Network/publicIPAddresses",
        api_version: "2024-05-01",
        name: "publicIPAddresses",
    },
    NetworkType { resource_type: "Microsoft.Network/loadBalancers", api_version: "2024-05-01", name: "loadBalancers" },
    NetworkType {
        resource_type: "Microsoft.Network/applicationGateways",
        api_version: "2024-05-01",
        name: "applicationGateways",
    },
    NetworkType { resource_type: "Microsoft.Network/bastionHosts", api_version: "2024-05-01", name: "bastionHosts" },
    NetworkType {
        resource_type: "Microsoft.Network/azureFirewalls",
        api_version: "2024-05-01",
        name: "azureFirewalls",
    },
    NetworkType {
        resource_type: "Microsoft.Compute/virtualMachines",
        api_version: "2024-07-01",
        name: "virtualMachines",
    },
    NetworkType { resource_type: "Microsoft.Compute/disks", api_version: "2024-03-02", name: "disks" },
    NetworkType { resource_type: "Microsoft.Compute/snapshots", api_version: "2024-03-02", name: "snapshots" },
];

/// api-version of the subscription list.
pub const SUBSCRIPTIONS_API: &str = "2022-12-01";
/// api-version of the Activity Log.
pub const ACTIVITY_API: &str = "2015-04-01";

/// A query with `{start}` / `{end}` placeholders in its (decoded) parameter values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryTemplate {
    base: String,
    params: Vec<(String, String)>,
    lower_slack: bool,
}

impl QueryTemplate {
    /// The windowed query of `source` in `scope` (a subscription id for the Activity Log).
    pub fn windowed(
        source: Source,
        scope: &str,
        arm: &str,
        graph: &str,
        version: GraphVersion,
    ) -> Option<QueryTemplate> {
        let field = source.time_field()?;
        if source == Source::Activity {
            return Some(QueryTemplate {
                base: format!(
                    "{}/subscriptions/{scope}/providers/Microsoft.Insights/eventtypes/management/values",
                    arm.trim_end_matches('/')
                ),
                params: vec![
                    ("api-version".into(), ACTIVITY_API.into()),
                    ("$filter".into(), format!("{field} ge '{{start}}' and {field} le '{{end}}'")),
                ],
                lower_slack: false,
            });
        }
        let version = if source.sign_in_event_type().is_some() { GraphVersion::Beta } else { version };
        let mut filter = if source == Source::Provisioning {
            format!("{field} gt {{start-1s}} and {field} lt {{end}}")
        } else {
            format!("{field} ge {{start}} and {field} le {{end}}")
        };
        if let Some(t) = source.sign_in_event_type() {
            filter.push_str(&format!(" and signInEventTypes/any(t: t eq '{t}')"));
        }
        let mut params = vec![("$filter".to_string(), filter)];
        if let Some(top) = source.page_size() {
            params.push(("$top".into(), top.to_string()));
        }
        Some(QueryTemplate {
            base: format!("{}/{}/{}", graph.trim_end_matches('/'), version.as_str(), source.graph_path()?),
            params,
            lower_slack: source == Source::Provisioning,
        })
    }

    /// A plain list call (`api-version` only).
    pub fn list(url: String, api_version: &str) -> QueryTemplate {
        QueryTemplate { base: url, params: vec![("api-version".into(), api_version.into())], lower_slack: false }
    }

    /// The template as recorded: readable, placeholders kept, nothing secret.
    pub fn text(&self) -> String {
        let q: Vec<String> = self.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{}?{}", self.base, q.join("&"))
    }

    /// The URL of the window `[start, end)`.
    pub fn url(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> String {
        let s = odata_time(start);
        let s1 = odata_time(start - chrono::Duration::seconds(1));
        let e = odata_time(end);
        let q: Vec<String> = self
            .params
            .iter()
            .map(|(k, v)| {
                let v = v.replace("{start-1s}", &s1).replace("{start}", &s).replace("{end}", &e);
                format!("{}={}", encode(k), encode(&v))
            })
            .collect();
        format!("{}?{}", self.base, q.join("&"))
    }

    /// The URL of a query without placeholders (a list call).
    pub fn plain_url(&self) -> String {
        let q: Vec<String> = self.params.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
        format!("{}?{}", self.base, q.join("&"))
    }

    /// True when the query reaches before `start` and records before it must be dropped.
    pub fn trims_lower(&self) -> bool {
        self.lower_slack
    }
}

/// An OData / ISO 8601 UTC literal: `2024-05-01T00:00:00Z`, fractional digits only when needed.
pub fn odata_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Percent-encodes a query component, keeping the characters OData expressions are written
/// with (`$ ' ( ) : , /`) readable; a space is `%20`, never `+`.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~$'():,/@!*".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Parses a record's timestamp (any RFC 3339 offset, up to 9 fractional digits; a missing
/// zone is read as UTC).
pub fn parse_record_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").ok().map(|n| n.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn names_round_trip() {
        for s in Source::ALL {
            assert_eq!(s.as_str().parse::<Source>().unwrap(), s);
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{}\"", s.as_str()));
        }
        assert!("signin".parse::<Source>().is_err());
    }

    #[test]
    fn activity_query() {
        let q =
            QueryTemplate::windowed(Source::Activity, "sub1", "https://arm/", "https://g", GraphVersion::V1).unwrap();
        let t0 = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
        let t1 = Utc.with_ymd_and_hms(2024, 5, 2, 0, 0, 0).unwrap();
        assert_eq!(
            q.text(),
            "https://arm/subscriptions/sub1/providers/Microsoft.Insights/eventtypes/management/values?api-version=2015-04-01&$filter=eventTimestamp ge '{start}' and eventTimestamp le '{end}'"
        );
        assert_eq!(
            q.url(t0, t1),
            "https://arm/subscriptions/sub1/providers/Microsoft.Insights/eventtypes/management/values?api-version=2015-04-01&$filter=eventTimestamp%20ge%20'2024-05-01T00:00:00Z'%20and%20eventTimestamp%20le%20'2024-05-02T00:00:00Z'"
        );
    }

    #[test]
    fn graph_queries() {
        let t0 = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
        let t1 = t0 + chrono::Duration::milliseconds(1500);
        let q =
            QueryTemplate::windowed(Source::NonInteractiveSignIns, "t", "a", "https://g", GraphVersion::V1).unwrap();
        assert_eq!(
            q.url(t0, t1),
            "https://g/beta/auditLogs/signIns?$filter=createdDateTime%20ge%202024-05-01T00:00:00Z%20and%20createdDateTime%20le%202024-05-01T00:00:01.500Z%20and%20signInEventTypes/any(t:%20t%20eq%20'nonInteractiveUser')&$top=1000"
        );
        let q = QueryTemplate::windowed(Source::Provisioning, "t", "a", "https://g", GraphVersion::V1).unwrap();
        assert!(q.trims_lower());
        assert!(q
            .url(t0, t1)
            .contains("activityDateTime%20gt%202024-04-30T23:59:59Z%20and%20activityDateTime%20lt%20"));
        let q = QueryTemplate::windowed(Source::DirectoryAudits, "t", "a", "https://g", GraphVersion::V1).unwrap();
        assert!(q.text().starts_with("https://g/v1.0/auditLogs/directoryAudits?$filter=activityDateTime ge {start}"));
        assert!(QueryTemplate::windowed(Source::Network, "t", "a", "g", GraphVersion::V1).is_none());
    }

    #[test]
    fn record_times() {
        let t = parse_record_time("2018-01-29T20:42:31.3810679Z").unwrap();
        assert_eq!(t.timestamp_subsec_nanos(), 381_067_900);
        assert_eq!(parse_record_time("2019-10-18T04:45:48-05:00").unwrap().to_rfc3339(), "2019-10-18T09:45:48+00:00");
        assert!(parse_record_time("2024-05-01T00:00:00").is_some());
        assert!(parse_record_time("yesterday").is_none());
    }
}
