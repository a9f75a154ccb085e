//! Every occurrence of a set of literals in a text, ASCII-case-insensitively: the scan behind
//! the literal prefilter ([`crate`] docs, "Evaluation cost").
//!
//! ## Why not one Aho-Corasick automaton
//!
//! The prefilter needs *every* occurrence of every literal, overlapping ones included, over
//! 1–4 KB records. An overlapping Aho-Corasick DFA over the Activity rules' ~190 literals was
//! measured at ~3 ns per byte (its table does not stay in L1, and an overlapping search cannot
//! use the crate's SIMD prefilters): half of the hunt. A scalar hash sieve was no faster.
//!
//! Here each literal has a *fingerprint*, the 4-byte window of it least likely to be common
//! in Azure records (`commonness`; a 3-byte literal is its own fingerprint). Fingerprints are
//! few (literals share them) and short, so `aho-corasick`'s packed searcher (Teddy, SIMD, at
//! most 64 patterns per searcher) finds them at several bytes per cycle; each fingerprint hit
//! is then checked against the literals that carry it. The text is lower-cased once into a
//! scratch buffer, so fingerprints and literals are compared exactly.
//!
//! Completeness: a fingerprint occurrence at `p` is found, because each search restarts one
//! byte after the previous hit's start (never beyond `p`), and at `p` the leftmost search
//! reports a fingerprint starting there, the only one (the fingerprints of one searcher have
//! the same length, and are distinct). Every literal occurrence contains its fingerprint's occurrence, at a
//! known offset. So the scan reports exactly the occurrences of the literals.

use aho_corasick::packed::{Config, MatchKind, Searcher};
use aho_corasick::Span;

/// The shortest literal the scan accepts (fingerprints are 3 or 4 bytes).
pub const MIN_LEN: usize = 3;
/// Fingerprints per packed searcher (Teddy's limit).
const PER_SEARCHER: usize = 64;

/// A set of literals, ready to scan for.
#[derive(Debug, Clone)]
pub struct Literals {
    /// The literals, lower-cased.
    pats: Vec<Box<[u8]>>,
    /// Packed searchers over the fingerprints, 64 per searcher.
    searchers: Vec<Searcher>,
    /// Per searcher, per fingerprint: the literals carrying it, with its offset in them.
    carriers: Vec<Vec<Vec<(usize, usize)>>>,
}

/// How common a byte is in Azure JSON records, lower-cased: roughly log2 of its frequency,
/// measured over the 13,122 records of `azir demo` (Activity, Entra, Key Vault, storage,
/// Application Gateway, firewall). A fingerprint is the window with the smallest sum, so the
/// least likely under independent bytes.
fn commonness(b: u8) -> u32 {
    match b {
        b'"' | b'e' => 13,
        b':' | b'a' | b'c' | b'i' | b'n' | b'o' | b'r' | b's' | b't' => 12,
        b' ' | b',' | b'-' | b'/' | b'0' | b'1' | b'2' | b'4' | b'b' | b'd' | b'l' | b'p' | b'u' => 11,
        b'.' | b'3' | b'5'..=b'9' | b'f' | b'g' | b'h' | b'm' | b'v' => 10,
        b'k' | b'w' | b'y' => 9,
        b'q' | b'z' | b'{' | b'}' => 8,
        b'_' | b'x' => 7,
        b'(' | b')' | b';' | b'[' | b']' | b'j' => 6,
        b'+' | b'=' => 5,
        b'?' | b'@' => 4,
        b'%' | b'&' | b'\\' => 3,
        _ => 1,
    }
}

impl Literals {
    /// The set of `pats`; `None` when there is none, one is shorter than [`MIN_LEN`] bytes, or
    /// the packed searcher is not available on this CPU.
    pub fn new(pats: &[String]) -> Option<Literals> {
        if pats.is_empty() || pats.iter().any(|p| p.len() < MIN_LEN) {
            return None;
        }
        let pats: Vec<Box<[u8]>> =
            pats.iter().map(|p| p.to_ascii_lowercase().into_bytes().into_boxed_slice()).collect();
        let mut searchers = Vec::new();
        let mut carriers = Vec::new();
        // Fingerprints of one searcher have one length (completeness, module docs): 3-byte
        // literals are their own fingerprint, longer ones get a 4-byte window.
        for len in [MIN_LEN, MIN_LEN + 1] {
            let mut fingerprints: Vec<&[u8]> = Vec::new();
            let mut carry: Vec<Vec<(usize, usize)>> = Vec::new();
            for (i, p) in pats.iter().enumerate() {
                if (p.len() == MIN_LEN) != (len == MIN_LEN) {
                    continue;
                }
                let k = (0..=p.len() - len)
                    .min_by_key(|&k| (p[k..k + len].iter().map(|&b| commonness(b)).sum::<u32>(), k))
                    .unwrap_or(0);
                let fp = &p[k..k + len];
                match fingerprints.iter().position(|f| *f == fp) {
                    Some(j) => carry[j].push((i, k)),
                    None => {
                        fingerprints.push(fp);
                        carry.push(vec![(i, k)]);
                    }
                }
            }
            for (chunk, carried) in fingerprints.chunks(PER_SEARCHER).zip(carry.chunks(PER_SEARCHER)) {
                let mut b = Config::new().match_kind(MatchKind::LeftmostFirst).builder();
                b.extend(chunk.iter().copied());
                searchers.push(b.build()?);
                carriers.push(carried.to_vec());
            }
        }
        Some(Literals { pats, searchers, carriers })
    }

