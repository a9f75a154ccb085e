//! Which log a record is, decided from its content.
//!
//! Files are not trusted to be homogeneous (an Event Hub capture interleaves sign-ins and audit
//! events) nor named after what they hold, so every record is classified on its own, from the
//! fields it carries. The checks are a handful of key lookups: cheap next to parsing.

use crate::json::{get_in, text};
use serde_json::{Map, Value};

/// The log a record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Azure Activity Log (control plane).
    Activity,
    /// Entra sign-in (interactive, non-interactive, service principal, managed identity, ADFS).
    SignIn,
    /// Entra directory audit.
    Audit,
    /// Entra provisioning.
    Provisioning,
    /// Identity Protection risky users / risky service principals.
    RiskyUser,
    /// Identity Protection risk detections (UserRiskEvents, ServicePrincipalRiskEvents).
    RiskEvent,
    /// Microsoft Graph activity log.
    GraphActivity,
    /// Application Gateway access log.
    AppGwAccess,
    /// Application Gateway WAF (firewall) log.
    Waf,
    /// Azure Firewall (legacy text or structured AZFW*).
    Firewall,
    /// Azure Bastion audit.
    Bastion,
    /// Key Vault AuditEvent.
    KeyVault,
    /// Storage account resource logs.
    Storage,
    /// NSG flow log record.
    NsgFlow,
    /// VNet flow log record.
    VnetFlow,
    /// Any other resource-log envelope (category + time + operation).
    GenericDiag,
    /// Network configuration: an ARM resource (NSG, VNet, NIC, …; see `parsers::arm::TYPES`).
    Resource,
    /// Microsoft 365 unified audit log (Management Activity API / `Search-UnifiedAuditLog`
    /// records, their CSV exports, the Log Analytics `OfficeActivity` table).
    M365Audit,
}

impl Kind {
    /// The `source` column value.
    pub fn source(self) -> &'static str {
        match self {
            Kind::Activity => "activity",
            Kind::SignIn => "signin",
            Kind::Audit => "audit",
            Kind::Provisioning => "provisioning",
            Kind::RiskyUser | Kind::RiskEvent => "identity_protection",
            Kind::GraphActivity => "graph_activity",
            Kind::AppGwAccess => "appgw_access",
            Kind::Waf => "waf",
            Kind::Firewall => "firewall",
            Kind::Bastion => "bastion",
            Kind::KeyVault => "keyvault",
            Kind::Storage => "storage",
            Kind::NsgFlow => "nsg_flow",
            Kind::VnetFlow => "vnet_flow",
            Kind::GenericDiag => "diagnostic",
            Kind::Resource => "arm",
            Kind::M365Audit => "m365_audit",
        }
    }
}

/// The export shape of a record, independent of which log it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Resource-log envelope (`time`, `category`, `properties`): diagnostic blob or Event Hub.
    Envelope,
    /// ARM REST (Activity Log EventData); for Microsoft 365, an AuditData record as the
    /// Management Activity API and `Search-UnifiedAuditLog` return it.
    Rest,
    /// Microsoft Graph resource (signIn, directoryAudit, …).
    Graph,
    /// Log Analytics row (`TimeGenerated`, `Type`, flattened columns).
    LogAnalytics,
    /// The Azure portal's "Download as CSV"; for Microsoft 365, an export row (Purview CSV,
    /// `Search-UnifiedAuditLog` output, Graph `auditLogRecord`) whose `AuditData` holds the record.
    PortalCsv,
}

fn has(m: &Map<String, Value>, k: &str) -> bool {
    get_in(m, k).is_some()
}

