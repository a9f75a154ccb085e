//! # azir-detect — a Sigma engine that matches Azure logs as they really are
//!
//! Rules are parsed from YAML ([`rule`]), compiled once into matchers ([`matcher`]) and a
//! condition tree ([`condition`]), routed by `logsource` to azir event sources ([`logsource`]),
//! and evaluated per event against the normalized columns plus `raw` parsed once ([`fields`]).
//! Correlation rules ([`correlation`]) aggregate the matches of their base rules, or the windows
//! of other correlations (Sigma chaining). What no Sigma rule can state (Bastion from an IP never
//! seen in a successful sign-in) is in [`novelty`], and what needs a sum (bytes to one external
//! address over many flow tuples) in [`volume`]. This crate never touches files: callers hand
//! it rule texts and events.
//!
//! ## Why our own engine, not rsigma
//!
//! `rsigma` (timescale/rsigma, MIT, v0.23–0.26) is a complete, well-kept Sigma engine with
//! correlations and processing pipelines, and its JSON event adapter already distributes paths
//! over arrays. It was evaluated as the engine and rejected, for three reasons:
//!
//! 1. **Build floor.** It is edition 2024 with `rust-version = 1.95`; our workspace promises
//!    1.94. Taking it would raise every crate's toolchain floor for one feature, and its
//!    dependency tree (rsigma-parser, rsigma-ir, yaml_serde, daachorse, flate2, …) is larger than
//!    the rest of the detection stack.
//! 2. **Azure semantics sit in the wrong layer there.** Its `Event` trait resolves one path string
//!    per lookup at evaluation time; our semantics need one rule field to resolve to several
//!    places at *compile* time (the alias layer: `ResultType` is `ResultType`, `resultType`,
//!    `status.errorCode`, `properties.status.errorCode` or the LA `Status` column's JSON), keys
//!    compared case-insensitively (`resultType` vs `ResultType`), numbers equal to their text,
//!    descent into JSON held in strings (`properties.requestbody`, LA `Properties`), and the
//!    normalized ASIM columns as fields. Expressing that as a pipeline plus an adapter would
//!    re-resolve aliases on every lookup of every event.
//! 3. **Findings need provenance.** Correlation windows must carry the contributing events (and
//!    their evidence file and line), which is simplest where the windows are ours.
//!
//! The engine here is small (one module per stage, as rsigma is organised). A differential test
//! against rsigma lives outside the workspace (`bench/rsigma-peer`, `scripts/rsigma-diff`, run by
//! `scripts/test`): every SigmaHQ cloud rule, the pack and modifier probes decide a generated
//! corpus of alias-free events in both engines, and every difference must be explained by a named
//! cause (azir's Azure semantics on purpose, or a documented rsigma defect).
//!
//! ## Evaluation cost
//!
//! Per event, in this order, each step only for what the one before left open:
//!
//! 1. **Route** by source: only the rules whose `logsource` maps to the event's source (a short
//!    list searched from the previous event's source; events come in runs).
//! 2. **Column pass.** For some sources a normalized column *is* a field (the parser read it
//!    faithfully from whichever export shape the record has; [`fields::Authority`]): Activity
//!    and Key Vault `operationName`, sign-in `ResultType`, Application Gateway and WAF
//!    `httpStatus`. First a literal check on those columns' text rules out the rules whose
//!    tests on such fields need a literal the columns lack (most Activity rules, on the
//!    operation name); then each remaining rule that reads such a field is evaluated in
//!    three-valued logic with every other test unknown ([`rule::Detection::decide`]): it is
//!    decided (matched or not) without the record when the known tests settle it.
//! 3. **Literal scan.** Each rule has a set of literals one of which must occur in the record
//!    (derived from its condition: the cheapest child of an `and`, every child of an `or`,
//!    nothing under `not`; for each value its longest piece that JSON carries verbatim and that
//!    is not a busy provider namespace or verb, cut to its last 16 bytes, with `/` and `\/`
//!    spellings). If a rule left open has one, `raw`, `message` and the columns are joined,
//!    lower-cased once and scanned by fingerprints with a SIMD searcher ([`literals`]); the
//!    smaller literal set of the rules the columns can never decide is used when only such
//!    rules are open, beside the own literals of up to three rules the columns could decide but
//!    left open (an Activity record whose operation a rule names: its few literals take one
//!    pass over the text, the whole set's hundreds several). A hunter pauses the scan for a
//!    source where it rarely spares the parse (`ScanBudget`: a Sigma rule on
//!    `DeviceDetail.isCompliant: 'false'` admits nearly every sign-in).
//! 4. **Evaluation** of what is left, on a projected parse of `raw`: only the paths the
//!    source's rules and the group-by and counted fields of their correlations can read are
//!    built ([`fields::Projection`]); every other value is stepped over by finding its end
//!    (`skim`; serde_json decodes only what is kept). Evaluation allocates nothing: keys are
//!    compared ASCII-case-insensitively in place, numbers are formatted into a stack buffer,
//!    case-insensitive `contains` is a `memchr2` scan on the first byte, and patterns that need
//!    more are `regex` matchers. Keyword searches stream the record's values from its text
//!    (one pass for all the keywords, no tree); keywords that are all contained text are first
//!    looked for in the Activity or Key Vault operation column, which holds one of those values
//!    (SigmaHQ's Activity keyword rules name operations). A path that goes *into* a string
//!    holding JSON parses that string.
//! 5. **Bookkeeping** for a match: the event's reference (provenance, and user, IP, app and
//!    resource as symbols of the hunter: each distinct text stored once, `intern`) once, the
//!    (rule, event) pair of a reporting rule, and a hit per correlation the rule feeds with its
//!    lower-cased group key as a number (a tuple of symbols, stored once). At the end, findings
//!    are grouped, correlation hits sorted as integers per group (groups ranked by their texts,
//!    so the result does not depend on the order texts were first seen) and windowed, chained
//!    correlations run in dependency order, and event references are built as text only for
//!    the events of findings.
//!
//! Measured (BENCHMARKS.md, "Session 7" and "Session 8"): see there for the numbers, the A/B
//! runs, and the ratio to rsigma on the same events.

