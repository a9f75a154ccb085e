//! Field resolution with Azure semantics: dotted paths that descend into arrays of objects and
//! into JSON held in strings, case-insensitive keys, number/string agnostic scalars, normalized
//! columns as extra fields, and the alias layer that maps one rule field name to every place the
//! export shapes of the same log (Log Analytics, REST/Graph, diagnostic settings, Event Hub)
//! carry it.

use azir_model::Event;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
#[cfg(test)]
use serde::de::{DeserializeSeed, IgnoredAny};
use std::borrow::Cow;
use std::fmt::Write as _;

/// One scalar seen at the end of a path. Numbers and booleans are matched through their text.
#[derive(Debug, Clone, Copy)]
pub enum Scalar<'a> {
    /// A JSON string (or a normalized column).
    Str(&'a str),
    /// A JSON number.
    Num(&'a serde_json::Number),
    /// An integer column.
    Int(i64),
    /// A JSON boolean.
    Bool(bool),
    /// A JSON null (or an empty array/object at the leaf).
    Null,
}

/// Small stack buffer so numbers can be matched as text without allocating.
pub struct NumText {
    buf: [u8; 48],
    len: usize,
}

impl std::fmt::Write for NumText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let b = s.as_bytes();
        let end = self.len + b.len();
        if end > self.buf.len() {
            return Err(std::fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(b);
        self.len = end;
        Ok(())
    }
}

impl<'a> Scalar<'a> {
    /// Calls `f` with the text of the scalar (`None` for null).
    #[inline]
    pub fn with_text<R>(&self, f: impl FnOnce(Option<&str>) -> R) -> R {
        match self {
            Scalar::Str(s) => f(Some(s)),
            Scalar::Bool(b) => f(Some(if *b { "true" } else { "false" })),
            Scalar::Null => f(None),
            // Integers through `itoa` (the formatting machinery costs ~250 instructions a number,
            // and Application Gateway records are mostly matched on integers).
            Scalar::Num(n) if n.is_i64() || n.is_u64() => {
                let mut b = itoa::Buffer::new();
                f(Some(match n.as_i64() {
                    Some(i) => b.format(i),
                    None => b.format(n.as_u64().unwrap_or(0)),
                }))
            }
            Scalar::Num(n) => {
                let mut t = NumText { buf: [0; 48], len: 0 };
                let _ = write!(t, "{n}");
                f(std::str::from_utf8(&t.buf[..t.len]).ok())
            }
            Scalar::Int(n) => f(Some(itoa::Buffer::new().format(*n))),
        }
    }

    /// The scalar as a number, parsing strings (`"50053"` is 50053).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Scalar::Num(n) => n.as_f64(),
            Scalar::Int(n) => Some(*n as f64),
            Scalar::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

/// A normalized [`Event`] column, addressable by its ASIM name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// `source`.
    Source,
    /// `source_format`.
    SourceFormat,
    /// `EventType`.
    EventType,
    /// `Operation`.
    Operation,
    /// `Category`.
    Category,
    /// `EventResult`.
    Result,
    /// `EventResultDetails`.
    ResultDetails,
    /// `ActorUsername`.
    ActorUsername,
    /// `ActorUserId`.
    ActorUserId,
    /// `ActorAppId`.
    ActorAppId,
    /// `ActorAppName`.
    ActorAppName,
    /// `SrcIpAddr`.
    SrcIp,
    /// `SrcPortNumber`.
    SrcPort,
    /// `DstIpAddr`.
    DstIp,
    /// `DstPortNumber`.
    DstPort,
    /// `NetworkProtocol`.
    Protocol,
    /// `TargetUsername`.
    TargetUsername,
    /// `TargetResourceId`.
    TargetResourceId,
    /// `TargetAppName`.
    TargetAppName,
    /// `HttpUserAgent`.
    UserAgent,
    /// `HttpRequestMethod`.
    HttpMethod,
    /// `Url`.
    Url,
    /// `HttpStatusCode`.
    HttpStatus,
    /// `SrcGeoCountry`.
    Country,
    /// `SrcGeoCity`.
    City,
    /// `CorrelationId`.
    CorrelationId,
    /// `TenantId`.
    TenantId,
    /// `SubscriptionId`.
    SubscriptionId,
    /// `message`.
    Message,
}

const COLUMNS: &[(&str, Column)] = &[
    ("source", Column::Source),
    ("source_format", Column::SourceFormat),
    ("EventType", Column::EventType),
    ("Operation", Column::Operation),
    ("EventResult", Column::Result),
    ("EventResultDetails", Column::ResultDetails),
    ("ActorUsername", Column::ActorUsername),
    ("ActorUserId", Column::ActorUserId),
    ("ActorAppId", Column::ActorAppId),
    ("ActorAppName", Column::ActorAppName),
    ("SrcIpAddr", Column::SrcIp),
    ("SrcPortNumber", Column::SrcPort),
    ("DstIpAddr", Column::DstIp),
    ("DstPortNumber", Column::DstPort),
    ("NetworkProtocol", Column::Protocol),
    ("TargetUsername", Column::TargetUsername),
    ("TargetResourceId", Column::TargetResourceId),
    ("TargetAppName", Column::TargetAppName),
    ("HttpUserAgent", Column::UserAgent),
    ("HttpRequestMethod", Column::HttpMethod),
    ("Url", Column::Url),
    ("HttpStatusCode", Column::HttpStatus),
    ("SrcGeoCountry", Column::Country),
    ("SrcGeoCity", Column::City),
    ("CorrelationId", Column::CorrelationId),
    ("TenantId", Column::TenantId),
    ("SubscriptionId", Column::SubscriptionId),
    ("EventMessage", Column::Message),
];

impl Column {
    /// The column named `name` (ASIM spelling, case-insensitive).
    pub fn by_name(name: &str) -> Option<Column> {
        COLUMNS.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, c)| *c)
    }

    pub(crate) fn get<'a>(&self, e: &'a Event) -> Scalar<'a> {
        let s = |o: &'a Option<String>| o.as_deref().map_or(Scalar::Null, Scalar::Str);
        let i = |o: Option<i32>| o.map_or(Scalar::Null, |v| Scalar::Int(i64::from(v)));
        match self {
            Column::Source => Scalar::Str(&e.source),
            Column::SourceFormat => Scalar::Str(&e.source_format),
            Column::EventType => s(&e.event_type),
            Column::Operation => s(&e.operation),
            Column::Category => s(&e.category),
            Column::Result => s(&e.result),
            Column::ResultDetails => s(&e.result_details),
            Column::ActorUsername => s(&e.actor_username),
            Column::ActorUserId => s(&e.actor_user_id),
            Column::ActorAppId => s(&e.actor_app_id),
            Column::ActorAppName => s(&e.actor_app_name),
            Column::SrcIp => s(&e.src_ip),
            Column::SrcPort => i(e.src_port),
            Column::DstIp => s(&e.dst_ip),
            Column::DstPort => i(e.dst_port),
            Column::Protocol => s(&e.protocol),
            Column::TargetUsername => s(&e.target_username),
            Column::TargetResourceId => s(&e.target_resource_id),
            Column::TargetAppName => s(&e.target_app_name),
            Column::UserAgent => s(&e.user_agent),
            Column::HttpMethod => s(&e.http_method),
            Column::Url => s(&e.url),
            Column::HttpStatus => i(e.http_status),
            Column::Country => s(&e.country),
            Column::City => s(&e.city),
            Column::CorrelationId => s(&e.correlation_id),
            Column::TenantId => s(&e.tenant_id),
            Column::SubscriptionId => s(&e.subscription_id),
            Column::Message => Scalar::Str(&e.message),
        }
    }
}

