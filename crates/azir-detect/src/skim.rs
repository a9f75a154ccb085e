//! The projected parse ([`crate::fields::Projection`]) by skimming: the record's text is walked
//! byte by byte only where a projection path goes, and every other value is stepped over by
//! finding where it ends, without decoding it.
//!
//! ## Why not serde_json (or sonic-rs) for this
//!
//! A sign-in record is 3–5 KB, and the rules read a dozen of its ~80 fields. `serde_json`
//! decodes or validates every byte, also of the values it is told to ignore (`IgnoredAny`):
//! measured ~1 GB/s here, ~48,000 instructions per demo sign-in for the projected parse through
//! a `DeserializeSeed`. `sonic-rs`'s lazy object iterator measured slower on this machine
//! (~450 MB/s, its SIMD paths need `-C target-cpu` flags a portable build does not set). Stepping
//! over a value only needs its end: a string ends at the first unescaped quote (16 bytes
//! compared at a time), an object or array at its matching bracket (64 bytes at a time: quotes,
//! backslashes and brackets marked in one pass, the bytes inside strings found from the quotes,
//! the brackets outside them counted; [`container_end`]), a number or literal at the next
//! delimiter.
//!
//! ## `unsafe`
//!
//! The byte masks are SSE2 compares (`std::arch`, part of every x86-64 CPU); an unaligned load
//! of 16 bytes from a `&[u8; 16]` is the only memory access, and the module falls back to a
//! byte loop on other targets. A compare loop over a fixed array was tried first and the
//! compiler did not turn it into vector compares (117,266 instructions per sign-in instead of
//! 68,190).
//!
//! What is kept is parsed with `serde_json` (a kept value's text is handed to it whole; strings
//! without escapes and the literals are taken as they are), so the tree of what rules read is
//! exactly what a whole parse would build.
//!
//! ## What is checked
//!
//! The structure the walk goes through (braces, brackets, colons, commas, quotes) and every
//! kept value are checked; the contents of a stepped-over value are not (an invalid escape or
//! number inside a value no rule reads is not noticed). Records reach the hunt from the case
//! store, whose ingestion parsed each of them whole, so `raw` is JSON. On text that is not
//! (the tests feed it truncated and mangled records) the skim returns `None` or a tree of
//! what it could read, never panics, and reads nothing out of bounds.

use crate::fields::{parse, Node, PNode, Scalar};
use std::borrow::Cow;

/// Parses `text` keeping what `root` reaches: `None` when the text's structure is not JSON.
pub(crate) fn skim<'a>(text: &'a str, root: &PNode) -> Option<Node<'a>> {
    let mut s = Skim { t: text, b: text.as_bytes(), i: 0, depth: 0, scratch: String::new() };
    let v = s.value(root)?;
    s.ws();
    (s.i == s.b.len()).then_some(v)
}

/// Calls `f` with every string, number and boolean value of `text` (keys excluded), in document
/// order, until it returns true; true if it did and the text's structure is JSON (the values
/// [`crate::fields::Doc::visit_all`] gives keyword searches, without building a tree).
pub(crate) fn values(text: &str, f: &mut dyn FnMut(Scalar<'_>) -> bool) -> bool {
    let mut s = Skim { t: text, b: text.as_bytes(), i: 0, depth: 0, scratch: String::new() };
    let mut found = false;
    if s.visit(f, &mut found).is_none() {
        return false;
    }
    s.ws();
    found && s.i == s.b.len()
}

struct Skim<'a> {
    t: &'a str,
    b: &'a [u8],
    i: usize,
    /// Objects and arrays entered (and not left) by the walk: bounded by [`MAX_DEPTH`], as
    /// serde_json bounds its recursion, so hostile nesting is refused instead of overflowing
    /// the stack.
    depth: usize,
    /// Where [`values`] decodes a string with escapes (one buffer for the record).
    scratch: String,
}

/// Nesting the walk enters before it refuses the text (serde_json's limit).
const MAX_DEPTH: usize = 128;

