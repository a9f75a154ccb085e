//! Shape generator: positive and near-miss events for a Sigma rule, in every export shape of
//! the rule's log family, built WITHOUT the engine (no `azir_detect` item is used here).
//!
//! Pipeline, per rule and log family:
//!
//! 1. **Rule** ([`Rule::parse`]): the YAML is read with `yaml_rust2` (already a dependency of
//!    the crate) into searches (maps of field tests, or keywords) and a condition tree, with a
//!    parser of our own (`and`, `or`, `not`, parentheses, `1 of`/`all of` a pattern or `them`).
//! 2. **Concepts** ([`Rule::compile`]): each rule field name is mapped to a *concept* of the log
//!    family (the sign-in error code, the audit activity name, the ARM operation, ...), by the
//!    generator's own dictionary written from `azure-formats.md`. Some names are no export's
//!    field and are mapped by meaning (`ActivityType` is the audit activity name); a name that
//!    no export carries in any form is "not in this shape" with the reason; an unknown name is an
//!    error, so a new rule forces a decision here.
//! 3. **Plan** ([`Compiled::plan`]): a truth assignment of the searches satisfying the condition
//!    (fewest true searches first: selections true, filters false), one value per concept that
//!    satisfies every chosen test (equals, contains, startswith, endswith, `all`, wildcards,
//!    simple `re`, `cidr`, `null`), neutral values for concepts only false searches use, then
//!    checked with our own evaluator of Sigma semantics on the logical record. Near misses: each
//!    concept of a true search changed to the closest value that makes the condition false, and
//!    each false search (filter) made true where that makes the condition false.
//! 4. **Shapes** ([`Shapes::render`]): the logical record is written into a canonical object
//!    (ARM REST `eventData` for the Activity Log; the Graph object for Entra logs) that starts
//!    from an Elastic sample record (real-shaped, with realistic unrelated fields), and the
//!    canonical object is converted to the other shapes with the mappings of `azure-formats.md`:
//!    Log Analytics columns (dynamic columns as JSON text), the diagnostic-setting / Event Hub
//!    envelope (`time`, `operationName`, `resultType`, `category`, `properties`, ...), REST/Graph.

use regex::Regex;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::Path;
use yaml_rust2::{Yaml, YamlLoader};

// ------------------------------------------------------------------------------------------
// Rules
// ------------------------------------------------------------------------------------------

/// How a field test compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Contains,
    Starts,
    Ends,
    Re,
    Cidr,
}

/// One `field|modifiers: values` entry of a search map.
#[derive(Debug, Clone)]
pub struct Test {
    /// The key as written, modifiers included.
    pub key: String,
    /// The field name.
    pub field: String,
    op: Op,
    all: bool,
    cased: bool,
    /// The values as text (`None` for `null`).
    values: Vec<Option<String>>,
    /// The value as JSON (re-emitted in probe rules).
    json: Value,
}

#[derive(Debug, Clone)]
enum Body {
    Maps(Vec<Vec<Test>>),
    Keywords(Vec<String>),
}

#[derive(Debug, Clone)]
struct Search {
    name: String,
    body: Body,
}

/// A condition over the searches (by index).
#[derive(Debug, Clone)]
enum Cond {
    Ref(usize),
    Not(Box<Cond>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Of { all: bool, of: Vec<usize> },
}

/// A SigmaHQ rule as the generator reads it.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    /// `logsource.service`.
    pub service: String,
    searches: Vec<Search>,
    cond: Cond,
    case_sensitive: bool,
}

fn text_of(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn json_of(y: &Yaml) -> Value {
    match y {
        Yaml::Integer(i) => json!(i),
        Yaml::Boolean(b) => json!(b),
        Yaml::Null => Value::Null,
        Yaml::Array(a) => Value::Array(a.iter().map(json_of).collect()),
        other => json!(text_of(other)),
    }
}

fn get<'a>(h: &'a yaml_rust2::yaml::Hash, k: &str) -> Option<&'a Yaml> {
    h.get(&Yaml::String(k.to_string()))
}

impl Rule {
    /// Reads one rule file.
    pub fn parse(text: &str) -> Result<Rule, String> {
        let docs = YamlLoader::load_from_str(text).map_err(|e| e.to_string())?;
        let Some(Yaml::Hash(h)) = docs.first() else { return Err("not a mapping".into()) };
        let id = get(h, "id").and_then(text_of).ok_or("no id")?;
        let Some(Yaml::Hash(ls)) = get(h, "logsource") else { return Err("no logsource".into()) };
        if get(ls, "product").and_then(text_of).as_deref() != Some("azure") {
            return Err("not an azure rule".into());
        }
        let service = get(ls, "service").and_then(text_of).ok_or("no service")?;
        let Some(Yaml::Hash(det)) = get(h, "detection") else { return Err("no detection".into()) };
        let mut searches = Vec::new();
        let mut conds = Vec::new();
        for (k, v) in det {
            let k = text_of(k).ok_or("bad detection key")?;
            match k.as_str() {
                "condition" => match v {
                    Yaml::Array(a) => conds.extend(a.iter().filter_map(text_of)),
                    other => conds.push(text_of(other).ok_or("bad condition")?),
                },
                "timeframe" => return Err("timeframe".into()),
                _ => searches.push(Search { name: k.clone(), body: body(v).map_err(|e| format!("{k}: {e}"))? }),
            }
        }
        let names: Vec<&str> = searches.iter().map(|s| s.name.as_str()).collect();
        let mut parsed = Vec::new();
        for c in &conds {
            parsed.push(parse_cond(c, &names)?);
        }
        let cond = if parsed.len() == 1 { parsed.remove(0) } else { Cond::Or(parsed) };
        let case_sensitive = searches.iter().any(|s| match &s.body {
            Body::Maps(ms) => ms.iter().flatten().any(|t| t.cased || t.op == Op::Re),
            Body::Keywords(_) => false,
        });
        Ok(Rule { id, service, searches, cond, case_sensitive })
    }

    /// The log families (and so the export shapes) the rule's logsource can arrive in.
    pub fn families(&self) -> Result<Vec<Family>, String> {
        Ok(match self.service.to_ascii_lowercase().as_str() {
            "activitylogs" => vec![Family::Activity],
            "signinlogs" => vec![Family::SignIn],
            "auditlogs" => vec![Family::Audit],
            "riskdetection" => vec![Family::Risk],
            // PIM writes its actions to the audit log; its alerts are risk-style records.
            "pim" => vec![Family::Audit, Family::Risk],
            other => return Err(format!("service `{other}` has no shape family in the generator")),
        })
    }
}

fn body(v: &Yaml) -> Result<Body, String> {
    match v {
        Yaml::Hash(m) => Ok(Body::Maps(vec![map(m)?])),
        Yaml::Array(a) if !a.is_empty() && a.iter().all(|x| matches!(x, Yaml::Hash(_))) => {
            let mut maps = Vec::new();
            for x in a {
                if let Yaml::Hash(m) = x {
                    maps.push(map(m)?);
                }
            }
            Ok(Body::Maps(maps))
        }
        Yaml::Array(a) => {
            Ok(Body::Keywords(a.iter().map(|x| text_of(x).ok_or("bad keyword")).collect::<Result<_, _>>()?))
        }
        other => Ok(Body::Keywords(vec![text_of(other).ok_or("bad search")?])),
    }
}

fn map(m: &yaml_rust2::yaml::Hash) -> Result<Vec<Test>, String> {
    let mut out = Vec::new();
    for (k, v) in m {
        let key = text_of(k).ok_or("bad field")?;
        let mut parts = key.split('|');
        let field = parts.next().unwrap_or_default().to_string();
        let (mut op, mut all, mut cased) = (Op::Eq, false, false);
        for m in parts {
            match m {
                "contains" => op = Op::Contains,
                "startswith" => op = Op::Starts,
                "endswith" => op = Op::Ends,
                "re" => op = Op::Re,
                "cidr" => op = Op::Cidr,
                "all" => all = true,
                "cased" => cased = true,
                other => return Err(format!("modifier `{other}` is not supported by the generator")),
            }
        }
        let values: Vec<Option<String>> = match v {
            Yaml::Array(a) => a.iter().map(text_of).collect(),
            other => vec![text_of(other)],
        };
        out.push(Test { key, field, op, all, cased, values, json: json_of(v) });
    }
    Ok(out)
}