/// One place a field can be found.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A dotted path into the raw record, lower-cased (keys are lower-cased at parse time).
    Path(Box<str>),
    /// A normalized column.
    Column(Column),
    /// An entry of a list of name/value objects, by its name: the elements at `list` whose
    /// `displayName`, `key` or `name` equals `name` (ASCII case-insensitively) yield their
    /// `newValue` or `value`. Entra audit `modifiedProperties` and `additionalDetails`, M365
    /// `ExtendedProperties` and `Parameters` carry their data this way.
    Entry {
        /// Path to the list, lower-cased.
        list: Box<str>,
        /// The entry's name, lower-cased.
        name: Box<str>,
    },
    /// A sign-in's outcome from the error code at a path: `Success` for 0, else `Failure` (what
    /// the parser puts in `EventResult`, for records evaluated without it).
    SignInOutcome(Box<str>),
    /// The resource provider namespace inside the ARM ids at a path (the segment after the last
    /// `/providers/`): diagnostic-setting Activity Log records have no provider field.
    Provider(Box<str>),
    /// A firewall's or flow log's verdict in the words of Sigma's generic `firewall` rules
    /// ([`firewall_words`]): from a flow tuple's `DvcAction` (Allow/Deny), else an Azure
    /// Firewall record's action (the first word of `EventResultDetails`: Allow, Deny, DNAT…),
    /// else its `EventResult`. With `blocked`, the text `true` or `false` instead.
    FirewallAction {
        /// Answer `blocked` (true/false) instead of the action's words.
        blocked: bool,
    },
}

/// Is a firewall verdict a block? `None` when the words say neither (an IDS alert).
fn firewall_blocked(action: &str) -> Option<bool> {
    // Besides the rule words: the Azure Firewall NAT actions, and `EventResult` for a record
    // whose action was not kept.
    let a = action.trim();
    let is = |words: &[&str]| words.iter().any(|w| a.eq_ignore_ascii_case(w));
    azir_model::verdict::blocked(a).or_else(|| {
        if is(&["failure"]) {
            Some(true)
        } else if is(&["dnat", "snat", "success"]) {
            Some(false)
        } else {
            None
        }
    })
}

/// The words Sigma's generic `firewall` rules use for a verdict (`action: denied`, `action:
/// [forward, accept]`, `action: [deny, drop, blocked]`): every vendor's spelling, since a rule
/// lists the ones it knows and an NSG or Azure Firewall says only Allow or Deny.
pub fn firewall_words(blocked: bool) -> &'static [&'static str] {
    if blocked {
        azir_model::verdict::BLOCKED
    } else {
        azir_model::verdict::ALLOWED
    }
}

/// A rule field name resolved once, at compile time, to every place it can be found.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldRef {
    /// The name as the rule wrote it.
    pub name: Box<str>,
    /// Where to look; values found at any target count (any-of semantics).
    pub targets: Vec<Target>,
    /// For records of some sources, a normalized column that *is* this field (see
    /// [`Authority`]); at most one per source.
    pub authority: Vec<Authority>,
}

/// A normalized column that is a field's value for the records of some sources: when the
/// column is filled, the field's other targets are not consulted.
///
/// The alias layer lists every place the export shapes of one log carry a field; in one record
/// they hold the same datum, and the source's parser has already read it from whichever shape
/// the record has into a column. Where that reading is faithful (the column is the field's
/// value, in every shape of the source), looking in `raw` again can only find the same value,
/// so a rule on the field is decided from the column without parsing `raw`, and the hunt's
/// column pass can rule it out before scanning the record's text ([`crate`] docs, "Evaluation
/// cost"). When the column is empty the field is looked up everywhere, as without authority.
///
/// The list ([`AUTHORITIES`]) is short on purpose: a field whose export shapes carry *more*
/// than the column holds is not in it. Sign-in `Status` is not (rules match the reason text in
/// the record's `status` object: `Status|contains: 'MFA Denied'`), nor audit `Result`.
/// Activity `operationName` is the canonical operation (`Microsoft.Compute/virtualMachines/
/// write`, as every SigmaHQ rule writes it), not the display name Log Analytics' `OperationName`
/// column and the REST `localizedValue` carry ("Create or Update Virtual Machine").
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Authority {
    /// The column.
    pub column: Column,
    /// The sources whose parsers fill it with the field's value.
    pub sources: &'static [&'static str],
}

/// (sources, field names lower-cased, column): the [`Authority`] table.
const AUTHORITIES: &[(&[&str], &[&str], Column)] = &[
    // `properties.httpStatus` (diagnostic) / `httpStatus_d` (LA) as an integer.
    (&["appgw_access", "waf"], &["httpstatus", "httpstatuscode"], Column::HttpStatus),
    // `operationName.value` (REST), `operationName` (diagnostic), `OperationNameValue` (LA).
    (&["activity"], &["operationname", "operationnamevalue"], Column::Operation),
    // `operationName` (diagnostic), `OperationName` (LA AzureDiagnostics).
    (&["keyvault"], &["operationname"], Column::Operation),
    // The error code: `status.errorCode` (Graph, diagnostic) or `ResultType` (LA), as text.
    (&["signin"], &["resulttype", "errorcode"], Column::ResultDetails),
];

/// The authoritative columns of `source`'s records ([`Authority`]).
pub fn authority_columns(source: &str) -> Vec<Column> {
    let mut out: Vec<Column> = Vec::new();
    for &(sources, _, c) in AUTHORITIES {
        if sources.contains(&source) && !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

impl FieldRef {
    /// The column that decides this field for `e`, when it has one and `e` fills it.
    #[inline]
    pub fn authoritative<'a>(&self, e: &'a Event) -> Option<Scalar<'a>> {
        if self.authority.is_empty() {
            return None;
        }
        let a = self.authority.iter().find(|a| a.sources.contains(&e.source.as_str()))?;
        match a.column.get(e) {
            Scalar::Null => None,
            v => Some(v),
        }
    }

    /// True when some source gives this field an authoritative column.
    pub fn has_authority(&self, source: &str) -> bool {
        self.authority.iter().any(|a| a.sources.contains(&source))
    }

    /// True when every value of the field is text the record carries (in `raw`, `message` or a
    /// column), so the prefilter may look for a rule's value in that text; false when a target
    /// derives its values (a sign-in's `Success` from error code 0, a firewall's `denied` from
    /// `Deny`).
    pub fn verbatim(&self) -> bool {
        !self.targets.iter().any(|t| matches!(t, Target::SignInOutcome(_) | Target::FirewallAction { .. }))
    }
}

/// Calls `f` with every text the event carries: `raw`, `message`, each string column and the
/// integer columns as decimal text. A value a rule can match through a field is inside one of
/// them.
pub fn for_each_text(e: &Event, f: &mut dyn FnMut(&str)) {
    f(&e.raw);
    f(&e.message);
    f(&e.source);
    f(&e.source_format);
    for o in [
        &e.event_type,
        &e.operation,
        &e.category,
        &e.result,
        &e.result_details,
        &e.actor_username,
        &e.actor_user_id,
        &e.actor_app_id,
        &e.actor_app_name,
        &e.src_ip,
        &e.dst_ip,
        &e.protocol,
        &e.target_username,
        &e.target_resource_id,
        &e.target_app_name,
        &e.user_agent,
        &e.http_method,
        &e.url,
        &e.country,
        &e.city,
        &e.correlation_id,
        &e.tenant_id,
        &e.subscription_id,
    ]
    .into_iter()
    .flatten()
    {
        f(o);
    }
    // Integer columns as the text a rule's literal would be (`404`), formatted on the stack.
    for n in [e.src_port, e.dst_port, e.http_status].into_iter().flatten() {
        f(itoa::Buffer::new().format(n));
    }
}

