//! The report's HTML, section by section, from [`ReportData`].
//!
//! Contract with the browser test (`tests/browser/report-check.mjs`) and with readers who script
//! against the report:
//! - `<body data-findings="N">`, one `<details class="finding" data-finding data-level="…"
//!   id="f-K">` per finding, its events in a `<table class="events" data-table>`;
//! - charts are `<svg class="chart" data-chart="NAME">`;
//! - tables marked `data-table` sort by header click; `<input class="filter"
//!   data-filter-for="ID">` filters the table `ID` (non-matching rows get `hidden`).

use crate::data::{level_rank, Coverage, EventView, FindingView, Ranked, ReportData};
use crate::html::{attr, human_bytes, table, text, thousands, Cell, Col, Html};
use crate::svg::{self, Bar, Point, Series};
use azir_model::format_micros;
use azir_store::pivot::{Kind, Section};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

const HOUR: i64 = 3_600_000_000;
/// viewBox width of the charts drawn two per row.
const HALF: f64 = 560.0;
/// Events of each finding put on the attack timeline (the first ones and the last few).
const TIMELINE_HEAD: usize = 20;
const TIMELINE_TAIL: usize = 5;
/// Rows of the attack timeline at most.
const TIMELINE_MAX: usize = 1500;

/// Extra content for the network section, made by the caller (kept out of `data` so this crate
/// does not decide how topology is drawn).
#[derive(Default)]
pub struct NetworkView {
    /// SVG of the topology (already escaped by its builder).
    pub topology_svg: Option<String>,
    /// Exposure tables (now, and at moments of the incident).
    pub exposure: Vec<ExposureTable>,
    /// Notes on what could not be drawn or evaluated.
    pub notes: Vec<String>,
}

/// Time to the second, the full value on hover; sorts by time.
fn time_cell(us: i64) -> Cell {
    Cell::Markup {
        html: format!("<span title=\"{}\">{}</span>", attr(&ts(us)), text(&ts_short(us))),
        sort: format!("{us:020}"),
    }
}

/// What was reachable from the Internet at one moment.
pub struct ExposureTable {
    /// Heading.
    pub title: String,
    /// A sentence under the heading.
    pub note: String,
    /// Column names.
    pub columns: Vec<String>,
    /// Rows of text.
    pub rows: Vec<Vec<String>>,
}

fn ts(us: i64) -> String {
    format_micros(us)
}

/// `2026-03-12 04:06:15Z` (seconds), for dense tables.
fn ts_short(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us).map(|t| t.format("%Y-%m-%d %H:%M:%SZ").to_string()).unwrap_or_default()
}

fn dur(us: i64) -> String {
    let h = us / HOUR;
    if h >= 48 {
        format!("{:.1} days", us as f64 / (24.0 * HOUR as f64))
    } else if h >= 1 {
        format!("{h} h")
    } else {
        format!("{} min", (us / 60_000_000).max(1))
    }
}

/// `attack.t1078.004` → `T1078.004`; tactic tags (`attack.initial-access`) → `Initial Access`.
pub fn attack_label(tag: &str) -> Option<(bool, String)> {
    let rest = tag.strip_prefix("attack.")?;
    let technique = rest.len() > 1
        && (rest.starts_with('t') || rest.starts_with('T'))
        && rest[1..].chars().next().is_some_and(|c| c.is_ascii_digit());
    if technique {
        return Some((true, rest.to_ascii_uppercase()));
    }
    let words: Vec<String> = rest
        .split(['-', '_'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
        })
        .collect();
    Some((false, words.join(" ")))
}

struct Ctx<'a> {
    d: &'a ReportData,
    /// (kind, lower-cased value) → anchor id of the entity section.
    anchors: HashMap<(Kind, String), String>,
}

impl Ctx<'_> {
    fn entity_link(&self, kind: Kind, value: &str) -> String {
        match self.anchors.get(&(kind, value.to_ascii_lowercase())) {
            Some(a) => format!("<a href=\"#{a}\">{}</a>", text(value)),
            None => text(value),
        }
    }
}

/// Renders the whole document. `style` and `script` are the inline assets; `csp` the policy.
pub fn document(d: &ReportData, net: &NetworkView, style: &str, script: &str, csp: &str) -> String {
    let mut anchors = HashMap::new();
    for (i, e) in d.entities.iter().enumerate() {
        anchors.insert((e.kind, e.value.to_ascii_lowercase()), format!("e-{i}"));
    }
    let cx = Ctx { d, anchors };
    let mut h = Html::new();
    let title = format!("Incident report: {}", d.case.name);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{}\">\
         <meta name=\"referrer\" content=\"no-referrer\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"generator\" content=\"azir {}\"><title>{}</title><style>{style}</style></head>",
        attr(csp),
        env!("CARGO_PKG_VERSION"),
        text(&title)
    );
    let _ = write!(h, "<body data-findings=\"{}\">", d.findings.len());
    header(&mut h, &cx, &title);
    h.raw("<main>");
    summary(&mut h, &cx);
    coverage(&mut h, d);
    charts(&mut h, d);
    findings(&mut h, &cx);
    attack_timeline(&mut h, &cx);
    network(&mut h, d, net);
    entities(&mut h, &cx);
    evidence(&mut h, d);
    h.raw("</main>");
    let _ = write!(
        h,
        "<footer>Generated by azir {} at {}. Every figure comes from the case's tables (<code>azir query --case …</code> reproduces it); \
         times are UTC. Log content is shown as text and never run.</footer>",
        env!("CARGO_PKG_VERSION"),
        text(&d.generated)
    );
    let _ = writeln!(h, "<script>{script}</script></body></html>");
    h.finish()
}

fn header(h: &mut Html, cx: &Ctx, title: &str) {
    let d = cx.d;
    h.raw("<header>");
    h.el("h1", "", title);
    let _ = write!(
        h,
        "<p class=\"muted\">Case <code>{}</code> · analyst {} · opened {} · report generated {}</p>",
        text(&d.case.id),
        text(&d.case.analyst),
        text(&d.case.created),
        text(&d.generated)
    );
    h.raw(
        "<nav><a href=\"#summary\">Summary</a><a href=\"#coverage\">Coverage</a><a href=\"#charts\">Activity</a>\
         <a href=\"#findings\">Findings</a><a href=\"#timeline\">Attack timeline</a><a href=\"#network\">Network</a>\
         <a href=\"#entities\">Entities</a><a href=\"#evidence\">Evidence</a></nav></header>",
    );
}