fn glob_names(pat: &str, names: &[&str]) -> Vec<usize> {
    let p = parse_glob(pat);
    names.iter().enumerate().filter(|(_, n)| glob_match(&p, n, true)).map(|(i, _)| i).collect()
}

fn parse_cond(text: &str, names: &[&str]) -> Result<Cond, String> {
    let spaced = text.replace('(', " ( ").replace(')', " ) ");
    let toks: Vec<&str> = spaced.split_whitespace().collect();
    let mut pos = 0;
    let c = cond_or(&toks, &mut pos, names)?;
    if pos != toks.len() {
        return Err(format!("trailing tokens in condition {text:?}"));
    }
    Ok(c)
}

fn cond_or(t: &[&str], p: &mut usize, names: &[&str]) -> Result<Cond, String> {
    let mut v = vec![cond_and(t, p, names)?];
    while t.get(*p) == Some(&"or") {
        *p += 1;
        v.push(cond_and(t, p, names)?);
    }
    Ok(if v.len() == 1 { v.remove(0) } else { Cond::Or(v) })
}

fn cond_and(t: &[&str], p: &mut usize, names: &[&str]) -> Result<Cond, String> {
    let mut v = vec![cond_not(t, p, names)?];
    while t.get(*p) == Some(&"and") {
        *p += 1;
        v.push(cond_not(t, p, names)?);
    }
    Ok(if v.len() == 1 { v.remove(0) } else { Cond::And(v) })
}

fn cond_not(t: &[&str], p: &mut usize, names: &[&str]) -> Result<Cond, String> {
    match t.get(*p) {
        Some(&"not") => {
            *p += 1;
            Ok(Cond::Not(Box::new(cond_not(t, p, names)?)))
        }
        Some(&"(") => {
            *p += 1;
            let c = cond_or(t, p, names)?;
            if t.get(*p) != Some(&")") {
                return Err("unbalanced parentheses".into());
            }
            *p += 1;
            Ok(c)
        }
        Some(&q) if (q == "1" || q == "all" || q == "any") && t.get(*p + 1) == Some(&"of") => {
            let pat = t.get(*p + 2).ok_or("`of` without a pattern")?;
            *p += 3;
            let of = if *pat == "them" { (0..names.len()).collect() } else { glob_names(pat, names) };
            if of.is_empty() {
                return Err(format!("`{pat}` names no search"));
            }
            Ok(Cond::Of { all: q == "all", of })
        }
        Some(name) => {
            *p += 1;
            let i = names.iter().position(|n| n == name).ok_or_else(|| format!("unknown search `{name}`"))?;
            Ok(Cond::Ref(i))
        }
        None => Err("condition ends early".into()),
    }
}

fn eval_cond(c: &Cond, truth: &[bool]) -> bool {
    match c {
        Cond::Ref(i) => truth[*i],
        Cond::Not(x) => !eval_cond(x, truth),
        Cond::And(v) => v.iter().all(|x| eval_cond(x, truth)),
        Cond::Or(v) => v.iter().any(|x| eval_cond(x, truth)),
        Cond::Of { all: true, of } => of.iter().all(|&i| truth[i]),
        Cond::Of { all: false, of } => of.iter().any(|&i| truth[i]),
    }
}

// ------------------------------------------------------------------------------------------
// Sigma value semantics on the logical record (our own, strict Sigma)
// ------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Lit(char),
    Any,
    One,
}

/// A Sigma string value: `*` and `?` are wildcards, `\*`, `\?`, `\\` escape them.
fn parse_glob(p: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut it = p.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\\' if matches!(it.peek(), Some('*' | '?' | '\\')) => out.push(Tok::Lit(it.next().unwrap())),
            '*' => out.push(Tok::Any),
            '?' => out.push(Tok::One),
            c => out.push(Tok::Lit(c)),
        }
    }
    out
}

fn glob_match(p: &[Tok], s: &str, cased: bool) -> bool {
    let s: Vec<char> = if cased { s.chars().collect() } else { s.to_lowercase().chars().collect() };
    let p: Vec<Tok> = p
        .iter()
        .map(|t| match t {
            Tok::Lit(c) if !cased => Tok::Lit(c.to_lowercase().next().unwrap_or(*c)),
            t => t.clone(),
        })
        .collect();
    // Classic two-pointer wildcard match with backtracking to the last `*`.
    let (mut i, mut j, mut star, mut mark) = (0usize, 0usize, None::<usize>, 0usize);
    while i < s.len() {
        match p.get(j) {
            Some(Tok::Lit(c)) if *c == s[i] => {
                i += 1;
                j += 1;
            }
            Some(Tok::One) => {
                i += 1;
                j += 1;
            }
            Some(Tok::Any) => {
                star = Some(j);
                mark = i;
                j += 1;
            }
            _ => match star {
                Some(st) => {
                    j = st + 1;
                    mark += 1;
                    i = mark;
                }
                None => return false,
            },
        }
    }
    p[j..].iter().all(|t| *t == Tok::Any)
}

/// The literal text a glob stands for at its simplest (`*` empty, `?` one `x`).
fn glob_literal(p: &str) -> String {
    parse_glob(p)
        .into_iter()
        .filter_map(|t| match t {
            Tok::Lit(c) => Some(c),
            Tok::One => Some('x'),
            Tok::Any => None,
        })
        .collect()
}

fn cidr_parts(net: &str) -> Option<(IpAddr, u32)> {
    let (a, n) = net.split_once('/')?;
    Some((a.parse().ok()?, n.parse().ok()?))
}

fn to_bits(a: IpAddr) -> (u128, u32) {
    match a {
        IpAddr::V4(v) => (u128::from(u32::from(v)), 32),
        IpAddr::V6(v) => (u128::from(v), 128),
    }
}

fn cidr_contains(net: &str, ip: &str) -> bool {
    let (Some((n, len)), Ok(ip)) = (cidr_parts(net), ip.trim().parse::<IpAddr>()) else { return false };
    let ((nb, w), (ib, w2)) = (to_bits(n), to_bits(ip));
    if w != w2 || len > w {
        return false;
    }
    let shift = w - len;
    shift == w || (nb >> shift) == (ib >> shift)
}

fn cidr_host(net: &str) -> Option<String> {
    let (n, len) = cidr_parts(net)?;
    let (bits, w) = to_bits(n);
    let mask = if len == 0 { 0 } else { (!0u128 >> (128 - w)) & !((1u128 << (w - len)) - 1) };
    let host = (bits & mask) | u128::from(len < w);
    Some(match n {
        IpAddr::V4(_) => std::net::Ipv4Addr::from(host as u32).to_string(),
        IpAddr::V6(_) => std::net::Ipv6Addr::from(host).to_string(),
    })
}

