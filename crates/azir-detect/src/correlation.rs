//! Correlation windows over the matches of base rules.
//!
//! Matches are collected during the hunt (only events that matched a referenced rule are kept,
//! with their group key and value) and sorted by time when the hunt ends, so input order does not
//! matter. For every group, a window of `timespan` ends at each match; the window holds the
//! matches at or after `end - timespan` (an event exactly `timespan` before the end is inside).
//! Windows that satisfy the condition and overlap are merged into one finding spanning them.
//! Matches missing any group-by field are left out of that correlation: they cannot be
//! attributed to a group.
//!
//! Chaining (a correlation referencing another): [`run_triggered`] also gives, per merged
//! window, every window of `timespan` that met the condition ([`Trigger`]). Each becomes one hit
//! of the referencing correlation at its last hit's time; an `event_count` counts the triggers
//! of one merged window once (one burst is one event, however long it lasts).

use crate::rule::{CorrelationType, Threshold};
use rustc_hash::FxHashMap;

/// One base-rule match seen by a correlation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// Event time (µs).
    pub time: i64,
    /// Index of the matching event ref in the hunt (for a hit that is a window of a referenced
    /// correlation, an id of that window the caller maps back to its events).
    pub event: usize,
    /// Position of the matched rule in the correlation's `rules`.
    pub rule: usize,
    /// The group (its group-by values, numbered by the caller: hits are grouped by it, and
    /// groups are run in its order).
    pub key: u32,
    /// The counted field's value (value_count), numbered by the caller: equal numbers are equal
    /// values.
    pub value: Option<u32>,
}

/// One triggered window (merged): the hits inside it.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// The group ([`Hit::key`]).
    pub key: u32,
    /// Indexes of the contributing event refs, in time order.
    pub events: Vec<usize>,
    /// The aggregate at its highest (count, distinct values or distinct rules).
    pub value: f64,
}

/// One window of `timespan` that met the condition, inside a merged [`Window`]: what a
/// correlation referencing this one (Sigma chaining) sees as one hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trigger {
    /// Time of its last hit: the window completes there.
    pub time: i64,
    /// Offset of its first hit in [`Triggered::items`].
    pub first: usize,
    /// Offset of its last hit in [`Triggered::items`].
    pub last: usize,
}

/// A merged window with the windows that triggered it.
#[derive(Debug, Clone, PartialEq)]
pub struct Triggered {
    /// The merged window, as [`run`] gives it.
    pub window: Window,
    /// `event` of every hit of the merged window, in (time, event) order, not deduplicated.
    pub items: Vec<usize>,
    /// Every window that met the condition, in time order; they overlap and together span
    /// `items`.
    pub triggers: Vec<Trigger>,
}

/// Runs one correlation over its hits.
pub fn run(kind: CorrelationType, n_rules: usize, span: i64, cond: &[Threshold], hits: Vec<Hit>) -> Vec<Window> {
    run_triggered(kind, n_rules, span, cond, hits, &|_| None, &|_| None).into_iter().map(|t| t.window).collect()
}

/// Runs one correlation over its hits, keeping the triggering windows of each merged window.
/// `unit(event)` names the unit an `event_count` counts a hit as: hits of one unit (the
/// triggers of one window of a referenced correlation) count once; `None` counts the hit alone.
/// `number(value)` is a value as a number, for `value_sum` and `value_avg`: a hit whose value is
/// not a number is left out of their windows (it neither adds to the sum nor is listed).
pub fn run_triggered(
    kind: CorrelationType,
    n_rules: usize,
    span: i64,
    cond: &[Threshold],
    mut hits: Vec<Hit>,
    unit: &dyn Fn(usize) -> Option<usize>,
    number: &dyn Fn(u32) -> Option<f64>,
) -> Vec<Triggered> {
    if matches!(kind, CorrelationType::ValueSum | CorrelationType::ValueAvg) {
        hits.retain(|h| h.value.and_then(number).is_some());
    }
    sort_hits(&mut hits);
    let mut out = Vec::new();
    let mut start = 0;
    while start < hits.len() {
        let mut end = start;
        while end < hits.len() && hits[end].key == hits[start].key {
            end += 1;
        }
        group(kind, n_rules, span, cond, &hits[start..end], (unit, number), &mut out);
        start = end;
    }
    out
}