fn card(h: &mut Html, value: &str, label: &str) {
    let _ = write!(h, "<div class=\"card\"><b>{}</b><span>{}</span></div>", text(value), text(label));
}

fn summary(h: &mut Html, cx: &Ctx) {
    let d = cx.d;
    h.raw("<section id=\"summary\"><h2>Summary</h2>");
    h.raw("<div class=\"cards\">");
    card(h, &thousands(d.findings.len() as u64), "findings");
    for lvl in ["critical", "high", "medium", "low"] {
        if let Some(n) = d.levels.get(lvl) {
            card(h, &thousands(*n as u64), &format!("{lvl} severity"));
        }
    }
    card(h, &thousands(d.events), "events");
    card(h, &thousands(d.flows), "flow tuples");
    card(h, &thousands(d.coverage.len() as u64), "sources");
    card(h, &thousands(d.evidence.len() as u64), "evidence files");
    card(h, &thousands(d.quarantined), "quarantined records");
    card(h, if d.verify.chain_errors.is_empty() { "intact" } else { "BROKEN" }, "custody chain");
    h.raw("</div>");
    let mut kv = String::from("<dl class=\"kv\">");
    if let Some((a, b)) = d.range {
        match chart_window(&d.hourly) {
            Some((ws, wb, wn, outside)) if outside > 0 => {
                let (from, to) = (ws.max(a), (ws + wb * wn as i64).min(b));
                let _ = write!(
                    kv,
                    "<dt>Records from</dt><dd>{} to {} ({}); {} outlying record(s) reach from {} to {}</dd>",
                    text(&ts(from)),
                    text(&ts(to)),
                    text(&dur(to - from)),
                    thousands(outside),
                    text(&ts(a)),
                    text(&ts(b))
                );
            }
            _ => {
                let _ = write!(
                    kv,
                    "<dt>Records from</dt><dd>{} to {} ({})</dd>",
                    text(&ts(a)),
                    text(&ts(b)),
                    text(&dur(b - a))
                );
            }
        }
    }
    if let (Some(f), Some(l)) =
        (d.findings.iter().map(|f| f.row.first).min(), d.findings.iter().map(|f| f.row.last).max())
    {
        let _ = write!(kv, "<dt>Findings from</dt><dd>{} to {}</dd>", text(&ts(f)), text(&ts(l)));
    }
    let list = |v: &[(String, u64)]| {
        v.iter().map(|(s, n)| format!("{} ({})", text(s), thousands(*n))).collect::<Vec<_>>().join(", ")
    };
    if !d.tenants.is_empty() {
        let _ = write!(kv, "<dt>Tenants</dt><dd class=\"mono\">{}</dd>", list(&d.tenants));
    }
    if !d.subscriptions.is_empty() {
        let _ = write!(kv, "<dt>Subscriptions</dt><dd class=\"mono\">{}</dd>", list(&d.subscriptions));
    }
    let _ = write!(kv, "<dt>Time zone</dt><dd>all times UTC (case display zone: {})</dd>", text(&d.case.timezone));
    kv.push_str("</dl>");
    h.raw(&kv);
    // The most severe findings, one line each.
    let top: Vec<&FindingView> = d.findings.iter().filter(|f| level_rank(&f.row.level) <= 1).take(12).collect();
    if !top.is_empty() {
        h.raw("<h3>Most severe findings</h3><ul>");
        for f in top {
            let idx = d.findings.iter().position(|x| std::ptr::eq(x, f)).unwrap_or(0);
            let _ = write!(
                h,
                "<li><span class=\"lvl lvl-{}\">{}</span> <a href=\"#f-{idx}\">{}</a> <span class=\"muted\">{}</span></li>",
                attr(&f.row.level.to_ascii_lowercase()),
                text(&f.row.level),
                text(&f.row.title),
                text(&ts_short(f.row.first))
            );
        }
        h.raw("</ul>");
    }
    if !d.entities.is_empty() {
        h.raw("<h3>Key entities</h3><p>");
        let links: Vec<String> =
            d.entities.iter().map(|e| format!("{} {}", kind_name(e.kind), cx.entity_link(e.kind, &e.value))).collect();
        h.raw(&links.join(" · "));
        h.raw("</p>");
    }
    h.raw("</section>");
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Ip => "IP",
        Kind::User => "user",
        Kind::App => "app",
        Kind::Resource => "resource",
    }
}