/// The literal a simple regex matches (anchors and escaped punctuation only), else `None`:
/// such a rule needs a hand-written value.
fn regex_literal(re: &str) -> Option<String> {
    let body = re.strip_prefix('^').unwrap_or(re);
    let body = body.strip_suffix('$').filter(|b| !b.ends_with('\\')).unwrap_or(body);
    let mut out = String::new();
    let mut it = body.chars();
    while let Some(c) = it.next() {
        match c {
            '\\' => match it.next() {
                Some(e) if e.is_ascii_punctuation() => out.push(e),
                _ => return None,
            },
            '.' | '*' | '+' | '?' | '(' | ')' | '[' | ']' | '{' | '}' | '|' | '^' | '$' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

fn value_matches(op: Op, cased: bool, pat: &Option<String>, v: &Option<String>) -> bool {
    let (Some(p), Some(v)) = (pat, v) else { return pat.is_none() && v.is_none() };
    match op {
        Op::Re => Regex::new(p).is_ok_and(|r| r.is_match(v)),
        Op::Cidr => cidr_contains(p, v),
        _ => {
            let mut g = parse_glob(p);
            if matches!(op, Op::Contains | Op::Ends) {
                g.insert(0, Tok::Any);
            }
            if matches!(op, Op::Contains | Op::Starts) {
                g.push(Tok::Any);
            }
            glob_match(&g, v, cased)
        }
    }
}

// ------------------------------------------------------------------------------------------
// Families, shapes and concepts
// ------------------------------------------------------------------------------------------

/// A log family: one logical record, three export shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// Azure Activity Log.
    Activity,
    /// Entra sign-ins.
    SignIn,
    /// Entra audit (and PIM actions).
    Audit,
    /// Identity Protection risk detections (and PIM alerts).
    Risk,
}

/// An export shape of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Shape {
    /// Log Analytics table row.
    La,
    /// ARM REST `eventData` / Graph resource.
    Api,
    /// Diagnostic setting (storage JSON Lines, Event Hub `records`).
    Diag,
}

impl Family {
    /// The azir event `source` of this family.
    pub fn source(self) -> &'static str {
        match self {
            Family::Activity => "activity",
            Family::SignIn => "signin",
            Family::Audit => "audit",
            Family::Risk => "identity_protection",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Family::Activity => "activity",
            Family::SignIn => "signin",
            Family::Audit => "audit",
            Family::Risk => "risk",
        }
    }

    pub fn shapes(self) -> [Shape; 3] {
        [Shape::La, Shape::Api, Shape::Diag]
    }

    /// `signin.la`, `activity.api`, ...
    pub fn shape_id(self, s: Shape) -> String {
        let s = match s {
            Shape::La => "la",
            Shape::Api => "api",
            Shape::Diag => "diag",
        };
        format!("{}.{s}", self.name())
    }
}

/// One piece of meaning a rule can test, independent of where a shape stores it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Concept {
    // Activity Log. `ResourceId` sorts before `Provider`: the provider is written into it.
    Op,
    ActCategory,
    ResourceId,
    Provider,
    ActProp(String),
    // Sign-ins.
    ErrorCode,
    FailureReason,
    StatusDetail,
    UserAgent,
    ResourceDisplayName,
    CaStatus,
    AuthRequirement,
    RiskState,
    DeviceTrustType,
    DeviceCompliant,
    DeviceId,
    NetworkLocations,
    ClientApp,
    Upn,
    IpAddress,
    // Audit.
    Activity,
    AuditCategory,
    AuditResult,
    ResultReason,
    LoggedBy,
    InitiatorUpn,
    TargetName,
    TargetType,
    TargetUpn,
    TargetAny,
    ModPropName,
    ModPropNewValue,
    ModPropAny,
    ModPropNamed(String),
    AdditionalDetail(String),
    // Risk detections.
    RiskEventType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    Int,
    Bool,
    /// A dynamic column as LA shows it (`[]`); Graph and diagnostic carry the parsed JSON.
    JsonText,
}

fn kind(c: &Concept) -> Kind {
    match c {
        Concept::ErrorCode => Kind::Int,
        Concept::DeviceCompliant => Kind::Bool,
        Concept::NetworkLocations => Kind::JsonText,
        _ => Kind::Str,
    }
}

/// Why a rule field has no place in a family's shapes.
#[derive(Debug, Clone)]
pub struct NotInShape {
    pub field: String,
    pub reason: String,
}

enum Unmapped {
    Nowhere(&'static str),
    Unknown,
}

fn is_word(t: &Test, words: &[&str]) -> bool {
    t.op == Op::Eq
        && t.values.iter().all(|v| v.as_deref().is_some_and(|v| words.iter().any(|w| w.eq_ignore_ascii_case(v))))
}

/// The generator's dictionary: rule field name to concept, per family (from azure-formats.md).
fn concept_of(f: Family, t: &Test) -> Result<Concept, Unmapped> {
    use Concept::*;
    let name = t.field.to_ascii_lowercase();
    let c = match (f, name.as_str()) {
        // §1: OperationNameValue (LA) = operationName.value (REST) = operationName (diag).
        (Family::Activity, "operationname" | "operationnamevalue") => Op,
        (Family::Activity, "categoryvalue" | "category") => ActCategory,
        (Family::Activity, "resourceprovidervalue" | "resourceprovider") => Provider,
        (Family::Activity, "resourceid") => ResourceId,
        // `properties` is the free string map of all three shapes (LA `Properties` as text).
        (Family::Activity, n) if n.starts_with("properties.") => ActProp(t.field["properties.".len()..].to_string()),

        (Family::SignIn, "resulttype" | "errorcode" | "status.errorcode") => ErrorCode,
        (Family::SignIn, "resultdescription" | "status.failurereason") => FailureReason,
        // `Status: Success` is the outcome word of the portal; exports say errorCode 0. Any other
        // text is the free text of the status object (`additionalDetails`, "MFA denied; ...").
        (Family::SignIn, "status") if is_word(t, &["success"]) => ErrorCode,
        (Family::SignIn, "status" | "status.additionaldetails") => StatusDetail,
        (Family::SignIn, "useragent") => UserAgent,
        (Family::SignIn, "resourcedisplayname") => ResourceDisplayName,
        (Family::SignIn, "conditionalaccessstatus") => CaStatus,
        (Family::SignIn, "authenticationrequirement") => AuthRequirement,
        (Family::SignIn, "riskstate") => RiskState,
        (Family::SignIn, "devicedetail.trusttype") => DeviceTrustType,
        (Family::SignIn, "devicedetail.iscompliant") => DeviceCompliant,
        (Family::SignIn, "devicedetail.deviceid") => DeviceId,
        (Family::SignIn, "networklocationdetails") => NetworkLocations,
        // By meaning: the portal's "Client app" / "Username" columns.
        (Family::SignIn, "clientappused" | "clientapp") => ClientApp,
        (Family::SignIn, "userprincipalname" | "username") => Upn,
        // Graph `ipAddress`, LA `IPAddress`, diagnostic `callerIpAddress` and `properties.ipAddress`.
        (Family::SignIn, "ipaddress" | "calleripaddress") => IpAddress,
        (Family::SignIn, "activitydetails") => {
            return Err(Unmapped::Nowhere(
                "no sign-in export has an `ActivityDetails` field (diagnostic `operationName` is \
                 'Sign-in activity', not 'Sign-ins')",
            ))
        }
        (Family::SignIn, "properties.message") => {
            return Err(Unmapped::Nowhere(
                "sign-in exports carry no message; the protocol is `authenticationProtocol` \
                 (`deviceCode`, `ropc`), never the text 'Device Code'/'ROPC'",
            ))
        }

        // `properties.message` held the activity name in the audit export Sigma rules target;
        // `ActivityType`/`activityType` is no export's field: the activity name by meaning.
        (Family::Audit, "properties.message" | "operationname" | "activitydisplayname" | "activitytype") => Activity,
        (Family::Audit, "category") => AuditCategory,
        (Family::Audit, "result" | "properties.result") => AuditResult,
        (Family::Audit, "status") if is_word(t, &["success", "failure", "timeout"]) => AuditResult,
        // Any other `Status` text is the reason (TAP: "Admin registered temporary access pass
        // method for user" is the `resultReason` of "Admin registered security info").
        (Family::Audit, "status" | "resultreason" | "failure_status_reason") => ResultReason,
        (Family::Audit, "loggedbyservice") => LoggedBy,
        (Family::Audit, "initiatedby" | "initiatedby.user.userprincipalname") => InitiatorUpn,
        (Family::Audit, "targetresources" | "properties.targetresources") => TargetAny,
        (Family::Audit, "targetresources.displayname") => TargetName,
        (Family::Audit, "targetresources.type") => TargetType,
        (Family::Audit, "targetresources.userprincipalname" | "target") => TargetUpn,
        (Family::Audit, "targetresources.modifiedproperties") => ModPropAny,
        (Family::Audit, "targetresources.modifiedproperties.displayname") => ModPropName,
        (Family::Audit, "targetresources.modifiedproperties.newvalue") => ModPropNewValue,
        // A modified property named by its displayName (consent: `ConsentContext.IsAdminConsent`).
        (Family::Audit, n) if n.starts_with("consentcontext.") => ModPropNamed(t.field.clone()),
        // `additionalDetails` is a list of {key, value}; the rule names the key.
        (Family::Audit, n) if n.starts_with("additionaldetails.") => {
            AdditionalDetail(t.field["additionalDetails.".len()..].to_string())
        }
        (Family::Audit, "riskeventtype") => {
            return Err(Unmapped::Nowhere(
                "directoryAudit / AuditLogs records carry no `riskEventType` (PIM alerts are not audit records)",
            ))
        }

        (Family::Risk, "riskeventtype") => RiskEventType,

        // Entra diagnostic settings wrap the Graph object in `properties`.
        (Family::SignIn | Family::Audit | Family::Risk, n) if n.starts_with("properties.") => {
            let inner = Test { field: t.field["properties.".len()..].to_string(), ..t.clone() };
            return concept_of(f, &inner);
        }
        _ => return Err(Unmapped::Unknown),
    };
    Ok(c)
}

// ------------------------------------------------------------------------------------------
// Compiled rules, the evaluator and the planner
// ------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct CTest {
    field: String,
    concept: Concept,
    op: Op,
    all: bool,
    cased: bool,
    values: Vec<Option<String>>,
}