/// A JSON value borrowed from the record's text. Strings and keys without escapes borrow from
/// `raw` (no allocation); objects are small vectors (no tree inserts). Keys keep their case and
/// are compared ASCII-case-insensitively with the pre-lowered paths.
#[derive(Debug, Clone, PartialEq)]
pub enum Node<'a> {
    /// `null`.
    Null,
    /// `true`/`false`.
    Bool(bool),
    /// A number.
    Num(serde_json::Number),
    /// A string.
    Str(Cow<'a, str>),
    /// An array.
    Arr(Vec<Node<'a>>),
    /// An object, in document order.
    Obj(Vec<(Cow<'a, str>, Node<'a>)>),
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node<'de>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node<'de>, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node<'de>, E> {
        Ok(Node::Num(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node<'de>, E> {
        Ok(Node::Num(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node<'de>, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Node::Null, Node::Num))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Node<'de>, E> {
        Ok(Node::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node<'de>, E> {
        Ok(Node::Str(Cow::Owned(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<Node<'de>, E> {
        Ok(Node::Str(Cow::Owned(v)))
    }
    fn visit_unit<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node<'de>, D::Error> {
        Node::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Node<'de>, A::Error> {
        let mut v = Vec::with_capacity(a.size_hint().unwrap_or(0));
        while let Some(x) = a.next_element()? {
            v.push(x);
        }
        Ok(Node::Arr(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Node<'de>, A::Error> {
        let mut v = Vec::with_capacity(a.size_hint().unwrap_or(0));
        while let Some(Key(k)) = a.next_key()? {
            v.push((k, a.next_value()?));
        }
        Ok(Node::Obj(v))
    }
}

impl<'de> Deserialize<'de> for Node<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node<'de>, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

/// An object key, borrowed when it has no escapes.
struct Key<'a>(Cow<'a, str>);

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(v.to_string())))
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key<'de>, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

/// Parses JSON text into a [`Node`] (`None` when it is not JSON).
pub fn parse(text: &str) -> Option<Node<'_>> {
    serde_json::from_str(text).ok()
}

/// The parts of a record a set of rules can read: a trie of lower-cased path segments. Parsing
/// `raw` through it ([`Doc::projected`]) builds the tree of those parts only and skips the
/// rest of the text without building anything (sign-ins carry kilobytes of conditional-access
/// policies and authentication details that no rule reads).
///
/// It keeps, at each object, the keys that begin a path (ASCII case-insensitively), the keys
/// equal to a whole remaining path (flat dotted keys, which [`walk`] also tries), and under a
/// path's end the whole value (a path ending on an object matches every value inside it). A
/// kept string is kept whole, so paths into JSON held in strings still work. Field-less
/// (keyword) searches read everything: [`Doc::visit_all`] streams the whole record's values.
#[derive(Debug, Default, Clone)]
pub struct Projection {
    root: PNode,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct PNode {
    /// Keep the whole value.
    pub(crate) all: bool,
    /// Keys that begin a remaining path, lower-cased.
    children: Vec<(Box<str>, PNode)>,
    /// Remaining paths with a dot: a key equal to one is a flat key holding the value.
    flat: Vec<Box<str>>,
    /// The children's and flat paths' names by length (up to [`INDEXED`] bytes, longer ones
    /// in the last slot), each with its first byte and its child (`None`: a flat path): a key
    /// is compared only with names of its length and first byte. Names are added as paths
    /// are ([`Projection::add_path`]; rebuilding the index of the whole tree per path made a
    /// source's projection quadratic to build, ~37 M instructions for the SigmaHQ cloud rules).
    index: Vec<Vec<Indexed>>,
}

/// An entry of [`PNode::index`]: first byte, name, child (`None`: a flat path).
type Indexed = (u8, Box<str>, Option<usize>);

/// Name lengths [`PNode::index`] tells apart.
const INDEXED: usize = 48;

impl PNode {
    /// What to do with the value of `key` in an object this node applies to.
    #[inline]
    pub(crate) fn keep(&self, key: &str) -> crate::skim::Keep<'_> {
        use crate::skim::Keep;
        let Some(slot) = self.index.get(key.len().min(INDEXED)) else { return Keep::Skip };
        let first = key.as_bytes().first().map_or(0, u8::to_ascii_lowercase);
        for (f, name, child) in slot {
            if *f == first && key_eq(key, name) {
                return match child {
                    Some(i) if !self.children[*i].1.all => Keep::Child(&self.children[*i].1),
                    _ => Keep::Whole,
                };
            }
        }
        Keep::Skip
    }

    /// How many names an object this node applies to can have kept (children and flat paths).
    pub(crate) fn width(&self) -> usize {
        self.children.len() + self.flat.len()
    }

    /// The entry of [`PNode::index`] for `name` (lower-cased), if the node has one.
    fn find(&self, name: &str) -> Option<&Indexed> {
        self.index.get(name.len().min(INDEXED))?.iter().find(|(_, n, _)| &**n == name)
    }

    /// Adds `name` to [`PNode::index`] (a child's position, or `None` for a flat path).
    fn insert(&mut self, name: &str, child: Option<usize>) {
        let l = name.len().min(INDEXED);
        if self.index.len() <= l {
            self.index.resize(l + 1, Vec::new());
        }
        self.index[l].push((name.as_bytes().first().copied().unwrap_or(0), name.into(), child));
    }

    fn child(&mut self, key: &str) -> &mut PNode {
        // A child's name has no dot and a flat path has one: the entry found is a child's.
        let i = match self.find(key).and_then(|e| e.2) {
            Some(i) => i,
            None => {
                self.children.push((key.into(), PNode::default()));
                self.insert(key, Some(self.children.len() - 1));
                self.children.len() - 1
            }
        };
        &mut self.children[i].1
    }
}

impl Projection {
    /// Keeps what `path` (lower-cased, dotted) can reach.
    pub fn add_path(&mut self, path: &str) {
        let mut n = &mut self.root;
        let mut rest = path;
        loop {
            if n.all {
                break;
            }
            if rest.contains('.') && n.find(rest).is_none() {
                n.flat.push(rest.into());
                n.insert(rest, None);
            }
            match rest.split_once('.') {
                Some((head, tail)) => {
                    n = n.child(head);
                    rest = tail;
                }
                None => {
                    let leaf = n.child(rest);
                    leaf.all = true;
                    leaf.children.clear();
                    leaf.flat.clear();
                    leaf.index.clear();
                    break;
                }
            }
        }
    }

    /// Keeps what `field` can reach in `raw`.
    pub fn add_field(&mut self, field: &FieldRef) {
        for t in &field.targets {
            match t {
                Target::Column(_) => {}
                Target::Path(p) | Target::SignInOutcome(p) | Target::Provider(p) => self.add_path(p),
                Target::Entry { list, .. } => self.add_path(list),
                Target::FirewallAction { .. } => self.add_path("dvcaction"),
            }
        }
    }

    /// Keeps everything.
    pub fn everything() -> Projection {
        Projection { root: PNode { all: true, ..PNode::default() } }
    }

    /// Parses `text` keeping only what the projection reaches (`None` when its structure is
    /// not JSON; see [`crate::skim`] for what is checked).
    pub fn parse<'a>(&self, text: &'a str) -> Option<Node<'a>> {
        crate::skim::skim(text, &self.root)
    }

    /// [`Projection::parse`] through `serde_json` (every byte decoded): the reference the skim
    /// is tested against.
    #[cfg(test)]
    pub(crate) fn parse_serde<'a>(&self, text: &'a str) -> Option<Node<'a>> {
        let mut de = serde_json::Deserializer::from_str(text);
        let v = Proj(&self.root).deserialize(&mut de).ok()?;
        de.end().ok()?;
        Some(v)
    }
}

/// A projected parse at one trie node.
#[cfg(test)]
struct Proj<'p>(&'p PNode);

#[cfg(test)]
impl<'de> DeserializeSeed<'de> for Proj<'_> {
    type Value = Node<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Node<'de>, D::Error> {
        if self.0.all {
            Node::deserialize(d)
        } else {
            d.deserialize_any(self)
        }
    }
}

#[cfg(test)]
impl<'de> Visitor<'de> for Proj<'_> {
    type Value = Node<'de>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Node<'de>, E> {
        NodeVisitor.visit_bool(v)
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Node<'de>, E> {
        NodeVisitor.visit_i64(v)
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Node<'de>, E> {
        NodeVisitor.visit_u64(v)
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Node<'de>, E> {
        NodeVisitor.visit_f64(v)
    }
    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Node<'de>, E> {
        NodeVisitor.visit_borrowed_str(v)
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Node<'de>, E> {
        NodeVisitor.visit_str(v)
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Node<'de>, E> {
        NodeVisitor.visit_string(v)
    }
    fn visit_unit<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node<'de>, D::Error> {
        self.deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Node<'de>, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = a.next_element_seed(Proj(self.0))? {
            v.push(x);
        }
        Ok(Node::Arr(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Node<'de>, A::Error> {
        let n = self.0;
        let mut v = Vec::new();
        while let Some(Key(k)) = a.next_key()? {
            match n.keep(&k) {
                crate::skim::Keep::Skip => {
                    a.next_value::<IgnoredAny>()?;
                }
                crate::skim::Keep::Whole => v.push((k, a.next_value()?)),
                crate::skim::Keep::Child(c) => {
                    let x = a.next_value_seed(Proj(c))?;
                    v.push((k, x));
                }
            }
        }
        Ok(Node::Obj(v))
    }
}