impl<'a> Skim<'a> {
    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// Past the string starting at `self.i` (a quote): the index after its closing quote, and
    /// whether the string has an escape.
    #[inline]
    fn string_end(&self) -> Option<(usize, bool)> {
        let b = self.b;
        let mut j = self.i + 1;
        let mut escaped = false;
        loop {
            let k = quote_or_backslash(b, j)?;
            if b[k] == b'"' {
                return Some((k + 1, escaped));
            }
            escaped = true;
            j = k + 2;
        }
    }

    /// Steps over the value at `self.i`.
    fn skip(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.i = self.string_end()?.0,
            b'{' | b'[' => self.i = container_end(self.b, self.i)?,
            _ => {
                let start = self.i;
                while let Some(c) = self.peek() {
                    if matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                        break;
                    }
                    self.i += 1;
                }
                if self.i == start {
                    return None;
                }
            }
        }
        Some(())
    }

    /// Walks the object or array at `self.i` (an opening brace or bracket), checking its
    /// structure and depth, and calls `item` at each member's value with, in an object, the
    /// member's raw key text and whether it has an escape.
    #[inline]
    fn members<F>(&mut self, mut item: F) -> Option<()>
    where
        F: FnMut(&mut Self, Option<(&'a str, bool)>) -> Option<()>,
    {
        if self.depth >= MAX_DEPTH {
            return None;
        }
        let object = self.peek()? == b'{';
        let close = if object { b'}' } else { b']' };
        self.depth += 1;
        self.i += 1;
        self.ws();
        if self.peek()? == close {
            self.i += 1;
            self.depth -= 1;
            return Some(());
        }
        loop {
            self.ws();
            let key = if object {
                if self.peek()? != b'"' {
                    return None;
                }
                let (end, escaped) = self.string_end()?;
                let raw = &self.t[self.i + 1..end - 1];
                self.i = end;
                self.ws();
                if self.peek()? != b':' {
                    return None;
                }
                self.i += 1;
                self.ws();
                Some((raw, escaped))
            } else {
                None
            };
            item(self, key)?;
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                c if c == close => {
                    self.i += 1;
                    self.depth -= 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Visits the value at `self.i` for [`values`]: `f` sees its scalars until one is found; the
    /// walk then steps over the rest as the projected parse steps over values no rule reads (the
    /// structure around them checked, their contents not: [`container_end`]).
    fn visit(&mut self, f: &mut dyn FnMut(Scalar<'_>) -> bool, found: &mut bool) -> Option<()> {
        self.ws();
        if *found {
            return self.skip();
        }
        match self.peek()? {
            b'{' | b'[' => self.members(|s, _| s.visit(f, found))?,
            b'"' => {
                let (end, escaped) = self.string_end()?;
                let raw = &self.t[self.i + 1..end - 1];
                self.i = end;
                if !*found {
                    if escaped {
                        let mut s = std::mem::take(&mut self.scratch);
                        unescape(raw, &mut s)?;
                        *found = f(Scalar::Str(&s));
                        self.scratch = s;
                    } else {
                        *found = f(Scalar::Str(raw));
                    }
                }
            }
            _ => {
                let start = self.i;
                self.skip()?;
                let token = &self.t[start..self.i];
                match token {
                    "true" | "false" => {
                        if !*found {
                            *found = f(Scalar::Bool(token == "true"));
                        }
                    }
                    "null" => {}
                    _ => {
                        let n = number(token)?;
                        if !*found {
                            *found = f(Scalar::Num(&n));
                        }
                    }
                }
            }
        }
        Some(())
    }

    /// The value at `self.i`, kept whole (parsed by serde_json from its text, but for strings
    /// without escapes or control characters and the literals, which are taken as they are).
    fn whole(&mut self) -> Option<Node<'a>> {
        let start = self.i;
        self.skip()?;
        let text = &self.t[start..self.i];
        match text.as_bytes() {
            [b'"', inner @ .., b'"'] if inner.iter().all(|&c| c >= 0x20 && c != b'\\') => {
                Some(Node::Str(Cow::Borrowed(&text[1..text.len() - 1])))
            }
            [b'"', inner @ .., b'"'] => {
                let mut s = String::with_capacity(inner.len());
                unescape(&text[1..text.len() - 1], &mut s)?;
                Some(Node::Str(Cow::Owned(s)))
            }
            b"true" => Some(Node::Bool(true)),
            b"false" => Some(Node::Bool(false)),
            b"null" => Some(Node::Null),
            [b'-' | b'0'..=b'9', ..] => number(text).map(Node::Num),
            _ => parse(text),
        }
    }

    /// The value at `self.i`, kept where `n` reaches.
    fn value(&mut self, n: &PNode) -> Option<Node<'a>> {
        self.ws();
        if n.all {
            return self.whole();
        }
        match self.peek()? {
            b'{' => {
                // At most one entry per name the node keeps (more only with repeated keys).
                let mut out = Vec::with_capacity(n.width());
                self.members(|s, key| {
                    let (raw, escaped) = key?;
                    let k = key_text(raw, escaped)?;
                    match n.keep(&k) {
                        Keep::Skip => s.skip()?,
                        Keep::Whole => out.push((k, s.whole()?)),
                        Keep::Child(c) => out.push((k, s.value(c)?)),
                    }
                    Some(())
                })?;
                Some(Node::Obj(out))
            }
            b'[' => {
                let mut out = Vec::new();
                self.members(|s, _| {
                    out.push(s.value(n)?);
                    Some(())
                })?;
                Some(Node::Arr(out))
            }
            // A scalar on a path's way is kept: a string may hold JSON the path goes into.
            _ => self.whole(),
        }
    }
}

/// Decodes a JSON string's text between its quotes into `out` (cleared first), as serde_json
/// decodes it: `None` where serde_json refuses the string (an unknown escape, a short or
/// non-hex `\u`, a lone or unpaired surrogate, a control character, an unescaped quote).
///
/// Written here rather than handed to `serde_json::from_str::<String>`: keyword searches decode
/// every escaped string of a record (the JSON request and response bodies inside an Activity
/// record are escaped strings), and serde_json gives a new `String` per string; this decodes
/// into one buffer per record. On the demo's Activity records it did not move the instruction
/// count measurably (callgrind, session 11: the walks themselves were the cost); it is kept for
/// the allocation per escaped string it saves.
pub(crate) fn unescape(raw: &str, out: &mut String) -> Option<()> {
    fn hex4(b: &[u8]) -> Option<u32> {
        b.iter().try_fold(0u32, |v, &c| Some(v << 4 | (c as char).to_digit(16)?))
    }
    out.clear();
    let b = raw.as_bytes();
    let (mut i, mut start) = (0, 0);
    while i < b.len() {
        match b[i] {
            b'\\' => {
                out.push_str(&raw[start..i]);
                let e = *b.get(i + 1)?;
                i += 2;
                match e {
                    b'"' => out.push('"'),
                    b'\\' => out.push('\\'),
                    b'/' => out.push('/'),
                    b'b' => out.push('\u{8}'),
                    b'f' => out.push('\u{c}'),
                    b'n' => out.push('\n'),
                    b'r' => out.push('\r'),
                    b't' => out.push('\t'),
                    b'u' => {
                        let hi = hex4(b.get(i..i + 4)?)?;
                        i += 4;
                        let c = if (0xD800..0xDC00).contains(&hi) {
                            if b.get(i..i + 2)? != b"\\u" {
                                return None;
                            }
                            let lo = hex4(b.get(i + 2..i + 6)?)?;
                            if !(0xDC00..0xE000).contains(&lo) {
                                return None;
                            }
                            i += 6;
                            char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))?
                        } else {
                            // A lone low surrogate is no char.
                            char::from_u32(hi)?
                        };
                        out.push(c);
                    }
                    _ => return None,
                }
                start = i;
            }
            // A bare quote would have ended the string.
            0..=0x1F | b'"' => return None,
            _ => i += 1,
        }
    }
    out.push_str(&raw[start..]);
    Some(())
}

/// A JSON number's token as serde_json reads it: integers of up to 18 digits directly (most
/// numbers of a log record: codes, counts, ports), the others through serde_json.
fn number(token: &str) -> Option<serde_json::Number> {
    let b = token.as_bytes();
    let negative = b.first() == Some(&b'-');
    let digits = &b[usize::from(negative)..];
    let plain = !digits.is_empty()
        && digits.len() <= 18
        && digits.iter().all(u8::is_ascii_digit)
        && (digits[0] != b'0' || (digits.len() == 1 && !negative));
    if !plain {
        return serde_json::from_str(token).ok();
    }
    let v = digits.iter().fold(0i64, |v, &d| v * 10 + i64::from(d - b'0'));
    Some(if negative { serde_json::Number::from(-v) } else { serde_json::Number::from(v) })
}

/// The first quote or backslash at or after `from`.
///
/// Most strings of a log record (keys, ids, names, times) are under 16 bytes, where calling
/// `memchr2` costs more than the search: 16 bytes are compared at a time ([`lanes`]), the
/// tail byte by byte.
#[inline]
fn quote_or_backslash(b: &[u8], from: usize) -> Option<usize> {
    let mut j = from;
    while let Some(block) = b.get(j..j + 16) {
        let m = lanes::quote_or_backslash(block.try_into().ok()?);
        if m != 0 {
            return Some(j + m.trailing_zeros() as usize);
        }
        j += 16;
    }
    Some(j + b.get(j..)?.iter().position(|&x| x == b'"' || x == b'\\')?)
}

/// Per byte of a 64-byte block (bit `i` for byte `i`): quotes, backslashes, opening and
/// closing brackets (`[`/`{` and `]`/`}`: `x | 0x20` maps `[` to `{` and `]` to `}`, and no
/// other byte to either).
#[inline(always)]
fn classify(block: &[u8; 64]) -> (u64, u64, u64, u64) {
    let (mut quote, mut backslash, mut open, mut close) = (0u64, 0u64, 0u64, 0u64);
    for (k, part) in block.chunks_exact(16).enumerate() {
        let Ok(part) = part.try_into() else { continue };
        let (q, b, o, c) = lanes::classify(part);
        let at = 16 * k;
        quote |= u64::from(q) << at;
        backslash |= u64::from(b) << at;
        open |= u64::from(o) << at;
        close |= u64::from(c) << at;
    }
    (quote, backslash, open, close)
}

/// Byte masks of 16 bytes: SSE2 compares (part of every x86-64 CPU), one bit per byte.
#[cfg(target_arch = "x86_64")]
mod lanes {
    use std::arch::x86_64::{__m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8};

    #[inline(always)]
    fn load(block: &[u8; 16]) -> __m128i {
        // SAFETY: `block` is 16 readable bytes and the load has no alignment requirement.
        unsafe { _mm_loadu_si128(block.as_ptr().cast()) }
    }

    // SAFETY (the `unsafe` blocks below): SSE2 is part of every x86-64 CPU (the target's
    // baseline), and these intrinsics only compute on registers.
    #[inline(always)]
    fn eq(v: __m128i, c: u8) -> __m128i {
        unsafe { _mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8)) }
    }

    #[inline(always)]
    fn or(a: __m128i, b: __m128i) -> __m128i {
        unsafe { _mm_or_si128(a, b) }
    }

    #[inline(always)]
    fn mask(v: __m128i) -> u16 {
        unsafe { _mm_movemask_epi8(v) as u16 }
    }

    /// Quotes and backslashes.
    #[inline(always)]
    pub(super) fn quote_or_backslash(block: &[u8; 16]) -> u16 {
        let v = load(block);
        mask(or(eq(v, b'"'), eq(v, b'\\')))
    }

    /// Quotes, backslashes, opening and closing brackets.
    #[inline(always)]
    pub(super) fn classify(block: &[u8; 16]) -> (u16, u16, u16, u16) {
        let v = load(block);
        let folded = or(v, unsafe { _mm_set1_epi8(0x20) });
        (mask(eq(v, b'"')), mask(eq(v, b'\\')), mask(eq(folded, b'{')), mask(eq(folded, b'}')))
    }
}

