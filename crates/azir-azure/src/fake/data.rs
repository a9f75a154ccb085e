//! The generated tenant: records per source in the services' REST shapes, deterministic ids.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::source::{Source, NETWORK_TYPES};

/// One generated record.
#[derive(Clone, Debug)]
pub struct FakeRecord {
    /// `eventDataId` (Activity Log), `id` (Graph, ARM resources).
    pub id: String,
    /// Its time (none for network resources).
    pub time: Option<DateTime<Utc>>,
    /// The JSON object as the service returns it.
    pub json: String,
}

/// Records per (source, scope); scope is the subscription for the Activity Log and network
/// (network records keyed `sub/type-name`), `tenant` for Graph. Sorted newest first.
pub type Dataset = BTreeMap<(Source, String), Vec<FakeRecord>>;

fn tag(s: Source) -> u32 {
    match s {
        Source::Activity => 0xac,
        Source::SignIns => 0x51,
        Source::NonInteractiveSignIns => 0x52,
        Source::ServicePrincipalSignIns => 0x53,
        Source::ManagedIdentitySignIns => 0x54,
        Source::DirectoryAudits => 0xad,
        Source::Provisioning => 0x90,
        Source::RiskyUsers => 0x71,
        Source::RiskDetections => 0x72,
        Source::Network => 0x4e,
    }
}

/// A deterministic GUID-shaped id.
pub fn guid(source: Source, scope_n: u32, kind: u32, i: u64) -> String {
    format!("{:08x}-{:04x}-4{:03x}-8000-{:012x}", tag(source), scope_n & 0xffff, kind & 0xfff, i)
}

/// Times printed the way each service does: the Activity Log always with 7 fractional digits,
/// Graph with none when the time is a whole second, else 7.
pub fn print_time(t: DateTime<Utc>, always_fraction: bool) -> String {
    let ticks = t.timestamp_subsec_nanos() / 100;
    let base = t.format("%Y-%m-%dT%H:%M:%S");
    if ticks == 0 && !always_fraction {
        format!("{base}Z")
    } else {
        format!("{base}.{ticks:07}Z")
    }
}

/// Truncates to the 100 ns tick the services store.
pub fn tick(t: DateTime<Utc>) -> DateTime<Utc> {
    let ns = t.timestamp_subsec_nanos();
    t.with_nanosecond_trunc(ns - ns % 100)
}

trait Trunc {
    fn with_nanosecond_trunc(self, ns: u32) -> Self;
}

impl Trunc for DateTime<Utc> {
    fn with_nanosecond_trunc(self, ns: u32) -> Self {
        chrono::Timelike::with_nanosecond(&self, ns).unwrap_or(self)
    }
}

/// `n` instants spread evenly over `[start, end)`, the first at `start`.
pub fn spread(start: DateTime<Utc>, end: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
    let span = (end - start).num_nanoseconds().unwrap_or(i64::MAX) as i128;
    (0..n)
        .map(|i| {
            let off = span * i as i128 / n.max(1) as i128;
            tick(start + chrono::Duration::nanoseconds(off as i64))
        })
        .collect()
}

/// An Activity Log event (REST EventData).
pub fn activity(tenant: &str, sub: &str, sub_n: u32, i: u64, t: DateTime<Utc>) -> FakeRecord {
    let id = guid(Source::Activity, sub_n, 1, i);
    let corr = guid(Source::Activity, sub_n, 2, i);
    let rg = format!("rg-{}", i % 3);
    let nsg = format!("nsg-{}", i % 5);
    let resource =
        format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/networkSecurityGroups/{nsg}");
    let ts = print_time(t, true);
    let ticks = t.timestamp_nanos_opt().unwrap_or(0) / 100 + 621_355_968_000_000_000;
    let v = json!({
        "authorization": {"action": "Microsoft.Network/networkSecurityGroups/write", "scope": resource},
        "caller": format!("user{}@contoso.com", i % 7),
        "channels": "Operation",
        "claims": {"ipaddr": format!("203.0.113.{}", i % 250 + 1), "appid": "c44b4083-3bb0-49c1-b47d-974e53cbdf3c"},
        "correlationId": corr,
        "description": "",
        "eventDataId": id,
        "eventName": {"value": "EndRequest", "localizedValue": "End request"},
        "category": {"value": "Administrative", "localizedValue": "Administrative"},
        "eventTimestamp": ts,
        "id": format!("{resource}/events/{id}/ticks/{ticks}"),
        "level": "Informational",
        "operationId": corr,
        "operationName": {"value": "Microsoft.Network/networkSecurityGroups/write", "localizedValue": "Create or Update Network Security Group"},
        "resourceGroupName": rg,
        "resourceProviderName": {"value": "Microsoft.Network", "localizedValue": "Microsoft.Network"},
        "resourceType": {"value": "Microsoft.Network/networkSecurityGroups", "localizedValue": "Microsoft.Network/networkSecurityGroups"},
        "resourceId": resource,
        "status": {"value": "Succeeded", "localizedValue": "Succeeded"},
        "subStatus": {"value": "Created", "localizedValue": "Created (HTTP Status Code: 201)"},
        "submissionTimestamp": print_time(t + chrono::Duration::seconds(12), true),
        "subscriptionId": sub,
        "tenantId": tenant,
        "httpRequest": {"clientRequestId": guid(Source::Activity, sub_n, 3, i), "clientIpAddress": format!("203.0.113.{}", i % 250 + 1), "method": "PUT"},
        "properties": {"statusCode": "Created", "serviceRequestId": guid(Source::Activity, sub_n, 4, i)},
        "relatedEvents": []
    });
    FakeRecord { id, time: Some(t), json: v.to_string() }
}