/// The event as the evaluator sees it: the normalized columns and `raw` parsed once.
///
/// `raw` is parsed on first use, at most once: a rule decided by the normalized columns alone
/// (a field's column targets are visited first, see [`resolve`]) never pays for the parse.
pub struct Doc<'a> {
    /// The normalized event.
    pub event: &'a Event,
    /// `raw` parsed (`Null` when it is not JSON), once something needed it.
    raw: std::cell::OnceCell<Node<'a>>,
    /// What of `raw` to build (`None`: all of it).
    projection: Option<&'a Projection>,
}

impl<'a> Doc<'a> {
    /// The event, with `raw` not parsed yet.
    pub fn new(event: &'a Event) -> Doc<'a> {
        Doc { event, raw: std::cell::OnceCell::new(), projection: None }
    }

    /// The event, `raw` to be parsed through `projection`: only the fields it reaches are
    /// visible to [`Doc::visit`] (keyword searches still see the whole record).
    pub fn projected(event: &'a Event, projection: &'a Projection) -> Doc<'a> {
        Doc { projection: Some(projection), ..Doc::new(event) }
    }

    /// The event with its record given as the tree a whole parse of it gives (a flow tuple's,
    /// built from its fields): nothing is parsed, and keyword searches walk the tree.
    pub(crate) fn with_tree(event: &'a Event, tree: Node<'a>) -> Doc<'a> {
        Doc { event, raw: std::cell::OnceCell::from(tree), projection: None }
    }

    /// `raw` parsed (`Null` when it is not JSON).
    pub fn raw(&self) -> &Node<'a> {
        self.raw.get_or_init(|| {
            match self.projection {
                Some(p) => p.parse(&self.event.raw),
                None => parse(&self.event.raw),
            }
            .unwrap_or(Node::Null)
        })
    }

    /// True when `raw` was JSON.
    pub fn has_raw(&self) -> bool {
        *self.raw() != Node::Null
    }

    /// True when `raw` has been parsed (for the engine's counters).
    pub fn parsed(&self) -> bool {
        self.raw.get().is_some()
    }

    /// Calls `f` for every scalar found at `field`; stops and returns true when `f` does.
    pub fn visit(&self, field: &FieldRef, f: &mut dyn FnMut(Scalar<'_>) -> bool) -> bool {
        if let Some(v) = field.authoritative(self.event) {
            return f(v);
        }
        for t in &field.targets {
            let hit = match t {
                Target::Column(c) => match c.get(self.event) {
                    Scalar::Null => false,
                    v => f(v),
                },
                Target::Path(p) => walk(self.raw(), p, f),
                Target::Entry { list, name } => walk_to(self.raw(), list, &mut |n| entry(n, name, f)),
                Target::SignInOutcome(p) => walk(self.raw(), p, &mut |v| match v.as_f64() {
                    Some(code) => f(Scalar::Str(if code == 0.0 { "Success" } else { "Failure" })),
                    None => false,
                }),
                Target::Provider(p) => walk(self.raw(), p, &mut |v| match v {
                    Scalar::Str(id) => provider(id).is_some_and(|ns| f(Scalar::Str(ns))),
                    _ => false,
                }),
                Target::FirewallAction { blocked } => match self.firewall_blocked() {
                    Some(b) if *blocked => f(Scalar::Str(if b { "true" } else { "false" })),
                    Some(b) => firewall_words(b).iter().any(|w| f(Scalar::Str(w))),
                    None => false,
                },
            };
            if hit {
                return true;
            }
        }
        false
    }

    /// Whether the record's firewall verdict is a block ([`Target::FirewallAction`]).
    fn firewall_blocked(&self) -> Option<bool> {
        let mut out = None;
        walk(self.raw(), "dvcaction", &mut |v| {
            v.with_text(|t| out = t.and_then(firewall_blocked));
            out.is_some()
        });
        if out.is_none() && self.event.source == "firewall" {
            let first = self.event.result_details.as_deref().and_then(|d| d.split_whitespace().next());
            out = first.and_then(firewall_blocked).or_else(|| self.event.result.as_deref().and_then(firewall_blocked));
        }
        out
    }

    /// True when `field` has at least one non-null value.
    ///
    /// An empty list or object does not count, nor the text Log Analytics prints for one (`[]`,
    /// `{}`): the field is empty in every export shape alike.
    pub fn exists(&self, field: &FieldRef) -> bool {
        self.visit(field, &mut |v| !matches!(v, Scalar::Null | Scalar::Str("[]" | "{}")))
    }

    /// The first non-empty value of `field`, as text (for group-by keys and entities): a
    /// normalized column's when the field has one and the event fills it.
    pub fn first_text(&self, field: &FieldRef) -> Option<String> {
        self.first_text_with(field, str::to_string)
    }

    /// [`Doc::first_text`] handed to `f` instead of copied (the hunt interns it, no allocation).
    pub fn first_text_with<R>(&self, field: &FieldRef, f: impl FnOnce(&str) -> R) -> Option<R> {
        let mut f = Some(f);
        let mut out = None;
        self.visit(field, &mut |v| {
            v.with_text(|t| match t {
                Some(t) if !t.is_empty() => {
                    out = f.take().map(|f| f(t));
                    true
                }
                _ => false,
            })
        });
        out
    }

    /// The event's `Operation` column where it is one of the record's string values, trimmed
    /// of white space, so a pattern contained in it is contained in a value of the record: the
    /// sources whose `Operation` is authoritative ([`AUTHORITIES`]: Activity `operationName`,
    /// its `value` or `OperationNameValue`, and the parser's fallbacks `OperationName`,
    /// `authorization.action` and the portal export's `Operation name`; Key Vault
    /// `operationName`, top level or in `properties`, which a Log Analytics row may hold as JSON
    /// text, where the value is escaped inside that text: keyword patterns with quotes or
    /// backslashes are not looked up here). Like the authorities, this holds for records the
    /// case store keeps: ingestion parsed `raw` and read the column from it.
    pub fn verbatim_operation(&self) -> Option<&str> {
        let source = self.event.source.as_str();
        let operation =
            |&(sources, _, c): &(&[&str], &[&str], Column)| c == Column::Operation && sources.contains(&source);
        AUTHORITIES.iter().any(operation).then_some(self.event.operation.as_deref()).flatten()
    }

    /// Calls `f` for every string, number and boolean anywhere in the raw record and for
    /// `message` (keyword searches); stops and returns true when `f` does.
    ///
    /// When the whole record has not been parsed into a tree, its values are streamed from the
    /// text instead (no tree is built): the same values, and none when `raw` is not JSON.
    pub fn visit_all(&self, f: &mut dyn FnMut(Scalar<'_>) -> bool) -> bool {
        let tree = self.raw.get().filter(|_| self.projection.is_none());
        let found = match tree {
            Some(t) => deep(t, f),
            None => crate::skim::values(&self.event.raw, f),
        };
        found || f(Scalar::Str(&self.event.message))
    }
}

/// The serde_json reference of [`crate::skim::values`] (tests): calls `f` with every string,
/// number and boolean of the JSON `text` (keys excluded), in
/// document order, until it returns true; true if it did and `text` is JSON.
#[cfg(test)]
pub(crate) fn stream_values(text: &str, f: &mut dyn FnMut(Scalar<'_>) -> bool) -> bool {
    let mut s = Stream { f, found: false };
    let mut de = serde_json::Deserializer::from_str(text);
    // The whole text is read even after a value is found: text that is not JSON has no values.
    (&mut s).deserialize(&mut de).is_ok() && de.end().is_ok() && s.found
}

#[cfg(test)]
struct Stream<'f> {
    f: &'f mut dyn FnMut(Scalar<'_>) -> bool,
    found: bool,
}

#[cfg(test)]
impl Stream<'_> {
    fn see(&mut self, v: Scalar<'_>) {
        if !self.found {
            self.found = (self.f)(v);
        }
    }
}

#[cfg(test)]
impl<'de> DeserializeSeed<'de> for &mut Stream<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