fn coverage(h: &mut Html, d: &ReportData) {
    h.raw("<section id=\"coverage\"><h2>Sources and coverage</h2>");
    h.raw("<p class=\"muted\">What the case holds per source, and the hours inside each source's range with no record at all (a gap can be a quiet period, a retention limit or a missing export).</p>");
    let cols = [
        Col { head: "source", numeric: false },
        Col { head: "table", numeric: false },
        Col { head: "records", numeric: true },
        Col { head: "first", numeric: false },
        Col { head: "last", numeric: false },
        Col { head: "gaps", numeric: false },
    ];
    let rows: Vec<Vec<Cell>> = d
        .coverage
        .iter()
        .map(|c: &Coverage| {
            let gaps = if c.sparse() {
                format!("sparse: records in {} of {} hours", thousands(c.active_hours), thousands(c.span_hours))
            } else if c.gaps.is_empty() {
                "none".to_string()
            } else {
                c.gaps
                    .iter()
                    .take(6)
                    .map(|(a, b)| format!("{} → {} ({})", ts_short(*a), ts_short(*b), dur(b - a)))
                    .chain((c.gaps.len() > 6).then(|| format!("… {} more", c.gaps.len() - 6)))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            vec![
                Cell::Text(c.source.clone()),
                Cell::Text(c.table.to_string()),
                Cell::count(c.count),
                Cell::Text(ts_short(c.first)),
                Cell::Text(ts_short(c.last)),
                Cell::Text(gaps),
            ]
        })
        .collect();
    table(h, "t-coverage", "", &cols, &rows, true, None);
    h.el("h3", "", "Quarantined records");
    if d.quarantine.is_empty() {
        h.el("p", "muted", "None: every record read was normalized.");
    } else {
        let cols = [
            Col { head: "reason", numeric: false },
            Col { head: "records", numeric: true },
            Col { head: "example", numeric: false },
        ];
        let rows: Vec<Vec<Cell>> = d
            .quarantine
            .iter()
            .map(|q| vec![Cell::Text(q.reason.clone()), Cell::count(q.count), Cell::Code(q.example.clone())])
            .collect();
        table(h, "t-quarantine", "", &cols, &rows, true, Some(d.quarantined));
        h.el(
            "p",
            "muted",
            "Every quarantined record is kept whole in the case: azir timeline --quarantine lists them.",
        );
    }
    h.raw("</section>");
}

/// A cell showing `short` with `full` on hover (and as the sort key).
fn abbrev(full: &str, short: &str, class: &str) -> Cell {
    if full == short {
        return if class == "mono" { Cell::Code(full.to_string()) } else { Cell::Text(full.to_string()) };
    }
    let cls = if class.is_empty() { String::new() } else { format!(" class=\"{class}\"") };
    Cell::Markup { html: format!("<span{cls} title=\"{}\">{}</span>", attr(full), text(short)), sort: full.to_string() }
}

/// An ARM id as `resourceGroup/type/name` (the full id on hover); other targets as they are.
pub fn short_target(t: &str) -> String {
    let lower = t.to_ascii_lowercase();
    if !lower.starts_with("/subscriptions/") {
        return t.to_string();
    }
    let parts: Vec<&str> = t.split('/').filter(|p| !p.is_empty()).collect();
    let rg = parts.iter().position(|p| p.eq_ignore_ascii_case("resourcegroups")).and_then(|i| parts.get(i + 1));
    let prov = parts.iter().position(|p| p.eq_ignore_ascii_case("providers"));
    let tail: Vec<&str> = match prov {
        // providers/<namespace>/<type>/<name>[/<child type>/<child name>...]: drop the namespace.
        Some(i) if parts.len() > i + 2 => parts[i + 2..].to_vec(),
        _ => parts.iter().rev().take(2).rev().copied().collect(),
    };
    match rg {
        Some(rg) => format!("{rg}/{}", tail.join("/")),
        None => tail.join("/"),
    }
}

/// An evidence `path:line` without the evidence root (`root`), and with the ARM id that
/// diagnostic exports put in their folder names (`resourceId=/SUBSCRIPTIONS/…/NSG-WEB`) cut to
/// its last segment.
pub fn short_evidence(path: &str, root: &str) -> String {
    let p = path.strip_prefix(root).unwrap_or(path);
    let mut out = String::with_capacity(p.len());
    let mut rest = p;
    while let Some(i) = rest.find("resourceId=/").or_else(|| rest.find("flowLogResourceID=/")) {
        let key_end = i + rest[i..].find('=').unwrap_or(0) + 1;
        out.push_str(&rest[..key_end]);
        let after = &rest[key_end..];
        let end = after.find("/y=").unwrap_or(after.len());
        let id = &after[..end];
        out.push('…');
        out.push('/');
        out.push_str(id.rsplit('/').next().unwrap_or(id));
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// The longest directory prefix shared by every evidence path (with its trailing `/`).
fn evidence_root(d: &ReportData) -> String {
    let mut paths = d.evidence.iter().map(|e| e.path.as_str());
    let Some(first) = paths.next() else { return String::new() };
    let mut root = first.rsplit_once('/').map_or("", |(a, _)| a).to_string();
    for p in paths {
        while !(root.is_empty() || p.starts_with(&root) && p[root.len()..].starts_with('/')) {
            root = root.rsplit_once('/').map_or(String::new(), |(a, _)| a.to_string());
        }
    }
    if root.is_empty() {
        root
    } else {
        root + "/"
    }
}

fn event_rows(events: &[EventView], root: &str) -> Vec<Vec<Cell>> {
    events
        .iter()
        .map(|e| {
            vec![
                time_cell(e.time),
                Cell::Text(e.source.clone()),
                Cell::Text(e.what.clone()),
                Cell::Text(e.result.clone()),
                Cell::Text(e.actor.clone()),
                Cell::Text(e.ip.clone()),
                abbrev(&e.target, &short_target(&e.target), ""),
                Cell::Text(e.detail.clone()),
                abbrev(&e.evidence, &short_evidence(&e.evidence, root), "mono"),
            ]
        })
        .collect()
}

const EVENT_COLS: [Col<'static>; 9] = [
    Col { head: "time (UTC)", numeric: false },
    Col { head: "source", numeric: false },
    Col { head: "operation", numeric: false },
    Col { head: "result", numeric: false },
    Col { head: "actor", numeric: false },
    Col { head: "source IP", numeric: false },
    Col { head: "target", numeric: false },
    Col { head: "detail", numeric: false },
    Col { head: "evidence", numeric: false },
];

fn findings(h: &mut Html, cx: &Ctx) {
    let d = cx.d;
    h.raw("<section id=\"findings\"><h2>Findings</h2>");
    if d.findings.is_empty() {
        h.el(
            "p",
            "muted",
            "No findings are stored in this case. Run azir hunt --case DIR (the built-in Azure rule pack, plus --sigma for any Sigma rules) and make the report again.",
        );
        h.raw("</section>");
        return;
    }
    h.raw("<p class=\"toolbar\"><button type=\"button\" id=\"expand-all\">Expand all</button> <button type=\"button\" id=\"collapse-all\">Collapse all</button> Show only: ");
    for (lvl, n) in d.levels.iter().collect::<Vec<_>>().into_iter().rev() {
        let _ = write!(
            h,
            "<button type=\"button\" data-level-filter=\"{}\" aria-pressed=\"false\">{} ({n})</button> ",
            attr(lvl),
            text(lvl)
        );
    }
    h.raw("</p>");
    let root = evidence_root(d);
    let mut current = None;
    for (i, f) in d.findings.iter().enumerate() {
        let r = &f.row;
        let lvl = r.level.to_ascii_lowercase();
        if current.as_deref() != Some(lvl.as_str()) {
            let _ = write!(h, "<h3>{}</h3>", text(&format!("Severity: {lvl}")));
            current = Some(lvl.clone());
        }
        let techniques: Vec<String> = r
            .tags
            .iter()
            .filter_map(|t| attack_label(t))
            .filter(|(tech, _)| *tech)
            .map(|(_, l)| format!("<span class=\"tag\">{}</span>", text(&l)))
            .collect();
        let _ = write!(
            h,
            "<details class=\"finding\" data-finding data-level=\"{}\" id=\"f-{i}\"><summary><span class=\"lvl lvl-{}\">{}</span> <b>{}</b> {} <span class=\"muted\">{} → {} · {} event(s)</span></summary><div>",
            attr(&lvl),
            attr(&lvl),
            text(&r.level),
            text(&r.title),
            techniques.join(""),
            text(&ts_short(r.first)),
            text(&ts_short(r.last)),
            thousands(r.event_count)
        );
        let mut kv = String::from("<dl class=\"kv\">");
        let _ = write!(
            kv,
            "<dt>Rule</dt><dd><code>{}</code> ({}, {})</dd>",
            text(&r.rule_id),
            text(&r.kind),
            text(&r.origin)
        );
        let tactics: Vec<String> =
            r.tags.iter().filter_map(|t| attack_label(t)).filter(|(tech, _)| !*tech).map(|(_, l)| text(&l)).collect();
        if !tactics.is_empty() {
            let _ = write!(kv, "<dt>ATT&amp;CK tactics</dt><dd>{}</dd>", tactics.join(", "));
        }
        let _ = write!(kv, "<dt>Window</dt><dd>{} to {}</dd>", text(&ts(r.first)), text(&ts(r.last)));
        for (label, kind, list) in
            [("Users", Kind::User, &r.users), ("IPs", Kind::Ip, &r.ips), ("Apps", Kind::App, &r.apps)]
        {
            if !list.is_empty() {
                let links: Vec<String> = list.iter().take(50).map(|v| cx.entity_link(kind, v)).collect();
                let _ = write!(kv, "<dt>{label}</dt><dd>{}</dd>", links.join(", "));
            }
        }
        if !r.resources.is_empty() {
            let res: Vec<String> = r.resources.iter().take(20).map(|v| text(v)).collect();
            let _ = write!(kv, "<dt>Resources</dt><dd class=\"mono\">{}</dd>", res.join("<br>"));
        }
        if !r.group.is_empty() {
            let _ = write!(kv, "<dt>Grouped by</dt><dd class=\"mono\">{}</dd>", text(&r.group.join(", ")));
        }
        kv.push_str("</dl>");
        h.raw(&kv);
        table(h, &format!("fe-{i}"), "events", &EVENT_COLS, &event_rows(&f.events, &root), true, Some(r.event_count));
        if (f.events.len() as u64) < r.event_count {
            let sql = format!(
                "SELECT * FROM events WHERE event_id IN (SELECT unnest(event_ids) FROM findings WHERE rule_id = '{}' AND first_time = '{}')",
                r.rule_id.replace('\'', "''"),
                ts(r.first)
            );
            let _ =
                write!(h, "<p class=\"muted\">All events: <code>azir query --case CASE \"{}\"</code></p>", text(&sql));
        }
        h.raw("</div></details>");
    }
    h.raw("</section>");
}

fn attack_timeline(h: &mut Html, cx: &Ctx) {
    let d = cx.d;
    h.raw("<section id=\"timeline\"><h2>Attack timeline</h2>");
    if d.findings.is_empty() {
        h.el("p", "muted", "No findings, so no attack timeline.");
        h.raw("</section>");
        return;
    }
    // event id → (event, findings it belongs to)
    let mut rows: BTreeMap<(i64, String), (&EventView, Vec<usize>)> = BTreeMap::new();
    for (i, f) in d.findings.iter().enumerate() {
        let n = f.events.len();
        let pick = f.events.iter().enumerate().filter(|(k, _)| *k < TIMELINE_HEAD || *k + TIMELINE_TAIL >= n);
        for (_, e) in pick {
            rows.entry((e.time, e.id.clone())).or_insert_with(|| (e, Vec::new())).1.push(i);
        }
    }
    let total = rows.len();
    let root = evidence_root(d);
    let _ = write!(
        h,
        "<p class=\"muted\">The events behind the findings, in time order (per finding the first {TIMELINE_HEAD} and the last {TIMELINE_TAIL}); each links to its finding.</p>"
    );
    let cols = [
        Col { head: "time (UTC)", numeric: false },
        Col { head: "finding", numeric: false },
        Col { head: "source", numeric: false },
        Col { head: "operation", numeric: false },
        Col { head: "result", numeric: false },
        Col { head: "actor", numeric: false },
        Col { head: "source IP", numeric: false },
        Col { head: "target", numeric: false },
        Col { head: "evidence", numeric: false },
    ];
    let out: Vec<Vec<Cell>> = rows
        .values()
        .take(TIMELINE_MAX)
        .map(|(e, fs)| {
            let worst = fs.iter().map(|&i| level_rank(&d.findings[i].row.level)).min().unwrap_or(5);
            let links: Vec<String> = fs
                .iter()
                .map(|&i| {
                    let r = &d.findings[i].row;
                    format!(
                        "<a href=\"#f-{i}\"><span class=\"lvl lvl-{}\">{}</span> {}</a>",
                        attr(&r.level.to_ascii_lowercase()),
                        text(&r.level),
                        text(&r.title)
                    )
                })
                .collect();
            vec![
                time_cell(e.time),
                Cell::Markup { html: links.join("<br>"), sort: worst.to_string() },
                Cell::Text(e.source.clone()),
                Cell::Text(e.what.clone()),
                Cell::Text(e.result.clone()),
                Cell::Text(e.actor.clone()),
                Cell::Text(e.ip.clone()),
                abbrev(&e.target, &short_target(&e.target), ""),
                abbrev(&e.evidence, &short_evidence(&e.evidence, &root), "mono"),
            ]
        })
        .collect();
    table(h, "t-timeline", "", &cols, &out, true, Some(total as u64));
    h.raw("</section>");
}

/// The chart window: the hours holding all but the 0.1% outermost records at each end (an old
/// sample file must not squeeze the incident into one pixel), and a bucket size giving at most
/// 240 bars. Returns (start, bucket, buckets, records left out).
pub fn chart_window(hourly: &[(String, i64, u64)]) -> Option<(i64, i64, usize, u64)> {
    let mut per_hour: BTreeMap<i64, u64> = BTreeMap::new();
    for (_, hr, n) in hourly {
        *per_hour.entry(*hr).or_default() += n;
    }
    let total: u64 = per_hour.values().sum();
    if total == 0 {
        return None;
    }
    let trim = total / 1000;
    let hours: Vec<(i64, u64)> = per_hour.into_iter().collect();
    let (mut lo, mut dropped_lo) = (0usize, 0u64);
    while lo + 1 < hours.len() && dropped_lo + hours[lo].1 <= trim {
        dropped_lo += hours[lo].1;
        lo += 1;
    }
    let (mut hi, mut dropped_hi) = (hours.len() - 1, 0u64);
    while hi > lo && dropped_hi + hours[hi].1 <= trim {
        dropped_hi += hours[hi].1;
        hi -= 1;
    }
    let (start, end) = (hours[lo].0, hours[hi].0 + HOUR);
    // Buckets aligned on multiples of their size (epoch-aligned, as `time_bucket`).
    let aligned = |b: i64| {
        let s = start.div_euclid(b) * b;
        (s, (end - s + b - 1) / b)
    };
    let bucket = [1, 2, 3, 6, 12, 24, 48, 168, 720]
        .into_iter()
        .map(|x| x * HOUR)
        .find(|&b| aligned(b).1 <= 240)
        .unwrap_or(720 * HOUR);
    let (start, n) = aligned(bucket);
    Some((start, bucket, n as usize, dropped_lo + dropped_hi))
}

fn ranked_bars(rows: &[Ranked], shown: impl Fn(&Ranked) -> String, detail: impl Fn(&Ranked) -> String) -> Vec<Bar> {
    rows.iter()
        .map(|r| Bar { label: r.label.clone(), value: r.value as f64, shown: shown(r), detail: detail(r) })
        .collect()
}

fn charts(h: &mut Html, d: &ReportData) {
    h.raw("<section id=\"charts\"><h2>Activity</h2>");
    h.el("h3", "", "Records per source over time");
    match chart_window(&d.hourly) {
        Some((start, bucket, n, outside)) => {
            let mut by: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
            let mut totals: BTreeMap<&str, u64> = BTreeMap::new();
            for (src, hr, c) in &d.hourly {
                let b = (hr - start).div_euclid(bucket);
                if b < 0 || b as usize >= n {
                    continue;
                }
                by.entry(src).or_insert_with(|| vec![0; n])[b as usize] += c;
                *totals.entry(src).or_default() += c;
            }
            let mut names: Vec<&str> = by.keys().copied().collect();
            names.sort_by_key(|s| std::cmp::Reverse(totals.get(s).copied().unwrap_or(0)));
            let series: Vec<Series> = names
                .iter()
                .map(|s| Series { name: s.to_string(), values: by.remove(s).unwrap_or_default() })
                .collect();
            let title = format!("Records per {} per source", dur(bucket).replace("1 h", "hour"));
            h.raw(&svg::stacked_time("events-per-hour", &title, start, bucket, &series));
            if outside > 0 {
                h.el(
                    "p",
                    "muted",
                    &format!(
                        "{} records outside the charted window (the outermost 0.1% at each end) are not drawn.",
                        thousands(outside)
                    ),
                );
            }
        }
        None => {
            h.el("p", "muted", "No records.");
        }
    }
    h.raw("<div class=\"grid2\"><div>");
    h.el("h3", "", "Sign-in failures per source IP");
    h.raw(&svg::hbar(
        "signin-failures-ip",
        "Sign-in failures per source IP",
        &ranked_bars(
            &d.failures_ip,
            |r| thousands(r.value),
            |r| {
                let users = r.extra.first().copied().unwrap_or(0);
                if r.note.is_empty() {
                    format!("{users} user(s)")
                } else {
                    format!("{users} user(s), {}", r.note)
                }
            },
        ),
        3,
        HALF,
    ));
    h.raw("</div><div>");
    h.el("h3", "", "Sign-in failures per country");
    h.raw(&svg::hbar(
        "signin-failures-country",
        "Sign-in failures per country",
        &ranked_bars(
            &d.failures_country,
            |r| thousands(r.value),
            |r| format!("{} IP(s)", r.extra.first().copied().unwrap_or(0)),
        ),
        1,
        HALF,
    ));
    h.raw("</div><div>");
    h.el("h3", "", "Top talkers (bytes, both directions)");
    h.raw(&svg::hbar(
        "top-talkers",
        "Top talkers by bytes",
        &ranked_bars(
            &d.talkers,
            |r| human_bytes(r.value),
            |r| format!("{} flow(s)", r.extra.first().copied().unwrap_or(0)),
        ),
        0,
        HALF,
    ));
    h.raw("</div><div>");
    h.el("h3", "", "Outbound bytes to public addresses");
    h.raw(&svg::hbar(
        "outbound-bytes",
        "Bytes sent from private to public addresses, per destination",
        &ranked_bars(
            &d.outbound,
            |r| human_bytes(r.value),
            |r| {
                format!(
                    "{} flow(s) from {} source(s)",
                    r.extra.first().copied().unwrap_or(0),
                    r.extra.get(1).copied().unwrap_or(0)
                )
            },
        ),
        2,
        HALF,
    ));
    h.raw("</div></div>");
    waf(h, d);
    agents(h, d);
    nsg_changes(h, d);
    h.raw("</section>");
}

fn waf(h: &mut Html, d: &ReportData) {
    if d.waf.is_empty() {
        return;
    }
    h.el("h3", "", "Web application firewall: requests per client and URI");
    h.el("p", "muted", "Request URIs are shown exactly as logged, as text: they are attack payloads.");
    let root = evidence_root(d);
    let cols = [
        Col { head: "client", numeric: false },
        Col { head: "request URI", numeric: false },
        Col { head: "records", numeric: true },
        Col { head: "blocking", numeric: true },
        Col { head: "rules", numeric: false },
        Col { head: "first (UTC)", numeric: false },
        Col { head: "last (UTC)", numeric: false },
        Col { head: "evidence", numeric: false },
    ];
    let rows: Vec<Vec<Cell>> = d
        .waf
        .iter()
        .map(|w| {
            vec![
                Cell::Text(w.client.clone()),
                Cell::Code(w.uri.clone()),
                Cell::count(w.count),
                Cell::count(w.blocked),
                Cell::Text(w.rules.clone()),
                time_cell(w.first),
                time_cell(w.last),
                abbrev(&w.evidence, &short_evidence(&w.evidence, &root), "mono"),
            ]
        })
        .collect();
    table(h, "t-waf", "", &cols, &rows, true, Some(d.waf_total));
}

fn agents(h: &mut Html, d: &ReportData) {
    if d.agents.is_empty() {
        return;
    }
    h.el("h3", "", "User agents (most error responses first)");
    h.el(
        "p",
        "muted",
        "Scanners and tools announce themselves here; the strings are shown exactly as logged, as text.",
    );
    let cols = [
        Col { head: "user agent", numeric: false },
        Col { head: "records", numeric: true },
        Col { head: "clients", numeric: true },
        Col { head: "HTTP ≥ 400", numeric: true },
        Col { head: "sources", numeric: false },
        Col { head: "first (UTC)", numeric: false },
        Col { head: "last (UTC)", numeric: false },
    ];
    let rows: Vec<Vec<Cell>> = d
        .agents
        .iter()
        .map(|a| {
            vec![
                Cell::Code(a.agent.clone()),
                Cell::count(a.count),
                Cell::count(a.clients),
                Cell::count(a.errors),
                Cell::Text(a.sources.clone()),
                time_cell(a.first),
                time_cell(a.last),
            ]
        })
        .collect();
    table(h, "t-agents", "", &cols, &rows, true, Some(d.agents_total));
}

fn nsg_changes(h: &mut Html, d: &ReportData) {
    h.el("h3", "", "NSG changes (Activity Log)");
    let lanes = ["rule write", "rule delete", "NSG write/delete", "failed"];
    let points: Vec<Point> = d
        .nsg_changes
        .iter()
        .map(|c| {
            let op = c.operation.to_ascii_lowercase();
            let lane = if c.result.eq_ignore_ascii_case("failure") {
                3
            } else if op.contains("/securityrules/") && op.ends_with("/delete") {
                1
            } else if op.contains("/securityrules/") {
                0
            } else {
                2
            };
            let name = c.target.rsplit('/').next().unwrap_or_default();
            Point {
                time: c.time,
                lane,
                label: format!(
                    "{} {} {} by {} from {} ({})",
                    ts_short(c.time),
                    c.operation,
                    name,
                    c.actor,
                    c.ip,
                    c.result
                ),
            }
        })
        .collect();
    // The same window as the records chart, widened to every change.
    let (mut start, mut end) = match chart_window(&d.hourly) {
        Some((s, b, n, _)) => (s, s + b * n as i64),
        None => d.range.unwrap_or((0, 0)),
    };
    if let (Some(a), Some(b)) = (d.nsg_changes.first(), d.nsg_changes.last()) {
        start = start.min(a.time);
        end = end.max(b.time);
    }
    h.raw(&svg::time_points("nsg-changes", "NSG changes over the case's time range", &lanes, &points, start, end));
    if d.nsg_changes.is_empty() {
        h.el("p", "muted", "No NSG or security rule writes or deletes in the Activity Log of this case.");
        return;
    }
    let cols = [
        Col { head: "time (UTC)", numeric: false },
        Col { head: "operation", numeric: false },
        Col { head: "NSG / rule", numeric: false },
        Col { head: "caller", numeric: false },
        Col { head: "caller IP", numeric: false },
        Col { head: "result", numeric: false },
        Col { head: "evidence", numeric: false },
    ];
    let root = evidence_root(d);
    let rows: Vec<Vec<Cell>> = d
        .nsg_changes
        .iter()
        .map(|c| {
            vec![
                time_cell(c.time),
                Cell::Text(c.operation.clone()),
                abbrev(&c.target, &short_target(&c.target), "mono"),
                Cell::Text(c.actor.clone()),
                Cell::Text(c.ip.clone()),
                Cell::Text(c.result.clone()),
                abbrev(&c.evidence, &short_evidence(&c.evidence, &root), "mono"),
            ]
        })
        .collect();
    table(h, "t-nsg", "", &cols, &rows, true, None);
}

fn network(h: &mut Html, d: &ReportData, net: &NetworkView) {
    h.raw("<section id=\"network\"><h2>Network</h2>");
    if d.resources == 0 {
        h.el(
            "p",
            "muted",
            "The case holds no network configuration. Ingest az network vnet/nsg/nic/public-ip list output (or ARM REST / Resource Graph JSON) to draw the topology and list what is exposed to the Internet.",
        );
    }
    if let Some(svg) = &net.topology_svg {
        h.el("h3", "", "Topology");
        h.raw(svg);
    }
    for (i, x) in net.exposure.iter().enumerate() {
        h.el("h3", "", &x.title);
        if !x.note.is_empty() {
            h.el("p", "muted", &x.note);
        }
        if x.rows.is_empty() {
            h.el("p", "muted", "Nothing in the configuration is reachable from the Internet.");
        } else {
            let heads: Vec<Col> = x.columns.iter().map(|c| Col { head: c.as_str(), numeric: false }).collect();
            let rows: Vec<Vec<Cell>> =
                x.rows.iter().map(|r| r.iter().map(|c| Cell::Text(c.clone())).collect()).collect();
            table(h, &format!("t-exposure-{i}"), "", &heads, &rows, true, None);
        }
    }
    for n in &net.notes {
        h.el("p", "muted", n);
    }
    h.raw("</section>");
}

fn cell_of(v: &Value, col: &str) -> Cell {
    match v {
        Value::Null => Cell::Text(String::new()),
        Value::Number(x) => {
            let f = x.as_f64().unwrap_or(0.0);
            if col == "bytes" {
                Cell::Num(f, human_bytes(f.max(0.0) as u64))
            } else {
                Cell::Num(f, x.as_u64().map(thousands).unwrap_or_else(|| x.to_string()))
            }
        }
        Value::String(s) => Cell::Text(s.clone()),
        other => Cell::Text(other.to_string()),
    }
}

fn pivot_section(h: &mut Html, id: &str, s: &Section) {
    h.el("h3", "", &s.title);
    let cols: Vec<Col> = s
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| Col {
            head: c.as_str(),
            numeric: s.rows.first().and_then(|r| r.get(i)).is_some_and(Value::is_number),
        })
        .collect();
    let rows: Vec<Vec<Cell>> =
        s.rows.iter().map(|r| r.iter().zip(&s.columns).map(|(v, c)| cell_of(v, c)).collect()).collect();
    table(h, id, "", &cols, &rows, true, s.total);
}

fn entities(h: &mut Html, cx: &Ctx) {
    let d = cx.d;
    h.raw("<section id=\"entities\"><h2>Entities</h2>");
    if d.entities.is_empty() {
        h.el("p", "muted", "No users, IPs or apps are named by findings.");
        h.raw("</section>");
        return;
    }
    h.el(
        "p",
        "muted",
        "The users, IP addresses and applications the findings name most (weighted by severity), each as azir pivot shows it.",
    );
    for (i, e) in d.entities.iter().enumerate() {
        let p = &e.pivot;
        let _ = write!(h, "<details class=\"entity\" id=\"e-{i}\"><summary><b>{} {}</b> <span class=\"muted\">named by {} finding(s) · {} event(s) · {} flow(s)",
            kind_name(e.kind), text(&e.value), e.findings, thousands(p.events), thousands(p.flows));
        if let (Some(f), Some(l)) = (&p.first_seen, &p.last_seen) {
            let _ = write!(h, " · {} → {}", text(f), text(l));
        }
        h.raw("</span></summary><div>");
        for (k, s) in p.sections.iter().enumerate() {
            pivot_section(h, &format!("e-{i}-{k}"), s);
        }
        h.raw("</div></details>");
    }
    h.raw("</section>");
}

fn evidence(h: &mut Html, d: &ReportData) {
    h.raw("<section id=\"evidence\"><h2>Evidence appendix</h2>");
    let v = &d.verify;
    if v.chain_errors.is_empty() {
        let _ = write!(
            h,
            "<p><span class=\"ok\">Custody chain intact</span>: {} entries, each hashing the one before.",
            v.custody_entries
        );
    } else {
        let _ = write!(h, "<p><span class=\"bad\">Custody chain BROKEN</span> ({} problem(s)):", v.chain_errors.len());
        h.raw("<ul>");
        for e in &v.chain_errors {
            h.el("li", "", e);
        }
        h.raw("</ul><p>");
    }
    if d.evidence_rehashed {
        let _ = write!(
            h,
            " Evidence re-hashed now: {} unchanged, <span class=\"{}\">{} changed</span>, {} no longer at their origin.</p>",
            v.evidence_ok,
            if v.evidence_changed.is_empty() { "ok" } else { "bad" },
            v.evidence_changed.len(),
            v.evidence_missing.len()
        );
        for c in &v.evidence_changed {
            h.el("p", "bad", &format!("changed: {c}"));
        }
    } else {
        h.raw(" Evidence files were not re-hashed for this report (azir case verify, or azir report --verify-evidence, does).</p>");
    }
    if v.orphan_parts > 0 {
        h.el(
            "p",
            "muted",
            &format!("{} table part(s) from interrupted ingests are ignored by every reader.", v.orphan_parts),
        );
    }
    collection(h, d);
    let _ = write!(
        h,
        "<details class=\"appendix\"><summary><b>Evidence files</b> <span class=\"muted\">{} file(s), {}</span></summary>",
        thousands(d.evidence.len() as u64),
        text(&human_bytes(d.evidence.iter().map(|e| e.size).sum()))
    );
    let cols = [
        Col { head: "file", numeric: false },
        Col { head: "SHA-256", numeric: false },
        Col { head: "size", numeric: true },
        Col { head: "streams", numeric: true },
        Col { head: "records", numeric: true },
        Col { head: "events", numeric: true },
        Col { head: "flows", numeric: true },
        Col { head: "quarantined", numeric: true },
        Col { head: "format", numeric: false },
        Col { head: "errors", numeric: false },
        Col { head: "ingested", numeric: false },
    ];
    if d.evidence.len() > MAX_EVIDENCE_ROWS {
        h.el(
            "p",
            "muted",
            &format!(
                "The first {} of {} files; every file: azir query --case CASE \"SELECT * FROM evidence\".",
                thousands(MAX_EVIDENCE_ROWS as u64),
                thousands(d.evidence.len() as u64)
            ),
        );
    }
    let rows: Vec<Vec<Cell>> = d
        .evidence
        .iter()
        .take(MAX_EVIDENCE_ROWS)
        .map(|e| {
            vec![
                Cell::Code(e.path.clone()),
                Cell::Code(e.sha256.clone()),
                Cell::bytes(e.size),
                Cell::count(e.streams),
                Cell::count(e.records),
                Cell::count(e.events),
                Cell::count(e.flows),
                Cell::count(e.bad),
                Cell::Text(e.format.clone()),
                Cell::Text(e.errors.join("\n")),
                Cell::Text(e.ingested_at.clone()),
            ]
        })
        .collect();
    table(h, "t-evidence", "", &cols, &rows, true, None);
    h.raw("</details>");
    let _ = write!(
        h,
        "<details class=\"appendix\"><summary><b>Custody log</b> <span class=\"muted\">{} entries</span></summary>",
        thousands(d.custody.len() as u64)
    );
    let cols = [
        Col { head: "#", numeric: true },
        Col { head: "time", numeric: false },
        Col { head: "action", numeric: false },
        Col { head: "actor", numeric: false },
        Col { head: "SHA-256", numeric: false },
        Col { head: "path", numeric: false },
        Col { head: "entry hash", numeric: false },
    ];
    // Ingest and collection entries repeat the evidence table (same file, same SHA-256):
    // counted, not listed.
    let repeats = |c: &&azir_store::case::CustodyEntry| c.action == "evidence-ingested" || c.action == "collected";
    let ingested = d.custody.iter().filter(repeats).count();
    if ingested > 0 {
        h.el(
            "p",
            "muted",
            &format!(
                "{} evidence-ingested and collected entries record the files of the table above (same SHA-256); the other entries follow. Chain head: {}",
                thousands(ingested as u64),
                d.custody.last().map(|c| c.hash.as_str()).unwrap_or("-")
            ),
        );
    }
    let rows: Vec<Vec<Cell>> = d
        .custody
        .iter()
        .filter(|c| !repeats(c))
        .map(|c| {
            vec![
                Cell::count(c.seq),
                Cell::Text(c.time.clone()),
                Cell::Text(c.action.clone()),
                Cell::Text(c.actor.clone()),
                Cell::Code(c.sha256.clone().unwrap_or_default()),
                Cell::Code(c.path.clone().unwrap_or_default()),
                Cell::Code(c.hash.clone()),
            ]
        })
        .collect();
    table(h, "t-custody", "", &cols, &rows, true, None);
    h.raw("</details></section>");
}

/// Evidence files listed in the appendix (the rest are counted, with the query that lists them).
const MAX_EVIDENCE_ROWS: usize = 1000;

fn jtext(v: &serde_json::Value, k: &str) -> String {
    match &v[k] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// What `azir collect` asked of the live tenant and what came back, per source and scope, and
/// every window that is not complete (the honest part: 403s, failures, ranges past retention).
fn collection(h: &mut Html, d: &ReportData) {
    if d.collection.is_empty() {
        return;
    }
    let n = |v: &serde_json::Value, k: &str| v[k].as_u64().unwrap_or(0);
    #[derive(Default)]
    struct Agg {
        complete: u64,
        other: u64,
        records: u64,
        requests: u64,
        throttled: u64,
        first: String,
        last: String,
    }
    let mut by: BTreeMap<(String, String), Agg> = BTreeMap::new();
    let mut incomplete = Vec::new();
    for w in &d.collection {
        let a = by.entry((jtext(w, "source"), jtext(w, "scope"))).or_default();
        let status = jtext(w, "status");
        match status.as_str() {
            "complete" => a.complete += 1,
            "split" => {}
            _ => {
                a.other += 1;
                incomplete.push(w);
            }
        }
        a.records += n(w, "records");
        a.requests += n(w, "requests");
        a.throttled += n(w, "throttled");
        let (start, end) = (jtext(w, "start"), jtext(w, "end"));
        if !start.is_empty() && (a.first.is_empty() || start < a.first) {
            a.first = start;
        }
        if end > a.last {
            a.last = end;
        }
    }
    let _ = write!(
        h,
        "<details class=\"appendix\"{}><summary><b>Live collection</b> <span class=\"muted\">{} window record(s), {} not complete</span></summary>",
        if incomplete.is_empty() { "" } else { " open" },
        thousands(d.collection.len() as u64),
        thousands(incomplete.len() as u64)
    );
    let cols = [
        Col { head: "source", numeric: false },
        Col { head: "scope", numeric: false },
        Col { head: "complete windows", numeric: true },
        Col { head: "not complete", numeric: true },
        Col { head: "records", numeric: true },
        Col { head: "requests", numeric: true },
        Col { head: "429s", numeric: true },
        Col { head: "from", numeric: false },
        Col { head: "to", numeric: false },
    ];
    let rows: Vec<Vec<Cell>> = by
        .into_iter()
        .map(|((source, scope), a)| {
            vec![
                Cell::Text(source),
                Cell::Code(scope),
                Cell::count(a.complete),
                Cell::count(a.other),
                Cell::count(a.records),
                Cell::count(a.requests),
                Cell::count(a.throttled),
                Cell::Text(a.first),
                Cell::Text(a.last),
            ]
        })
        .collect();
    table(h, "t-collection", "", &cols, &rows, true, None);
    if !incomplete.is_empty() {
        let cols = [
            Col { head: "source", numeric: false },
            Col { head: "scope", numeric: false },
            Col { head: "status", numeric: false },
            Col { head: "from", numeric: false },
            Col { head: "to", numeric: false },
            Col { head: "HTTP", numeric: false },
            Col { head: "error code", numeric: false },
            Col { head: "reason", numeric: false },
        ];
        let rows: Vec<Vec<Cell>> = incomplete
            .iter()
            .take(500)
            .map(|w| {
                vec![
                    Cell::Text(jtext(w, "source")),
                    Cell::Code(jtext(w, "scope")),
                    Cell::Text(jtext(w, "status")),
                    Cell::Text(jtext(w, "start")),
                    Cell::Text(jtext(w, "end")),
                    Cell::Text(jtext(w, "http_status")),
                    Cell::Code(jtext(w, "error_code")),
                    Cell::Text(jtext(w, "reason")),
                ]
            })
            .collect();
        table(h, "t-collection-gaps", "", &cols, &rows, true, Some(incomplete.len() as u64));
    }
    h.raw("</details>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attack_tags_become_techniques_and_tactics() {
        assert_eq!(attack_label("attack.t1078.004"), Some((true, "T1078.004".into())));
        assert_eq!(attack_label("attack.T1110"), Some((true, "T1110".into())));
        assert_eq!(attack_label("attack.initial-access"), Some((false, "Initial Access".into())));
        assert_eq!(attack_label("attack.ta0001"), Some((false, "Ta0001".into())));
        assert_eq!(attack_label("cve.2021-44228"), None);
    }

    #[test]
    fn long_ids_and_paths_are_shortened() {
        assert_eq!(
            short_target(
                "/subscriptions/b7e3/resourceGroups/rg-data/providers/Microsoft.Storage/storageAccounts/stdata"
            ),
            "rg-data/storageAccounts/stdata"
        );
        assert_eq!(
            short_target("/SUBSCRIPTIONS/B7/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG-WEB/SECURITYRULES/R1"),
            "RG/NETWORKSECURITYGROUPS/NSG-WEB/SECURITYRULES/R1"
        );
        assert_eq!(short_target("/subscriptions/b7e3"), "subscriptions/b7e3");
        assert_eq!(short_target("megan@contoso.com"), "megan@contoso.com");
        assert_eq!(
            short_evidence(
                "/ev/diag/insights-logs-x/resourceId=/SUBSCRIPTIONS/B7/RESOURCEGROUPS/RG/PROVIDERS/A.B/C/NSG-WEB/y=2026/m=03/PT1H.json:1#1",
                "/ev/"
            ),
            "diag/insights-logs-x/resourceId=…/NSG-WEB/y=2026/m=03/PT1H.json:1#1"
        );
        assert_eq!(short_evidence("/ev/activity/prod-1.json:27", "/ev/"), "activity/prod-1.json:27");
        assert_eq!(short_evidence("other/x.json:2", "/ev/"), "other/x.json:2");
        let c = abbrev("<full>", "<s>", "mono");
        let Cell::Markup { html, sort } = c else { panic!("markup expected") };
        assert_eq!(html, "<span class=\"mono\" title=\"&lt;full&gt;\">&lt;s&gt;</span>");
        assert_eq!(sort, "<full>");
    }

    #[test]
    fn chart_window_trims_outliers_and_picks_a_bucket() {
        let h = HOUR;
        // One old record years before 10 000 records over 3 days.
        let mut hourly = vec![("vpc_flow".to_string(), 0, 1)];
        let base = 1_000_000 * h;
        for i in 0..72 {
            hourly.push(("signin".to_string(), base + i * h, 10_000 / 72 + 1));
        }
        let (start, bucket, n, outside) = chart_window(&hourly).unwrap();
        assert_eq!(outside, 1);
        assert_eq!(bucket, h);
        assert_eq!(start, base);
        assert_eq!(n, 72);
        // 30 days of hourly data: 720 hours > 240 bars, so 3-hour buckets, or 6-hour ones when
        // the start is not on a 3-hour boundary (241 aligned buckets).
        let month: Vec<(String, i64, u64)> = (0..720).map(|i| ("a".to_string(), base + i * h, 5)).collect();
        let (start, bucket, n, outside) = chart_window(&month).unwrap();
        assert_eq!((bucket, n, outside), (6 * h, 121, 0));
        assert!(start <= base && start % bucket == 0);
        let aligned: Vec<(String, i64, u64)> = (0..720).map(|i| ("a".to_string(), (i + 999_999) * h, 5)).collect();
        let (_, bucket, n, _) = chart_window(&aligned).unwrap();
        assert_eq!((bucket, n), (3 * h, 240));
        assert!(chart_window(&[]).is_none());
    }
}