/// The same masks byte by byte, where SSE2 is not at hand.
#[cfg(not(target_arch = "x86_64"))]
mod lanes {
    fn bits(block: &[u8; 16], f: impl Fn(u8) -> bool) -> u16 {
        block.iter().enumerate().fold(0, |m, (i, &x)| m | u16::from(f(x)) << i)
    }

    pub(super) fn quote_or_backslash(block: &[u8; 16]) -> u16 {
        bits(block, |x| x == b'"' || x == b'\\')
    }

    pub(super) fn classify(block: &[u8; 16]) -> (u16, u16, u16, u16) {
        (
            bits(block, |x| x == b'"'),
            bits(block, |x| x == b'\\'),
            bits(block, |x| x | 0x20 == b'{'),
            bits(block, |x| x | 0x20 == b'}'),
        )
    }
}

/// Bit `i` set when an odd number of bits at or below `i` are: for the quotes of a block, the
/// bytes inside a string (its opening quote included, its closing quote not).
#[inline(always)]
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

/// Past the object or array opening at `start`: the index after its matching bracket (`None`
/// when the text ends first). Strings inside are stepped over (brackets in them do not count).
///
/// Skipped containers are most of a sign-in's or Activity record's bytes (conditional-access
/// policies, authentication details, claims), so they are read 64 bytes at a time: one pass
/// marks quotes, backslashes and brackets; the bytes inside strings follow from the quotes
/// (a prefix XOR), and the brackets outside them are counted, bit by bit only in a block
/// where the depth can return to zero. A block with a backslash (escapes change which quotes
/// count) or after one is read byte by byte ([`ByteState`]); so is the short tail, padded.
fn container_end(b: &[u8], start: usize) -> Option<usize> {
    let mut st = ByteState { depth: 0, in_string: false, escape: false };
    let mut at = start;
    while at < b.len() {
        let block: [u8; 64] = match b.get(at..at + 64) {
            Some(w) => w.try_into().ok()?,
            None => {
                let mut pad = [b' '; 64];
                pad[..b.len() - at].copy_from_slice(&b[at..]);
                pad
            }
        };
        let (quote, backslash, open, close) = classify(&block);
        if backslash != 0 || st.escape {
            let end = (at + 64).min(b.len());
            if let Some(i) = st.bytes(&b[at..end]) {
                return Some(at + i);
            }
        } else {
            let carry = if st.in_string { !0 } else { 0 };
            let inside = prefix_xor(quote) ^ carry;
            let (open, close) = (open & !inside, close & !inside);
            if close.count_ones() < st.depth {
                st.depth = st.depth + open.count_ones() - close.count_ones();
            } else {
                let mut both = open | close;
                while both != 0 {
                    let i = both.trailing_zeros();
                    both &= both - 1;
                    if open >> i & 1 == 1 {
                        st.depth += 1;
                    } else {
                        st.depth -= 1;
                        if st.depth == 0 {
                            return Some(at + i as usize + 1);
                        }
                    }
                }
            }
            st.in_string = inside >> 63 == 1;
        }
        at += 64;
    }
    None
}