//! ## Semantics worth knowing
//!
//! * Matching is case-insensitive unless `cased`; `re` is case-sensitive unless `i`.
//! * **Authoritative columns:** for records of some sources a field is the parser's column
//!   when the record fills it, and the record's other places for the field are not consulted
//!   ([`fields::Authority`]). So a rule on Activity `operationName` matches the canonical
//!   operation (`MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE`, as every SigmaHQ rule writes it), not
//!   the display name Log Analytics' `OperationName` column and the REST `localizedValue` carry.
//!   The shapes test checks every generated event both raw and as ingestion makes it.
//! * A field is the union of the values at all its alias targets and, through arrays, of all
//!   elements (`properties.targetResources.displayName` matches if any element matches). A path
//!   ending on an object yields every value inside it (as `contains` on a serialized LA column),
//!   and so does a path ending on JSON text (an LA dynamic column), beside the text itself.
//! * `null` (and `''`) match a missing field, a JSON null, an empty string or an empty array;
//!   an empty array is also the text `[]` (and an empty object `{}`), as LA prints them.
//! * Derived values: in audit and M365 rules a field also names the entry of that name in the
//!   records' name/value lists (`ConsentContext.IsAdminConsent` is the `modifiedProperties`
//!   entry, `additionalDetails.additionalInfo` the `additionalDetails` entry, `RequestType` the
//!   `ExtendedProperties` entry), and a value that is a JSON string (`"\"False\""`) is also its
//!   content. A sign-in's `Status` is also `Success`/`Failure` from its error code, and an
//!   Activity record's `ResourceProviderValue` also the namespace in its `resourceId` (the
//!   diagnostic-setting export has no provider field).
//! * Keyword searches look for the value (as `contains`, wildcards honoured) in every string and
//!   number of `raw`, and in `message`.
//! * Detection findings are grouped per rule and (user, IP): one finding with every matching
//!   event and its time window, not one per event.
//! * Correlation group keys and counted values are compared lower-cased (`Megan@…` and
//!   `megan@…` from two export shapes are one user).
//! * **`AzureDiagnostics` columns:** rules for Key Vault, Application Gateway, WAF, Bastion and
//!   Azure Firewall also find a field in the flattened, typed column Log Analytics stores it in
//!   (`properties.id` in `id_s`, `identity.claim.appid` in `identity_claim_appid_g`), so the
//!   Key Vault enumeration rule counts secrets in a Log Analytics export as in the diagnostic
//!   JSON.
//! * **Sigma 2.1 modifiers:** `neq` negates the test on a field that is there (it differs from
//!   every value; a missing field is not different, as in rsigma and pySigma's comparison; with
//!   `fieldref`, the two fields differ), and the time modifiers
//!   `minute`, `hour`, `day`, `week` (ISO 8601), `month`, `year` compare a part of the date the
//!   field holds (read in UTC, any spelling Azure writes) with the number, or by `gt`/`lt`/….
//! * **Sigma's generic `category: firewall`** (no product, or `azure`) routes to Azure Firewall
//!   records and every flow tuple (NSG, VNet, VPC): `src_ip`, `dst_ip`, `src_port`, `dst_port`,
//!   `protocol` are the normalized columns (ECS/CIM spellings too), and `action` is the verdict
//!   in the words such rules list for every vendor (`deny`, `denied`, `drop`, `blocked`, …;
//!   `allow`, `accept`, `forward`, …), `blocked` `true`/`false`, from a tuple's `DvcAction` or an
//!   Azure Firewall record's action. A derived value is not in the record's text, so the
//!   prefilter takes no literal from a test on it (nor from a sign-in's derived `Status`).
//! * **Sigma filters** (`filter:` documents, the Sigma 2 global filters): the filter's condition
//!   is ANDed to each rule it names (by id, name or title), or with `rules: any` to every rule
//!   its logsource covers, before anything is indexed, so the prefilter, the projection and the
//!   correlations fed by a filtered rule all see the filtered rule; its fields resolve in each
//!   rule's alias family. Filters do not apply to correlations (pySigma's rule); a filter on a
//!   correlation's base rule changes what the correlation counts. A filter naming rules that
//!   are not loaded is a [`Problem`].
//! * **Sigma 1 aggregations** (`condition: selection | count(TargetUserName) by IpAddress > 10`,
//!   with or without `timeframe`), which older and ported rule sets still use, run as the Sigma 2
//!   correlation they mean: the search is a detection (id `<id>#search`) that does not report
//!   on its own, and `count()` an `event_count`, `count(field)` a `value_count` of the field's
//!   distinct values, grouped by the `by` fields, over `timeframe` (the whole data without one),
//!   reported under the rule's own id, title, level and tags. `a | near b and c` is a `temporal`
//!   correlation over one such detection per search (`<id>#search`, `#search2`, …): all of them
//!   within `timeframe`, in any order, with no group-by (Sigma 1's `near` has none). `near …
//!   and not x` (an absence) and the `min`/`max`/`avg`/`sum` functions have no correlation to
//!   become and are reported per rule, as is a `timeframe` beside a condition without an
//!   aggregation.
//! * **`value_sum` and `value_avg`** (pySigma's correlation types beyond Sigma 2.0): the sum or
//!   the average of `condition.field`'s numeric values (JSON numbers or numbers as text) in the
//!   group's window; a match whose value is not a number is left out of the window.
//!   `value_percentile` and `value_median` are reported per rule. Correlation conditions take
//!   `neq` besides `gt`/`gte`/`lt`/`lte`/`eq`.
//! * Base rules referenced by a correlation do not report on their own unless a correlation
//!   referencing them says `generate: true` (Sigma 2). The same holds for a correlation
//!   referenced by another one.
//! * Chaining (Sigma 2 "correlation of correlations"): `rules:` may name correlations (by
//!   `name` or `id`; a name shared with a detection rule means the detection), alone or mixed
//!   with detection rules (`temporal_ordered: [burst_of_failures, successful_signin]`).
//!   References are resolved in dependency order; a cycle, or a rule above one, is a
//!   [`Problem`], as is a rule above a correlation that failed to load.
//!   - **A hit is a window that met the condition**, at the time it completes: its last
//!     event's time. A burst that goes on completes again at each further event (every window
//!     of `timespan` ending there meets the condition), and each completion is a hit; so
//!     "burst, then success within 1 h" fires for a success while the burst is still running
//!     (a spray tool that finds a password and carries on) and for a success up to 1 h after
//!     the burst's last completing event. A success at the same instant as the completion is
//!     not after it. An `event_count` over a correlation counts each merged window (burst) once,
//!     however many completions it has.
//!   - A hit carries the events of its window, so the referencing correlation's finding lists
//!     them (with their provenance) beside its own events; a `temporal_ordered` finding lists
//!     the failures up to the success, not those after it.
//!   - **Group keys:** a window carries only its group key, so the referencing correlation's
//!     `group-by` fields (and a `value_count` field) must be among the referenced
//!     correlation's `group-by` fields, matched by name case-insensitively after `aliases`;
//!     otherwise the rule is a [`Problem`] ("cannot group by X: the referenced correlation …
//!     groups by …"), not silently regrouped. Detection rules in the same `rules:` list
//!     resolve the fields in their own events, as usual.
//! * Flow tuples (`nsg_flow`, `vnet_flow`, `vpc_flow`) are in the case's `network` table, not in
//!   `events`. [`Hunter::feed_flow`] presents each tuple ([`NetworkSession`]) as an event whose
//!   `raw` is a small JSON object keyed by the ASIM NetworkSession column names (`SrcIpAddr`,
//!   `DstPortNumber`, `DvcAction`, `NetworkDirection`, `FlowState`, `SrcBytes`, …, see
//!   [`flow_event`]); rules name those fields. The hunt does not write that JSON: it builds the
//!   tree a parse of it gives straight from the tuple's fields and evaluates the rules on it,
//!   with no literal scan (a flow rule reads a few of ~20 members); the two are tested equal
//!   member for member. On the demo a tuple went from 10,702 instructions (writing the record
//!   and parsing it back) to 4,308 (BENCHMARKS, session 13). Counters are per tuple (deltas
//!   for NSG v2/VNet `C`/`E` states), not per connection. Contributing tuples keep their evidence path, line and
//!   tuple index ([`EventRef::tuple`]). Firewall flows are not fed this way: Azure Firewall
//!   records are already hunted as `firewall` events.
//! * Paths may go into JSON held in strings (`properties.requestbody.properties.access`); such a
//!   string is parsed each time a path enters it (LA `Properties` columns pay this per lookup).
//! * An `NSG write` whose body holds several `securityRules` is not checked rule by rule: array
//!   descent is any-of, so conditions on one rule could be met by different rules. The pack only
//!   reads `securityRules/write` bodies, which hold one rule.
//! * `portrange` is azir's own modifier (other engines reject it): the field holds a port
//!   specification — `*`, `Any`, `22`, `20-30`, or a comma-separated list — and matches when it
//!   includes the value (`destinationPortRange|portrange: 22` matches `20-30` and `0-65535`).
//!   The pack's NSG rule uses it, so a range is no way around it.
//!
//! ## Left to do (issue 4): the 1 M events/s target
//!
//! Not reached, and not reachable while the hunt reads each record's JSON (BENCHMARKS.md,
//! "Session 13"). A 13,122-event demo round is 135 M instructions: the projected parse 32%,
//! the prefilter 29% (its lower-casing and literal scans 19%), the serial finish 7–9%, the rest
//! (conditions, field walks, correlation keys, bookkeeping) 30%. Two workers take ~18.5 ms and
//! the merge and finish ~5 ms; 1 M events/s is 13.1 ms. With the parse and the scans free the
//! round would still take ~13.6 ms.
//!
//! * Sign-ins (41% of the instructions, ~58,000 each) are parsed for the built-in
//!   correlations' group-by and counted fields (`IPAddress`, `UserPrincipalName`), not for the
//!   rules' own tests: 941 of 947 parses a round start there. Those fields have no
//!   authoritative column (`ActorUsername` falls back to `servicePrincipalName`,
//!   `userDisplayName`, `identity`; `SrcIpAddr` to `callerIpAddress`). The same holds for Key
//!   Vault's `CallerIpAddress` and `properties.id` (1,354 of 1,354).
//! * The skim's cost is walking the members of the objects a path goes through, not skipping
//!   the rest: 22,704 of its own instructions per demo sign-in for the 62 members (on average)
//!   of the root, `properties` and `deviceDetail` objects, ~366 a member with the kept values'
//!   parsing. A structural index built once per record (one 64-byte pass marking quotes,
//!   colons, commas and brackets outside strings, then jumping between them) is the next step
//!   there, estimated at ~7% of a round; a pre-tokenized `raw` stored at ingest at ~18%.
//! * Tried and dropped (sessions 8–13): a capture table instead of the projected tree, a
//!   word-wide key tag, a time-keyed sort of the finish's references, the finish on two
//!   threads, a whitespace fast path in the skim (−0.3%), `simd-json`'s tape (slower than
//!   `serde_json` here without `-C target-cpu`), and a separator pass per walked object
//!   (sign-ins 58,196 → 70,827 instructions: each level rescans the text of the levels below).

pub mod condition;
pub mod correlation;
pub mod fields;
mod intern;
pub mod literals;
pub mod logsource;
pub mod matcher;
pub mod novelty;
pub mod rule;
mod skim;
pub mod volume;

use azir_model::{Event, NetworkSession, Provenance};
use fields::{Doc, FieldRef};
use rule::{CompileOptions, CorrelationDef, Detection, Level, Parsed};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

include!(concat!(env!("OUT_DIR"), "/pack.rs"));

/// A rule that could not be loaded, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// File the rule came from.
    pub origin: String,
    /// Rule title (or the file, when the file itself is unreadable).
    pub rule: String,
    /// What is unsupported or wrong.
    pub reason: String,
}

/// Collects rule texts, then builds a [`RuleSet`].
pub struct RuleSetBuilder {
    opts: CompileOptions,
    detections: Vec<Detection>,
    correlations: Vec<CorrelationDef>,
    filters: Vec<rule::Filter>,
    problems: Vec<Problem>,
    fingerprint: u64,
}

/// What a correlation references.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ref {
    /// A detection rule (index in [`RuleSet::detections`]).
    Detection(usize),
    /// Another correlation (index in [`RuleSet::correlations`], always lower: referenced
    /// correlations are resolved first).
    Correlation(usize),
}

/// A correlation with its references resolved.
#[derive(Debug, Clone)]
struct Correlation {
    def: CorrelationDef,
    /// Each referenced rule.
    rules: Vec<Ref>,
    /// Per referenced detection: the group-by fields resolved in that rule's alias family
    /// (empty for a referenced correlation).
    group_by: Vec<Vec<FieldRef>>,
    /// Per referenced detection: the counted field (value_count).
    value: Vec<Option<FieldRef>>,
    /// Per referenced correlation: where each of our group-by fields is in its group key
    /// (empty for a referenced detection).
    key_map: Vec<Vec<usize>>,
    /// Per referenced correlation: where the counted field is in its group key (value_count).
    value_map: Vec<Option<usize>>,
    /// Correlations that reference this one: (correlation, position in its `rules`).
    outers: Vec<(usize, usize)>,
    /// Reports findings of its own.
    standalone: bool,
}

/// How the prefilter finds its literals: fingerprints with the SIMD packed searcher
/// ([`literals`]), or, where that is unavailable (a literal under 3 bytes, no SIMD), one
/// overlapping Aho-Corasick automaton.
enum Scanner {
    Packed(literals::Literals),
    Automaton(aho_corasick::AhoCorasick),
}

thread_local! {
    /// The prefilter's lower-cased copy of the text it scans.
    static LOWER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A routed rule's state for one event, after the column pass and the literal scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cand {
    /// Cannot match.
    No,
    /// Matches: decided by the authoritative columns.
    Yes,
    /// May match: evaluate.
    Maybe,
    /// May match only if one of its literals occurs (before the scan).
    Literal,
    /// May match only if one of its column literals occurs in the authoritative columns
    /// (before the column scan).
    Column,
    /// Not ruled out by the column scan: decide from the columns, else as `Maybe`/`Literal`.
    Open,
}

/// Calls its argument with each text to scan.
type Texts<'a> = &'a mut dyn FnMut(&mut dyn FnMut(&str));

/// Literals and, per literal, the positions (in a source's rule list) of the rules it admits.
struct LiteralSet {
    scanner: Option<Scanner>,
    admits: Vec<Vec<usize>>,
}