#[cfg(test)]
impl<'de> Visitor<'de> for &mut Stream<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<(), E> {
        self.see(Scalar::Bool(v));
        Ok(())
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<(), E> {
        self.see(Scalar::Num(&v.into()));
        Ok(())
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<(), E> {
        self.see(Scalar::Num(&v.into()));
        Ok(())
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        if let Some(n) = serde_json::Number::from_f64(v) {
            self.see(Scalar::Num(&n));
        }
        Ok(())
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        self.see(Scalar::Str(v));
        Ok(())
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<(), A::Error> {
        while a.next_element_seed(&mut *self)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<(), A::Error> {
        while a.next_key::<IgnoredAny>()?.is_some() {
            a.next_value_seed(&mut *self)?;
        }
        Ok(())
    }
}

/// A record key equals a (lower-cased) path segment, ignoring ASCII case.
#[inline]
fn key_eq(key: &str, lower: &str) -> bool {
    key.len() == lower.len() && key.as_bytes().eq_ignore_ascii_case(lower.as_bytes())
}

/// Follows `path` (lower-cased) from `v`. Objects: the whole remaining path as one key (flat
/// keys with dots, as some exports write them) and the first segment; every key equal to it
/// counts (exports with `resultType` and `ResultType` side by side). Arrays: every element
/// (any-of). Strings that hold a JSON object or array are parsed when the path goes on into them.
fn walk(v: &Node<'_>, path: &str, f: &mut dyn FnMut(Scalar<'_>) -> bool) -> bool {
    walk_to(v, path, &mut |x| leaf(x, f))
}

/// Follows `path` as [`walk`] does and calls `end` with each node it reaches.
fn walk_to(v: &Node<'_>, path: &str, end: &mut dyn FnMut(&Node<'_>) -> bool) -> bool {
    match v {
        Node::Obj(m) => {
            let dot = memchr::memchr(b'.', path.as_bytes());
            for (k, x) in m {
                if key_eq(k, path) && end(x) {
                    return true;
                }
            }
            match dot {
                Some(i) => {
                    let (head, rest) = (&path[..i], &path[i + 1..]);
                    m.iter().any(|(k, x)| key_eq(k, head) && walk_to(x, rest, end))
                }
                None => false,
            }
        }
        Node::Arr(a) => a.iter().any(|e| walk_to(e, path, end)),
        Node::Str(s) => {
            let t = s.trim_start();
            if t.starts_with('{') || t.starts_with('[') {
                // Embedded JSON (`properties.requestbody`, LA `Properties` columns): parsed on
                // demand, so only paths that go into such a string pay for it.
                match parse(s) {
                    Some(inner) => walk_to(&inner, path, end),
                    None => false,
                }
            } else {
                false
            }
        }
        _ => false,
    }
}

fn leaf(v: &Node<'_>, f: &mut dyn FnMut(Scalar<'_>) -> bool) -> bool {
    match v {
        // A Log Analytics column holding JSON text (`InitiatedBy`, `TargetResources`) is the
        // text itself and, like the object it serializes, every value inside it.
        Node::Str(s) if s.trim_start().starts_with(['{', '[']) => {
            f(Scalar::Str(s)) || parse(s).is_some_and(|inner| !matches!(inner, Node::Str(_)) && deep(&inner, f))
        }
        // Entra audit `newValue`/`oldValue` hold JSON text: `"\"False\""` is also `False`.
        Node::Str(s) if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') => {
            f(Scalar::Str(s)) || parse(s).is_some_and(|inner| matches!(&inner, Node::Str(t) if f(Scalar::Str(t))))
        }
        Node::Str(s) => f(Scalar::Str(s)),
        Node::Num(n) => f(Scalar::Num(n)),
        Node::Bool(b) => f(Scalar::Bool(*b)),
        Node::Null => f(Scalar::Null),
        // Empty: null, and the text Log Analytics prints for it (`NetworkLocationDetails: '[]'`).
        Node::Arr(a) if a.is_empty() => f(Scalar::Null) || f(Scalar::Str("[]")),
        Node::Arr(a) => a.iter().any(|e| leaf(e, f)),
        // A path that ends on an object matches any value inside it (what `contains` on the
        // serialized column does in Log Analytics, and `operationName` vs `operationName.value`).
        Node::Obj(m) if m.is_empty() => f(Scalar::Null) || f(Scalar::Str("{}")),
        Node::Obj(_) => deep(v, f),
    }
}

/// The value of the name/value entry `n` (or of each such entry of the list `n`) named `name`.
fn entry(n: &Node<'_>, name: &str, f: &mut dyn FnMut(Scalar<'_>) -> bool) -> bool {
    match n {
        Node::Arr(a) => a.iter().any(|e| entry(e, name, f)),
        Node::Str(s) if s.trim_start().starts_with('[') => parse(s).is_some_and(|inner| entry(&inner, name, f)),
        Node::Obj(m) => {
            let named = m.iter().any(|(k, v)| {
                ["displayname", "key", "name"].iter().any(|n| key_eq(k, n))
                    && matches!(v, Node::Str(s) if key_eq(s, name))
            });
            named && m.iter().any(|(k, v)| ["newvalue", "value"].iter().any(|n| key_eq(k, n)) && leaf(v, f))
        }
        _ => false,
    }
}

/// The namespace after the last `/providers/` of an ARM id (`Microsoft.Compute`).
fn provider(id: &str) -> Option<&str> {
    let b = id.as_bytes();
    let needle = b"/providers/";
    let at = (0..b.len().saturating_sub(needle.len() - 1))
        .rev()
        .find(|&i| b[i..i + needle.len()].eq_ignore_ascii_case(needle))?;
    let rest = &id[at + needle.len()..];
    let ns = rest.split('/').next()?;
    (!ns.is_empty()).then_some(ns)
}

fn deep(v: &Node<'_>, f: &mut dyn FnMut(Scalar<'_>) -> bool) -> bool {
    match v {
        Node::Str(s) => f(Scalar::Str(s)),
        Node::Num(n) => f(Scalar::Num(n)),
        Node::Bool(b) => f(Scalar::Bool(*b)),
        Node::Null => false,
        Node::Arr(a) => a.iter().any(|e| deep(e, f)),
        Node::Obj(m) => m.iter().any(|(_, e)| deep(e, f)),
    }
}

/// Which family of logs a rule is written for; aliases differ per family (`Status` is the
/// activity's `status.value` but the sign-in's `status.errorCode`/`failureReason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Activity Log.
    Activity,
    /// Entra sign-ins.
    SignIn,
    /// Entra audit (and PIM).
    Audit,
    /// Microsoft 365 unified audit log (`m365_audit`: AuditData records, `OfficeActivity` rows).
    M365,
    /// Resource logs that Log Analytics stores in `AzureDiagnostics` (Key Vault, Application
    /// Gateway, WAF, Bastion, Azure Firewall): a field is also its flattened, typed column there
    /// (`properties.id` is `id_s`, `identity.claim.appid` is `identity_claim_appid_g`).
    Diagnostic,
    /// Sigma's generic `category: firewall`: flow tuples and Azure Firewall records, read
    /// through their normalized columns (`src_ip` is `SrcIpAddr`, `dst_port` `DstPortNumber`,
    /// `action` the verdict in every vendor's words).
    Firewall,
    /// Anything else.
    Other,
}