fn category_kind(cat: &str) -> Kind {
    let c = cat.to_ascii_lowercase();
    match c.as_str() {
        "signinlogs"
        | "noninteractiveusersigninlogs"
        | "serviceprincipalsigninlogs"
        | "microsoftserviceprincipalsigninlogs"
        | "managedidentitysigninlogs"
        | "adfssigninlogs" => Kind::SignIn,
        "auditlogs" => Kind::Audit,
        "provisioninglogs" => Kind::Provisioning,
        "riskyusers" | "riskyserviceprincipals" => Kind::RiskyUser,
        "userriskevents" | "serviceprincipalriskevents" => Kind::RiskEvent,
        "microsoftgraphactivitylogs" => Kind::GraphActivity,
        "applicationgatewayaccesslog" => Kind::AppGwAccess,
        "applicationgatewayfirewalllog" => Kind::Waf,
        "bastionauditlogs" => Kind::Bastion,
        "auditevent" => Kind::KeyVault,
        "storageread" | "storagewrite" | "storagedelete" => Kind::Storage,
        "networksecuritygroupflowevent" => Kind::NsgFlow,
        "flowlogflowevent" => Kind::VnetFlow,
        "administrative" | "security" | "servicehealth" | "alert" | "recommendation" | "policy" | "autoscale"
        | "resourcehealth" | "write" | "delete" | "action" => Kind::Activity,
        _ if c.starts_with("azurefirewall") || c.starts_with("azfw") => Kind::Firewall,
        _ => Kind::GenericDiag,
    }
}

fn la_type_kind(t: &str) -> Option<Kind> {
    let t = t.to_ascii_lowercase();
    Some(match t.as_str() {
        "azureactivity" => Kind::Activity,
        "signinlogs"
        | "aadnoninteractiveusersigninlogs"
        | "aadserviceprincipalsigninlogs"
        | "aadmanagedidentitysigninlogs"
        | "adfssigninlogs" => Kind::SignIn,
        "auditlogs" => Kind::Audit,
        "aadprovisioninglogs" => Kind::Provisioning,
        "aadriskyusers" | "aadriskyserviceprincipals" => Kind::RiskyUser,
        "aaduserriskevents" | "aadserviceprincipalriskevents" => Kind::RiskEvent,
        "microsoftgraphactivitylogs" => Kind::GraphActivity,
        "agwaccesslogs" => Kind::AppGwAccess,
        "agwfirewalllogs" => Kind::Waf,
        "microsoftazurebastionauditlogs" => Kind::Bastion,
        "azkvauditlogs" => Kind::KeyVault,
        "storagebloblogs" | "storagefilelogs" | "storagequeuelogs" | "storagetablelogs" => Kind::Storage,
        "officeactivity" => Kind::M365Audit,
        _ if t.starts_with("azfw") => Kind::Firewall,
        _ => return None,
    })
}

/// Keys of the unified audit log's common schema (the Management Activity API's, which
/// `Search-UnifiedAuditLog` returns as `AuditData`).
const UAL_COMMON: &[&str] =
    &["CreationTime", "Id", "OrganizationId", "RecordType", "UserKey", "UserType", "Workload", "UserId", "ClientIP"];

/// The shape of a Microsoft 365 audit record, if `m` is one.
///
/// - An AuditData record: `Operation`, `RecordType` or `Workload`, and at least four of the
///   common-schema keys ([`UAL_COMMON`]; a record missing `CreationTime` is still taken, so its
///   parser can name what is missing). No `TimeGenerated`: the Log Analytics `OfficeActivity`
///   row carries the same columns and is classified with the other Log Analytics rows.
///   Nothing else azir reads has an `Operation` key (in any case: keys are matched
///   case-insensitively) next to `RecordType`/`Workload`; the Azure logs say `operationName`.
/// - An export row whose `AuditData` column holds the record: the Purview portal's CSV
///   (`RecordId`, `CreationDate`, `RecordType`, `Operation`, `UserId`, `AuditData`),
///   `Search-UnifiedAuditLog | Export-Csv` or `ConvertTo-Json` (`CreationDate`, `UserIds`,
///   `Operations`, `AuditData`), and Graph's `auditLogRecord` (`auditLogRecordType`, `auditData`).
fn m365_shape(m: &Map<String, Value>) -> Option<Shape> {
    if has(m, "AuditData")
        && ["CreationDate", "RecordType", "Operations", "Operation", "RecordId", "UserIds", "auditLogRecordType"]
            .iter()
            .any(|k| has(m, k))
    {
        return Some(Shape::PortalCsv);
    }
    if has(m, "Operation")
        && (has(m, "RecordType") || has(m, "Workload"))
        && !has(m, "TimeGenerated")
        && !has(m, "TimeGenerated [UTC]")
        && UAL_COMMON.iter().filter(|k| has(m, k)).count() >= 4
    {
        return Some(Shape::Rest);
    }
    None
}