/// Puts hits in (key, time, event, rule, value) order.
///
/// A hunt numbers keys by rank, 0 to the number of groups: then the hits are placed by key with
/// a counting sort, which keeps each group's hits in the order they came, and each group is
/// sorted by a stable sort that finds the runs in it (a worker's hits come in time order, so a
/// group is one run per worker). The full sort by the five-field key was the finish's largest
/// part on the demo (2.45 M instructions a round); with this the whole finish went from 12.39 M
/// to 10.76 M (callgrind, session 13). Sparse keys (or few hits) take the full sort.
fn sort_hits(hits: &mut Vec<Hit>) {
    let order = |h: &Hit| (h.key, h.time, h.event, h.rule, h.value);
    let max = hits.iter().map(|h| h.key as usize).max().unwrap_or(0);
    if hits.len() < 64 || max > 2 * hits.len() {
        hits.sort_unstable_by_key(order);
        return;
    }
    // starts[k]: where key k's hits begin.
    let mut starts = vec![0usize; max + 2];
    for h in hits.iter() {
        starts[h.key as usize + 1] += 1;
    }
    for k in 1..starts.len() {
        starts[k] += starts[k - 1];
    }
    let mut placed = hits.clone();
    let mut next = starts.clone();
    for h in hits.iter() {
        let at = &mut next[h.key as usize];
        placed[*at] = *h;
        *at += 1;
    }
    for k in 0..=max {
        placed[starts[k]..starts[k + 1]].sort_by_key(|h| (h.time, h.event, h.rule, h.value));
    }
    *hits = placed;
}

/// What `run_triggered` is told of hits: an `event_count`'s unit, a value's number.
type Lookups<'a> = (&'a dyn Fn(usize) -> Option<usize>, &'a dyn Fn(u32) -> Option<f64>);

/// A merged window being built: first hit, last hit, best value, triggers (absolute offsets).
type Current = (usize, usize, f64, Vec<(usize, usize)>);