/// Alternative locations of a rule field in the raw shapes of its log family. The name as
/// written is always tried first; `@Name` targets are normalized columns.
fn aliases(family: Family, lower: &str) -> &'static [&'static str] {
    use Family::*;
    match (family, lower) {
        // Activity Log: LA AzureActivity columns, REST objects, diagnostic/Event Hub strings.
        (Activity, "operationname" | "operationnamevalue") => {
            &["operationName.value", "operationName", "OperationNameValue", "properties.operationName"]
        }
        (Activity, "status" | "activitystatusvalue" | "activitystatus") => {
            &["status.value", "ActivityStatusValue", "resultType", "properties.status"]
        }
        (Activity, "activitysubstatusvalue" | "substatus") => {
            &["subStatus.value", "ActivitySubstatusValue", "properties.statusCode", "resultSignature"]
        }
        (Activity, "category" | "categoryvalue") => &["category.value", "CategoryValue", "category"],
        (Activity, "resourceprovidervalue" | "resourceprovider") => {
            &["resourceProviderName.value", "ResourceProviderValue", "ResourceProvider", "resourceProviderName"]
        }
        (Activity, "resourceid") => &["resourceId", "_ResourceId", "ResourceId", "id", "@TargetResourceId"],
        (_, "caller") => &["caller", "Caller", "identity.claims.name", "@ActorUsername"],
        (_, "calleripaddress") => {
            &["callerIpAddress", "httpRequest.clientIpAddress", "CallerIpAddress", "ipAddress", "@SrcIpAddr"]
        }
        // Sign-ins: LA SigninLogs columns, Graph signIn objects, diagnostic envelope.
        (SignIn, "resulttype" | "errorcode") => &[
            "ResultType",
            "resultType",
            "status.errorCode",
            "properties.status.errorCode",
            "Status.errorCode",
            "@EventResultDetails",
        ],
        (SignIn, "resultdescription" | "failurereason") => &[
            "ResultDescription",
            "resultDescription",
            "status.failureReason",
            "properties.status.failureReason",
            "Status.failureReason",
            "status.additionalDetails",
            "properties.status.additionalDetails",
        ],
        (SignIn, "status") => &["Status", "status", "properties.status", "@EventResult"],
        (SignIn | Audit, "ipaddress" | "ipaddr") => {
            &["IPAddress", "ipAddress", "properties.ipAddress", "callerIpAddress", "@SrcIpAddr"]
        }
        // ASIM's and Windows' name for the account that signs in, as ported rules write it.
        (SignIn, "targetusername" | "targetuserprincipalname") => {
            &["UserPrincipalName", "userPrincipalName", "properties.userPrincipalName", "@ActorUsername"]
        }
        (SignIn | Audit, "userprincipalname" | "username") => &[
            "UserPrincipalName",
            "userPrincipalName",
            "properties.userPrincipalName",
            "initiatedBy.user.userPrincipalName",
            "properties.initiatedBy.user.userPrincipalName",
            "@ActorUsername",
        ],
        (SignIn, "appdisplayname") => &["AppDisplayName", "appDisplayName", "properties.appDisplayName"],
        (SignIn, "useragent") => &["UserAgent", "userAgent", "properties.userAgent", "@HttpUserAgent"],
        // Audit: `properties.message` was the activity name in older exports Sigma rules target.
        (Audit, "properties.message" | "activitydisplayname" | "operationname") => &[
            "ActivityDisplayName",
            "activityDisplayName",
            "properties.activityDisplayName",
            "OperationName",
            "operationName",
            "properties.message",
        ],
        (Audit, "activitytype") => &["ActivityDisplayName", "activityDisplayName", "properties.activityDisplayName"],
        // `Status` in Sigma audit rules is the result, or the sentence of the result's reason.
        (Audit, "status" | "result" | "resultstatus") => &[
            "Result",
            "result",
            "properties.result",
            "resultType",
            "@EventResult",
            "ResultReason",
            "resultReason",
            "properties.resultReason",
        ],
        (Audit, "failure_status_reason" | "failurestatusreason") => {
            &["ResultReason", "resultReason", "properties.resultReason", "ResultDescription"]
        }
        // Microsoft 365 audit: AuditData keys (Management Activity API, Purview exports) and
        // `OfficeActivity` columns. Sigma's m365 threat_management rules name `eventSource`
        // (the workload, `SecurityComplianceCenter` for alerts), `eventName` (the operation, or
        // an alert's `Name`) and `status` (the result, matched through the normalized
        // `EventResult` so `success` finds `Succeeded` and `True`).
        (M365, "eventsource" | "workload") => &["Workload", "OfficeWorkload"],
        (M365, "eventname") => &["Operation", "Name", "@Operation"],
        (M365, "status" | "resultstatus") => &["ResultStatus", "@EventResult"],
        (M365, "objectid") => &["ObjectId", "OfficeObjectId", "@TargetResourceId"],
        // `RequestType` is the `ExtendedProperties` entry of that name (see `entries`).
        (M365, "payload") => &["Parameters", "Data"],
        (Audit, "category") => &["Category", "properties.category", "category"],
        (Audit, "initiatedby") => &["InitiatedBy", "initiatedBy", "properties.initiatedBy"],
        (Audit, "target" | "targetresources") => &["TargetResources", "targetResources", "properties.targetResources"],
        (Audit, "resultdescription" | "resultreason") => {
            &["ResultDescription", "resultReason", "properties.resultReason", "ResultReason"]
        }
        (_, "useragent") => &["userAgent", "UserAgent", "properties.userAgent", "@HttpUserAgent"],
        // Application Gateway and WAF: the parsers' columns hold the same values, so rules on
        // them are decided without parsing `raw` (see `resolve`).
        (Other | Diagnostic, "httpstatus" | "httpstatuscode") => &["properties.httpStatus", "@HttpStatusCode"],
        (Other | Diagnostic, "clientip") => &["properties.clientIP", "@SrcIpAddr"],
        // Sigma's generic firewall taxonomy (and the ECS/CIM spellings ported rules use).
        (Firewall, "src_ip" | "srcip" | "source_ip" | "sourceip" | "source.ip" | "src") => &["@SrcIpAddr"],
        (Firewall, "dst_ip" | "dstip" | "dest_ip" | "destination_ip" | "destinationip" | "destination.ip" | "dst") => {
            &["@DstIpAddr"]
        }
        (Firewall, "src_port" | "srcport" | "source_port" | "sourceport" | "source.port") => &["@SrcPortNumber"],
        (
            Firewall,
            "dst_port" | "dstport" | "dest_port" | "destination_port" | "destinationport" | "destination.port",
        ) => &["@DstPortNumber"],
        (Firewall, "protocol" | "proto" | "network.transport" | "transport") => &["@NetworkProtocol"],
        (Firewall, "rule" | "rule_name" | "rulename" | "policy") => &["NetworkRuleName", "properties.Rule", "Rule"],
        (Firewall, "src_bytes" | "bytes_out" | "sent_bytes") => &["SrcBytes"],
        (Firewall, "dst_bytes" | "bytes_in" | "received_bytes") => &["DstBytes"],
        _ => &[],
    }
}

/// Resolves a rule field name for `family` to every target it can be found at.
pub fn resolve(name: &str, family: Family) -> FieldRef {
    let mut targets: Vec<Target> = Vec::new();
    fn add(targets: &mut Vec<Target>, t: Target) {
        if !targets.contains(&t) {
            targets.push(t);
        }
    }
    let lower = name.to_ascii_lowercase();
    if let Some(c) = name.strip_prefix('@').and_then(Column::by_name) {
        add(&mut targets, Target::Column(c));
    } else {
        add(&mut targets, Target::Path(name.to_ascii_lowercase().into()));
    }
    for a in aliases(family, &lower) {
        match a.strip_prefix('@') {
            Some(c) => {
                if let Some(c) = Column::by_name(c) {
                    add(&mut targets, Target::Column(c));
                }
            }
            None => add(&mut targets, Target::Path(a.to_ascii_lowercase().into())),
        }
    }
    // Diagnostic settings wrap the Graph/REST object in `properties`; LA flattens it. So a field
    // is also looked up under `properties.`, and `properties.X` also as `X`.
    match lower.strip_prefix("properties.") {
        Some(rest) => add(&mut targets, Target::Path(rest.into())),
        None => add(&mut targets, Target::Path(format!("properties.{lower}").into())),
    }
    if let Some(c) = Column::by_name(name) {
        add(&mut targets, Target::Column(c));
    }
    // A field the alias layer knows is a record field; only an unknown name may be a list
    // entry's (keeps four extra lookups per field off every audit rule).
    if aliases(family, &lower).is_empty() {
        for t in entries(family, &lower) {
            add(&mut targets, t);
        }
    }
    if family == Family::SignIn && lower == "status" {
        for p in ["resulttype", "status.errorcode", "properties.status.errorcode"] {
            add(&mut targets, Target::SignInOutcome(p.into()));
        }
    }
    if family == Family::Diagnostic {
        // `AzureDiagnostics` flattens the record: `properties.requestUri` is `requestUri_s`,
        // `identity.claim.appid` `identity_claim_appid_g`, by the value's type.
        let paths: Vec<String> =
            targets.iter().filter_map(|t| if let Target::Path(p) = t { Some(p.to_string()) } else { None }).collect();
        for p in paths {
            let flat = p.strip_prefix("properties.").unwrap_or(&p).replace('.', "_");
            if !["_s", "_d", "_g", "_b"].iter().any(|x| flat.ends_with(x)) {
                for x in ["_s", "_d", "_g", "_b"] {
                    add(&mut targets, Target::Path(format!("{flat}{x}").into()));
                }
            }
        }
    }
    if family == Family::Firewall && matches!(lower.as_str(), "action" | "event.action" | "disposition" | "blocked") {
        add(&mut targets, Target::FirewallAction { blocked: lower == "blocked" });
    }
    if family == Family::Activity && matches!(lower.as_str(), "resourceprovidervalue" | "resourceprovider") {
        for p in ["resourceid", "_resourceid", "id"] {
            add(&mut targets, Target::Provider(p.into()));
        }
    }
    // Columns first: the normalized columns are at hand, `raw` needs a parse. A field is the
    // union of its targets, so the order changes no decision; it makes a rule whose tests a
    // column satisfies (and a group key a column holds) cost no parse.
    targets.sort_by_key(|t| !matches!(t, Target::Column(_)));
    let authority = AUTHORITIES
        .iter()
        .filter(|(_, names, _)| names.contains(&lower.as_str()))
        .map(|&(sources, _, column)| Authority { column, sources })
        .collect();
    FieldRef { name: name.into(), targets, authority }
}