#[derive(Debug, Clone)]
enum CBody {
    Maps(Vec<Vec<CTest>>),
    Keywords(Vec<String>, Concept),
}

/// The logical record: one value per concept (`None`: absent). Concepts not in the map keep the
/// sample record's value.
pub type Record = BTreeMap<Concept, Option<String>>;

/// A rule bound to one family.
pub struct Compiled {
    searches: Vec<(String, CBody)>,
    cond: Cond,
}

/// How [`Compiled::plan`] says a rule needs a value written by hand.
pub const HAND_WRITTEN: &str = "needs a hand-written value";

/// Where a single field test sits: search, and map/test (none for keywords).
pub type Loc = (usize, Option<(usize, usize)>);

/// Events to generate for a rule in one family.
pub struct Plan {
    pub positive: Record,
    /// (what was changed, record).
    pub negatives: Vec<(String, Record)>,
}

impl Rule {
    /// Binds the rule's fields to the family's concepts.
    pub fn compile(&self, f: Family) -> Result<Result<Compiled, NotInShape>, String> {
        let mut searches = Vec::new();
        for s in &self.searches {
            let b = match &s.body {
                Body::Keywords(k) => {
                    // Keywords are free text; in the Activity Log those SigmaHQ uses are ARM
                    // operations. Anything else needs a decision here.
                    if f == Family::Activity && k.iter().all(|k| k.contains('/')) {
                        CBody::Keywords(k.clone(), Concept::Op)
                    } else {
                        return Err(format!("keywords {k:?} have no place in {f:?} records"));
                    }
                }
                Body::Maps(ms) => {
                    let mut maps = Vec::new();
                    for m in ms {
                        let mut tests = Vec::new();
                        for t in m {
                            let concept = match concept_of(f, t) {
                                Ok(c) => c,
                                Err(Unmapped::Nowhere(why)) => {
                                    return Ok(Err(NotInShape { field: t.field.clone(), reason: why.into() }))
                                }
                                Err(Unmapped::Unknown) => {
                                    return Err(format!(
                                        "the generator has no mapping for field `{}` in {f:?} records: add one \
                                         (from azure-formats.md) to `concept_of`",
                                        t.field
                                    ))
                                }
                            };
                            let values = if concept == Concept::ErrorCode && is_word(t, &["success"]) {
                                vec![Some("0".to_string())]
                            } else {
                                t.values.clone()
                            };
                            tests.push(CTest {
                                field: t.field.clone(),
                                concept,
                                op: t.op,
                                all: t.all,
                                cased: t.cased,
                                values,
                            });
                        }
                        maps.push(tests);
                    }
                    CBody::Maps(maps)
                }
            };
            searches.push((s.name.clone(), b));
        }
        Ok(Ok(Compiled { searches, cond: self.cond.clone() }))
    }

    /// One probe per field test (and per keyword search): a one-test rule with the rule's
    /// logsource, to tell which test the engine disagrees on. (`id`, label, rule text as JSON,
    /// which YAML reads.)
    pub fn probes(&self, file: &str) -> Vec<(Loc, String, String, String)> {
        let mut out = Vec::new();
        let wrap = |id: &str, sel: Value| {
            json!({
                "title": format!("probe {id}"),
                "id": id,
                "logsource": { "product": "azure", "service": self.service },
                "detection": { "probe": sel, "condition": "probe" },
            })
            .to_string()
        };
        for (si, s) in self.searches.iter().enumerate() {
            match &s.body {
                Body::Keywords(k) => {
                    let id = format!("{file}#{si}");
                    out.push(((si, None), id.clone(), "<keywords>".to_string(), wrap(&id, json!(k))));
                }
                Body::Maps(ms) => {
                    for (mi, m) in ms.iter().enumerate() {
                        for (ti, t) in m.iter().enumerate() {
                            let id = format!("{file}#{si}.{mi}.{ti}");
                            let mut sel = Map::new();
                            sel.insert(t.key.clone(), t.json.clone());
                            out.push((
                                (si, Some((mi, ti))),
                                id.clone(),
                                t.field.clone(),
                                wrap(&id, Value::Object(sel)),
                            ));
                        }
                    }
                }
            }
        }
        out
    }

    /// Whether the rule tests with `cased`/`re` (then shapes keep the values' case).
    pub fn case_sensitive(&self) -> bool {
        self.case_sensitive
    }
}

fn test_true(t: &CTest, rec: &Record) -> bool {
    let v = rec.get(&t.concept).cloned().flatten();
    let one = |p: &Option<String>| value_matches(t.op, t.cased, p, &v);
    if t.all {
        t.values.iter().all(one)
    } else {
        t.values.iter().any(one)
    }
}

fn keyword_true(k: &[String], rec: &Record) -> bool {
    k.iter()
        .any(|k| rec.values().flatten().any(|v| value_matches(Op::Contains, false, &Some(k.clone()), &Some(v.clone()))))
}

/// One constraint on a concept: a test with one chosen value.
#[derive(Debug, Clone)]
struct Constraint {
    op: Op,
    cased: bool,
    value: Option<String>,
}

fn wrap_contains(c: &Concept, mid: &str) -> String {
    match c {
        Concept::ResourceId => format!(
            "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-azir/providers/Microsoft.Azir/\
             services/{mid}"
        ),
        _ => format!("Azir {mid} Azir"),
    }
}

/// One value satisfying every constraint on `c`, or `None` when they conflict.
fn synth(c: &Concept, cons: &[Constraint]) -> Option<Option<String>> {
    let by = |op: Op| cons.iter().filter(move |k| k.op == op).filter_map(|k| k.value.as_deref());
    let candidate: Option<String> = if cons.iter().any(|k| k.value.is_none()) {
        None
    } else if let Some(e) = by(Op::Eq).next() {
        Some(glob_literal(e))
    } else if let Some(n) = by(Op::Cidr).next() {
        Some(cidr_host(n)?)
    } else if let Some(r) = by(Op::Re).next() {
        Some(regex_literal(r)?)
    } else {
        let prefix = by(Op::Starts).map(glob_literal).max_by_key(|s| s.len()).unwrap_or_default();
        let suffix = by(Op::Ends).map(glob_literal).max_by_key(|s| s.len()).unwrap_or_default();
        let mids: Vec<String> = by(Op::Contains).map(glob_literal).collect();
        Some(if mids.is_empty() {
            let joint = if prefix.ends_with('/') && suffix.starts_with('/') { "azir" } else { "" };
            format!("{prefix}{joint}{suffix}")
        } else if prefix.is_empty() && suffix.is_empty() {
            wrap_contains(c, &mids.join(" "))
        } else {
            format!("{prefix}{}{suffix}", mids.join(" "))
        })
    };
    cons.iter().all(|k| value_matches(k.op, k.cased, &k.value, &candidate)).then_some(candidate)
}