fn group(
    kind: CorrelationType,
    n_rules: usize,
    span: i64,
    cond: &[Threshold],
    h: &[Hit],
    (unit, number): Lookups<'_>,
    out: &mut Vec<Triggered>,
) {
    let mut lo = 0;
    // value_sum / value_avg: each hit's number (every hit has one: `run_triggered` left out the
    // others), and the sum and count of those in the window (added on entry, taken off on
    // leaving; exact for the integer counters logs carry).
    let summing = matches!(kind, CorrelationType::ValueSum | CorrelationType::ValueAvg);
    let nums: Vec<Option<f64>> =
        if summing { h.iter().map(|x| x.value.and_then(number)).collect() } else { Vec::new() };
    let (mut sum, mut n_sum) = (0.0f64, 0usize);
    let mut values: FxHashMap<u32, usize> = FxHashMap::default();
    let mut units: FxHashMap<usize, usize> = FxHashMap::default();
    let mut singles = 0usize;
    let mut per_rule = vec![0usize; n_rules];
    let mut current: Option<Current> = None;
    let flush = |cur: Option<Current>, out: &mut Vec<Triggered>| {
        if let Some((a, b, v, trig)) = cur {
            let items: Vec<usize> = h[a..=b].iter().map(|x| x.event).collect();
            let mut events = items.clone();
            events.dedup();
            let triggers =
                trig.into_iter().map(|(f, l)| Trigger { time: h[l].time, first: f - a, last: l - a }).collect();
            out.push(Triggered { window: Window { key: h[a].key, events, value: v }, items, triggers });
        }
    };
    let counting = kind == CorrelationType::EventCount;
    for hi in 0..h.len() {
        let x = &h[hi];
        if summing {
            if let Some(n) = nums[hi] {
                sum += n;
                n_sum += 1;
            }
        } else if let Some(v) = x.value {
            *values.entry(v).or_default() += 1;
        }
        if counting {
            match unit(x.event) {
                Some(u) => *units.entry(u).or_default() += 1,
                None => singles += 1,
            }
        }
        per_rule[x.rule] += 1;
        while x.time - h[lo].time > span {
            if summing {
                if let Some(n) = nums[lo] {
                    sum -= n;
                    n_sum -= 1;
                }
            } else if let Some(v) = h[lo].value {
                if let Some(c) = values.get_mut(&v) {
                    *c -= 1;
                    if *c == 0 {
                        values.remove(&v);
                    }
                }
            }
            if counting {
                match unit(h[lo].event) {
                    Some(u) => {
                        if let Some(c) = units.get_mut(&u) {
                            *c -= 1;
                            if *c == 0 {
                                units.remove(&u);
                            }
                        }
                    }
                    None => singles -= 1,
                }
            }
            per_rule[h[lo].rule] -= 1;
            lo += 1;
        }
        let (ok, v, from) = match kind {
            CorrelationType::EventCount => {
                let n = (singles + units.len()) as f64;
                (Threshold::test(cond, n), n, lo)
            }
            CorrelationType::ValueCount => {
                let n = values.len() as f64;
                (Threshold::test(cond, n), n, lo)
            }
            CorrelationType::Temporal => {
                let n = per_rule.iter().filter(|&&c| c > 0).count() as f64;
                (Threshold::test(cond, n), n, lo)
            }
            CorrelationType::ValueSum => {
                let v = if n_sum == 0 { 0.0 } else { sum };
                (n_sum > 0 && Threshold::test(cond, v), v, lo)
            }
            CorrelationType::ValueAvg => {
                let v = if n_sum == 0 { 0.0 } else { sum / n_sum as f64 };
                (n_sum > 0 && Threshold::test(cond, v), v, lo)
            }
            CorrelationType::TemporalOrdered => match ordered_start(&h[lo..=hi], n_rules) {
                Some(first) => (true, n_rules as f64, lo + first),
                None => (false, 0.0, lo),
            },
        };
        if !ok {
            continue;
        }
        current = match current {
            Some((a, last, best, mut trig)) if from <= last => {
                trig.push((from, hi));
                Some((a, hi, best.max(v), trig))
            }
            other => {
                flush(other, out);
                Some((from, hi, v, vec![(from, hi)]))
            }
        };
    }
    flush(current, out);
}