/// Where [`container_end`] is, read byte by byte: bracket depth, inside a string, after a
/// backslash in one.
struct ByteState {
    depth: u32,
    in_string: bool,
    escape: bool,
}

impl ByteState {
    /// Reads `bytes`: the offset just past the bracket that closes the container, if in them.
    fn bytes(&mut self, bytes: &[u8]) -> Option<usize> {
        for (i, &x) in bytes.iter().enumerate() {
            if self.in_string {
                if self.escape {
                    self.escape = false;
                } else if x == b'\\' {
                    self.escape = true;
                } else if x == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match x {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        return Some(i + 1);
                    }
                }
                _ => {}
            }
        }
        None
    }
}

/// A key's text: borrowed when it has no escapes, else decoded.
fn key_text(raw: &str, escaped: bool) -> Option<Cow<'_, str>> {
    if escaped {
        serde_json::from_str::<String>(&format!("\"{raw}\"")).ok().map(Cow::Owned)
    } else {
        Some(Cow::Borrowed(raw))
    }
}

/// What the projection does with a key's value.
pub(crate) enum Keep<'p> {
    /// Not reached.
    Skip,
    /// Kept whole.
    Whole,
    /// Kept where the child node reaches.
    Child(&'p PNode),
}

#[cfg(test)]
mod tests {
    use crate::fields::{literal, Projection};