/// Name/value lists a field name can address: (family, list paths). A field `X` is also the
/// entry named `X` of each list, and `L.X` the entry `X` of the list `L` (`additionalDetails.
/// additionalInfo`). Sigma rules name Entra audit modified properties directly
/// (`ConsentContext.IsAdminConsent`), and M365 rules name `ExtendedProperties` entries
/// (`RequestType`).
fn entries(family: Family, lower: &str) -> Vec<Target> {
    const AUDIT_PROPS: &[&str] = &[
        "targetresources.modifiedproperties",
        "properties.targetresources.modifiedproperties",
        "additionaldetails",
        "properties.additionaldetails",
    ];
    const M365: &[&str] = &["extendedproperties", "parameters", "modifiedproperties", "operationproperties"];
    let lists = match family {
        Family::Audit => AUDIT_PROPS,
        Family::M365 => M365,
        _ => return Vec::new(),
    };
    let mut out: Vec<Target> = lists.iter().map(|l| Target::Entry { list: (*l).into(), name: lower.into() }).collect();
    // `additionalDetails.additionalInfo`: the list named by the field's head, its entry the rest.
    if let Some((head, rest)) = lower.split_once('.') {
        for l in lists.iter().filter(|l| l.rsplit('.').next() == Some(head)) {
            out.push(Target::Entry { list: (*l).into(), name: rest.into() });
        }
    }
    out
}

