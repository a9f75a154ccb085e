//! SVG charts, drawn by azir (no chart library, no CDN).
//!
//! Every chart is an `<svg class="chart" data-chart="NAME">` with a `viewBox`, so it scales with
//! the page and prints. Colours come from classes (`s0`…`s9`, `axis`, `grid`) that the report's
//! stylesheet defines for light and dark schemes; there are no `style` attributes (the report's
//! Content-Security-Policy allows only its own hashed stylesheet). Every label is escaped with
//! [`crate::html::text`], and every mark has a `<title>` child, which browsers show on hover and
//! screen readers read.

use crate::html::{text, thousands};
use std::fmt::Write as _;

/// Width of every chart in viewBox units.
pub const WIDTH: f64 = 960.0;
/// Series classes available (`s0`..`s9`).
pub const PALETTE: usize = 10;

fn open(out: &mut String, name: &str, title: &str, w: f64, h: f64) {
    let _ = write!(
        out,
        "<svg class=\"chart\" data-chart=\"{}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\"><title>{}</title>",
        text(name),
        text(title),
        text(title)
    );
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

/// One bar of [`hbar`].
pub struct Bar {
    /// Label (left of the bar).
    pub label: String,
    /// Length.
    pub value: f64,
    /// Shown at the end of the bar.
    pub shown: String,
    /// Extra hover text.
    pub detail: String,
}

/// Horizontal bar chart, longest first as given, `width` units wide (text is 12 units: draw it
/// about as wide as it will show).
pub fn hbar(name: &str, title: &str, bars: &[Bar], class: usize, width: f64) -> String {
    let row = 22.0;
    let top = 8.0;
    let h = top + row * bars.len().max(1) as f64 + 8.0;
    let label_w = (width * 0.36).round();
    let value_w = 80.0;
    let span = width - label_w - value_w - 10.0;
    let max = bars.iter().map(|b| b.value).fold(0.0f64, f64::max).max(1e-9);
    let mut s = String::new();
    open(&mut s, name, title, width, h);
    if bars.is_empty() {
        let _ = write!(s, "<text class=\"lbl\" x=\"10\" y=\"{}\">No data</text>", top + 14.0);
    }
    for (i, b) in bars.iter().enumerate() {
        let y = top + i as f64 * row;
        let w = (b.value / max * span).max(if b.value > 0.0 { 1.0 } else { 0.0 });
        let hover = if b.detail.is_empty() {
            format!("{}: {}", b.label, b.shown)
        } else {
            format!("{}: {} ({})", b.label, b.shown, b.detail)
        };
        let _ = write!(
            s,
            "<g><title>{}</title><text class=\"lbl\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text><rect class=\"s{}\" x=\"{label_w}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\" rx=\"2\"/><text class=\"val\" x=\"{:.1}\" y=\"{:.1}\">{}</text></g>",
            text(&hover),
            label_w - 8.0,
            y + 15.0,
            text(&cut(&b.label, (label_w / 7.0) as usize)),
            class % PALETTE,
            y + 3.0,
            row - 6.0,
            label_w + w + 6.0,
            y + 15.0,
            text(&b.shown),
        );
    }
    s.push_str("</svg>");
    s
}

/// A round number at or above `v` (1, 2, 5 × 10^n).
pub fn nice_ceil(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * p >= v {
            return m * p;
        }
    }
    10.0 * p
}

/// UTC label of a tick: the date at midnight, else date and hour.
fn tick_label(us: i64, step_us: i64) -> String {
    let Some(t) = chrono::DateTime::from_timestamp_micros(us) else { return String::new() };
    if step_us >= 86_400_000_000 {
        t.format("%m-%d").to_string()
    } else {
        t.format("%m-%d %H:%M").to_string()
    }
}

/// A tick spacing giving at most `max` ticks over `span` µs.
fn tick_step(span: i64, max: i64) -> i64 {
    const H: i64 = 3_600_000_000;
    for s in [H / 60, 5 * H / 60, 15 * H / 60, H, 3 * H, 6 * H, 12 * H, 24 * H, 48 * H, 7 * 24 * H, 30 * 24 * H] {
        if span / s <= max {
            return s;
        }
    }
    365 * 24 * H
}