    fn projection(paths: &[&str]) -> Projection {
        let mut p = Projection::default();
        for path in paths {
            p.add_field(&literal(path));
        }
        p
    }

    /// The skim builds exactly the tree the serde_json reference builds.
    fn same(p: &Projection, text: &str) {
        assert_eq!(p.parse(text), p.parse_serde(text), "{text}");
    }

    /// The word-at-a-time search finds the first quote or backslash wherever it is: in each of
    /// the eight byte lanes, across word boundaries, past the 32 bytes tested in words, after
    /// bytes with the high bit set, and nowhere.
    #[test]
    fn the_word_search_finds_the_first_quote_or_backslash() {
        let naive =
            |b: &[u8], from: usize| b.get(from..)?.iter().position(|&c| c == b'"' || c == b'\\').map(|i| from + i);
        for len in 0..80 {
            for at in 0..=len {
                for c in [b'"', b'\\'] {
                    for filler in [b'a', 0xC3, b'!', b'#', 0x00] {
                        let mut b = vec![filler; len];
                        if at < len {
                            b[at] = c;
                            if at + 3 < len {
                                b[at + 3] = if c == b'"' { b'\\' } else { b'"' };
                            }
                        }
                        for from in [0, 1, 7, 8, 9].into_iter().filter(|&f| f <= len + 1) {
                            assert_eq!(super::quote_or_backslash(&b, from), naive(&b, from), "{len} {at} {from} {c}");
                        }
                    }
                }
            }
        }
    }