/// A Graph record of `source` (signIn, directoryAudit, provisioningObjectSummary, riskyUser,
/// riskDetection).
pub fn graph(source: Source, tenant: &str, i: u64, t: DateTime<Utc>) -> FakeRecord {
    let id = guid(source, 0, 1, i);
    let ts = print_time(t, false);
    let upn = format!("user{}@contoso.com", i % 11);
    let ip = format!("198.51.100.{}", i % 250 + 1);
    let v = match source {
        Source::SignIns
        | Source::NonInteractiveSignIns
        | Source::ServicePrincipalSignIns
        | Source::ManagedIdentitySignIns => {
            let (kind, interactive) = match source {
                Source::SignIns => ("interactiveUser", true),
                Source::NonInteractiveSignIns => ("nonInteractiveUser", false),
                Source::ServicePrincipalSignIns => ("servicePrincipal", false),
                _ => ("managedIdentity", false),
            };
            let failed = i.is_multiple_of(5);
            json!({
                "id": id,
                "createdDateTime": ts,
                "userDisplayName": format!("User {}", i % 11),
                "userPrincipalName": upn,
                "userId": guid(source, 0, 2, i % 11),
                "appId": "c44b4083-3bb0-49c1-b47d-974e53cbdf3c",
                "appDisplayName": "Azure Portal",
                "ipAddress": ip,
                "clientAppUsed": "Browser",
                "correlationId": guid(source, 0, 3, i),
                "conditionalAccessStatus": "notApplied",
                "isInteractive": interactive,
                "signInEventTypes": [kind],
                "riskDetail": "none",
                "riskLevelAggregated": "none",
                "riskLevelDuringSignIn": "none",
                "riskState": "none",
                "resourceDisplayName": "Windows Azure Service Management API",
                "resourceId": "797f4846-ba00-4fd7-ba43-dac1f8f63013",
                "status": if failed {
                    json!({"errorCode": 50126, "failureReason": "Error validating credentials due to invalid username or password."})
                } else {
                    json!({"errorCode": 0})
                },
                "deviceDetail": {"operatingSystem": "Windows 10", "browser": "Edge 120.0", "isCompliant": false},
                "location": {"city": "Redmond", "countryOrRegion": "US", "geoCoordinates": {}}
            })
        }
        Source::DirectoryAudits => json!({
            "id": id,
            "category": "UserManagement",
            "correlationId": guid(source, 0, 3, i),
            "result": "success",
            "resultReason": "",
            "activityDisplayName": "Update user",
            "activityDateTime": ts,
            "loggedByService": "Core Directory",
            "operationType": "Update",
            "initiatedBy": {"app": null, "user": {"id": guid(source, 0, 2, i % 11), "displayName": null, "userPrincipalName": upn, "ipAddress": ip}},
            "targetResources": [{"id": guid(source, 0, 4, i % 13), "displayName": null, "type": "User", "userPrincipalName": format!("target{}@contoso.com", i % 13), "modifiedProperties": []}],
            "additionalDetails": []
        }),
        Source::Provisioning => json!({
            "id": id,
            "activityDateTime": ts,
            "tenantId": tenant,
            "jobId": "AAD2AADUserProvisioning.e9f1a4bc",
            "cycleId": guid(source, 0, 5, i / 10),
            "changeId": guid(source, 0, 6, i),
            "provisioningAction": "create",
            "durationInMilliseconds": 120 + i % 50,
            "provisioningStatusInfo": {"status": "success", "errorInformation": null},
            "provisioningSteps": [],
            "modifiedProperties": [],
            "servicePrincipal": {"id": guid(source, 0, 7, 1), "displayName": "Provisioning app"},
            "sourceSystem": {"id": guid(source, 0, 8, 1), "displayName": "Azure Active Directory", "details": {}},
            "targetSystem": {"id": guid(source, 0, 8, 2), "displayName": "Contoso HR", "details": {}},
            "sourceIdentity": {"id": guid(source, 0, 9, i), "displayName": format!("User {}", i % 11), "identityType": "User", "details": {}},
            "targetIdentity": {"id": guid(source, 0, 10, i), "displayName": format!("User {}", i % 11), "identityType": "User", "details": {}},
            "initiatedBy": {"id": "", "displayName": "Azure AD Provisioning Service", "initiatorType": "system"}
        }),
        Source::RiskyUsers => json!({
            "id": id,
            "isDeleted": false,
            "isProcessing": false,
            "riskLastUpdatedDateTime": ts,
            "riskLevel": "medium",
            "riskState": "atRisk",
            "riskDetail": "none",
            "userDisplayName": format!("User {i}"),
            "userPrincipalName": format!("risky{i}@contoso.com")
        }),
        Source::RiskDetections => json!({
            "id": id,
            "requestId": guid(source, 0, 3, i),
            "correlationId": guid(source, 0, 4, i),
            "riskEventType": "unfamiliarFeatures",
            "riskState": "atRisk",
            "riskLevel": "medium",
            "riskDetail": "none",
            "source": "IdentityProtection",
            "detectionTimingType": "realtime",
            "activity": "signin",
            "tokenIssuerType": "AzureAD",
            "ipAddress": ip,
            "location": {"city": "Lisbon", "countryOrRegion": "PT", "geoCoordinates": {}},
            "activityDateTime": ts,
            "detectedDateTime": ts,
            "lastUpdatedDateTime": ts,
            "userId": guid(source, 0, 2, i % 11),
            "userDisplayName": format!("User {}", i % 11),
            "userPrincipalName": upn,
            "additionalInfo": "[]"
        }),
        Source::Activity | Source::Network => json!({"id": id}),
    };
    FakeRecord { id, time: Some(t), json: v.to_string() }
}