impl LiteralSet {
    /// The set of `sets[pos]` (a rule without a set is not in it).
    fn new(sets: &[Option<Vec<String>>]) -> LiteralSet {
        let mut pats: Vec<String> = Vec::new();
        let mut admits: Vec<Vec<usize>> = Vec::new();
        for (pos, lits) in sets.iter().enumerate() {
            for l in lits.iter().flatten() {
                match pats.iter().position(|p| p == l) {
                    Some(i) => admits[i].push(pos),
                    None => {
                        pats.push(l.clone());
                        admits.push(vec![pos]);
                    }
                }
            }
        }
        let scanner = match literals::Literals::new(&pats) {
            Some(l) => Some(Scanner::Packed(l)),
            None if pats.is_empty() => None,
            None => aho_corasick::AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .kind(Some(aho_corasick::AhoCorasickKind::DFA))
                .build(&pats)
                .ok()
                .map(Scanner::Automaton),
        };
        LiteralSet { scanner, admits }
    }

    /// Scans `texts` (each text once) and turns the rules in state `from` that a literal found
    /// admits to `to`.
    fn scan(&self, texts: Texts<'_>, cand: &mut [Cand], from: Cand, to: Cand) {
        scan_sets(&[Some(self)], texts, cand, from, to);
    }

    /// Passes over the text a scan makes (one per packed searcher; an automaton, which reads a
    /// byte at a time, counts as several).
    fn passes(&self) -> usize {
        match &self.scanner {
            None => 0,
            Some(Scanner::Packed(l)) => l.passes(),
            Some(Scanner::Automaton(_)) => 8,
        }
    }

    /// Turns the rules in state `from` that a literal of this set admits to `to`, from the
    /// texts joined and lower-cased in `lower`, or `texts` themselves for an automaton.
    fn scan_in(&self, lower: &[u8], texts: Texts<'_>, cand: &mut [Cand], from: Cand, to: Cand) {
        let Some(ac) = &self.scanner else { return };
        let admit = &mut |lit: usize| {
            for &p in &self.admits[lit] {
                if cand[p] == from {
                    cand[p] = to;
                }
            }
        };
        match ac {
            Scanner::Packed(l) => l.scan_lowered(lower, admit),
            Scanner::Automaton(ac) => texts(&mut |text| {
                for m in ac.find_overlapping_iter(text) {
                    admit(m.pattern().as_usize());
                }
            }),
        }
    }
}

/// Scans `texts` with each of `sets` (`None` entries are skipped), turning the rules in state
/// `from` that a literal admits to `to`. The texts are joined by line feeds (no literal of a
/// packed set holds a control character) and lower-cased once for all the packed sets.
fn scan_sets(sets: &[Option<&LiteralSet>], texts: Texts<'_>, cand: &mut [Cand], from: Cand, to: Cand) {
    let packed = sets.iter().flatten().any(|s| matches!(s.scanner, Some(Scanner::Packed(_))));
    LOWER.with_borrow_mut(|lower| {
        lower.clear();
        if packed {
            texts(&mut |text| {
                lower.extend_from_slice(text.as_bytes());
                lower.push(b'\n');
            });
            lower.make_ascii_lowercase();
        }
        for set in sets.iter().flatten() {
            set.scan_in(lower, texts, cand, from, to);
        }
    })
}

/// Undecided column-decidable rules scanned for with their own literals ([`Prefilter::own_lits`]);
/// with more, the scan uses every literal.
const OWN_SCANS: usize = 3;

/// What the literal scan did for one event.
#[derive(Debug, Default, Clone, Copy)]
struct ScanOutcome {
    /// A rule was left open by the column pass (before the scan): the event counts as
    /// evaluated ([`Hunter::counts`]).
    open: bool,
    /// The record's text was scanned.
    scanned: bool,
    /// Passes the scan made over the text ([`LiteralSet::passes`]).
    passes: u32,
    /// The scan paid for itself: it left no rule to evaluate (the parse, if any rule needed
    /// one, was spared), or it ruled out a rule with a keyword search (a walk over every value
    /// of the record, which costs several scans).
    spared: bool,
}

/// Whether a source's literal scan pays for itself, per hunter. The scan costs a pass over the
/// record's text; it pays when it rules out every rule that would parse the record, or a rule
/// with a keyword search (SigmaHQ's Activity keyword rules: without the scan, each walks every
/// value of every Activity record; the demo's Activity hunt took 2.7x the instructions, 127,822
/// per record against 46,819 with it). When a sample of [`ScanBudget::SAMPLE`] scans pays less
/// than a quarter of the time (a Sigma rule on a value most records carry, `DeviceDetail.isCompliant: 'false'` on sign-ins),
/// the next [`ScanBudget::PAUSE`] events of the source are evaluated without it, then the
/// sampling starts again. Only the work changes: a rule the scan would rule out does not match.
#[derive(Debug, Default, Clone, Copy)]
struct ScanBudget {
    scanned: u32,
    spared: u32,
    paused: u32,
}

impl ScanBudget {
    const SAMPLE: u32 = 64;
    const PAUSE: u32 = 4096;

    /// Whether to scan the next event.
    #[inline]
    fn allow(&mut self) -> bool {
        if self.paused > 0 {
            self.paused -= 1;
            return false;
        }
        true
    }

    fn record(&mut self, o: ScanOutcome) {
        if !o.scanned {
            return;
        }
        self.scanned += 1;
        self.spared += u32::from(o.spared);
        if self.scanned == Self::SAMPLE {
            if self.spared * 4 < self.scanned {
                self.paused = Self::PAUSE;
            }
            self.scanned = 0;
            self.spared = 0;
        }
    }
}

/// The rules routed to one source, and how to rule them out for an event before evaluating:
/// authoritative columns first, then literals in the record's text.
struct Prefilter {
    /// The source's authoritative columns ([`fields::Authority`]).
    columns: Vec<fields::Column>,
    /// Literals that must occur in those columns' text (rules with a column-literal set).
    column_lits: LiteralSet,
    /// Per position: the rule has a column-literal set.
    column_gated: Vec<bool>,
    /// Per position: the rule reads a field with an authoritative column.
    decidable: Vec<bool>,
    /// Per position: the rule has no literal set and is evaluated unless the columns decide it.
    always: Vec<bool>,
    /// Per position: the rule has a keyword search ([`Detection::has_keywords`]).
    walks: Vec<bool>,
    /// Literals that must occur in the record's texts, of every rule that has a set.
    all_lits: LiteralSet,
    /// The same for the rules the columns can never decide (fewer literals, a faster scan when
    /// only such rules are left).
    raw_only_lits: LiteralSet,
    /// Per position: the literals of that rule alone, for a rule the columns can decide (the
    /// columns left it undecided: scanning for its few literals, beside `raw_only_lits`, is
    /// cheaper than a pass with `all_lits`, whose hundreds of literals take several).
    own_lits: Vec<Option<LiteralSet>>,
    /// What of `raw` the routed rules and the group-by and counted fields of the correlations
    /// referencing them can read.
    projection: fields::Projection,
}

impl Prefilter {
    fn new(source: &str, detections: &[Detection], rules: &[usize], correlated: &[&FieldRef]) -> Prefilter {
        let mut projection = fields::Projection::default();
        for &ri in rules {
            detections[ri].field_refs().into_iter().for_each(|f| projection.add_field(f));
        }
        correlated.iter().for_each(|f| projection.add_field(f));
        let columns = fields::authority_columns(source);
        let decidable: Vec<bool> = rules.iter().map(|&ri| detections[ri].decidable(source)).collect();
        let sets: Vec<Option<Vec<String>>> =
            rules.iter().map(|&ri| detections[ri].necessary().filter(|l| !l.is_empty())).collect();
        let column_sets: Vec<Option<Vec<String>>> = rules
            .iter()
            .map(|&ri| if columns.is_empty() { None } else { detections[ri].column_necessary(source) })
            .map(|l| l.filter(|l| !l.is_empty()))
            .collect();
        let raw_only: Vec<Option<Vec<String>>> =
            sets.iter().zip(&decidable).map(|(s, &d)| if d { None } else { s.clone() }).collect();
        let own_lits = (0..rules.len())
            .map(|pos| {
                let own: Vec<Option<Vec<String>>> =
                    (0..rules.len()).map(|p| if p == pos && decidable[p] { sets[p].clone() } else { None }).collect();
                Some(LiteralSet::new(&own)).filter(|l| l.scanner.is_some())
            })
            .collect();
        let all_lits = LiteralSet::new(&sets);
        let always = sets.iter().map(|s| s.is_none() || all_lits.scanner.is_none()).collect();
        let column_lits = LiteralSet::new(&column_sets);
        let column_gated = column_sets.iter().map(|s| s.is_some() && column_lits.scanner.is_some()).collect();
        Prefilter {
            columns,
            column_lits,
            column_gated,
            decidable,
            always,
            walks: rules.iter().map(|&ri| detections[ri].has_keywords()).collect(),
            all_lits,
            raw_only_lits: LiteralSet::new(&raw_only),
            own_lits,
            projection,
        }
    }

    /// Sets `cand` to each routed rule's state for the event; false when none may match.
    ///
    /// 1. Column literals: a rule whose tests on authoritative columns need a literal the
    ///    columns' text lacks cannot match (when the event fills those columns).
    /// 2. Column pass: a rule reading authoritative columns is decided from them when they
    ///    settle it ([`Detection::decide`]).
    /// 3. Literals: only if a rule with literals is left undecided is the event's text
    ///    scanned, with the smaller literal set when every such rule is one the columns can
    ///    never decide.
    fn candidates(&self, detections: &[Detection], rules: &[usize], doc: &Doc<'_>, cand: &mut Vec<Cand>) -> bool {
        self.candidates_with(detections, rules, doc, cand, true).0
    }