    /// Passes a scan makes over the text (one per packed searcher of 64 fingerprints).
    pub fn passes(&self) -> usize {
        self.searchers.len()
    }

    /// How many literals the set holds.
    pub fn len(&self) -> usize {
        self.pats.len()
    }

    /// True when the set holds no literal (never: [`Literals::new`] refuses an empty set).
    pub fn is_empty(&self) -> bool {
        self.pats.is_empty()
    }

    /// Calls `hit` with the index of each literal at each place it occurs in `text` (twice if it
    /// occurs twice; in no particular order). `lower` is scratch space for the lower-cased text.
    pub fn scan(&self, text: &[u8], lower: &mut Vec<u8>, hit: &mut impl FnMut(usize)) {
        lower.clear();
        lower.extend_from_slice(text);
        lower.make_ascii_lowercase();
        self.scan_lowered(lower, hit);
    }

    /// [`Literals::scan`] over text already lower-cased (ASCII). Texts joined with a byte no
    /// literal holds (a line feed: literals have no control characters) are scanned as one.
    pub fn scan_lowered(&self, hay: &[u8], hit: &mut impl FnMut(usize)) {
        if hay.len() < MIN_LEN {
            return;
        }
        for (s, carriers) in self.searchers.iter().zip(&self.carriers) {
            let mut at = 0;
            while at < hay.len() {
                let Some(m) = s.find_in(hay, Span::from(at..hay.len())) else { break };
                let p = m.start();
                for &(lit, k) in &carriers[m.pattern().as_usize()] {
                    let pat = &self.pats[lit];
                    let Some(start) = p.checked_sub(k) else { continue };
                    if hay.get(start..start + pat.len()) == Some(&pat[..]) {
                        hit(lit);
                    }
                }
                at = p + 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(pats: &[&str], text: &str) -> Vec<(usize, usize)> {
        let set = Literals::new(&pats.iter().map(|p| p.to_string()).collect::<Vec<_>>()).unwrap();
        let mut out = Vec::new();
        set.scan(text.as_bytes(), &mut Vec::new(), &mut |p| out.push(p));
        let mut counts: Vec<(usize, usize)> =
            (0..pats.len()).map(|p| (p, out.iter().filter(|&&x| x == p).count())).collect();
        counts.retain(|c| c.1 > 0);
        counts
    }

    #[test]
    fn every_occurrence_overlapping_and_in_any_case() {
        let pats = ["roleassignments/write", "assignments", "nments/wr", "write"];
        let text = r#"{"operationName":"Microsoft.Authorization/ROLEASSIGNMENTS/WRITE","x":"Write"}"#;
        assert_eq!(found(&pats, text), [(0, 1), (1, 1), (2, 1), (3, 2)]);
        assert!(found(&pats, "roleassignments/read").iter().all(|&(p, _)| p == 1));
        // At the very start and end of the text, and exactly the text.
        assert_eq!(found(&["abc"], "abc"), [(0, 1)]);
        assert_eq!(found(&["abc"], "xxabc"), [(0, 1)]);
        assert_eq!(found(&["abc"], "ab"), []);
        assert_eq!(found(&["aaa"], "aaaa"), [(0, 2)]);
        assert_eq!(found(&["a@b"], "a`b"), []);
        assert_eq!(found(&["a@b"], "A@B"), [(0, 1)]);
        // Non-ASCII text around a literal is fine (bytes, not chars).
        assert_eq!(found(&["größe", "abc"], "ÄÖÜ abc größe"), [(0, 1), (1, 1)]);
    }

    #[test]
    fn agrees_with_a_naive_search_with_many_literals_and_generated_text() {
        // More than one searcher's worth of fingerprints.
        let mut pats: Vec<String> =
            ["50126", "secretget", "/listkeys/action", "getaccess\\/action", "ion", "e-f", "zzz"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        // 150 literals with distinct rare fingerprints (`j` + two letters from g..z + `q`).
        let rare = |i: usize| (b'g' + (i % 20) as u8) as char;
        pats.extend((0..150).map(|i| format!("j{}{}q{i}", rare(i), rare(i / 20))));
        let set = Literals::new(&pats).unwrap();
        assert!(set.searchers.len() >= 2);
        let alphabet = b"abcdefgijklnoqrstuvwxyzACEGIJKLNQSTW0125-/\\\":{}, ";
        let mut next = crate::xorshift(0x2545_F491_4F6C_DD1D);
        for round in 0..300 {
            let mut text: Vec<u8> =
                (0..(round % 97) * 7).map(|_| alphabet[next(alphabet.len() as u64) as usize]).collect();
            // Plant some literals in varied case.
            if round % 3 == 0 {
                let p = pats[round % pats.len()].to_ascii_uppercase();
                let at = text.len() / 2;
                text.splice(at..at, p.bytes());
            }
            let mut got = vec![0usize; pats.len()];
            set.scan(&text, &mut Vec::new(), &mut |p| got[p] += 1);
            let want: Vec<usize> = pats
                .iter()
                .map(|p| text.windows(p.len()).filter(|w| w.eq_ignore_ascii_case(p.as_bytes())).count())
                .collect();
            assert_eq!(got, want, "{}", String::from_utf8_lossy(&text));
        }
    }

    #[test]
    fn short_or_no_literals_are_refused() {
        assert!(Literals::new(&["ab".to_string()]).is_none());
        assert!(Literals::new(&[]).is_none());
        assert_eq!(Literals::new(&["abc".to_string()]).map(|l| l.len()), Some(1));
    }
}