fn neutral(c: &Concept) -> Vec<Option<String>> {
    match kind(c) {
        Kind::Str => vec![Some("AzirNeutral".into()), None],
        Kind::Int => vec![Some("50140".into()), Some("0".into())],
        Kind::Bool => vec![Some("true".into()), Some("false".into())],
        Kind::JsonText => {
            vec![Some(r#"[{"networkType":"namedNetwork","networkNames":["HQ"]}]"#.into()), Some("[]".into())]
        }
    }
}

/// Values close to `v` to try when the near miss must change it.
fn misses(c: &Concept, v: &Option<String>) -> Vec<Option<String>> {
    let mut out: Vec<Option<String>> = Vec::new();
    match (kind(c), v) {
        (Kind::Int, _) => out.extend(["0", "50126", "1"].map(|s| Some(s.to_string()))),
        (Kind::Bool, Some(b)) => out.push(Some(if b.eq_ignore_ascii_case("true") { "false" } else { "true" }.into())),
        (Kind::JsonText, _) => out.extend(neutral(c)),
        (_, Some(v)) => {
            if let Some((head, _)) = v.rsplit_once('/') {
                out.push(Some(format!("{head}/read")));
            }
            out.push(Some(format!("{v}Azir")));
            out.push(Some(format!("Azir{v}")));
        }
        _ => {}
    }
    out.push(Some("AzirMiss".into()));
    out.retain(|m| m != v);
    out
}

impl Compiled {
    fn truths(&self, rec: &Record) -> Vec<bool> {
        self.searches
            .iter()
            .map(|(_, b)| match b {
                CBody::Maps(ms) => ms.iter().any(|m| m.iter().all(|t| test_true(t, rec))),
                CBody::Keywords(k, _) => keyword_true(k, rec),
            })
            .collect()
    }

    /// Our own verdict on a logical record.
    pub fn matches(&self, rec: &Record) -> bool {
        eval_cond(&self.cond, &self.truths(rec))
    }

    /// Our own verdict on one field test (see [`Rule::probes`]).
    pub fn probe_true(&self, loc: Loc, rec: &Record) -> bool {
        match (&self.searches[loc.0].1, loc.1) {
            (CBody::Maps(ms), Some((m, t))) => test_true(&ms[m][t], rec),
            (CBody::Keywords(k, _), None) => keyword_true(k, rec),
            _ => unreachable!("probe location"),
        }
    }

    fn concepts(&self, s: usize) -> BTreeSet<Concept> {
        match &self.searches[s].1 {
            CBody::Maps(ms) => ms.iter().flatten().map(|t| t.concept.clone()).collect(),
            CBody::Keywords(_, c) => [c.clone()].into(),
        }
    }

    /// Adds constraints making search `s` true (first satisfiable map and values). Returns the
    /// concepts it constrained, or the field that could not be satisfied.
    fn constrain(
        &self,
        s: usize,
        cons: &mut BTreeMap<Concept, Vec<Constraint>>,
    ) -> Result<Vec<Concept>, (String, String)> {
        let ok = |cons: &BTreeMap<Concept, Vec<Constraint>>, c: &Concept| synth(c, &cons[c]).is_some();
        match &self.searches[s].1 {
            CBody::Keywords(k, c) => {
                for kw in k {
                    let mut t = cons.clone();
                    t.entry(c.clone()).or_default().push(Constraint {
                        op: Op::Eq,
                        cased: false,
                        value: Some(kw.clone()),
                    });
                    if ok(&t, c) {
                        *cons = t;
                        return Ok(vec![c.clone()]);
                    }
                }
                Err(("<keywords>".into(), "the keywords conflict with other values".into()))
            }
            CBody::Maps(ms) => {
                let mut failed = (String::new(), String::new());
                'maps: for m in ms {
                    let mut t = cons.clone();
                    for test in m {
                        let picks: Vec<Vec<Option<String>>> = if test.all {
                            vec![test.values.clone()]
                        } else {
                            test.values.iter().map(|v| vec![v.clone()]).collect()
                        };
                        let mut done = false;
                        for pick in picks {
                            let mut u = t.clone();
                            let e = u.entry(test.concept.clone()).or_default();
                            e.extend(pick.into_iter().map(|value| Constraint {
                                op: test.op,
                                cased: test.cased,
                                value,
                            }));
                            if ok(&u, &test.concept) {
                                t = u;
                                done = true;
                                break;
                            }
                        }
                        if !done {
                            let hand =
                                test.op == Op::Re && test.values.iter().flatten().any(|r| regex_literal(r).is_none());
                            let why = if hand {
                                format!("{HAND_WRITTEN} (regex in `{}` too complex for the generator)", test.field)
                            } else {
                                format!(
                                    "the values `{}` must have conflict (search `{}`)",
                                    test.field, self.searches[s].0
                                )
                            };
                            failed = (test.field.clone(), why);
                            continue 'maps;
                        }
                    }
                    *cons = t;
                    return Ok(m.iter().map(|t| t.concept.clone()).collect());
                }
                Err(failed)
            }
        }
    }

    /// A positive record and its near misses, or (field, why) no event can satisfy the rule.
    pub fn plan(&self) -> Result<Plan, (String, String)> {
        let n = self.searches.len();
        let mut masks: Vec<u32> = (0..1u32 << n).collect();
        masks.sort_by_key(|m| (m.count_ones(), *m));
        let referenced: BTreeSet<Concept> = (0..n).flat_map(|s| self.concepts(s)).collect();
        let mut why = ("<condition>".to_string(), "no truth assignment satisfies the condition".to_string());
        for mask in masks {
            let truth: Vec<bool> = (0..n).map(|i| mask & (1 << i) != 0).collect();
            if !eval_cond(&self.cond, &truth) {
                continue;
            }
            let mut cons = BTreeMap::new();
            let mut used = Vec::new();
            let mut ok = true;
            for s in (0..n).filter(|&s| truth[s]) {
                match self.constrain(s, &mut cons) {
                    Ok(cs) => used.push(cs),
                    Err(f) => {
                        why = f;
                        ok = false;
                        break;
                    }
                }
            }
            if !ok {
                continue;
            }
            let mut base = Record::new();
            for (c, k) in &cons {
                base.insert(c.clone(), synth(c, k).expect("checked in constrain"));
            }
            let free: Vec<Concept> = referenced.iter().filter(|c| !cons.contains_key(*c)).cloned().collect();
            let Some(positive) = self.fill(&base, &free) else { continue };
            let negatives = self.near_misses(&positive, &cons, &used);
            if negatives.is_empty() {
                return Err(("<condition>".into(), "no near miss found".into()));
            }
            return Ok(Plan { positive, negatives });
        }
        Err(why)
    }

    /// Neutral values for concepts only false searches use, such that the condition holds.
    fn fill(&self, rec: &Record, free: &[Concept]) -> Option<Record> {
        let Some((c, rest)) = free.split_first() else { return self.matches(rec).then(|| rec.clone()) };
        neutral(c).into_iter().find_map(|v| {
            let mut r = rec.clone();
            r.insert(c.clone(), v);
            self.fill(&r, rest)
        })
    }

    fn near_misses(
        &self,
        pos: &Record,
        cons: &BTreeMap<Concept, Vec<Constraint>>,
        used: &[Vec<Concept>],
    ) -> Vec<(String, Record)> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        // One value changed, for each concept a true search constrains.
        for c in used.iter().flatten() {
            if !seen.insert(c.clone()) {
                continue;
            }
            for m in misses(c, &pos[c]) {
                let mut r = pos.clone();
                r.insert(c.clone(), m.clone());
                if !self.matches(&r) {
                    out.push((format!("{c:?} = {m:?}"), r));
                    break;
                }
            }
        }
        // A false search (filter) made true.
        let truth = self.truths(pos);
        for s in (0..self.searches.len()).filter(|&s| !truth[s]) {
            let mut t = cons.clone();
            let Ok(cs) = self.constrain(s, &mut t) else { continue };
            let mut r = pos.clone();
            for c in cs {
                r.insert(c.clone(), synth(&c, &t[&c]).expect("checked in constrain"));
            }
            if !self.matches(&r) {
                out.push((format!("search `{}` made true", self.searches[s].0), r));
            }
        }
        out
    }
}