fn time_axis(s: &mut String, x0: f64, x1: f64, y: f64, start: i64, end: i64) {
    let span = (end - start).max(1);
    let step = tick_step(span, 10);
    let first = start.div_euclid(step) * step + if start.rem_euclid(step) == 0 { 0 } else { step };
    let _ = write!(s, "<line class=\"axis\" x1=\"{x0}\" y1=\"{y}\" x2=\"{x1}\" y2=\"{y}\"/>");
    let mut t = first;
    while t <= end {
        let x = x0 + (t - start) as f64 / span as f64 * (x1 - x0);
        let _ = write!(
            s,
            "<line class=\"axis\" x1=\"{x:.1}\" y1=\"{y}\" x2=\"{x:.1}\" y2=\"{:.1}\"/><text class=\"tick\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            y + 4.0,
            y + 16.0,
            text(&tick_label(t, step))
        );
        t += step;
    }
}

/// One series of [`stacked_time`].
pub struct Series {
    /// Name (legend).
    pub name: String,
    /// Count per bucket.
    pub values: Vec<u64>,
}

/// Stacked bars over time: `series[i].values[b]` is the count of series `i` in bucket `b`,
/// which starts at `start + b * bucket` (µs, UTC).
pub fn stacked_time(name: &str, title: &str, start: i64, bucket: i64, series: &[Series]) -> String {
    let n = series.iter().map(|s| s.values.len()).max().unwrap_or(0);
    let (left, right, top, plot_h) = (60.0, 10.0, 10.0, 220.0);
    let legend_rows = series.len().div_ceil(5).max(1) as f64;
    let h = top + plot_h + 26.0 + legend_rows * 18.0 + 6.0;
    let mut s = String::new();
    open(&mut s, name, title, WIDTH, h);
    let totals: Vec<u64> = (0..n).map(|b| series.iter().map(|s| s.values.get(b).copied().unwrap_or(0)).sum()).collect();
    let max = nice_ceil(totals.iter().copied().max().unwrap_or(0) as f64);
    let span = WIDTH - left - right;
    let bw = span / n.max(1) as f64;
    for k in 0..=4 {
        let v = max * k as f64 / 4.0;
        let y = top + plot_h - plot_h * k as f64 / 4.0;
        let _ = write!(
            s,
            "<line class=\"grid\" x1=\"{left}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\"/><text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            WIDTH - right,
            left - 6.0,
            y + 4.0,
            thousands(v as u64)
        );
    }
    for (b, &total) in totals.iter().enumerate() {
        if total == 0 {
            continue;
        }
        let x = left + b as f64 * bw;
        let mut y = top + plot_h;
        let when = chrono::DateTime::from_timestamp_micros(start + b as i64 * bucket)
            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default();
        let mut hover = format!("{when}: {}", thousands(total));
        for sr in series {
            let v = sr.values.get(b).copied().unwrap_or(0);
            if v > 0 {
                let _ = write!(hover, "\n{}: {}", sr.name, thousands(v));
            }
        }
        let _ = write!(s, "<g><title>{}</title>", text(&hover));
        for (i, sr) in series.iter().enumerate() {
            let v = sr.values.get(b).copied().unwrap_or(0);
            if v == 0 {
                continue;
            }
            let bh = v as f64 / max * plot_h;
            y -= bh;
            let _ = write!(
                s,
                "<rect class=\"s{}\" x=\"{x:.2}\" y=\"{y:.2}\" width=\"{:.2}\" height=\"{bh:.2}\"/>",
                i % PALETTE,
                (bw - 0.6).max(0.5)
            );
        }
        s.push_str("</g>");
    }
    time_axis(&mut s, left, WIDTH - right, top + plot_h, start, start + n as i64 * bucket);
    legend(&mut s, series.iter().map(|x| x.name.as_str()), top + plot_h + 26.0);
    s.push_str("</svg>");
    s
}

fn legend<'a>(s: &mut String, names: impl Iterator<Item = &'a str>, y0: f64) {
    for (i, name) in names.enumerate() {
        let x = 60.0 + (i % 5) as f64 * 180.0;
        let y = y0 + (i / 5) as f64 * 18.0;
        let _ = write!(
            s,
            "<rect class=\"s{}\" x=\"{x}\" y=\"{:.1}\" width=\"10\" height=\"10\"/><text class=\"lbl\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            i % PALETTE,
            y + 2.0,
            x + 14.0,
            y + 11.0,
            text(&cut(name, 24))
        );
    }
}

/// One mark of [`time_points`].
pub struct Point {
    /// When (µs, UTC).
    pub time: i64,
    /// Lane (row) index into `lanes`.
    pub lane: usize,
    /// Hover text.
    pub label: String,
}