/// A network resource of the list `type_index` of [`NETWORK_TYPES`] in ARM REST shape.
pub fn network(sub: &str, sub_n: u32, type_index: usize, i: u64) -> FakeRecord {
    let nt = NETWORK_TYPES[type_index];
    let short = nt.name.trim_end_matches('s').to_ascii_lowercase();
    let name = format!("{short}-{i}");
    let id = format!("/subscriptions/{sub}/resourceGroups/rg-net/providers/{}/{name}", nt.resource_type);
    let etag = format!("W/\"{}\"", guid(Source::Network, sub_n, type_index as u32, i));
    let props = match nt.name {
        "virtualNetworks" => json!({
            "provisioningState": "Succeeded",
            "addressSpace": {"addressPrefixes": [format!("10.{}.0.0/16", i % 200)]},
            "subnets": [{"name": "default", "id": format!("{id}/subnets/default"), "etag": etag,
                          "properties": {"provisioningState": "Succeeded", "addressPrefix": format!("10.{}.0.0/24", i % 200)},
                          "type": "Microsoft.Network/virtualNetworks/subnets"}],
            "virtualNetworkPeerings": []
        }),
        "networkSecurityGroups" => json!({
            "provisioningState": "Succeeded",
            "securityRules": [{"name": "allow-ssh", "id": format!("{id}/securityRules/allow-ssh"),
                                "properties": {"protocol": "Tcp", "sourcePortRange": "*", "destinationPortRange": "22",
                                               "sourceAddressPrefix": "10.0.0.0/8", "destinationAddressPrefix": "*",
                                               "access": "Allow", "priority": 100, "direction": "Inbound"},
                                "type": "Microsoft.Network/networkSecurityGroups/securityRules"}],
            "defaultSecurityRules": []
        }),
        _ => json!({"provisioningState": "Succeeded"}),
    };
    let v = json!({"name": name, "id": id, "etag": etag, "type": nt.resource_type, "location": "westeurope", "properties": props});
    FakeRecord { id, time: None, json: v.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn times_print_like_the_services() {
        let t = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
        assert_eq!(print_time(t, true), "2024-05-01T00:00:00.0000000Z");
        assert_eq!(print_time(t, false), "2024-05-01T00:00:00Z");
        let t2 = t + chrono::Duration::nanoseconds(1_234_567_891);
        assert_eq!(print_time(tick(t2), false), "2024-05-01T00:00:01.2345678Z");
        let s = spread(t, t + chrono::Duration::hours(1), 4);
        assert_eq!(s[0], t);
        assert_eq!(s[2], t + chrono::Duration::minutes(30));
    }
}