    /// [`Prefilter::candidates`], the literal scan only when `scan` (else every rule left with
    /// literals is evaluated); also tells whether the scan ran and whether it spared the parse
    /// (it ruled out every rule it was asked about).
    fn candidates_with(
        &self,
        detections: &[Detection],
        rules: &[usize],
        doc: &Doc<'_>,
        cand: &mut Vec<Cand>,
        scan_allowed: bool,
    ) -> (bool, ScanOutcome) {
        let e = doc.event;
        cand.clear();
        let filled = !self.columns.is_empty() && self.columns.iter().all(|c| !matches!(c.get(e), fields::Scalar::Null));
        let mut column_scan = false;
        for &gated in &self.column_gated {
            let c = if filled && gated { Cand::Column } else { Cand::Open };
            column_scan |= c == Cand::Column;
            cand.push(c);
        }
        if column_scan {
            let columns = &self.columns;
            self.column_lits.scan(
                &mut |f| {
                    for c in columns {
                        c.get(e).with_text(|t| t.map(&mut *f));
                    }
                },
                cand,
                Cand::Column,
                Cand::Open,
            );
        }
        // Rules left for the scan: any the columns can never decide (`raw_only`), and those
        // they can but did not (`own`, the first few; `scan_all` past that).
        let (mut scan, mut scan_all, mut raw_only, mut open) = (false, false, false, false);
        let mut own = [usize::MAX; OWN_SCANS];
        let mut owned = 0;
        for (pos, &ri) in rules.iter().enumerate() {
            if cand[pos] != Cand::Open {
                cand[pos] = Cand::No;
                continue;
            }
            let decided = if self.decidable[pos] { detections[ri].decide(doc) } else { None };
            open |= decided != Some(false);
            cand[pos] = match decided {
                Some(true) => Cand::Yes,
                Some(false) => Cand::No,
                None if self.always[pos] => Cand::Maybe,
                None => {
                    scan = true;
                    if !self.decidable[pos] {
                        raw_only = true;
                        // (Only if its literals could not be built into a scanner.)
                        scan_all |= self.raw_only_lits.scanner.is_none();
                    } else if owned < OWN_SCANS && self.own_lits[pos].is_some() {
                        own[owned] = pos;
                        owned += 1;
                    } else {
                        scan_all = true;
                    }
                    Cand::Literal
                }
            };
        }
        let mut outcome = ScanOutcome { open, ..ScanOutcome::default() };
        if scan && scan_allowed {
            // The undecided rules' own literals beside the raw-only ones when that takes fewer
            // passes over the text than one scan with every literal.
            let mut sets: [Option<&LiteralSet>; OWN_SCANS + 1] = [None; OWN_SCANS + 1];
            let mut passes = 0;
            if raw_only {
                sets[0] = Some(&self.raw_only_lits);
                passes += self.raw_only_lits.passes();
            }
            for (slot, &pos) in sets[1..].iter_mut().zip(&own[..owned]) {
                *slot = self.own_lits[pos].as_ref();
                passes += slot.map_or(0, LiteralSet::passes);
            }
            if scan_all || (owned > 0 && passes > self.all_lits.passes()) {
                sets = [None; OWN_SCANS + 1];
                sets[0] = Some(&self.all_lits);
            }
            scan_sets(&sets, &mut |f| fields::for_each_text(e, f), cand, Cand::Literal, Cand::Maybe);
            outcome.scanned = true;
            outcome.passes = sets.iter().flatten().map(|s| s.passes() as u32).sum();
            // A rule still `Literal` lacks one of its literals: ruled out.
            let walk_spared = self.walks.iter().zip(cand.iter()).any(|(&w, &c)| w && c == Cand::Literal);
            outcome.spared = walk_spared || !cand.contains(&Cand::Maybe);
        }
        let mut any = false;
        for c in cand.iter_mut() {
            if *c == Cand::Literal {
                *c = if scan_allowed { Cand::No } else { Cand::Maybe };
            }
            any |= *c != Cand::No;
        }
        (any, outcome)
    }
}

/// Compiled rules, ready to hunt.
pub struct RuleSet {
    detections: Vec<Detection>,
    correlations: Vec<Correlation>,
    by_source: HashMap<&'static str, Vec<usize>>,

    /// Per source with routed rules: its name, the rules and their prefilter. A short list,
    /// searched from the previous event's source in a hunt (events come in runs of a source).
    prefilter: Vec<(&'static str, Vec<usize>, Prefilter)>,
    /// Per detection: (correlation, position) pairs that reference it.
    refs: Vec<Vec<(usize, usize)>>,
    /// Per detection: reports findings of its own.
    standalone: Vec<bool>,
    /// Rules that could not be loaded.
    pub problems: Vec<Problem>,
    /// Sigma filters applied: one per (filter, rule) pair.
    pub filters_applied: usize,
    fingerprint: u64,
}

impl Default for RuleSetBuilder {
    fn default() -> Self {
        Self::new(CompileOptions::default())
    }
}

impl RuleSetBuilder {
    /// An empty builder.
    pub fn new(opts: CompileOptions) -> Self {
        RuleSetBuilder {
            opts,
            detections: Vec::new(),
            correlations: Vec::new(),
            filters: Vec::new(),
            problems: Vec::new(),
            fingerprint: 0xcbf29ce484222325,
        }
    }

    /// Adds every rule of one YAML file (several documents allowed).
    pub fn add(&mut self, origin: &str, text: &str) {
        for b in origin.bytes().chain([0]).chain(text.bytes()).chain([0]) {
            self.fingerprint = (self.fingerprint ^ u64::from(b)).wrapping_mul(0x100000001b3);
        }
        for r in rule::parse_file(text, origin, &self.opts) {
            match r {
                Ok(Parsed::Detection(d)) => self.detections.push(*d),
                Ok(Parsed::Correlation(c)) => self.correlations.push(*c),
                Ok(Parsed::Aggregation(d, c)) => {
                    self.detections.extend(d);
                    self.correlations.push(*c);
                }
                Ok(Parsed::Filter(f)) => self.filters.push(*f),
                Err((rule, reason)) => self.problems.push(Problem { origin: origin.to_string(), rule, reason }),
            }
        }
    }

    /// Adds the built-in pack (`rules/` of the repository, embedded at build time).
    pub fn add_builtin(&mut self) {
        for (name, text) in PACK {
            self.add(&format!("builtin:{name}"), text);
        }
    }

    /// Resolves correlation references (to detections and, Sigma chaining, to other
    /// correlations, in dependency order) and indexes rules by source.
    pub fn build(self) -> RuleSet {
        let RuleSetBuilder { opts, mut detections, correlations: defs, filters, mut problems, fingerprint } = self;
        // Filters first: a filtered rule is the rule (its prefilter, projection and
        // correlations see the filter's fields too).
        let mut filters_applied = 0;
        for f in &filters {
            let mut applied = 0;
            for d in detections.iter_mut().filter(|d| f.applies_to(d)) {
                match f.apply(d, &opts) {
                    Ok(()) => applied += 1,
                    Err(reason) => problems.push(Problem {
                        origin: f.meta.origin.clone(),
                        rule: f.meta.title.clone(),
                        reason: format!("filter cannot apply to {:?}: {reason}", d.meta.title),
                    }),
                }
            }
            if let Some(refs) = &f.rules {
                let missing: Vec<&str> = refs
                    .iter()
                    .filter(|r| !detections.iter().any(|d| d.meta.answers_to(r)))
                    .map(String::as_str)
                    .collect();
                // A correlation is loaded but never filtered (pySigma's rule): say so.
                let (corrs, missing): (Vec<&str>, Vec<&str>) =
                    missing.into_iter().partition(|r| defs.iter().any(|c| c.meta.answers_to(r)));
                if !corrs.is_empty() {
                    problems.push(Problem {
                        origin: f.meta.origin.clone(),
                        rule: f.meta.title.clone(),
                        reason: format!(
                            "filters apply to detection rules, not to correlations: {} (filter their base rules)",
                            corrs.join(", ")
                        ),
                    });
                }
                if !missing.is_empty() {
                    problems.push(Problem {
                        origin: f.meta.origin.clone(),
                        rule: f.meta.title.clone(),
                        reason: format!("filter names rules that are not loaded: {}", missing.join(", ")),
                    });
                }
            }
            filters_applied += applied;
        }
        // A name or id resolves to a detection first, else to a correlation.
        let mut by_ref: HashMap<&str, Ref> = HashMap::new();
        for (j, c) in defs.iter().enumerate() {
            by_ref.insert(c.meta.id.as_str(), Ref::Correlation(j));
            if let Some(n) = &c.meta.name {
                by_ref.insert(n.as_str(), Ref::Correlation(j));
            }
        }
        for (i, d) in detections.iter().enumerate() {
            by_ref.insert(d.meta.id.as_str(), Ref::Detection(i));
            if let Some(n) = &d.meta.name {
                by_ref.insert(n.as_str(), Ref::Detection(i));
            }
        }
        let problem = |def: &CorrelationDef, reason: String| Problem {
            origin: def.meta.origin.clone(),
            rule: def.meta.title.clone(),
            reason,
        };
        #[derive(Clone, Copy, PartialEq)]
        enum State {
            Pending,
            Done(usize),
            Failed,
        }
        let mut state = vec![State::Pending; defs.len()];
        // Per definition: its references (correlations by definition index).
        let mut targets: Vec<Vec<Ref>> = Vec::with_capacity(defs.len());
        for (j, def) in defs.iter().enumerate() {
            let mut rules = Vec::new();
            let mut missing = Vec::new();
            for r in &def.rules {
                match by_ref.get(r.as_str()) {
                    Some(&t) => rules.push(t),
                    None => missing.push(r.clone()),
                }
            }
            if !missing.is_empty() {
                problems.push(problem(def, format!("correlation references unknown rules: {}", missing.join(", "))));
                state[j] = State::Failed;
            }
            targets.push(rules);
        }
        let mut refs = vec![Vec::new(); detections.len()];
        let mut standalone = vec![true; detections.len()];
        let mut generated = vec![false; detections.len()];
        let mut corr_generated: Vec<bool> = Vec::new();
        let mut resolved: Vec<Correlation> = Vec::new();
        // Resolve a correlation once every correlation it references is resolved (or failed);
        // passes in definition order, so unchained correlations keep their order.
        loop {
            let mut progress = false;
            for j in 0..defs.len() {
                if state[j] != State::Pending {
                    continue;
                }
                let waiting =
                    targets[j].iter().any(|t| matches!(t, Ref::Correlation(k) if state[*k] == State::Pending));
                if waiting {
                    continue;
                }
                progress = true;
                let def = &defs[j];
                let failed: Vec<&str> = targets[j]
                    .iter()
                    .zip(&def.rules)
                    .filter(|(t, _)| matches!(t, Ref::Correlation(k) if state[*k] == State::Failed))
                    .map(|(_, r)| r.as_str())
                    .collect();
                if !failed.is_empty() {
                    let reason =
                        format!("correlation references correlations that could not be loaded: {}", failed.join(", "));
                    problems.push(problem(def, reason));
                    state[j] = State::Failed;
                    continue;
                }
                let rules: Vec<Ref> = targets[j]
                    .iter()
                    .map(|t| match *t {
                        Ref::Correlation(k) => match state[k] {
                            State::Done(ci) => Ref::Correlation(ci),
                            _ => unreachable!("waiting or failed references are handled above"),
                        },
                        d => d,
                    })
                    .collect();
                match resolve_correlation(def, &rules, &detections, &resolved, &opts) {
                    Err(reason) => {
                        problems.push(problem(def, reason));
                        state[j] = State::Failed;
                    }
                    Ok(c) => {
                        let ci = resolved.len();
                        for (pos, r) in c.rules.iter().enumerate() {
                            match *r {
                                Ref::Detection(di) => {
                                    refs[di].push((ci, pos));
                                    standalone[di] = false;
                                    generated[di] |= def.generate;
                                }
                                Ref::Correlation(k) => {
                                    resolved[k].outers.push((ci, pos));
                                    resolved[k].standalone = false;
                                    corr_generated[k] |= def.generate;
                                }
                            }
                        }
                        state[j] = State::Done(ci);
                        resolved.push(c);
                        corr_generated.push(false);
                    }
                }
            }
            if !progress {
                break;
            }
        }
        // What is still pending is on a reference cycle or waits for one.
        for j in 0..defs.len() {
            if state[j] == State::Pending {
                problems.push(problem(&defs[j], cycle_reason(j, &defs, &targets, &|k| state[k] == State::Pending)));
            }
        }
        for (s, g) in standalone.iter_mut().zip(generated) {
            *s |= g;
        }
        for (c, g) in resolved.iter_mut().zip(corr_generated) {
            c.standalone |= g;
        }
        let mut by_source: HashMap<&'static str, Vec<usize>> = HashMap::new();
        for (i, d) in detections.iter().enumerate() {
            for s in logsource::sources(&d.logsource) {
                by_source.entry(s).or_default().push(i);
            }
        }
        let prefilter = by_source
            .iter()
            .map(|(s, rules)| {
                // Group-by and counted fields of the correlations the routed rules feed.
                let correlated: Vec<&FieldRef> = rules
                    .iter()
                    .flat_map(|&ri| &refs[ri])
                    .flat_map(|&(ci, pos)| {
                        let c = &resolved[ci];
                        c.group_by[pos].iter().chain(c.value[pos].as_ref())
                    })
                    .collect();
                (*s, rules.clone(), Prefilter::new(s, &detections, rules, &correlated))
            })
            .collect();
        RuleSet {
            detections,
            correlations: resolved,
            by_source,
            prefilter,
            refs,
            standalone,
            problems,
            filters_applied,
            fingerprint,
        }
    }
}

/// A correlation whose references are resolved (`rules`, referenced correlations by their
/// index in `resolved`): group-by and counted fields per referenced rule.
fn resolve_correlation(
    def: &CorrelationDef,
    rules: &[Ref],
    detections: &[Detection],
    resolved: &[Correlation],
    opts: &CompileOptions,
) -> Result<Correlation, String> {
    let n = rules.len();
    let (mut group_by, mut value) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut key_map, mut value_map) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for (&t, r) in rules.iter().zip(&def.rules) {
        // `aliases` name the field per referenced rule.
        let named = |name: &str| def.aliases.get(name).and_then(|m| m.get(r)).map_or(name, String::as_str).to_string();
        match t {
            Ref::Detection(di) => {
                let fam = logsource::family(&detections[di].logsource);
                let field = |name: &str| {
                    let name = named(name);
                    if opts.aliases {
                        fields::resolve(&name, fam)
                    } else {
                        fields::literal(&name)
                    }
                };
                group_by.push(def.group_by.iter().map(|g| field(g)).collect());
                value.push(def.value_field.as_deref().map(field));
                key_map.push(Vec::new());
                value_map.push(None);
            }
            Ref::Correlation(k) => {
                // A referenced correlation's windows carry only its group key: our fields must
                // be among its group-by fields (names compared case-insensitively).
                let inner = &resolved[k].def.group_by;
                let groups_by = || {
                    if inner.is_empty() {
                        format!("the referenced correlation {r} groups by nothing")
                    } else {
                        format!("the referenced correlation {r} groups by {}", inner.join(", "))
                    }
                };
                let find = |name: &str| {
                    let name = named(name);
                    inner.iter().position(|g| g.eq_ignore_ascii_case(&name))
                };
                let mut map = Vec::new();
                for g in &def.group_by {
                    map.push(find(g).ok_or_else(|| format!("cannot group by {g}: {}", groups_by()))?);
                }
                let v = match def.value_field.as_deref() {
                    Some(f) => Some(find(f).ok_or_else(|| format!("cannot count {f}: {}", groups_by()))?),
                    None => None,
                };
                group_by.push(Vec::new());
                value.push(None);
                key_map.push(map);
                value_map.push(v);
            }
        }
    }
    Ok(Correlation {
        def: def.clone(),
        rules: rules.to_vec(),
        group_by,
        value,
        key_map,
        value_map,
        outers: Vec::new(),
        standalone: true,
    })
}