/// Classifies a record. `None` when it is no log record azir knows (it is then quarantined
/// with the reason, never dropped).
pub fn classify(v: &Value) -> Option<(Kind, Shape)> {
    let m = v.as_object()?;
    // ARM REST EventData: eventTimestamp plus structured operationName/category.
    if has(m, "eventTimestamp") && (has(m, "eventDataId") || get_in(m, "operationName").is_some_and(Value::is_object)) {
        return Some((Kind::Activity, Shape::Rest));
    }
    // Microsoft 365 unified audit log: an AuditData record, or an export row carrying one.
    if let Some(shape) = m365_shape(m) {
        return Some((Kind::M365Audit, shape));
    }
    // ARM resources (network configuration) name their type; the parser tells the shapes apart.
    if crate::parsers::arm::is_resource(m) {
        return Some((Kind::Resource, Shape::Rest));
    }
    // Log Analytics rows name their table in `Type`.
    if let Some(t) = get_in(m, "Type").and_then(Value::as_str) {
        if has(m, "TimeGenerated") || has(m, "TimeGenerated [UTC]") {
            if let Some(k) = la_type_kind(t) {
                return Some((k, Shape::LogAnalytics));
            }
            if t.eq_ignore_ascii_case("AzureDiagnostics") {
                let cat = text(get_in(m, "Category")).unwrap_or_default();
                return Some((category_kind(&cat), Shape::LogAnalytics));
            }
        }
    }
    // Resource-log envelope: lower-case `category` + time (Log Analytics' `Category` column
    // belongs to a row, handled below).
    if let Some(cat) = m.get("category").and_then(Value::as_str) {
        if has(m, "time") || has(m, "timeStamp") || has(m, "TimeGenerated") {
            return Some((category_kind(cat), Shape::Envelope));
        }
    }
    if has(m, "TimeGenerated") || has(m, "TimeGenerated [UTC]") {
        // A Log Analytics export without `Type`: guess the table from its columns.
        if has(m, "OperationNameValue") || has(m, "ActivityStatusValue") {
            return Some((Kind::Activity, Shape::LogAnalytics));
        }
        if has(m, "UserPrincipalName") && has(m, "ResultType") && (has(m, "AppDisplayName") || has(m, "IPAddress")) {
            return Some((Kind::SignIn, Shape::LogAnalytics));
        }
        if has(m, "ActivityDisplayName") && has(m, "InitiatedBy") {
            return Some((Kind::Audit, Shape::LogAnalytics));
        }
        if has(m, "OfficeWorkload") {
            return Some((Kind::M365Audit, Shape::LogAnalytics));
        }
        if let Some(cat) = get_in(m, "Category").and_then(Value::as_str) {
            return Some((category_kind(cat), Shape::LogAnalytics));
        }
    }
    // Microsoft Graph objects.
    if has(m, "createdDateTime")
        && (has(m, "userPrincipalName") || has(m, "appId"))
        && (has(m, "status") || has(m, "ipAddress"))
    {
        return Some((Kind::SignIn, Shape::Graph));
    }
    if has(m, "activityDateTime") {
        if has(m, "activityDisplayName") {
            return Some((Kind::Audit, Shape::Graph));
        }
        if has(m, "provisioningAction") || has(m, "provisioningStatusInfo") || has(m, "provisioningSteps") {
            return Some((Kind::Provisioning, Shape::Graph));
        }
    }
    if has(m, "riskEventType") && (has(m, "detectedDateTime") || has(m, "activityDateTime")) {
        return Some((Kind::RiskEvent, Shape::Graph));
    }
    if has(m, "riskLastUpdatedDateTime") && has(m, "riskLevel") {
        return Some((Kind::RiskyUser, Shape::Graph));
    }
    // The Entra admin center's sign-in and audit downloads (CSV, human column labels).
    if has(m, "Sign-in error code") {
        return Some((Kind::SignIn, Shape::PortalCsv));
    }
    if has(m, "Date (UTC)") {
        if has(m, "Username") && has(m, "IP address") {
            return Some((Kind::SignIn, Shape::PortalCsv));
        }
        if has(m, "Activity") && (has(m, "ActorType") || has(m, "ActorUserPrincipalName") || has(m, "Service")) {
            return Some((Kind::Audit, Shape::PortalCsv));
        }
    }
    // The portal's Activity Log CSV.
    if has(m, "Operation name") && (has(m, "Event initiated by") || has(m, "Event category")) {
        return Some((Kind::Activity, Shape::PortalCsv));
    }
    // A resource-log envelope without a time field (or with `Category` capitalised): the
    // category still names the log, so its parser decides, and quarantines the record naming
    // the missing timestamp, rather than calling a sign-in an unrecognised record.
    if let Some(cat) = get_in(m, "category").and_then(Value::as_str) {
        let kind = category_kind(cat);
        if kind != Kind::GenericDiag {
            return Some((kind, Shape::Envelope));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn classifies_every_shape() {
        let cases = [
            (json!({"eventTimestamp":"x","operationName":{"value":"a"}}), Some((Kind::Activity, Shape::Rest))),
            (
                json!({"time":"x","category":"Administrative","operationName":"Microsoft.Compute/virtualMachines/write"}),
                Some((Kind::Activity, Shape::Envelope)),
            ),
            (json!({"time":"x","category":"NonInteractiveUserSignInLogs"}), Some((Kind::SignIn, Shape::Envelope))),
            (
                json!({"TimeGenerated":"x","Type":"AADNonInteractiveUserSignInLogs"}),
                Some((Kind::SignIn, Shape::LogAnalytics)),
            ),
            (
                json!({"TimeGenerated":"x","Type":"AzureDiagnostics","Category":"ApplicationGatewayFirewallLog"}),
                Some((Kind::Waf, Shape::LogAnalytics)),
            ),
            (json!({"createdDateTime":"x","userPrincipalName":"u","status":{}}), Some((Kind::SignIn, Shape::Graph))),
            (json!({"activityDateTime":"x","activityDisplayName":"Add user"}), Some((Kind::Audit, Shape::Graph))),
            (json!({"activityDateTime":"x","provisioningAction":"create"}), Some((Kind::Provisioning, Shape::Graph))),
            (
                json!({"timeStamp":"x","category":"ApplicationGatewayAccessLog"}),
                Some((Kind::AppGwAccess, Shape::Envelope)),
            ),
            (json!({"time":"x","category":"AzureFirewallNetworkRule"}), Some((Kind::Firewall, Shape::Envelope))),
            (json!({"time":"x","category":"AZFWNetworkRule"}), Some((Kind::Firewall, Shape::Envelope))),
            (json!({"time":"x","category":"SomethingNew"}), Some((Kind::GenericDiag, Shape::Envelope))),
            (json!({"Operation name":"x","Event initiated by":"y"}), Some((Kind::Activity, Shape::PortalCsv))),
            (
                json!({"name":"nsg1","type":"Microsoft.Network/networkSecurityGroups"}),
                Some((Kind::Resource, Shape::Rest)),
            ),
            (json!({"id":"/s","type":"microsoft.network/VIRTUALNETWORKS"}), Some((Kind::Resource, Shape::Rest))),
            (json!({"id":"/s","type":"Microsoft.Storage/storageAccounts"}), None),
            (json!({"type":"Microsoft.Network/networkSecurityGroups"}), None),
            (
                json!({"time":"x","category":"MicrosoftServicePrincipalSignInLogs"}),
                Some((Kind::SignIn, Shape::Envelope)),
            ),
            // No time field: classified by category, so the parser names the missing time.
            (
                json!({"Category":"ServicePrincipalSignInLogs","OperationName":"x"}),
                Some((Kind::SignIn, Shape::Envelope)),
            ),
            (json!({"category":"SomethingNew","operationName":"x"}), None),
            (json!([1, 2]), None),
            (
                json!({"CreationTime":"x","Id":"i","Operation":"UserLoggedIn","OrganizationId":"o","RecordType":15,"UserType":0,"Workload":"AzureActiveDirectory","UserId":"u"}),
                Some((Kind::M365Audit, Shape::Rest)),
            ),
            (
                json!({"RecordId":"i","CreationDate":"x","RecordType":"ExchangeAdmin","Operation":"Set-Mailbox","UserId":"u","AuditData":"{}"}),
                Some((Kind::M365Audit, Shape::PortalCsv)),
            ),
            (
                json!({"TimeGenerated":"x","Type":"OfficeActivity","OfficeWorkload":"Exchange","Operation":"x"}),
                Some((Kind::M365Audit, Shape::LogAnalytics)),
            ),
        ];
        for (v, want) in cases {
            assert_eq!(classify(&v), want, "{v}");
        }
    }

    /// The unified audit log's shapes classify as `m365_audit`, and no record of the other logs
    /// (real-shaped, with the keys they share with the UAL: `Id`/`id`, `userId`, `Category`,
    /// `OperationName`, `RecordType`-like names) is taken for one.
    #[test]
    fn m365_shapes_and_no_stealing() {
        let m365 = [
            // AuditData as the Management Activity API writes it.
            (
                json!({"CreationTime":"2024-01-15T10:30:00","Id":"5b3e","Operation":"Disable Strong Authentication.","OrganizationId":"72f9","RecordType":8,"ResultStatus":"Success","UserKey":"1003","UserType":0,"Version":1,"Workload":"AzureActiveDirectory","ClientIP":"203.0.113.42:53146","ObjectId":"megan@contoso.com","UserId":"admin@contoso.com"}),
                Shape::Rest,
            ),
            // No CreationTime: still the UAL, so the parser names the missing time.
            (
                json!({"Id":"5b3e","Operation":"FileAccessed","OrganizationId":"72f9","RecordType":6,"UserType":0,"Workload":"SharePoint","UserId":"u"}),
                Shape::Rest,
            ),
            // A SecurityComplianceAlerts record: its `Category` must not make it an Activity Log record.
            (
                json!({"CreationTime":"2024-01-15T10:30:00","Id":"a1","Operation":"AlertTriggered","OrganizationId":"72f9","RecordType":40,"ResultStatus":"Succeeded","UserKey":"SecurityComplianceCenter","UserType":4,"Version":1,"Workload":"SecurityComplianceCenter","UserId":"SecurityComplianceCenter","AlertId":"a2","Category":"Security","Name":"Suspicious inbox forwarding","Severity":"High","Status":"Active"}),
                Shape::Rest,
            ),
            // Purview CSV row, Export-Csv / ConvertTo-Json of Search-UnifiedAuditLog, Graph auditLogRecord.
            (
                json!({"RecordId":"5b3e","CreationDate":"2024-01-15T10:30:00.0000000Z","RecordType":"AzureActiveDirectory","Operation":"x","UserId":"u","AuditData":{"CreationTime":"x"}}),
                Shape::PortalCsv,
            ),
            (
                json!({"RunspaceId":"r","RecordType":"ExchangeAdmin","CreationDate":"1/15/2024 10:30:00 AM","UserIds":"u","Operations":"Set-Mailbox","AuditData":"{not json"}),
                Shape::PortalCsv,
            ),
            (
                json!({"id":"1","createdDateTime":"x","auditLogRecordType":"exchangeAdmin","operation":"Set-Mailbox","userPrincipalName":"u","auditData":{}}),
                Shape::PortalCsv,
            ),
            // OfficeActivity with and without `Type`.
            (
                json!({"TimeGenerated":"x","Type":"OfficeActivity","OfficeWorkload":"Exchange","Operation":"New-InboxRule","RecordType":"ExchangeAdmin","UserId":"u","ClientIP":"1.2.3.4","OrganizationId":"o","UserType":"Regular","UserKey":"k"}),
                Shape::LogAnalytics,
            ),
            (
                json!({"TimeGenerated [UTC]":"x","OfficeWorkload":"Exchange","Operation":"MailItemsAccessed","UserId":"u"}),
                Shape::LogAnalytics,
            ),
        ];
        for (v, shape) in m365 {
            assert_eq!(classify(&v), Some((Kind::M365Audit, shape)), "{v}");
        }
        let others = [
            (
                json!({"id":"66ea","createdDateTime":"x","userDisplayName":"M","userPrincipalName":"m@contoso.com","userId":"d2a7","appId":"de8b","ipAddress":"1.2.3.4","clientAppUsed":"Browser","correlationId":"c","status":{"errorCode":0}}),
                Some((Kind::SignIn, Shape::Graph)),
            ),
            (
                json!({"id":"Directory_1","category":"UserManagement","correlationId":"c","result":"success","activityDisplayName":"Update user","activityDateTime":"x","operationType":"Update","initiatedBy":{},"targetResources":[]}),
                Some((Kind::Audit, Shape::Graph)),
            ),
            (
                json!({"TimeGenerated":"x","Type":"AuditLogs","OperationName":"Update user","Category":"UserManagement","Id":"Directory_1","Result":"success","InitiatedBy":"{}"}),
                Some((Kind::Audit, Shape::LogAnalytics)),
            ),
            (
                json!({"TimeGenerated":"x","Type":"StorageBlobLogs","OperationName":"GetBlob","Category":"StorageRead","StatusText":"Success","CallerIpAddress":"1.2.3.4:5"}),
                Some((Kind::Storage, Shape::LogAnalytics)),
            ),
            (
                json!({"time":"x","resourceId":"/S/1","category":"AuditEvent","operationName":"SecretGet","resultType":"Success","identity":{},"id":"https://kv/secrets/a"}),
                Some((Kind::KeyVault, Shape::Envelope)),
            ),
            (
                json!({"eventTimestamp":"x","eventDataId":"e","operationName":{"value":"a"},"category":{"value":"Administrative"},"id":"/s/1","status":{"value":"Succeeded"}}),
                Some((Kind::Activity, Shape::Rest)),
            ),
            (
                json!({"TimeGenerated":"x","Type":"SigninLogs","UserPrincipalName":"u","ResultType":"0","IPAddress":"1.2.3.4","UserId":"d2a7","Id":"66ea"}),
                Some((Kind::SignIn, Shape::LogAnalytics)),
            ),
            (
                json!({"name":"nsg1","id":"/s/1","type":"Microsoft.Network/networkSecurityGroups","properties":{}}),
                Some((Kind::Resource, Shape::Rest)),
            ),
            (
                json!({"Operation name":"x","Event initiated by":"y","Time":"t"}),
                Some((Kind::Activity, Shape::PortalCsv)),
            ),
            (
                json!({"Date (UTC)":"x","Activity":"Add user","ActorType":"User","Category":"UserManagement"}),
                Some((Kind::Audit, Shape::PortalCsv)),
            ),
            // UAL-like but too thin to be one: an `Operation` and a `Workload` alone.
            (json!({"Operation":"x","Workload":"y"}), None),
            // `AuditData` alone, without any column of the UAL exports.
            (json!({"AuditData":"{}"}), None),
        ];
        for (v, want) in others {
            assert_eq!(classify(&v), want, "{v}");
        }
    }
}
