//! What a hunter keeps of the events that matched, as small integers.
//!
//! A base rule of a correlation can match most of a source's events (every 2xx of an
//! Application Gateway, every sign-in failure), and each match keeps its group key, the
//! counted value and the event's entities (user, IP, application, resource). Kept as strings,
//! that was an allocation per value per match, and the correlation's sort at the end of the
//! hunt compared strings. Here each distinct text is stored once per hunter ([`Symbols`]) and a
//! group key is a tuple of symbols, itself stored once ([`Tuples`]); matches carry `u32`s.
//!
//! Symbol numbers depend on the order texts were first seen, so they never decide an order:
//! where findings depend on an order (the correlation's groups, detection groups), the texts
//! are compared ([`Tuples::ranks`]), and the hunt's result does not depend on how events were
//! split among hunters.

use rustc_hash::FxHashMap;

/// Distinct texts, numbered in the order first seen.
#[derive(Debug, Default)]
pub(crate) struct Symbols {
    ids: FxHashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
}

impl Symbols {
    /// The number of `s`, given one if it is new.
    pub(crate) fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.ids.get(s) {
            return i;
        }
        let i = u32::try_from(self.names.len()).expect("fewer than 2^32 distinct texts in one hunt");
        self.names.push(s.into());
        self.ids.insert(s.into(), i);
        i
    }

    /// The number of `s` lower-cased (`scratch` holds the lower-cased text when `s` has
    /// upper-case letters: no allocation per call).
    pub(crate) fn intern_lower(&mut self, s: &str, scratch: &mut String) -> u32 {
        if s.is_ascii() {
            if !s.bytes().any(|b| b.is_ascii_uppercase()) {
                return self.intern(s);
            }
            scratch.clear();
            scratch.push_str(s);
            scratch.make_ascii_lowercase();
        } else {
            *scratch = s.to_lowercase();
        }
        self.intern(scratch)
    }

    /// The text of symbol `i`.
    pub(crate) fn name(&self, i: u32) -> &str {
        &self.names[i as usize]
    }

    /// Every text, by number.
    pub(crate) fn names(&self) -> &[Box<str>] {
        &self.names
    }
}

/// Distinct tuples of symbols (correlation group keys), numbered in the order first seen.
#[derive(Debug, Default)]
pub(crate) struct Tuples {
    ids: FxHashMap<Box<[u32]>, u32>,
    list: Vec<Box<[u32]>>,
}

impl Tuples {
    /// The number of `t`, given one if it is new.
    pub(crate) fn intern(&mut self, t: &[u32]) -> u32 {
        if let Some(&i) = self.ids.get(t) {
            return i;
        }
        let i = u32::try_from(self.list.len()).expect("fewer than 2^32 distinct group keys in one hunt");
        self.list.push(t.into());
        self.ids.insert(t.into(), i);
        i
    }

    /// The symbols of tuple `i`.
    pub(crate) fn get(&self, i: u32) -> &[u32] {
        &self.list[i as usize]
    }

    /// Every tuple, by number.
    pub(crate) fn all(&self) -> &[Box<[u32]>] {
        &self.list
    }

    /// For the tuples `ids`: each one's rank when the tuples are ordered by their texts
    /// (element by element, as `Vec<String>`s compare), so that equal ranks are equal tuples.
    /// Returns the ranks in the order of `ids`.
    pub(crate) fn ranks(&self, ids: &[u32], symbols: &Symbols) -> Vec<u32> {
        // Tuple numbers are dense (0 to the number of tuples): a table by number, not a hash
        // map or a sort of every id, finds the distinct ones and holds their ranks.
        let mut rank = vec![u32::MAX; self.list.len()];
        let mut distinct: Vec<u32> = Vec::new();
        for &t in ids {
            if rank[t as usize] == u32::MAX {
                rank[t as usize] = 0;
                distinct.push(t);
            }
        }
        // Distinct tuples have distinct texts (a symbol is one text), so the order is total.
        let text = |t: u32| self.get(t).iter().map(|&s| symbols.name(s));
        distinct.sort_unstable_by(|&a, &b| text(a).cmp(text(b)));
        for (r, &t) in distinct.iter().enumerate() {
            rank[t as usize] = r as u32;
        }
        ids.iter().map(|&t| rank[t as usize]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_and_tuples_are_numbered_once_and_ranked_by_their_text() {
        let mut s = Symbols::default();
        let mut scratch = String::new();
        let b = s.intern("b");
        let a = s.intern_lower("A", &mut scratch);
        assert_eq!(s.intern("a"), a);
        assert_eq!(s.intern_lower("B", &mut scratch), b);
        assert_eq!(s.intern_lower("ÉCOLE", &mut scratch), s.intern("école"));
        assert_eq!((s.name(a), s.name(b)), ("a", "b"));
        let ab = s.intern("ab");
        let mut t = Tuples::default();
        // ["b"], ["a", "b"], ["ab"], ["a"]: by text ["a"] < ["a","b"] < ["ab"] < ["b"].
        let ids = [t.intern(&[b]), t.intern(&[a, b]), t.intern(&[ab]), t.intern(&[a]), t.intern(&[b])];
        assert_eq!(ids[0], ids[4]);
        assert_eq!(t.ranks(&ids, &s), [3, 1, 2, 0, 3]);
        assert_eq!(t.get(ids[1]), [a, b]);
    }
}