/// Why correlation `j` (left pending) cannot be resolved: the reference cycle through it, or
/// the correlations it waits for.
fn cycle_reason(j: usize, defs: &[CorrelationDef], targets: &[Vec<Ref>], pending: &dyn Fn(usize) -> bool) -> String {
    let label = |k: usize| defs[k].meta.name.clone().unwrap_or_else(|| defs[k].meta.id.clone());
    // Breadth-first from j over pending correlations, back to j.
    let mut parent: HashMap<usize, usize> = HashMap::new();
    let mut queue = std::collections::VecDeque::from([j]);
    while let Some(k) = queue.pop_front() {
        for t in &targets[k] {
            let Ref::Correlation(m) = *t else { continue };
            if !pending(m) {
                continue;
            }
            if m == j {
                let mut path = vec![j];
                let mut at = k;
                while at != j {
                    path.push(at);
                    at = parent[&at];
                }
                path.push(j);
                path.reverse();
                let names: Vec<String> = path.into_iter().map(label).collect();
                return format!("correlation references form a cycle: {}", names.join(" -> "));
            }
            if let std::collections::hash_map::Entry::Vacant(e) = parent.entry(m) {
                e.insert(k);
                queue.push_back(m);
            }
        }
    }
    let mut waits: Vec<String> = targets[j]
        .iter()
        .filter_map(|t| match *t {
            Ref::Correlation(m) if pending(m) => Some(label(m)),
            _ => None,
        })
        .collect();
    waits.dedup();
    format!("correlation references correlations on a reference cycle: {}", waits.join(", "))
}

/// What a rule set holds, for reports.
#[derive(Debug, Clone, Serialize)]
pub struct RuleInfo {
    /// Rule id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Origin file.
    pub origin: String,
    /// `detection` or the correlation type.
    pub kind: String,
    /// The event sources it runs on (empty: none azir ingests).
    pub sources: Vec<String>,
}

impl RuleSet {
    /// A stable fingerprint of the rule texts (and their origins) the set was built from.
    pub fn fingerprint(&self) -> String {
        format!("{:016x}", self.fingerprint)
    }

    /// Every loaded rule.
    pub fn rules(&self) -> Vec<RuleInfo> {
        // A Sigma 1 aggregation's searches are part of its correlation, not rules of their own.
        let mut out: Vec<RuleInfo> = self
            .detections
            .iter()
            .filter(|d| rule::sigma1_rule(&d.meta.id).is_none())
            .map(|d| RuleInfo {
                id: d.meta.id.clone(),
                title: d.meta.title.clone(),
                origin: d.meta.origin.clone(),
                kind: "detection".into(),
                sources: logsource::sources(&d.logsource).iter().map(|s| s.to_string()).collect(),
            })
            .collect();
        // Correlations come after those they reference: their sources are known by then.
        let mut corr_sources: Vec<Vec<String>> = Vec::with_capacity(self.correlations.len());
        for c in &self.correlations {
            let mut sources: Vec<String> = Vec::new();
            for r in &c.rules {
                let of: Vec<String> = match *r {
                    Ref::Detection(d) => {
                        logsource::sources(&self.detections[d].logsource).iter().map(|s| s.to_string()).collect()
                    }
                    Ref::Correlation(k) => corr_sources[k].clone(),
                };
                for s in of {
                    if !sources.contains(&s) {
                        sources.push(s);
                    }
                }
            }
            out.push(RuleInfo {
                id: c.def.meta.id.clone(),
                title: c.def.meta.title.clone(),
                origin: c.def.meta.origin.clone(),
                kind: rule::kind_text(c.def.kind).into(),
                sources: sources.clone(),
            });
            corr_sources.push(sources);
        }
        out
    }

    /// Detection rules matching one event (ids), ignoring routing: for tests and rule authors.
    pub fn matching(&self, e: &Event) -> Vec<&str> {
        let doc = Doc::new(e);
        self.detections.iter().filter(|d| d.matches(&doc)).map(|d| d.meta.id.as_str()).collect()
    }

    /// Detection rules routed to the event's source that match it, through the column pass, the
    /// literal prefilter and the projected parse the hunt uses (ids).
    pub fn matching_routed(&self, e: &Event) -> Vec<&str> {
        let Some((_, rules, pf)) = self.prefilter.iter().find(|r| r.0 == e.source) else {
            return Vec::new();
        };
        let mut cand = Vec::new();
        let doc = Doc::projected(e, &pf.projection);
        if !pf.candidates(&self.detections, rules, &doc, &mut cand) {
            return Vec::new();
        }
        rules
            .iter()
            .zip(&cand)
            .filter(|(&ri, &c)| c == Cand::Yes || (c == Cand::Maybe && self.detections[ri].matches(&doc)))
            .map(|(&ri, _)| self.detections[ri].meta.id.as_str())
            .collect()
    }

    /// Detection rules routed to the event's source that match it, every rule evaluated (ids).
    pub fn matching_routed_unfiltered(&self, e: &Event) -> Vec<&str> {
        let Some(rules) = self.by_source.get(e.source.as_str()) else { return Vec::new() };
        let doc = Doc::new(e);
        rules
            .iter()
            .filter(|&&ri| self.detections[ri].matches(&doc))
            .map(|&ri| self.detections[ri].meta.id.as_str())
            .collect()
    }

    /// How many rules the column pass and the literal prefilter admit for `e` (for the engine
    /// benchmark's breakdown; routed rules with no literal set count as admitted).
    #[doc(hidden)]
    pub fn prefilter_admits(&self, e: &Event) -> usize {
        match self.prefilter.iter().find(|r| r.0 == e.source) {
            Some((_, rules, pf)) => {
                let mut cand = Vec::new();
                pf.candidates(&self.detections, rules, &Doc::new(e), &mut cand);
                cand.iter().filter(|&&c| c != Cand::No).count()
            }
            None => 0,
        }
    }