    /// The 64-byte block reader ends a container where reading byte by byte does, on text made
    /// of brackets, quotes, backslashes and fillers, so that strings, escapes (runs of
    /// backslashes included) and brackets fall on and across block boundaries.
    #[test]
    fn containers_end_where_a_byte_by_byte_read_ends_them() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let alphabet = b"{}[]\"\\\"\"aaaaaaaa:,0 ";
        let mut ended = 0;
        for round in 0..4000 {
            let len = 1 + (next() % 400) as usize;
            let mut b: Vec<u8> = (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect();
            if round % 2 == 0 {
                // Mostly plain text: the fast path on whole blocks.
                b.iter_mut().filter(|c| **c == b'\\').for_each(|c| *c = b'a');
            }
            for start in (0..len).filter(|&i| matches!(b[i], b'{' | b'[')) {
                let mut st = super::ByteState { depth: 0, in_string: false, escape: false };
                let want = st.bytes(&b[start..]).map(|i| start + i);
                assert_eq!(super::container_end(&b, start), want, "{:?} from {start}", String::from_utf8_lossy(&b));
                ended += usize::from(want.is_some());
            }
        }
        assert!(ended > 10_000, "{ended}");
    }

    /// Strings decode as serde_json decodes them, refused where it refuses them: every escape,
    /// surrogate pairs, lone and unpaired surrogates, short and non-hex `\u`, control
    /// characters, multi-byte text around escapes.
    #[test]
    fn strings_unescape_as_serde_json_decodes_them() {
        let pieces = [
            "a",
            "é",
            "日本",
            "\\\"",
            "\\\\",
            "\\/",
            "\\b",
            "\\f",
            "\\n",
            "\\r",
            "\\t",
            "\\u0041",
            "\\u00e9",
            "\\u00E9",
            "\\ud83d\\ude00",
            "\\uD83D\\uDE00",
            "\\ud83d",
            "\\ude00",
            "\\ud83d\\u0041",
            "\\ud83dx",
            "\\u12",
            "\\u12g4",
            "\\x",
            "\\",
            "\u{1}",
            "\t",
            "\u{7f}",
            "{\\\"k\\\":[1]}",
        ];
        let mut out = String::new();
        let mut checked = 0;
        for a in pieces {
            for b in pieces {
                for c in ["", "z", "\\n"] {
                    let raw = format!("{a}{b}{c}");
                    let want: Option<String> = serde_json::from_str(&format!("\"{raw}\"")).ok();
                    let got = super::unescape(&raw, &mut out).map(|()| out.clone());
                    assert_eq!(got, want, "{raw:?}");
                    checked += usize::from(want.is_some());
                }
            }
        }
        assert!(checked > 500, "{checked}");
    }