// ------------------------------------------------------------------------------------------
// Shapes
// ------------------------------------------------------------------------------------------

/// The sample records every shape starts from.
pub struct Shapes {
    activity_diag: Value,
    activity_rest: Value,
    signin_diag: Value,
    audit_diag: Value,
    risk_diag: Value,
}

fn first_record(corpus: &Path, rel: &str) -> Value {
    let p = corpus.join("elastic-integrations/packages/azure/data_stream").join(rel);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(text.lines().next().expect("empty sample")).expect("sample is JSON")
}

fn set(v: &mut Value, path: &[&str], x: Value) {
    let mut cur = v;
    for (i, k) in path.iter().enumerate() {
        if !cur.is_object() {
            *cur = json!({});
        }
        let m = cur.as_object_mut().unwrap();
        if i + 1 == path.len() {
            m.insert(k.to_string(), x);
            return;
        }
        cur = m.entry(k.to_string()).or_insert_with(|| json!({}));
    }
}

fn put(v: &mut Value, path: &[&str], x: &Option<String>) {
    match x {
        Some(s) => set(v, path, json!(s)),
        None => {
            let (last, parent) = path.split_last().unwrap();
            if let Some(m) = parent.iter().try_fold(&mut *v, |c, k| c.get_mut(*k)).and_then(Value::as_object_mut) {
                m.remove(*last);
            }
        }
    }
}

fn text(v: &Value) -> String {
    v.as_str().map(str::to_string).unwrap_or_default()
}

/// Dynamic columns reach LA exports as JSON text.
fn la_cell(v: &Value) -> Value {
    match v {
        Value::Object(_) | Value::Array(_) => Value::String(v.to_string()),
        other => other.clone(),
    }
}