    /// Titles of the rules without a literal set: the literal scan cannot rule them out (the
    /// column pass may still decide them from authoritative columns, as it does the
    /// Application Gateway 2xx base rule).
    pub fn unfiltered_rules(&self) -> Vec<&str> {
        self.detections
            .iter()
            .filter(|d| !logsource::sources(&d.logsource).is_empty() && d.necessary().is_none_or(|l| l.is_empty()))
            .map(|d| d.meta.title.as_str())
            .collect()
    }

    /// At least one detection routes to a flow source of the `network` table
    /// ([`logsource::FLOW_SOURCES`]): only then does a hunt need to read that table.
    pub fn routes_flows(&self) -> bool {
        logsource::FLOW_SOURCES.iter().any(|s| self.by_source.contains_key(s))
    }

    /// Starts a hunt.
    pub fn hunter(&self) -> Hunter<'_> {
        Hunter {
            set: self,
            refs: Vec::new(),
            symbols: intern::Symbols::default(),
            keys: intern::Tuples::default(),
            key_scratch: Vec::new(),
            lower_scratch: String::new(),
            detection_hits: Vec::new(),
            corr_hits: vec![Vec::new(); self.correlations.len()],
            events: 0,
            evaluated: 0,
            parsed: 0,
            scanned: 0,
            scan_passes: 0,
            flows: 0,
            flows_evaluated: 0,
            flow_scratch: Event::default(),
            cand: Vec::new(),
            last_route: 0,
            scan_budget: vec![ScanBudget::default(); self.prefilter.len()],
        }
    }
}

/// An event that contributed to a finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventRef {
    /// Event time (µs since the epoch, UTC).
    pub time: i64,
    /// Where it came from.
    pub provenance: Provenance,
    /// Actor user.
    pub user: Option<String>,
    /// Source IP.
    pub ip: Option<String>,
    /// Application.
    pub app: Option<String>,
    /// Target resource.
    pub resource: Option<String>,
    /// Flow tuples: the tuple's index inside its record (`path:line#tuple`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tuple: Option<u32>,
}

/// One finding: a rule that fired, on which events.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Rule id.
    pub rule_id: String,
    /// Rule title.
    pub title: String,
    /// Severity.
    pub level: Level,
    /// Rule tags (ATT&CK tags start with `attack.`).
    pub tags: Vec<String>,
    /// `detection` or the correlation type.
    pub kind: String,
    /// Rule origin.
    pub origin: String,
    /// First contributing event time (µs).
    pub first: i64,
    /// Last contributing event time (µs).
    pub last: i64,
    /// Correlation group (`field=value`), empty for detections.
    pub group: Vec<String>,
    /// Users involved.
    pub users: Vec<String>,
    /// Source IPs involved.
    pub ips: Vec<String>,
    /// Applications involved.
    pub apps: Vec<String>,
    /// Resources involved.
    pub resources: Vec<String>,
    /// Contributing events, in time order.
    pub events: Vec<EventRef>,
}

/// A hunt in progress: feed events in any order, then [`Hunter::finish`].
pub struct Hunter<'r> {
    set: &'r RuleSet,
    /// The events that matched a rule, in the order seen.
    refs: Vec<Seen>,
    /// Texts of `refs`' entities and of correlation group keys and counted values.
    symbols: intern::Symbols,
    /// Correlation group keys (tuples of `symbols`).
    keys: intern::Tuples,
    /// Scratch: a group key being built, and a text being lower-cased.
    key_scratch: Vec<u32>,
    lower_scratch: String,
    /// (standalone detection, matched event): grouped by user and IP into findings at the end.
    detection_hits: Vec<(usize, usize)>,
    corr_hits: Vec<Vec<correlation::Hit>>,
    events: u64,
    evaluated: u64,
    /// Events whose `raw` had to be parsed (the others were decided from their columns).
    parsed: u64,
    /// Events whose text the literal prefilter scanned.
    scanned: u64,
    /// Passes those scans made over the texts.
    scan_passes: u64,
    flows: u64,
    flows_evaluated: u64,
    /// The event a flow tuple is presented as, refilled per tuple ([`flow_event_into`]).
    flow_scratch: Event,
    /// Prefilter scratch (reused: no allocation per event).
    cand: Vec<Cand>,
    /// Position in the rule set's routes of the previous event's source.
    last_route: usize,
    /// Per route: whether its literal scan pays for itself ([`ScanBudget`]).
    scan_budget: Vec<ScanBudget>,
}

/// An event that matched a rule, as a hunter keeps it: an [`EventRef`] with its texts as
/// symbols of the hunter ([`intern`]).
#[derive(Debug, Clone)]
struct Seen {
    time: i64,
    provenance: Provenance,
    user: Option<u32>,
    ip: Option<u32>,
    app: Option<u32>,
    resource: Option<u32>,
    tuple: Option<u32>,
}

impl Seen {
    fn new(e: &Event, tuple: Option<u32>, symbols: &mut intern::Symbols) -> Seen {
        let mut sym = |s: &Option<String>| s.as_deref().map(|s| symbols.intern(s));
        Seen {
            time: e.time,
            provenance: e.provenance.clone(),
            user: sym(&e.actor_username).or_else(|| sym(&e.target_username)),
            ip: sym(&e.src_ip),
            app: sym(&e.actor_app_name).or_else(|| sym(&e.target_app_name)),
            resource: sym(&e.target_resource_id),
            tuple,
        }
    }

    fn to_ref(&self, symbols: &intern::Symbols) -> EventRef {
        let text = |s: Option<u32>| s.map(|s| symbols.name(s).to_string());
        EventRef {
            time: self.time,
            provenance: self.provenance.clone(),
            user: text(self.user),
            ip: text(self.ip),
            app: text(self.app),
            resource: text(self.resource),
            tuple: self.tuple,
        }
    }

    /// [`ref_order`] for kept events.
    fn order(&self, other: &Seen) -> std::cmp::Ordering {
        evidence_order((self.time, &self.provenance, self.tuple), (other.time, &other.provenance, other.tuple))
    }
}

/// The first non-empty value of `field` in `doc`, lower-cased, as a symbol.
fn first_symbol(doc: &Doc<'_>, field: &FieldRef, symbols: &mut intern::Symbols, scratch: &mut String) -> Option<u32> {
    doc.first_text_with(field, |t| symbols.intern_lower(t, scratch))
}

impl<'r> Hunter<'r> {
    /// The rules routed to `source` and their prefilter.
    #[inline]
    fn route(&mut self, source: &str) -> Option<(&'r [usize], &'r Prefilter)> {
        let set = self.set;
        let i = match set.prefilter.get(self.last_route) {
            Some(&(n, _, _)) if n == source => self.last_route,
            _ => {
                let i = set.prefilter.iter().position(|&(n, _, _)| n == source)?;
                self.last_route = i;
                i
            }
        };
        let (_, rules, pf) = &set.prefilter[i];
        Some((rules.as_slice(), pf))
    }

    /// Events fed so far, and how many of them were evaluated: rules are routed to their source
    /// and the normalized columns ruled out not all of them. (What the literal scan rules out is
    /// not counted: a hunter pauses the scan per source where it does not pay, so that count
    /// would depend on how the events were shared among hunters.)
    pub fn counts(&self) -> (u64, u64) {
        (self.events, self.evaluated)
    }

    /// How many events needed their `raw` parsed (the other evaluated ones were decided from
    /// their normalized columns).
    pub fn parsed(&self) -> u64 {
        self.parsed
    }

    /// How many events the literal prefilter scanned (the others it did not need, or its
    /// [`ScanBudget`] paused it).
    #[doc(hidden)]
    pub fn scanned(&self) -> u64 {
        self.scanned
    }

    /// Passes the literal scans made over the events' texts (one per packed searcher).
    #[doc(hidden)]
    pub fn scan_passes(&self) -> u64 {
        self.scan_passes
    }

    /// Flow tuples fed so far, and how many of them were evaluated.
    pub fn flow_counts(&self) -> (u64, u64) {
        (self.flows, self.flows_evaluated)
    }

    /// Evaluates one event.
    pub fn feed(&mut self, e: &Event) {
        self.events += 1;
        if self.eval(e, None) {
            self.evaluated += 1;
        }
    }

    /// Evaluates one flow tuple of the `network` table, as the event [`flow_event`] builds (its
    /// record given as the tree of its fields, not as JSON text).
    /// Tuples of sources other than [`logsource::FLOW_SOURCES`] (firewall, pcap) are skipped.
    pub fn feed_flow(&mut self, s: &NetworkSession) {
        if !logsource::FLOW_SOURCES.contains(&s.source.as_str()) {
            return;
        }
        self.flows += 1;
        if self.set.by_source.contains_key(s.source.as_str()) {
            // The tuple's columns, and its record as the tree a parse of `flow_event`'s `raw`
            // would give, built from the tuple's fields: no JSON is written or read (~10,700
            // instructions a tuple on the demo went to writing it and parsing it back).
            let mut e = std::mem::take(&mut self.flow_scratch);
            e.raw.clear();
            flow_columns_into(s, &mut e);
            if self.eval_with(&e, Some(s.tuple_index), Some(flow_tree(s))) {
                self.flows_evaluated += 1;
            }
            self.flow_scratch = e;
        }
    }

    /// Evaluates `e` against the rules routed to its source; false when no rule is routed there
    /// or the normalized columns ruled every one out.
    fn eval(&mut self, e: &Event, tuple: Option<u32>) -> bool {
        self.eval_with(e, tuple, None)
    }