/// When the window ends with a match of the last rule and holds matches of rules 0..n in that
/// order, the offset of the earliest usable first-rule match.
fn ordered_start(w: &[Hit], n: usize) -> Option<usize> {
    let last = w.last()?;
    if last.rule + 1 != n {
        return None;
    }
    let mut want = 0;
    let mut first = None;
    for (i, x) in w.iter().enumerate() {
        if x.rule == want {
            if want == 0 {
                first = Some(i);
            }
            want += 1;
            if want == n {
                return first;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::NumOp;

    /// The counting sort by key and the per-group sort give exactly the full sort's order:
    /// dense keys (ranks, as a hunt gives them) with hits in time order, in two runs (two
    /// workers), shuffled, with duplicates; sparse keys; and fewer hits than the threshold.
    #[test]
    fn hits_sort_as_the_full_sort_sorts_them() {
        let mut next = crate::xorshift(0x9e37_79b9_7f4a_7c15);
        let mut counted = 0;
        for case in 0..400 {
            let n = [0, 1, 63, 64, 65, 300, 2000][case % 7] as usize;
            let groups = [1u64, 3, 40, 500, 1_000_000][(case / 7) % 5];
            let mut hits: Vec<Hit> = (0..n)
                .map(|i| Hit {
                    // Mostly in time order, as a worker feeds them; ties on time are common.
                    time: (i as i64 / 3) * 10 + if case % 3 == 0 { next(50) as i64 } else { 0 },
                    event: if case % 5 == 0 { next(20) as usize } else { i },
                    rule: next(3) as usize,
                    key: next(groups) as u32,
                    value: if next(4) == 0 { None } else { Some(next(5) as u32) },
                })
                .collect();
            if case % 4 == 1 {
                // Two workers: the second half's hits come before the first's.
                let half = n / 2;
                hits.rotate_left(half);
            }
            if case % 4 == 2 {
                for i in (1..hits.len()).rev() {
                    hits.swap(i, next(i as u64 + 1) as usize);
                }
            }
            let mut want = hits.clone();
            want.sort_unstable_by_key(|h| (h.key, h.time, h.event, h.rule, h.value));
            let dense = n >= 64 && hits.iter().all(|h| h.key as usize <= 2 * n);
            sort_hits(&mut hits);
            assert_eq!(hits, want, "case {case}: {n} hits, {groups} groups");
            counted += usize::from(dense);
        }
        assert!(counted > 100, "the counting sort ran in {counted} cases");
    }

    /// A number for a test text (distinct for the texts used here).
    fn id(s: &str) -> u32 {
        s.bytes().fold(7u32, |h, b| h.wrapping_mul(131).wrapping_add(u32::from(b)))
    }

    fn hit(t: i64, rule: usize, key: &str, value: Option<&str>, event: usize) -> Hit {
        Hit { time: t * 1_000_000, event, rule, key: id(key), value: value.map(id) }
    }

    const GTE3: &[Threshold] = &[Threshold::Cmp(NumOp::Gte, 3.0)];

    #[test]
    fn event_count_includes_the_event_exactly_at_the_timespan_edge() {
        let span = 60_000_000;
        let at_edge = vec![hit(0, 0, "u", None, 0), hit(30, 0, "u", None, 1), hit(60, 0, "u", None, 2)];
        let w = run(CorrelationType::EventCount, 1, span, GTE3, at_edge);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].events, [0, 1, 2]);
        let past_edge = vec![hit(0, 0, "u", None, 0), hit(30, 0, "u", None, 1), hit(61, 0, "u", None, 2)];
        assert!(run(CorrelationType::EventCount, 1, span, GTE3, past_edge).is_empty());
    }

    #[test]
    fn out_of_order_input_gives_the_same_windows() {
        let span = 60_000_000;
        let ordered: Vec<Hit> = (0..5).map(|i| hit(i * 10, 0, "u", None, i as usize)).collect();
        let mut shuffled = ordered.clone();
        shuffled.swap(0, 4);
        shuffled.swap(1, 3);
        let a = run(CorrelationType::EventCount, 1, span, GTE3, ordered);
        let b = run(CorrelationType::EventCount, 1, span, GTE3, shuffled);
        assert_eq!(a, b);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].events, [0, 1, 2, 3, 4]);
        assert_eq!(a[0].value, 5.0);
    }

    #[test]
    fn groups_are_counted_apart_and_separate_bursts_give_separate_findings() {
        let span = 60_000_000;
        let mut hits = vec![hit(0, 0, "a", None, 0), hit(1, 0, "b", None, 1), hit(2, 0, "a", None, 2)];
        assert!(run(CorrelationType::EventCount, 1, span, GTE3, hits.clone()).is_empty());
        hits.push(hit(3, 0, "a", None, 3));
        hits.extend((0..3).map(|i| hit(1000 + i, 0, "a", None, 10 + i as usize)));
        let w = run(CorrelationType::EventCount, 1, span, GTE3, hits);
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].events, [0, 2, 3]);
        assert_eq!(w[1].events, [10, 11, 12]);
    }

    #[test]
    fn value_count_counts_distinct_values_in_the_window() {
        let span = 600_000_000;
        let same_user: Vec<Hit> = (0..5).map(|i| hit(i, 0, "ip", Some("megan"), i as usize)).collect();
        assert!(run(CorrelationType::ValueCount, 1, span, GTE3, same_user).is_empty());
        let users = ["a", "b", "A2", "c"];
        let spray: Vec<Hit> = users.iter().enumerate().map(|(i, u)| hit(i as i64, 0, "ip", Some(u), i)).collect();
        let w = run(CorrelationType::ValueCount, 1, span, GTE3, spray);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].value, 4.0);
        // A user leaving the window stops counting.
        let spread =
            vec![hit(0, 0, "ip", Some("a"), 0), hit(601, 0, "ip", Some("b"), 1), hit(602, 0, "ip", Some("c"), 2)];
        assert!(run(CorrelationType::ValueCount, 1, span, GTE3, spread).is_empty());
    }

    #[test]
    fn temporal_needs_every_rule_and_ordered_needs_the_order() {
        let span = 60_000_000;
        let all2 = &[Threshold::Cmp(NumOp::Gte, 2.0)];
        let fail_then_ok = vec![hit(0, 0, "ip", None, 0), hit(10, 1, "ip", None, 1)];
        let ok_then_fail = vec![hit(0, 1, "ip", None, 0), hit(10, 0, "ip", None, 1)];
        assert_eq!(run(CorrelationType::Temporal, 2, span, all2, fail_then_ok.clone()).len(), 1);
        assert_eq!(run(CorrelationType::Temporal, 2, span, all2, ok_then_fail.clone()).len(), 1);
        assert_eq!(run(CorrelationType::TemporalOrdered, 2, span, all2, fail_then_ok).len(), 1);
        assert!(run(CorrelationType::TemporalOrdered, 2, span, all2, ok_then_fail).is_empty());
        let only_one = vec![hit(0, 0, "ip", None, 0), hit(5, 0, "ip", None, 1)];
        assert!(run(CorrelationType::Temporal, 2, span, all2, only_one).is_empty());
        let too_far = vec![hit(0, 0, "ip", None, 0), hit(61, 1, "ip", None, 1)];
        assert!(run(CorrelationType::TemporalOrdered, 2, span, all2, too_far).is_empty());
    }

    #[test]
    fn triggers_are_the_windows_that_met_the_condition_inside_a_merged_one() {
        let span = 60_000_000;
        let hits: Vec<Hit> = [0, 10, 20, 30, 100].iter().enumerate().map(|(i, &t)| hit(t, 0, "u", None, i)).collect();
        let t = run_triggered(CorrelationType::EventCount, 1, span, GTE3, hits, &|_| None, &|_| None);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].window.events, [0, 1, 2, 3]);
        assert_eq!(t[0].items, [0, 1, 2, 3]);
        assert_eq!(
            t[0].triggers,
            [Trigger { time: 20_000_000, first: 0, last: 2 }, Trigger { time: 30_000_000, first: 0, last: 3 }]
        );
    }

    #[test]
    fn event_count_counts_a_unit_once() {
        let span = 60_000_000;
        // Events 10.. are triggers of two windows (units 0 and 1) of a referenced correlation.
        let unit = |e: usize| e.checked_sub(10).map(|i| i / 3);
        let one: Vec<Hit> = (0..3).map(|i| hit(i, 0, "ip", None, 10 + i as usize)).collect();
        assert!(run_triggered(CorrelationType::EventCount, 1, span, GTE3, one.clone(), &unit, &|_| None).is_empty());
        let mut three = one;
        three.extend((3..6).map(|i| hit(i, 0, "ip", None, 10 + i as usize)));
        three.push(hit(7, 0, "ip", None, 0));
        let t = run_triggered(CorrelationType::EventCount, 1, span, GTE3, three, &unit, &|_| None);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].window.value, 3.0);
    }
}
