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
//! over a value only needs its end: a string ends at the first unescaped quote (`memchr2` for
//! the quote and the backslash), an object or array at its matching bracket (strings inside
//! stepped over the same way), a number or literal at the next delimiter.
//!
//! What is kept is parsed with `serde_json` (a kept value's text is handed to it whole), so the
//! tree of what rules read is exactly what a whole parse would build.
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
    let mut s = Skim { t: text, b: text.as_bytes(), i: 0, depth: 0 };
    let v = s.value(root)?;
    s.ws();
    (s.i == s.b.len()).then_some(v)
}

/// Calls `f` with every string, number and boolean value of `text` (keys excluded), in document
/// order, until it returns true; true if it did and the text's structure is JSON (the values
/// [`crate::fields::Doc::visit_all`] gives keyword searches, without building a tree).
pub(crate) fn values(text: &str, f: &mut dyn FnMut(Scalar<'_>) -> bool) -> bool {
    let mut s = Skim { t: text, b: text.as_bytes(), i: 0, depth: 0 };
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
            let k = j + memchr::memchr2(b'"', b'\\', b.get(j..)?)?;
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
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.i = self.string_end()?.0;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.i += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
            }
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

    /// Visits the value at `self.i` for [`values`]: `f` sees its scalars until one is found (the
    /// walk goes on to the end, to check the structure).
    fn visit(&mut self, f: &mut dyn FnMut(Scalar<'_>) -> bool, found: &mut bool) -> Option<()> {
        self.ws();
        match self.peek()? {
            b'{' | b'[' => self.members(|s, _| s.visit(f, found))?,
            b'"' => {
                let (end, escaped) = self.string_end()?;
                let raw = &self.t[self.i + 1..end - 1];
                self.i = end;
                if !*found {
                    if escaped {
                        let s: String = serde_json::from_str(&self.t[end - raw.len() - 2..end]).ok()?;
                        *found = f(Scalar::Str(&s));
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
                        let n: serde_json::Number = serde_json::from_str(token).ok()?;
                        if !*found {
                            *found = f(Scalar::Num(&n));
                        }
                    }
                }
            }
        }
        Some(())
    }

    /// The value at `self.i`, kept whole (parsed by serde_json from its text).
    fn whole(&mut self) -> Option<Node<'a>> {
        let start = self.i;
        self.skip()?;

        parse(&self.t[start..self.i])
    }

    /// The value at `self.i`, kept where `n` reaches.
    fn value(&mut self, n: &PNode) -> Option<Node<'a>> {
        self.ws();
        if n.all {
            return self.whole();
        }
        match self.peek()? {
            b'{' => {
                let mut out = Vec::new();
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
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
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