    /// [`Hunter::eval`], the record given as its parsed tree (`tree`, a flow tuple's) instead of
    /// `e.raw`. With a tree there is no text to scan for literals: the rules the columns leave
    /// open are evaluated on the tree (a flow record has ~20 members).
    fn eval_with<'e>(&mut self, e: &'e Event, tuple: Option<u32>, tree: Option<fields::Node<'e>>) -> bool {
        let Some((rules, pf)) = self.route(&e.source) else { return false };
        // A record given as text is scanned for literals and parsed when a rule needs it.
        let text = tree.is_none();
        let doc = match tree {
            Some(t) => Doc::with_tree(e, t),
            None => Doc::projected(e, &pf.projection),
        };
        let budget = &mut self.scan_budget[self.last_route];
        let (any, outcome) =
            pf.candidates_with(&self.set.detections, rules, &doc, &mut self.cand, text && budget.allow());
        if text {
            budget.record(outcome);
        }
        self.scanned += u64::from(outcome.scanned);
        self.scan_passes += u64::from(outcome.passes);
        if !any {
            return outcome.open;
        }
        let mut this: Option<usize> = None;
        for (pos, &ri) in rules.iter().enumerate() {
            let matched = match self.cand[pos] {
                Cand::Yes => true,
                Cand::Maybe => self.set.detections[ri].matches(&doc),
                Cand::No | Cand::Literal | Cand::Column | Cand::Open => false,
            };
            if !matched {
                continue;
            }
            let idx = *this.get_or_insert_with(|| {
                self.refs.push(Seen::new(e, tuple, &mut self.symbols));
                self.refs.len() - 1
            });
            if self.set.standalone[ri] {
                self.detection_hits.push((ri, idx));
            }
            'refs: for &(ci, pos) in &self.set.refs[ri] {
                let c = &self.set.correlations[ci];
                self.key_scratch.clear();
                for f in &c.group_by[pos] {
                    match first_symbol(&doc, f, &mut self.symbols, &mut self.lower_scratch) {
                        Some(v) => self.key_scratch.push(v),
                        None => continue 'refs,
                    }
                }
                let value = match &c.value[pos] {
                    Some(f) => match first_symbol(&doc, f, &mut self.symbols, &mut self.lower_scratch) {
                        Some(v) => Some(v),
                        None => continue,
                    },
                    None => None,
                };
                let key = self.keys.intern(&self.key_scratch);
                self.corr_hits[ci].push(correlation::Hit { time: e.time, event: idx, rule: pos, key, value });
            }
        }
        self.parsed += u64::from(text && doc.parsed());
        true
    }

    /// Adds what another hunter of the same rule set saw (a worker of a parallel hunt). The
    /// result of [`Hunter::finish`] does not depend on how events were split among hunters or
    /// in which order they were fed.
    pub fn merge(&mut self, other: Hunter<'_>) {
        assert!(std::ptr::eq(self.set, other.set), "hunters of different rule sets");
        let off = self.refs.len();
        let symbol: Vec<u32> = other.symbols.names().iter().map(|n| self.symbols.intern(n)).collect();
        let sym = |s: Option<u32>| s.map(|s| symbol[s as usize]);
        let key: Vec<u32> = other
            .keys
            .all()
            .iter()
            .map(|t| {
                let t: Vec<u32> = t.iter().map(|&s| symbol[s as usize]).collect();
                self.keys.intern(&t)
            })
            .collect();
        self.refs.extend(other.refs.into_iter().map(|r| Seen {
            user: sym(r.user),
            ip: sym(r.ip),
            app: sym(r.app),
            resource: sym(r.resource),
            ..r
        }));
        self.detection_hits.extend(other.detection_hits.into_iter().map(|(ri, i)| (ri, i + off)));
        for (mine, theirs) in self.corr_hits.iter_mut().zip(other.corr_hits) {
            mine.extend(theirs.into_iter().map(|mut h| {
                h.event += off;
                h.key = key[h.key as usize];
                h.value = sym(h.value);
                h
            }));
        }
        self.events += other.events;
        self.evaluated += other.evaluated;
        self.parsed += other.parsed;
        self.scanned += other.scanned;
        self.scan_passes += other.scan_passes;
        self.flows += other.flows;
        self.flows_evaluated += other.flows_evaluated;
    }

    /// Ends the hunt: detection findings and correlation windows, most severe first.
    pub fn finish(self) -> Vec<Finding> {
        let Hunter { set, refs, detection_hits, mut corr_hits, symbols, mut keys, .. } = self;
        // Number the matched events in (time, evidence) order, so that ties inside correlation
        // windows break the same way whatever order the events came in.
        let mut order: Vec<usize> = (0..refs.len()).collect();
        order.sort_by(|&a, &b| refs[a].order(&refs[b]));
        let mut renumber = vec![0usize; refs.len()];
        for (new, &old) in order.iter().enumerate() {
            renumber[old] = new;
        }
        let mut slots: Vec<Option<Seen>> = refs.into_iter().map(Some).collect();
        let refs: Vec<Seen> = order.iter().filter_map(|&i| slots[i].take()).collect();
        let text = |s: Option<u32>| s.map(|s| symbols.name(s));
        // Standalone detections: one finding per rule, user and source IP.
        type Group<'a> = (usize, Option<&'a str>, Option<&'a str>);
        let mut by_group: BTreeMap<Group<'_>, Vec<usize>> = BTreeMap::new();
        for (ri, i) in detection_hits {
            let i = renumber[i];
            by_group.entry((ri, text(refs[i].user), text(refs[i].ip))).or_default().push(i);
        }
        for hits in &mut corr_hits {
            hits.iter_mut().for_each(|h| h.event = renumber[h.event]);
        }
        let mut out = Vec::new();
        for ((ri, _, _), idx) in by_group {
            let d = &set.detections[ri];
            out.push(finding(&d.meta, "detection", Vec::new(), idx, &refs, &symbols));
        }
        // Correlations in dependency order. A hit from a referenced correlation is one of its
        // triggering windows: its `event` is `refs.len()` plus the window's index in
        // `chain.bundles`.
        let mut chain = Chain { n: refs.len(), windows: Vec::new(), bundles: Vec::new() };
        for (ci, c) in set.correlations.iter().enumerate() {
            let mut hits = std::mem::take(&mut corr_hits[ci]);
            // Groups run in the order of their texts (key numbers depend on the feed order):
            // the hits carry their group's rank, `by_rank` maps it back.
            let ids: Vec<u32> = hits.iter().map(|h| h.key).collect();
            let ranks = keys.ranks(&ids, &symbols);
            let mut by_rank = vec![0u32; ranks.iter().max().map_or(0, |&r| r as usize + 1)];
            for (h, &r) in hits.iter_mut().zip(&ranks) {
                by_rank[r as usize] = h.key;
                h.key = r;
            }
            let unit = |e: usize| chain.unit(e);
            let number = |v: u32| symbols.name(v).trim().parse::<f64>().ok().filter(|n| n.is_finite());
            let triggered = correlation::run_triggered(
                c.def.kind,
                c.rules.len(),
                c.def.timespan_us,
                &c.def.condition,
                hits,
                &unit,
                &number,
            );
            for t in triggered {
                let key = keys.get(by_rank[t.window.key as usize]).to_vec();
                if c.standalone {
                    let group =
                        c.def.group_by.iter().zip(&key).map(|(g, &v)| format!("{g}={}", symbols.name(v))).collect();
                    let idx = chain.events(&t.window.events);
                    out.push(finding(&c.def.meta, rule::kind_text(c.def.kind), group, idx, &refs, &symbols));
                }
                if c.outers.is_empty() {
                    continue;
                }
                let w = chain.windows.len();
                for tr in &t.triggers {
                    let item = chain.n + chain.bundles.len();
                    chain.bundles.push((w, tr.first, tr.last));
                    for &(oi, pos) in &c.outers {
                        let o = &set.correlations[oi];
                        let outer: Vec<u32> = o.key_map[pos].iter().map(|&k| key[k]).collect();
                        let value = o.value_map[pos].map(|k| key[k]);
                        let hit =
                            correlation::Hit { time: tr.time, event: item, rule: pos, key: keys.intern(&outer), value };
                        corr_hits[oi].push(hit);
                    }
                }
                chain.windows.push(t.items);
            }
        }
        sort_findings(&mut out);
        out
    }
}

/// The windows of referenced correlations, as hits of the correlations referencing them.
struct Chain {
    /// Matched events: items below are events, items from here on bundles.
    n: usize,
    /// Per merged window of a referenced correlation: the items of its hits.
    windows: Vec<Vec<usize>>,
    /// Per triggering window (item `n + i`): its merged window and the range of its items.
    bundles: Vec<(usize, usize, usize)>,
}

impl Chain {
    /// The unit an `event_count` counts an item as: the merged window of a bundle.
    fn unit(&self, item: usize) -> Option<usize> {
        item.checked_sub(self.n).map(|b| self.bundles[b].0)
    }

    /// The events of `items` (bundles expanded, recursively), sorted, without duplicates.
    fn events(&self, items: &[usize]) -> Vec<usize> {
        let mut out = Vec::new();
        self.expand(items, &mut out);
        out.sort_unstable();
        out.dedup();
        out
    }

    fn expand(&self, items: &[usize], out: &mut Vec<usize>) {
        // Bundles of one merged window overlap: expand the union of their ranges once.
        let mut ranges: BTreeMap<usize, Vec<(usize, usize)>> = BTreeMap::new();
        for &it in items {
            match it.checked_sub(self.n) {
                None => out.push(it),
                Some(b) => {
                    let (w, first, last) = self.bundles[b];
                    ranges.entry(w).or_default().push((first, last));
                }
            }
        }
        for (w, mut rs) in ranges {
            rs.sort_unstable();
            let mut cur: Option<(usize, usize)> = None;
            for (a, b) in rs {
                cur = match cur {
                    Some((ca, cb)) if a <= cb + 1 => Some((ca, cb.max(b))),
                    other => {
                        if let Some((ca, cb)) = other {
                            self.expand(&self.windows[w][ca..=cb], out);
                        }
                        Some((a, b))
                    }
                };
            }
            if let Some((ca, cb)) = cur {
                self.expand(&self.windows[w][ca..=cb], out);
            }
        }
    }
}

/// The order findings are reported in: most severe first, then earliest, then by rule id.
pub fn sort_findings(f: &mut [Finding]) {
    f.sort_by(|a, b| b.level.cmp(&a.level).then(a.first.cmp(&b.first)).then(a.rule_id.cmp(&b.rule_id)));
}

/// Time, then where in the evidence: the order findings list their events in.
pub(crate) fn ref_order(a: &EventRef, b: &EventRef) -> std::cmp::Ordering {
    evidence_order((a.time, &a.provenance, a.tuple), (b.time, &b.provenance, b.tuple))
}

/// (time, provenance, tuple) in time order, then by evidence path, offset, record index and
/// tuple: [`ref_order`] on the parts of an event reference.
fn evidence_order(a: (i64, &Provenance, Option<u32>), b: (i64, &Provenance, Option<u32>)) -> std::cmp::Ordering {
    a.0.cmp(&b.0)
        .then_with(|| a.1.evidence_path.cmp(&b.1.evidence_path))
        .then(a.1.offset.cmp(&b.1.offset))
        .then(a.1.index.cmp(&b.1.index))
        .then(a.2.cmp(&b.2))
}