/// The target list exactly as written (no aliases): for tests and differential runs.
pub fn literal(name: &str) -> FieldRef {
    FieldRef { name: name.into(), targets: vec![Target::Path(name.to_ascii_lowercase().into())], authority: Vec::new() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(raw: &str) -> Event {
        Event { raw: raw.to_string(), ..Default::default() }
    }

    fn values(e: &Event, f: &FieldRef) -> Vec<String> {
        let d = Doc::new(e);
        let mut out = Vec::new();
        d.visit(f, &mut |v| {
            v.with_text(|t| out.push(t.unwrap_or("<null>").to_string()));
            false
        });
        out
    }

    #[test]
    fn paths_descend_into_arrays_of_objects_and_ignore_key_case() {
        let e = doc(r#"{"properties":{"targetResources":[{"displayName":"a"},{"DisplayName":"b"}]}}"#);
        assert_eq!(values(&e, &literal("properties.targetResources.displayName")), ["a", "b"]);
        assert_eq!(values(&e, &literal("Properties.TargetResources.displayname")), ["a", "b"]);
        assert!(values(&e, &literal("properties.targetResources.id")).is_empty());
    }

    #[test]
    fn name_value_entries_are_fields_and_their_json_text_is_unquoted() {
        let graph = r#"{"targetResources":[{"modifiedProperties":[
            {"displayName":"ConsentContext.IsAdminConsent","oldValue":null,"newValue":"\"False\""},
            {"displayName":"ConsentAction.Permissions","newValue":"\"Mail.Read\""}]}],
            "additionalDetails":[{"key":"AdditionalInfo","value":"Successfully recovered the password"}]}"#;
        let la = r#"{"TargetResources":"[{\"modifiedProperties\":[{\"displayName\":\"ConsentContext.IsAdminConsent\",\"newValue\":\"\\\"False\\\"\"}]}]"}"#;
        for raw in [graph, la] {
            let v = values(&doc(raw), &resolve("ConsentContext.IsAdminConsent", Family::Audit));
            assert!(v.iter().any(|x| x == "False"), "{raw}: {v:?}");
        }
        let info = values(&doc(graph), &resolve("additionalDetails.additionalInfo", Family::Audit));
        assert!(info.iter().any(|x| x.starts_with("Successfully recovered")), "{info:?}");
        // Another entry's value is not this entry's, and other families do not look into lists.
        assert!(!values(&doc(graph), &resolve("ConsentContext.IsAdminConsent", Family::Audit))
            .contains(&"Mail.Read".into()));
        assert!(values(&doc(graph), &resolve("ConsentContext.IsAdminConsent", Family::Other)).is_empty());
        let m365 =
            r#"{"ExtendedProperties":[{"Name":"UserAgent","Value":"x"},{"Name":"RequestType","Value":"Cmsi:Cmsi"}]}"#;
        assert_eq!(values(&doc(m365), &resolve("RequestType", Family::M365)), ["Cmsi:Cmsi"]);
    }

    #[test]
    fn derived_values_provider_sign_in_outcome_empty_lists_and_json_text() {
        let diag = r#"{"resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.ADHYBRIDHEALTHSERVICE/SERVICES/x"}"#;
        let v = values(&doc(diag), &resolve("ResourceProviderValue", Family::Activity));
        assert!(v.iter().any(|x| x == "MICROSOFT.ADHYBRIDHEALTHSERVICE"), "{v:?}");
        assert_eq!(
            provider("/subscriptions/s/providers/Microsoft.Compute/vms/v/providers/Microsoft.Insights/x"),
            Some("Microsoft.Insights")
        );
        assert_eq!(provider("/subscriptions/s/resourceGroups/rg"), None);
        // Raw sign-ins carry no word for success: the error code gives it.
        let ok = values(&doc(r#"{"status":{"errorCode":0}}"#), &resolve("Status", Family::SignIn));
        assert!(ok.iter().any(|x| x == "Success") && !ok.iter().any(|x| x == "Failure"), "{ok:?}");
        let bad = values(&doc(r#"{"resultType":"50126"}"#), &resolve("Status", Family::SignIn));
        assert!(bad.iter().any(|x| x == "Failure") && !bad.iter().any(|x| x == "Success"), "{bad:?}");
        // An empty list is null and `[]`, as Log Analytics prints it.
        assert_eq!(
            values(&doc(r#"{"networkLocationDetails":[]}"#), &literal("networkLocationDetails")),
            ["<null>", "[]"]
        );
        // ... and exists in no shape.
        for raw in [r#"{"n":[]}"#, r#"{"n":"[]"}"#, r#"{"n":{}}"#, r#"{"n":null}"#] {
            let e = doc(raw);
            assert!(!Doc::new(&e).exists(&literal("n")), "{raw}");
        }
        assert!(Doc::new(&doc(r#"{"n":[0]}"#)).exists(&literal("n")));
        // A path ending on JSON text (an LA dynamic column) yields the text and the values inside.
        let la = doc(r#"{"InitiatedBy":"{\"user\":{\"userPrincipalName\":\"adele@contoso.com\"}}"}"#);
        let v = values(&la, &literal("InitiatedBy"));
        assert_eq!(v.len(), 2, "{v:?}");
        assert_eq!(v[1], "adele@contoso.com");
    }

    #[test]
    fn paths_go_into_json_held_in_strings_and_flat_dotted_keys() {
        let e = doc(r#"{"properties":{"requestbody":"{\"properties\":{\"access\":\"Allow\"}}"},"a.b":1}"#);
        assert_eq!(values(&e, &literal("properties.requestbody.properties.access")), ["Allow"]);
        assert_eq!(values(&e, &literal("a.b")), ["1"]);
    }

    #[test]
    fn an_object_leaf_yields_its_values_and_numbers_print_as_written() {
        let e = doc(r#"{"operationName":{"value":"X/write","localizedValue":"Write X"},"n":50053,"f":1.5}"#);
        let mut v = values(&e, &literal("operationName"));
        v.sort();
        assert_eq!(v, ["Write X", "X/write"]);
        assert_eq!(values(&e, &literal("n")), ["50053"]);
        assert_eq!(values(&e, &literal("f")), ["1.5"]);
    }

    #[test]
    fn an_authoritative_column_is_the_field_when_filled_and_raw_is_consulted_when_not() {
        let raw =
            r#"{"operationName":{"value":"Microsoft.Compute/virtualMachines/write","localizedValue":"Create VM"}}"#;
        let f = resolve("operationName", Family::Activity);
        let filled = Event {
            source: "activity".into(),
            operation: Some("Microsoft.Compute/virtualMachines/write".into()),
            ..doc(raw)
        };
        // The column alone: the display name in `raw` is not a value of the field.
        assert_eq!(values(&filled, &f), ["Microsoft.Compute/virtualMachines/write"]);
        let d = Doc::new(&filled);
        assert!(d.exists(&f));
        assert!(!d.parsed(), "decided without parsing raw");
        // Empty column, or a source the column is not authoritative for: every target.
        let empty = Event { source: "activity".into(), ..doc(raw) };
        assert_eq!(values(&empty, &f).len(), 3, "{:?}", values(&empty, &f));
        let other = Event { source: "audit".into(), ..filled.clone() };
        assert!(values(&other, &f).contains(&"Create VM".to_string()));
        // Per source: Key Vault's `operationName` is its own column too.
        let kv =
            Event { source: "keyvault".into(), operation: Some("SecretGet".into()), ..doc(r#"{"operationName":"x"}"#) };
        assert_eq!(values(&kv, &resolve("operationName", Family::Other)), ["SecretGet"]);
        // The `AzureDiagnostics` table's flattened, typed columns, for resource-log families only.
        let la = doc(r#"{"id_s":"https://kv/secrets/a","identity_claim_appid_g":"app-1","httpStatusCode_d":403}"#);
        assert_eq!(values(&la, &resolve("properties.id", Family::Diagnostic)), ["https://kv/secrets/a"]);
        assert_eq!(values(&la, &resolve("identity.claim.appid", Family::Diagnostic)), ["app-1"]);
        assert_eq!(values(&la, &resolve("properties.httpStatusCode", Family::Diagnostic)), ["403"]);
        assert!(values(&la, &resolve("properties.id", Family::Other)).is_empty());
    }

    #[test]
    fn a_projected_parse_keeps_what_the_fields_reach_and_nothing_else() {
        let raw = r#"{"properties":{"status":{"errorCode":50126,"failureReason":"bad"},
            "appliedConditionalAccessPolicies":[{"id":"p1","displayName":"Require MFA"}],
            "deviceDetail":{"isCompliant":false,"browser":"Edge"},
            "requestbody":"{\"properties\":{\"access\":\"Allow\"}}",
            "list":[{"a":{"b":1}},{"a":{"b":2,"c":3}}]},
            "a.b":"flat","ResultType":"50126","resultType":"0"}"#;
        let fields: Vec<FieldRef> = [
            "properties.status",
            "properties.deviceDetail.isCompliant",
            "a.b",
            "resulttype",
            "properties.requestbody.properties.access",
            "properties.list.a.b",
        ]
        .iter()
        .map(|p| literal(p))
        .collect();
        let mut proj = Projection::default();
        fields.iter().for_each(|f| proj.add_field(f));
        let e = doc(raw);
        for f in &fields {
            let full = values(&e, f);
            let d = Doc::projected(&e, &proj);
            let mut got = Vec::new();
            d.visit(f, &mut |v| {
                v.with_text(|t| got.push(t.unwrap_or("<null>").to_string()));
                false
            });
            assert_eq!(got, full, "{}", f.name);
            assert!(!full.is_empty(), "{}", f.name);
        }
        // What no field reaches is not built; keyword searches still see the whole record.
        let d = Doc::projected(&e, &proj);
        assert!(!d.visit(&literal("properties.appliedConditionalAccessPolicies.displayName"), &mut |_| true));
        assert!(d.visit_all(&mut |v| matches!(v, Scalar::Str("Require MFA"))));
        assert!(Projection::everything().parse(raw).is_some_and(|n| n == parse(raw).unwrap()));
        // Not JSON, or JSON with trailing text: nothing, as a whole parse.
        assert!(proj.parse(r#"{"properties":{"status":1}"#).is_none());
        assert!(proj.parse(r#"{"a":1} x"#).is_none());
    }

    /// A projection keeps the same things whatever order its paths were added in, a flat
    /// dotted key included when a path it shares a first segment with is kept whole (each
    /// added path re-indexes the nodes it went through, not the whole tree).
    #[test]
    fn a_projection_keeps_the_same_whatever_order_its_paths_come_in() {
        let raw = r#"{"a":{"x":1},"a.b.c":"flat","p":{"q":{"r":2,"s":3},"t":4,"v":6},"u":5}"#;
        let want = parse(r#"{"a":{"x":1},"a.b.c":"flat","p":{"q":{"r":2,"s":3},"t":4}}"#).unwrap();
        let paths = ["a", "a.b.c", "p.q.r", "p.t", "p.q"];
        let mut orders: Vec<Vec<usize>> = vec![vec![]];
        for _ in 0..paths.len() {
            let mut next = Vec::new();
            for o in &orders {
                for i in (0..paths.len()).filter(|i| !o.contains(i)) {
                    next.push([o.clone(), vec![i]].concat());
                }
            }
            orders = next;
        }
        assert_eq!(orders.len(), 120);
        for order in orders {
            let mut proj = Projection::default();
            order.iter().for_each(|&i| proj.add_path(paths[i]));
            assert_eq!(proj.parse(raw), Some(want.clone()), "{order:?}");
        }
    }

    #[test]
    fn keyword_searches_stream_the_values_of_the_record_as_the_tree_holds_them() {
        let raw = r#"{"Microsoft.Compute/x":"key","a":[1,true,{"b":"Microsoft.Compute/virtualMachines/write"}],"n":null,"f":1.5}"#;
        let e = Event { message: "the message".into(), ..doc(raw) };
        let seen = |d: &Doc<'_>| {
            let mut out = Vec::new();
            d.visit_all(&mut |v| {
                v.with_text(|t| out.push(t.unwrap_or("<null>").to_string()));
                false
            });
            out
        };
        // Streamed (nothing parsed yet), and from the tree once `raw` is parsed: the same values,
        // keys excluded, the message last.
        let streamed = seen(&Doc::new(&e));
        assert_eq!(streamed, ["key", "1", "true", "Microsoft.Compute/virtualMachines/write", "1.5", "the message"]);
        let d = Doc::new(&e);
        d.raw();
        assert_eq!(seen(&d), streamed);
        // A hit is found; text that is not JSON has no values (a value read before the text
        // breaks off does not count), only the message.
        let write = &mut |v: Scalar<'_>| matches!(v, Scalar::Str(s) if s.ends_with("/write"));
        assert!(Doc::new(&e).visit_all(write));
        let bad = Event { message: "m".into(), ..doc(r#"{"a":"Microsoft.Compute/virtualMachines/write""#) };
        assert!(!Doc::new(&bad).visit_all(write));
        assert!(Doc::new(&bad).visit_all(&mut |v| matches!(v, Scalar::Str("m"))));
    }

    #[test]
    fn aliases_reach_every_shape_of_a_sign_in() {
        let f = resolve("ResultType", Family::SignIn);
        for raw in [
            r#"{"ResultType":"50053"}"#,
            r#"{"resultType":"50053","properties":{"status":{"errorCode":50053}}}"#,
            r#"{"status":{"errorCode":50053}}"#,
            r#"{"Status":"{\"errorCode\":50053}"}"#,
        ] {
            assert!(values(&doc(raw), &f).iter().any(|v| v == "50053"), "{raw}");
        }
        assert!(!values(&doc(r#"{"status":{"errorCode":0}}"#), &f).iter().any(|v| v == "50053"));
    }
}