fn pascal(k: &str) -> String {
    let mut c = k.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// `/subscriptions/S/resourceGroups/G/providers/P/T/N...` to (S, G, P, T, last segment).
fn resource_parts(rid: &str) -> (String, String, String, String, String) {
    let seg: Vec<&str> = rid.split('/').filter(|s| !s.is_empty()).collect();
    let after = |k: &str| {
        seg.iter().position(|s| s.eq_ignore_ascii_case(k)).and_then(|i| seg.get(i + 1)).map(|s| s.to_string())
    };
    let p = seg.iter().position(|s| s.eq_ignore_ascii_case("providers"));
    let provider = p.and_then(|i| seg.get(i + 1)).map(|s| s.to_string()).unwrap_or_default();
    let rtype = p.and_then(|i| seg.get(i + 2)).map(|t| format!("{provider}/{t}")).unwrap_or_default();
    let last = seg.last().map(|s| s.to_string()).unwrap_or_default();
    (after("subscriptions").unwrap_or_default(), after("resourceGroups").unwrap_or_default(), provider, rtype, last)
}

/// The resource ID with its provider namespace replaced: the diagnostic shape carries the
/// provider only there ("subscription/RG/type are inferred from it").
fn with_provider(rid: &str, provider: &str) -> String {
    let lower = rid.to_ascii_lowercase();
    match lower.find("/providers/") {
        Some(i) => {
            let start = i + "/providers/".len();
            let end = rid[start..].find('/').map_or(rid.len(), |j| start + j);
            format!("{}{provider}{}", &rid[..start], &rid[end..])
        }
        None => format!("{rid}/providers/{provider}"),
    }
}

/// A display text for an ARM operation that does not repeat the operation string.
fn localize(op: &str) -> String {
    let seg: Vec<&str> = op.split('/').collect();
    let verb = seg.last().copied().unwrap_or("action");
    let thing = seg.len().checked_sub(2).and_then(|i| seg.get(i)).copied().unwrap_or("resource");
    format!("{} {}", pascal(&verb.to_ascii_lowercase()), thing.to_ascii_lowercase())
}

/// Diagnostic `resultType` / LA `ActivityStatusValue` for a REST `status.value`.
fn status_word(rest: &str) -> String {
    match rest {
        "Started" => "Start",
        "Succeeded" => "Success",
        "Failed" => "Failure",
        "Accepted" => "Accept",
        other => other,
    }
    .to_string()
}

impl Shapes {
    pub fn load(corpus: &Path) -> Shapes {
        let activity_diag = first_record(corpus, "activitylogs/_dev/test/pipeline/test-activitylogs-raw.log");
        let activity_rest = Self::rest_from_diag(&activity_diag);
        Shapes {
            activity_diag,
            activity_rest,
            signin_diag: first_record(corpus, "signinlogs/_dev/test/pipeline/test-signinlogs-sample.log"),
            audit_diag: first_record(corpus, "auditlogs/_dev/test/pipeline/test-audit-logs-sample.log"),
            risk_diag: first_record(corpus, "identity_protection/_dev/test/pipeline/test-userriskevents-raw.log"),
        }
    }

    /// ARM REST `eventData` for the Elastic diagnostic sample (§1 mapping table, backwards).
    fn rest_from_diag(d: &Value) -> Value {
        let claims = d["identity"]["claims"].clone();
        let auth = &d["identity"]["authorization"];
        let rid = text(&d["resourceId"]);
        let (sub, rg, provider, rtype, _) = resource_parts(&rid);
        let op = text(&d["operationName"]);
        let caller = claims
            .get("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn")
            .or_else(|| claims.get("http://schemas.microsoft.com/identity/claims/objectidentifier"))
            .cloned()
            .unwrap_or(Value::Null);
        let event_id = "3f2a7c44-8c7e-4d61-9a2b-5d0e7c1b9a10";
        json!({
            "authorization": { "action": auth["action"], "role": auth["evidence"]["role"], "scope": auth["scope"] },
            "caller": caller,
            "channels": "Operation",
            "claims": claims,
            "correlationId": d["correlationId"],
            "description": "",
            "eventDataId": event_id,
            "eventName": { "value": "BeginRequest", "localizedValue": "Begin request" },
            "category": { "value": "Administrative", "localizedValue": "Administrative" },
            "eventTimestamp": d["time"],
            "httpRequest": {
                "clientRequestId": "6d1f5a3e-2b7c-4e8f-9a01-b2c3d4e5f607",
                "clientIpAddress": d["callerIpAddress"],
                "method": "POST",
            },
            "id": format!("{rid}/events/{event_id}/ticks/637075124263554259"),
            "level": "Informational",
            "operationId": d["correlationId"],
            "operationName": { "value": op, "localizedValue": localize(&op) },
            "properties": d.get("properties").cloned().unwrap_or_else(|| json!({})),
            "resourceGroupName": rg,
            "resourceProviderName": { "value": provider, "localizedValue": provider },
            "resourceType": { "value": rtype, "localizedValue": rtype },
            "resourceId": rid,
            "status": { "value": "Started", "localizedValue": "Started" },
            "subStatus": { "value": "", "localizedValue": "" },
            "submissionTimestamp": d["time"],
            "subscriptionId": sub,
            "tenantId": claims["http://schemas.microsoft.com/identity/claims/tenantid"],
        })
    }

    /// The logical record in one export shape. `keep_case`: the rule compares case-sensitively,
    /// so values keep the rule's case (otherwise each shape uses its usual case).
    pub fn render(&self, f: Family, s: Shape, rec: &Record, keep_case: bool) -> Value {
        match f {
            Family::Activity => self.activity(s, rec, keep_case),
            Family::SignIn => self.signin(s, rec),
            Family::Audit => self.audit(s, rec, keep_case),
            Family::Risk => self.risk(s, rec),
        }
    }

    fn activity(&self, s: Shape, rec: &Record, keep_case: bool) -> Value {
        let mut r = self.activity_rest.clone();
        for (c, v) in rec {
            match c {
                Concept::Op => {
                    let v = v.as_ref().map(|v| if keep_case { v.clone() } else { v.to_ascii_lowercase() });
                    match &v {
                        Some(op) => {
                            set(&mut r, &["operationName"], json!({ "value": op, "localizedValue": localize(op) }))
                        }
                        None => put(&mut r, &["operationName"], &None),
                    }
                    put(&mut r, &["authorization", "action"], &v);
                }
                Concept::ActCategory => match v {
                    Some(x) => set(&mut r, &["category"], json!({ "value": x, "localizedValue": x })),
                    None => put(&mut r, &["category"], &None),
                },
                Concept::ResourceId => {
                    put(&mut r, &["resourceId"], v);
                    let (_, rg, provider, rtype, _) = resource_parts(v.as_deref().unwrap_or_default());
                    set(&mut r, &["resourceGroupName"], json!(rg));
                    set(&mut r, &["resourceProviderName"], json!({ "value": provider, "localizedValue": provider }));
                    set(&mut r, &["resourceType"], json!({ "value": rtype, "localizedValue": rtype }));
                }
                Concept::Provider => {
                    match v {
                        Some(p) => set(&mut r, &["resourceProviderName"], json!({ "value": p, "localizedValue": p })),
                        None => put(&mut r, &["resourceProviderName"], &None),
                    }
                    let rid = with_provider(&text(&r["resourceId"]), v.as_deref().unwrap_or("Microsoft.Azir"));
                    set(&mut r, &["resourceId"], json!(rid));
                }
                Concept::ActProp(k) => put(&mut r, &["properties", k.as_str()], v),
                other => unreachable!("{other:?} is not an Activity Log concept"),
            }
        }
        let rid = text(&r["resourceId"]);
        r["id"] = json!(format!("{rid}/events/{}/ticks/637075124263554259", text(&r["eventDataId"])));
        match s {
            Shape::Api => r,
            Shape::Diag => {
                let op = text(&r["operationName"]["value"]);
                let mut d = json!({
                    "time": r["eventTimestamp"],
                    "resourceId": if keep_case { rid.clone() } else { rid.to_ascii_uppercase() },
                    "operationName": if keep_case { op.clone() } else { op.to_ascii_uppercase() },
                    "category": r["category"]["value"],
                    "resultType": status_word(&text(&r["status"]["value"])),
                    "resultSignature": "Started.",
                    "durationMs": 0,
                    "callerIpAddress": r["httpRequest"]["clientIpAddress"],
                    "correlationId": r["correlationId"],
                    "identity": {
                        "authorization": {
                            "action": r["authorization"]["action"],
                            "scope": r["authorization"]["scope"],
                            "evidence": self.activity_diag["identity"]["authorization"]["evidence"],
                        },
                        "claims": r["claims"],
                    },
                    "level": "Information",
                    "location": "global",
                });
                if r["operationName"].is_null() {
                    d.as_object_mut().unwrap().remove("operationName");
                }
                if r["category"].is_null() {
                    d.as_object_mut().unwrap().remove("category");
                }
                if r["properties"].as_object().is_some_and(|p| !p.is_empty()) {
                    d["properties"] = r["properties"].clone();
                }
                d
            }
            Shape::La => {
                let (sub, rg, _, _, last) = resource_parts(&rid);
                let loc = |k: &str| r[k]["localizedValue"].clone();
                let val = |k: &str| r[k]["value"].clone();
                json!({
                    "TimeGenerated": r["eventTimestamp"],
                    "ActivityStatus": loc("status"),
                    "ActivityStatusValue": status_word(&text(&val("status"))),
                    "ActivitySubstatus": loc("subStatus"),
                    "ActivitySubstatusValue": val("subStatus"),
                    "Authorization": la_cell(&r["authorization"]),
                    "Caller": r["caller"],
                    "CallerIpAddress": r["httpRequest"]["clientIpAddress"],
                    "Category": loc("category"),
                    "CategoryValue": val("category"),
                    "Claims": la_cell(&r["claims"]),
                    "CorrelationId": r["correlationId"],
                    "EventDataId": r["eventDataId"],
                    "EventSubmissionTimestamp": r["submissionTimestamp"],
                    "Hierarchy": format!("{}/{sub}", text(&r["tenantId"])),
                    "HTTPRequest": la_cell(&r["httpRequest"]),
                    "Level": r["level"],
                    "OperationId": r["operationId"],
                    "OperationName": loc("operationName"),
                    "OperationNameValue": if keep_case { val("operationName") } else {
                        json!(text(&val("operationName")).to_ascii_uppercase())
                    },
                    "Properties": la_cell(&r["properties"]),
                    "Resource": last,
                    "ResourceGroup": rg,
                    "ResourceId": rid,
                    "_ResourceId": rid.to_ascii_lowercase(),
                    "ResourceProvider": loc("resourceProviderName"),
                    "ResourceProviderValue": val("resourceProviderName"),
                    "SourceSystem": "Azure",
                    "SubscriptionId": sub,
                    "_SubscriptionId": sub,
                    "TenantId": "b4f7f9a0-1c2d-4e3f-8a9b-0c1d2e3f4a5b",
                    "Type": "AzureActivity",
                })
            }
        }
    }

    fn signin(&self, s: Shape, rec: &Record) -> Value {
        let mut g = self.signin_diag["properties"].clone();
        for (c, v) in rec {
            let path: &[&str] = match c {
                Concept::ErrorCode => {
                    let n = v.as_deref().and_then(|v| v.parse::<i64>().ok());
                    match (n, v) {
                        (Some(n), _) => set(&mut g, &["status", "errorCode"], json!(n)),
                        (None, v) => put(&mut g, &["status", "errorCode"], v),
                    }
                    continue;
                }
                Concept::DeviceCompliant => {
                    match v.as_deref() {
                        Some(b @ ("true" | "false")) => {
                            set(&mut g, &["deviceDetail", "isCompliant"], json!(b == "true"))
                        }
                        other => put(&mut g, &["deviceDetail", "isCompliant"], &other.map(str::to_string)),
                    }
                    continue;
                }
                Concept::NetworkLocations => {
                    let parsed = v.as_deref().and_then(|t| serde_json::from_str::<Value>(t).ok());
                    match (parsed, v) {
                        (Some(j), _) => set(&mut g, &["networkLocationDetails"], j),
                        (None, v) => put(&mut g, &["networkLocationDetails"], v),
                    }
                    continue;
                }
                Concept::FailureReason => &["status", "failureReason"],
                Concept::StatusDetail => &["status", "additionalDetails"],
                Concept::UserAgent => &["userAgent"],
                Concept::ResourceDisplayName => &["resourceDisplayName"],
                Concept::CaStatus => &["conditionalAccessStatus"],
                Concept::AuthRequirement => &["authenticationRequirement"],
                Concept::RiskState => &["riskState"],
                Concept::DeviceTrustType => &["deviceDetail", "trustType"],
                Concept::DeviceId => &["deviceDetail", "deviceId"],
                Concept::ClientApp => &["clientAppUsed"],
                Concept::Upn => &["userPrincipalName"],
                Concept::IpAddress => &["ipAddress"],
                other => unreachable!("{other:?} is not a sign-in concept"),
            };
            put(&mut g, path, v);
        }
        let code = match &g["status"]["errorCode"] {
            Value::Number(n) => n.to_string(),
            other => text(other),
        };
        match s {
            Shape::Api => g,
            Shape::Diag => {
                let mut d = self.signin_diag.clone();
                d["resultType"] = json!(code);
                match g["status"].get("failureReason") {
                    Some(r) => d["resultDescription"] = r.clone(),
                    None => {
                        d.as_object_mut().unwrap().remove("resultDescription");
                    }
                }
                d["callerIpAddress"] = g["ipAddress"].clone();
                d["correlationId"] = g["correlationId"].clone();
                d["identity"] = g["userDisplayName"].clone();
                d["properties"] = g;
                d
            }
            Shape::La => {
                let mut la = Map::new();
                for (k, v) in g.as_object().unwrap() {
                    let name = match k.as_str() {
                        "ipAddress" => "IPAddress".to_string(),
                        "location" => "LocationDetails".to_string(),
                        "appliedConditionalAccessPolicies" => "ConditionalAccessPolicies".to_string(),
                        "riskEventTypes_v2" => "RiskEventTypes_V2".to_string(),
                        "resourceId" => "ResourceIdentity".to_string(),
                        k => pascal(k),
                    };
                    la.insert(name, la_cell(v));
                }
                let d = &self.signin_diag;
                la.insert("TimeGenerated".into(), d["time"].clone());
                la.insert("ResultType".into(), json!(code));
                la.insert("ResultDescription".into(), g["status"].get("failureReason").cloned().unwrap_or(json!("")));
                la.insert("ResultSignature".into(), json!("None"));
                la.insert("OperationName".into(), json!("Sign-in activity"));
                la.insert("OperationVersion".into(), json!("1.0"));
                la.insert("Category".into(), json!("SignInLogs"));
                la.insert("Identity".into(), g["userDisplayName"].clone());
                la.insert("Level".into(), json!("4"));
                la.insert("Location".into(), g["location"]["countryOrRegion"].clone());
                la.insert("ResourceId".into(), d["resourceId"].clone());
                la.insert("SourceSystem".into(), json!("Azure AD"));
                la.insert("TenantId".into(), d["tenantId"].clone());
                la.insert("Type".into(), json!("SigninLogs"));
                Value::Object(la)
            }
        }
    }

    fn audit(&self, s: Shape, rec: &Record, keep_case: bool) -> Value {
        let mut g = self.audit_diag["properties"].clone();
        let mut target = g["targetResources"][0].clone();
        let mut main_prop: Option<Map<String, Value>> = None;
        let mut named = Vec::new();
        let mut touched_props = false;
        for (c, v) in rec {
            let mut prop = |k: &str, v: &Option<String>| {
                touched_props = true;
                let m = main_prop.get_or_insert_with(|| {
                    let mut m = Map::new();
                    m.insert("displayName".into(), json!("Included Updated Properties"));
                    m.insert("oldValue".into(), json!(""));
                    m.insert("newValue".into(), json!("\"\""));
                    m
                });
                match v {
                    Some(v) => m.insert(k.into(), json!(v)),
                    None => m.remove(k),
                };
            };
            match c {
                Concept::Activity => put(&mut g, &["activityDisplayName"], v),
                Concept::AuditCategory => put(&mut g, &["category"], v),
                // Graph's `result` enum is lower case (`success|failure|timeout`).
                Concept::AuditResult => {
                    let v = v.as_ref().map(|v| if keep_case { v.clone() } else { v.to_ascii_lowercase() });
                    put(&mut g, &["result"], &v)
                }
                Concept::ResultReason => put(&mut g, &["resultReason"], v),
                Concept::LoggedBy => put(&mut g, &["loggedByService"], v),
                Concept::InitiatorUpn => {
                    g["initiatedBy"] = json!({ "user": {
                        "id": "5b1e3f7a-9c2d-4e8f-a6b1-2c3d4e5f6a7b",
                        "displayName": "Azir Admin",
                        "userPrincipalName": v,
                        "ipAddress": "203.0.113.10",
                    }});
                }
                Concept::TargetName | Concept::TargetAny => put(&mut target, &["displayName"], v),
                Concept::TargetType => put(&mut target, &["type"], v),
                Concept::TargetUpn => put(&mut target, &["userPrincipalName"], v),
                Concept::ModPropName | Concept::ModPropAny => prop("displayName", v),
                Concept::ModPropNewValue => prop("newValue", v),
                Concept::ModPropNamed(name) => {
                    touched_props = true;
                    // oldValue/newValue are JSON-encoded strings.
                    let enc = v.as_ref().map_or(Value::Null, |v| json!(json!(v).to_string()));
                    named.push(json!({ "displayName": name, "oldValue": null, "newValue": enc }));
                }
                Concept::AdditionalDetail(key) => {
                    let mut list: Vec<Value> = g["additionalDetails"].as_array().cloned().unwrap_or_default();
                    list.retain(|kv| !text(&kv["key"]).eq_ignore_ascii_case(key));
                    if let Some(v) = v {
                        list.push(json!({ "key": pascal(key), "value": v }));
                    }
                    g["additionalDetails"] = Value::Array(list);
                }
                other => unreachable!("{other:?} is not an audit concept"),
            }
        }
        if touched_props {
            let mut props: Vec<Value> = main_prop.into_iter().map(Value::Object).collect();
            props.extend(named);
            target["modifiedProperties"] = Value::Array(props);
        }
        g["targetResources"][0] = target;
        match s {
            Shape::Api => g,
            Shape::Diag => {
                let mut d = self.audit_diag.clone();
                d["operationName"] = g["activityDisplayName"].clone();
                if let Some(u) = g["initiatedBy"].get("user") {
                    d["callerIpAddress"] = u["ipAddress"].clone();
                    d["identity"] = u["displayName"].clone();
                }
                d["properties"] = g;
                d
            }
            Shape::La => {
                let d = &self.audit_diag;
                let mut la = Map::new();
                for (k, v) in g.as_object().unwrap() {
                    match k.as_str() {
                        "activityDisplayName" => {
                            la.insert("OperationName".into(), v.clone());
                            la.insert("ActivityDisplayName".into(), v.clone());
                        }
                        "operationType" => {
                            la.insert("AADOperationType".into(), v.clone());
                        }
                        "userAgent" => {}
                        k => {
                            la.insert(pascal(k), la_cell(v));
                        }
                    }
                }
                la.insert("TimeGenerated".into(), g["activityDateTime"].clone());
                la.insert("OperationVersion".into(), json!("1.0"));
                la.insert("ResultSignature".into(), json!("None"));
                la.insert("DurationMs".into(), json!(0));
                la.insert("Identity".into(), d["identity"].clone());
                la.insert("Level".into(), json!("4"));
                la.insert("Location".into(), json!(""));
                la.insert("Resource".into(), json!("Microsoft.aadiam"));
                la.insert("ResourceGroup".into(), json!("Microsoft.aadiam"));
                la.insert("ResourceProvider".into(), json!("Microsoft.aadiam"));
                la.insert("ResourceId".into(), d["resourceId"].clone());
                la.insert("AADTenantId".into(), d["tenantId"].clone());
                la.insert("SourceSystem".into(), json!("Azure AD"));
                la.insert("Type".into(), json!("AuditLogs"));
                Value::Object(la)
            }
        }
    }

    fn risk(&self, s: Shape, rec: &Record) -> Value {
        let mut g = self.risk_diag["properties"].clone();
        for (c, v) in rec {
            match c {
                Concept::RiskEventType => put(&mut g, &["riskEventType"], v),
                other => unreachable!("{other:?} is not a risk-detection concept"),
            }
        }
        match s {
            Shape::Api => g,
            Shape::Diag => {
                let mut d = self.risk_diag.clone();
                d["callerIpAddress"] = g["ipAddress"].clone();
                d["properties"] = g;
                d
            }
            Shape::La => {
                let mut la = Map::new();
                for (k, v) in g.as_object().unwrap() {
                    la.insert(if k == "ipAddress" { "IpAddress".into() } else { pascal(k) }, la_cell(v));
                }
                la.insert("TimeGenerated".into(), g["detectedDateTime"].clone());
                la.insert("OperationName".into(), json!("User Risk Detection"));
                la.insert("SourceSystem".into(), json!("Azure AD"));
                la.insert("TenantId".into(), self.risk_diag["tenantId"].clone());
                la.insert("Type".into(), json!("AADUserRiskEvents"));
                Value::Object(la)
            }
        }
    }
}