/// The finding of `meta` on the kept events `idx` (numbered in [`ref_order`]).
fn finding(
    meta: &rule::RuleMeta,
    kind: &str,
    group: Vec<String>,
    mut idx: Vec<usize>,
    refs: &[Seen],
    symbols: &intern::Symbols,
) -> Finding {
    idx.sort_unstable();
    idx.dedup();
    let mut events: Vec<EventRef> = idx.iter().map(|&i| refs[i].to_ref(symbols)).collect();
    events.dedup();
    // The first 50 distinct values in text order (sorted and deduplicated in place: cheaper
    // than a tree of them for the thousands of events of a large finding).
    let set = |f: &dyn Fn(&EventRef) -> Option<&String>| -> Vec<String> {
        let mut s: Vec<&String> = Vec::with_capacity(events.len());
        s.extend(events.iter().filter_map(f));
        s.sort_unstable();
        s.dedup();
        s.into_iter().take(50).cloned().collect()
    };
    Finding {
        rule_id: meta.id.clone(),
        title: meta.title.clone(),
        level: meta.level,
        tags: meta.tags.clone(),
        kind: kind.to_string(),
        origin: meta.origin.clone(),
        first: events.first().map_or(0, |e| e.time),
        last: events.last().map_or(0, |e| e.time),
        group,
        users: set(&|e| e.user.as_ref()),
        ips: set(&|e| e.ip.as_ref()),
        apps: set(&|e| e.app.as_ref()),
        resources: set(&|e| e.resource.as_ref()),
        events,
    }
}

/// A flow tuple as the event the rules see: `source`, time, the IP/port/protocol columns and
/// provenance as normalized columns, and `raw` a JSON object with the ASIM NetworkSession names
/// (absent values left out): `SrcIpAddr`, `SrcPortNumber`, `DstIpAddr`, `DstPortNumber`,
/// `NetworkProtocol`, `NetworkDirection`, `DvcAction`, `FlowState`, `SrcBytes`, `DstBytes`,
/// `SrcPackets`, `DstPackets`, `NetworkRuleName`, `DvcId`, `FlowId`, `source` (and `AclId`,
/// `TargetResourceId`, `FlowVersion`, `CloudAccountId` where the format has them).
pub fn flow_event(s: &NetworkSession) -> Event {
    let mut e = Event::default();
    flow_event_into(s, &mut e);
    e
}

/// [`flow_event`] into `e`, reusing its buffers (the hunt refills one event per tuple). Only
/// the fields a flow event has are written: `e` must be one that only this function filled.
pub fn flow_event_into(s: &NetworkSession, e: &mut Event) {
    // Written directly (keys in the order a serde_json map would sort them): a map of owned
    // keys and values serialized per tuple cost more than the flow rules' evaluation.
    let raw = &mut e.raw;
    raw.clear();
    let mut j = JsonObject::new(raw);
    for (k, v) in flow_members(s) {
        match v {
            FlowValue::Text(v) => j.text(k, v),
            FlowValue::Int(v) => j.int(k, v),
        }
    }
    j.end();
    flow_columns_into(s, e);
}

/// The columns and provenance [`flow_event_into`] fills (`raw` left as it is).
fn flow_columns_into(s: &NetworkSession, e: &mut Event) {
    // `Some(v)` into `o`, reusing its buffer.
    let put = |o: &mut Option<String>, v: &str| match o {
        Some(t) => {
            t.clear();
            t.push_str(v);
        }
        None => *o = Some(v.to_string()),
    };
    // An address or protocol column: empty is absent.
    let set = |o: &mut Option<String>, v: &str| if v.is_empty() { *o = None } else { put(o, v) };
    e.time = s.time;
    e.source.clone_from(&s.source);
    e.source_format.clone_from(&s.source_format);
    set(&mut e.src_ip, &s.src_ip);
    e.src_port = s.src_port;
    set(&mut e.dst_ip, &s.dst_ip);
    e.dst_port = s.dst_port;
    set(&mut e.protocol, &s.protocol);
    match s.target_resource_id.as_deref().or(s.dvc_id.as_deref()) {
        Some(t) => put(&mut e.target_resource_id, t),
        None => e.target_resource_id = None,
    }
    e.provenance.clone_from(&s.provenance);
}

/// The tree that parsing [`flow_event_into`]'s `raw` gives for `s` (the same members in the
/// same order, absent values left out), built from the tuple's fields.
fn flow_tree(s: &NetworkSession) -> fields::Node<'_> {
    use fields::Node;
    use std::borrow::Cow;
    fn node(v: FlowValue<'_>) -> Option<Node<'_>> {
        match v {
            FlowValue::Text(v) => v.map(|v| Node::Str(Cow::Borrowed(v))),
            FlowValue::Int(v) => v.map(|v| Node::Num(v.into())),
        }
    }
    Node::Obj(flow_members(s).into_iter().filter_map(|(k, v)| Some((Cow::Borrowed(k), node(v)?))).collect())
}

/// A member's value of a flow record: text or integer, `None` when absent (left out).
enum FlowValue<'a> {
    Text(Option<&'a str>),
    Int(Option<i64>),
}

/// The members of a flow tuple's record, keys in the order a serde_json map would sort them:
/// the one list both [`flow_event_into`] (as JSON) and [`flow_tree`] (as a tree) are made of.
fn flow_members(s: &NetworkSession) -> [(&'static str, FlowValue<'_>); 20] {
    use FlowValue::{Int, Text};
    [
        ("AclId", Text(s.acl_id.as_deref())),
        ("CloudAccountId", Text(s.account_id.as_deref())),
        ("DstBytes", Int(s.bytes_d2s)),
        ("DstIpAddr", Text(Some(&s.dst_ip))),
        ("DstPackets", Int(s.packets_d2s)),
        ("DstPortNumber", Int(s.dst_port.map(i64::from))),
        ("DvcAction", Text(s.action.as_deref())),
        ("DvcId", Text(s.dvc_id.as_deref())),
        ("FlowId", Text(Some(&s.flow_id))),
        ("FlowState", Text(s.flow_state.as_deref())),
        ("FlowVersion", Int(s.version.map(i64::from))),
        ("NetworkDirection", Text(s.direction.as_deref())),
        ("NetworkProtocol", Text(Some(&s.protocol))),
        ("NetworkRuleName", Text(s.rule.as_deref())),
        ("SrcBytes", Int(s.bytes_s2d)),
        ("SrcIpAddr", Text(Some(&s.src_ip))),
        ("SrcPackets", Int(s.packets_s2d)),
        ("SrcPortNumber", Int(s.src_port.map(i64::from))),
        ("TargetResourceId", Text(s.target_resource_id.as_deref())),
        ("source", Text(Some(&s.source))),
    ]
}

/// A JSON object written into a string, member by member (absent values left out).
struct JsonObject<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> JsonObject<'a> {
    fn new(out: &'a mut String) -> Self {
        out.push('{');
        JsonObject { out, first: true }
    }

    fn key(&mut self, k: &str) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        self.out.push('"');
        self.out.push_str(k);
        self.out.push_str("\":");
    }

    fn text(&mut self, k: &str, v: Option<&str>) {
        let Some(v) = v else { return };
        self.key(k);
        if v.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
            self.out.push_str(&serde_json::Value::from(v).to_string());
        } else {
            self.out.push('"');
            self.out.push_str(v);
            self.out.push('"');
        }
    }

    fn int(&mut self, k: &str, v: Option<i64>) {
        let Some(v) = v else { return };
        self.key(k);
        self.out.push_str(itoa::Buffer::new().format(v));
    }

    fn end(self) {
        self.out.push('}');
    }
}

/// The tests' pseudo-random numbers: a xorshift64 generator from `seed`, each call giving a
/// number below its argument (at least 1). Deterministic, so a failing case can be rerun.
#[cfg(test)]
pub(crate) fn xorshift(mut seed: u64) -> impl FnMut(u64) -> u64 {
    move |n| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n.max(1)
    }
}

#[cfg(test)]
mod flow_tree_tests {
    use super::*;

    /// The tree a flow tuple is hunted as is the tree parsing its `flow_event` record gives:
    /// every member present and absent, texts with quotes, backslashes, control and non-ASCII
    /// characters, empty texts, negative and large numbers. A hunt of tuples through the tree
    /// therefore decides as one through the JSON did.
    #[test]
    fn a_flow_tree_is_the_parse_of_its_flow_record() {
        let texts = ["", "Deny", "in\"bound", "back\\slash", "tab\there", "\u{1}ctl", "é·🙂", "/subscriptions/x/nsg"];
        let mut checked = 0;
        let mut reused = Event { raw: "left as it was".into(), ..Event::default() };
        for i in 0..200usize {
            let pick = |k: usize| texts[(i * 7 + k * 3) % texts.len()].to_string();
            let opt = |k: usize| (!(i + k).is_multiple_of(3)).then(|| pick(k));
            let num = |k: usize| (!(i + k).is_multiple_of(4)).then_some([0i64, 1, -5, i64::MAX, 1 << 40][(i + k) % 5]);
            let s = NetworkSession {
                time: i as i64,
                source: ["nsg_flow", "vnet_flow", "vpc_flow"][i % 3].into(),
                src_ip: pick(1),
                src_port: (!i.is_multiple_of(5)).then_some(i as i32 * 331 % 65536),
                dst_ip: pick(2),
                dst_port: (!i.is_multiple_of(6)).then_some(i as i32 * 17 % 65536),
                protocol: pick(3),
                direction: opt(4),
                action: opt(5),
                flow_state: opt(6),
                packets_s2d: num(7),
                bytes_s2d: num(8),
                packets_d2s: num(9),
                bytes_d2s: num(10),
                rule: opt(11),
                // Both absent every fifth tuple (the target column is then empty), one or
                // the other in the rest.
                dvc_id: opt(12).filter(|_| !i.is_multiple_of(5)),
                acl_id: opt(13),
                target_resource_id: opt(14).filter(|_| !i.is_multiple_of(5)),
                version: (i % 3 != 0).then_some(2),
                account_id: opt(15),
                flow_id: pick(16),
                tuple_index: i as u32,
                ..NetworkSession::default()
            };
            let e = flow_event(&s);
            let parsed = fields::parse(&e.raw).expect("flow_event writes JSON");
            assert_eq!(flow_tree(&s), parsed, "{}", e.raw);
            // The hunt refills one event per tuple: filled over the previous tuple's columns,
            // they are the columns of a fresh event (nothing of the last tuple is left), and
            // `raw` is not touched.
            flow_columns_into(&s, &mut reused);
            assert_eq!(reused.raw, "left as it was");
            assert_eq!(Event { raw: e.raw.clone(), ..reused.clone() }, e, "after tuple {}", i.saturating_sub(1));
            checked += 1;
        }
        assert_eq!(checked, 200);
    }
}