    /// Numbers read as serde_json reads them, the direct integers and the rest alike.
    #[test]
    fn numbers_read_as_serde_json_reads_them() {
        for t in [
            "0",
            "-0",
            "7",
            "-7",
            "50126",
            "-2147483648",
            "999999999999999999",
            "-999999999999999999",
            "1000000000000000000",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775809",
            "1.5",
            "-0.0",
            "1e3",
            "1E-3",
            "01",
            "-01",
            "00",
            "-",
            "",
            "1.",
            ".5",
            "+1",
            "1x",
            "0x10",
        ] {
            let want: Option<serde_json::Number> = serde_json::from_str(t).ok();
            assert_eq!(super::number(t), want, "{t:?}");
        }
    }

    #[test]
    fn tricky_json_skims_as_serde_json_parses_it() {
        let p = projection(&["a.b", "keep", "properties.status.errorCode", "list.x", "k\"q", "flat.key"]);
        for text in [
            r#"{"a":{"b":1,"c":[{"}":"]"}]},"skip":"{\"not\":[\"json\"]}","keep":[1,-2.5e3,true,false,null]}"#,
            r#" { "a" : { "b" : "x\"y\\z\u0041" } , "Keep" : { } , "KEEP" : [ ] } "#,
            r#"{"properties":{"status":{"errorCode":50126,"failureReason":"a \"quoted\" } reason"}},"x":{}}"#,
            r#"{"list":[{"x":1},{"y":2},[{"x":[3]}],"s",4],"k\"q":"escaped key","flat.key":{"deep":[1]}}"#,
            r#"{"\u0061":{"b":"escaped a"},"a\\b":1,"zz":"\\","tail":[[[]]]}"#,
            r#"[{"a":{"b":1}},{"a":[{"b":2}]}]"#,
            r#""just a string""#,
            r#"12.5"#,
            r#"{}"#,
        ] {
            same(&p, text);
            assert!(p.parse(text).is_some(), "{text}");
        }
        // What is kept is exactly what the paths reach.
        let t = r#"{"a":{"b":1,"c":2},"skip":[1,2,3],"keep":{"x":"y"}}"#;
        let v = p.parse(t).unwrap();
        assert_eq!(v, crate::fields::parse(r#"{"a":{"b":1},"keep":{"x":"y"}}"#).unwrap());
    }

    #[test]
    fn broken_text_gives_nothing_or_what_could_be_read_and_never_panics() {
        let p = projection(&["a.b", "keep"]);
        let good = r#"{"a":{"b":"v","c":[1,{"d":"}"}]},"keep":"k","n":-1.5e-3}"#;
        // Every truncation and every single-byte change of a record.
        for end in 0..good.len() {
            if good.is_char_boundary(end) {
                let cut = &good[..end];
                assert_eq!(p.parse(cut), None, "{cut}");
            }
        }
        for i in 0..good.len() {
            for b in [b'"', b'{', b'}', b'[', b']', b',', b':', b'\\', b'x', b' '] {
                let mut bytes = good.as_bytes().to_vec();
                bytes[i] = b;
                if let Ok(t) = std::str::from_utf8(&bytes) {
                    let got = p.parse(t);
                    // Where serde_json reads the text, the skim reads the same.
                    if let Some(reference) = p.parse_serde(t) {
                        assert_eq!(got, Some(reference), "{t}");
                    }
                }
            }
        }
        // Hostile nesting is refused (as serde_json refuses it), not a stack overflow.
        let deep = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
        assert_eq!(p.parse(&deep), None);
        assert_eq!(
            p.parse(&format!("{{\"a\":{}1{}}}", "[".repeat(100), "]".repeat(100))),
            p.parse_serde(&format!("{{\"a\":{}1{}}}", "[".repeat(100), "]".repeat(100)))
        );
        assert_eq!(p.parse("{\"a\":"), None);
        assert_eq!(p.parse("{\"a\":{\"b\":\"unterminated}}"), None);
        assert_eq!(p.parse("{\"a\" 1}"), None);
        assert_eq!(p.parse("{\"a\":1} trailing"), None);
    }

    /// A small generator of JSON values over a few key names (some differing only in case),
    /// strings with escapes and brackets, and nesting: the skim and serde_json agree on each
    /// under several projections.
    #[test]
    fn generated_records_skim_as_they_parse() {
        let mut next = crate::xorshift(0x2545_f491_4f6c_dd1d);
        fn value(depth: u32, next: &mut dyn FnMut(u64) -> u64, out: &mut String) {
            const KEYS: [&str; 6] = ["a", "A", "b", "status", "errorCode", "x.y"];
            const STRS: [&str; 5] = ["plain", "with \\\"quote\\\"", "br}ack]et{", "back\\\\slash", "\\u00e9t\\u00e9"];
            match if depth > 3 { next(3) } else { next(6) } {
                0 => out.push_str(&format!("{}", next(100_000) as i64 - 50_000)),
                1 => out.push_str(["true", "false", "null", "1.5e2", "-0.25"][next(5) as usize]),
                2 => out.push_str(&format!("\"{}\"", STRS[next(5) as usize])),
                3 | 4 => {
                    out.push('{');
                    for i in 0..next(4) {
                        if i > 0 {
                            out.push(',');
                        }
                        out.push_str(&format!("\"{}\":", KEYS[next(6) as usize]));
                        value(depth + 1, next, out);
                    }
                    out.push('}');
                }
                _ => {
                    out.push('[');
                    for i in 0..next(4) {
                        if i > 0 {
                            out.push_str(" , ");
                        }
                        value(depth + 1, next, out);
                    }
                    out.push(']');
                }
            }
        }
        let paths: [&[&str]; 4] =
            [&["a"], &["a.b", "status.errorcode"], &["x.y", "a.a.a", "b"], &["status", "a.status.errorcode.b"]];
        let values = |d: &crate::fields::Doc<'_>, path: &str| {
            let mut out = Vec::new();
            d.visit(&literal(path), &mut |v| {
                v.with_text(|t| out.push(t.map(str::to_string)));
                false
            });
            out
        };
        for _ in 0..3000 {
            let mut text = String::new();
            value(0, &mut next, &mut text);
            let e = azir_model::Event { raw: text.clone(), ..Default::default() };
            // Keyword searches: the same values, in the same order, as the serde_json stream.
            let (mut ours, mut reference) = (Vec::new(), Vec::new());
            super::values(&text, &mut |v| {
                v.with_text(|t| ours.push(t.unwrap_or("<null>").to_string()));
                false
            });
            crate::fields::stream_values(&text, &mut |v| {
                v.with_text(|t| reference.push(t.unwrap_or("<null>").to_string()));
                false
            });
            assert_eq!(ours, reference, "{text}");
            for ps in paths {
                let p = projection(ps);
                same(&p, &text);
                // And every path of the projection finds in it what it finds in the whole record.
                for path in ps {
                    let whole = values(&crate::fields::Doc::new(&e), path);
                    assert_eq!(values(&crate::fields::Doc::projected(&e, &p), path), whole, "{path} in {text}");
                }
            }
        }
    }
}