/// Marks on a time axis, one row per lane (e.g. NSG rule writes, deletes, failed attempts).
pub fn time_points(name: &str, title: &str, lanes: &[&str], points: &[Point], start: i64, end: i64) -> String {
    let (left, right, top, lane_h) = (160.0, 20.0, 10.0, 30.0);
    let plot_h = lane_h * lanes.len().max(1) as f64;
    let h = top + plot_h + 26.0;
    let (start, end) = if end > start { (start, end) } else { (start - 3_600_000_000, start + 3_600_000_000) };
    let span = (end - start) as f64;
    let mut s = String::new();
    open(&mut s, name, title, WIDTH, h);
    for (i, l) in lanes.iter().enumerate() {
        let y = top + i as f64 * lane_h + lane_h / 2.0;
        let _ = write!(
            s,
            "<line class=\"grid\" x1=\"{left}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\"/><text class=\"lbl\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            WIDTH - right,
            left - 8.0,
            y + 4.0,
            text(l)
        );
    }
    for p in points {
        let x = left + (p.time - start) as f64 / span * (WIDTH - left - right);
        let y = top + p.lane as f64 * lane_h + lane_h / 2.0;
        let _ = write!(
            s,
            "<circle class=\"s{} mark\" cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"6\"><title>{}</title></circle>",
            p.lane % PALETTE,
            text(&p.label)
        );
    }
    time_axis(&mut s, left, WIDTH - right, top + plot_h, start, end);
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn balanced(s: &str) {
        assert_eq!(s.matches("<svg").count(), 1);
        assert!(s.ends_with("</svg>"));
        assert_eq!(s.matches("<g>").count(), s.matches("</g>").count());
        assert_eq!(s.matches("<title>").count(), s.matches("</title>").count());
        assert!(!s.contains("style="), "no style attributes under the CSP");
        assert!(!s.contains("<script"));
    }

    #[test]
    fn bars_scale_to_the_longest_and_escape_labels() {
        let bars = vec![
            Bar { label: "<script>alert(1)</script>".into(), value: 100.0, shown: "100".into(), detail: "a&b".into() },
            Bar { label: "203.0.113.7".into(), value: 50.0, shown: "50".into(), detail: String::new() },
        ];
        let s = hbar("t", "T <x>", &bars, 3, 960.0);
        balanced(&s);
        assert!(s.contains("data-chart=\"t\""));
        assert!(s.contains("aria-label=\"T &lt;x&gt;\""));
        assert!(s.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(s.contains("a&amp;b"));
        // 960 - 346 - 80 - 10 = 524 for the longest, half for the other.
        assert!(s.contains("width=\"524.0\""), "{s}");
        assert!(s.contains("width=\"262.0\""));
        assert!(s.contains("class=\"s3\""));
        assert_eq!(hbar("e", "E", &[], 0, 600.0).matches("No data").count(), 1);
    }

    #[test]
    fn stacked_bars_sum_series_and_label_time() {
        let h = 3_600_000_000i64;
        let start = 1_773_273_600_000_000; // 2026-03-12T00:00:00Z
        let series = vec![
            Series { name: "signin".into(), values: vec![1, 0, 3] },
            Series { name: "activity".into(), values: vec![2, 0, 0] },
        ];
        let s = stacked_time("events-per-hour", "Events", start, h, &series);
        balanced(&s);
        assert!(s.contains("2026-03-12 00:00 UTC: 3\nsignin: 1\nactivity: 2"), "{s}");
        assert!(s.contains("2026-03-12 02:00 UTC: 3\nsignin: 3"));
        // The empty hour draws nothing.
        assert!(!s.contains("2026-03-12 01:00 UTC"));
        assert_eq!(s.matches("<rect class=\"s").count(), 3 + 2, "3 bar segments + 2 legend swatches");
    }

    #[test]
    fn points_fall_on_their_lane_and_time() {
        let pts = vec![
            Point { time: 0, lane: 0, label: "write <r>".into() },
            Point { time: 100, lane: 1, label: "delete".into() },
        ];
        let s = time_points("nsg-changes", "NSG", &["write", "delete"], &pts, 0, 100);
        balanced(&s);
        assert!(s.contains("cx=\"160.0\" cy=\"25.0\""), "{s}");
        assert!(s.contains("cx=\"940.0\" cy=\"55.0\""));
        assert!(s.contains("write &lt;r&gt;"));
    }

    #[test]
    fn nice_numbers() {
        assert_eq!(nice_ceil(0.0), 1.0);
        assert_eq!(nice_ceil(7.0), 10.0);
        assert_eq!(nice_ceil(13.0), 20.0);
        assert_eq!(nice_ceil(420.0), 500.0);
        assert_eq!(nice_ceil(1000.0), 1000.0);
    }
}
