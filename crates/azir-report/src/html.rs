//! Escaping and a small HTML writer.
//!
//! Every string that reaches the page goes through [`text`] (element content) or [`attr`]
//! (attribute values); the writer has no way to emit unescaped content except [`Html::raw`],
//! which is used only for markup azir itself built (tags, SVG made by [`crate::svg`]).
//!
//! Escaping is for HTML *and* for the reader: besides `& < > " '`, characters that would make a
//! log string lie about itself are shown as visible `<U+XXXX>` markers — C0/C1 controls (other
//! than tab and newline), bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069,
//! the "Trojan Source" characters), zero-width characters and BOMs, and lone surrogates cannot
//! occur in Rust strings. Strings are also capped ([`MAX_CELL`]) so one 10 MB user agent cannot
//! bloat the report; the cut is marked.

use std::fmt::Write as _;

/// Longest cell text kept (characters); longer text is cut and marked.
pub const MAX_CELL: usize = 2_000;

fn visible_marker(c: char) -> bool {
    let u = c as u32;
    (u < 0x20 && c != '\t' && c != '\n')
        || (0x7f..=0x9f).contains(&u)
        || (0x202a..=0x202e).contains(&u)
        || (0x2066..=0x2069).contains(&u)
        || matches!(u, 0x200b..=0x200f | 0x2028 | 0x2029 | 0xfeff | 0x061c)
}

fn escape_into(out: &mut String, s: &str, limit: usize) {
    for (n, c) in s.chars().enumerate() {
        if n >= limit {
            let rest = s.chars().count() - n;
            let _ = write!(out, "… [{rest} more characters]");
            return;
        }
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if visible_marker(c) => {
                let _ = write!(out, "&lt;U+{:04X}&gt;", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// `s` escaped for element content (capped at [`MAX_CELL`] characters).
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    escape_into(&mut out, s, MAX_CELL);
    out
}

/// `s` escaped for element content, with no length cap.
pub fn text_full(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    escape_into(&mut out, s, usize::MAX);
    out
}

/// `s` escaped for a double-quoted attribute value (capped at [`MAX_CELL`] characters).
pub fn attr(s: &str) -> String {
    text(s)
}

/// An HTML document being written. Content methods escape; [`Html::raw`] and `write!` (the
/// [`std::fmt::Write`] impl) do not: every log-derived value interpolated with `write!` must
/// already have gone through [`text`] or [`attr`].
#[derive(Default)]
pub struct Html {
    buf: String,
}

impl Html {
    /// An empty writer.
    pub fn new() -> Self {
        Html { buf: String::with_capacity(1 << 16) }
    }

    /// Appends markup built by azir (never log content).
    pub fn raw(&mut self, s: &str) -> &mut Self {
        self.buf.push_str(s);
        self
    }

    /// Appends escaped text.
    pub fn text(&mut self, s: &str) -> &mut Self {
        escape_into(&mut self.buf, s, MAX_CELL);
        self
    }

    /// `<tag class="class">text</tag>` with the text escaped.
    pub fn el(&mut self, tag: &str, class: &str, s: &str) -> &mut Self {
        if class.is_empty() {
            let _ = write!(self.buf, "<{tag}>");
        } else {
            let _ = write!(self.buf, "<{tag} class=\"{}\">", attr(class));
        }
        self.text(s);
        let _ = write!(self.buf, "</{tag}>");
        self
    }

    /// The document so far.
    pub fn finish(self) -> String {
        self.buf
    }

    /// Length so far, in bytes.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Nothing written yet.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

impl std::fmt::Write for Html {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.buf.push_str(s);
        Ok(())
    }
}

/// A table column: header text and whether values sort as numbers.
pub struct Col<'a> {
    /// Header.
    pub head: &'a str,
    /// Sort numerically (cells carry `data-v`).
    pub numeric: bool,
}

/// One table cell.
pub enum Cell {
    /// Text, escaped.
    Text(String),
    /// A number, shown with thousands separators, sorted by value.
    Num(f64, String),
    /// Text shown in monospace (ids, hashes, paths), escaped.
    Code(String),
    /// Markup azir built (a link to an entity section, a badge); `sort` is the sort key.
    Markup { html: String, sort: String },
}

impl Cell {
    /// A count.
    pub fn count(n: u64) -> Cell {
        Cell::Num(n as f64, thousands(n))
    }

    /// Bytes, shown in binary units.
    pub fn bytes(n: u64) -> Cell {
        Cell::Num(n as f64, human_bytes(n))
    }

    /// Text or an empty cell.
    pub fn opt(s: Option<&str>) -> Cell {
        Cell::Text(s.unwrap_or_default().to_string())
    }
}

/// `12,345,678`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1.5 GiB`.
pub fn human_bytes(n: u64) -> String {
    const U: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < U.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", U[i])
    }
}

/// Writes a sortable, filterable table (`id` must be unique in the page and made by azir).
/// `filter` adds a search box above it. Shows at most `cap` rows and says how many were left out.
pub fn table(h: &mut Html, id: &str, class: &str, cols: &[Col], rows: &[Vec<Cell>], filter: bool, total: Option<u64>) {
    if filter && rows.len() > 5 {
        let _ = write!(
            h.buf,
            "<input type=\"search\" class=\"filter\" data-filter-for=\"{id}\" placeholder=\"Filter {} rows\" aria-label=\"Filter\">",
            rows.len()
        );
    }
    let _ = write!(h.buf, "<div class=\"scroll\"><table data-table id=\"{id}\"");
    if !class.is_empty() {
        let _ = write!(h.buf, " class=\"{}\"", attr(class));
    }
    h.buf.push_str("><thead><tr>");
    for c in cols {
        let _ = write!(h.buf, "<th{}>", if c.numeric { " data-type=\"num\"" } else { "" });
        h.text(c.head);
        h.buf.push_str("</th>");
    }
    h.buf.push_str("</tr></thead><tbody>");
    for r in rows {
        h.buf.push_str("<tr>");
        for c in r {
            match c {
                Cell::Text(s) => {
                    h.buf.push_str("<td>");
                    h.text(s);
                    h.buf.push_str("</td>");
                }
                Cell::Code(s) => {
                    h.buf.push_str("<td class=\"mono\">");
                    h.text(s);
                    h.buf.push_str("</td>");
                }
                Cell::Num(v, s) => {
                    let _ = write!(h.buf, "<td class=\"num\" data-v=\"{v}\">");
                    h.text(s);
                    h.buf.push_str("</td>");
                }
                Cell::Markup { html, sort } => {
                    let _ = write!(h.buf, "<td data-v=\"{}\">{html}</td>", attr(sort));
                }
            }
        }
        h.buf.push_str("</tr>");
    }
    h.buf.push_str("</tbody></table></div>");
    if let Some(t) = total {
        if t > rows.len() as u64 {
            let _ =
                write!(h.buf, "<p class=\"more\">Showing {} of {}.</p>", thousands(rows.len() as u64), thousands(t));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(text(r#"<script>alert("x")</script>"#), "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;");
        assert_eq!(attr("a' onmouseover='x"), "a&#39; onmouseover=&#39;x");
        assert_eq!(text("a & b"), "a &amp; b");
        assert_eq!(text("plain ünïcödé 日本"), "plain ünïcödé 日本");
    }

    #[test]
    fn controls_and_bidi_are_made_visible() {
        assert_eq!(text("a\u{0}b"), "a&lt;U+0000&gt;b");
        assert_eq!(text("evil\u{202e}txt.exe"), "evil&lt;U+202E&gt;txt.exe");
        assert_eq!(text("zero\u{200b}width"), "zero&lt;U+200B&gt;width");
        assert_eq!(text("\u{1b}[31mred"), "&lt;U+001B&gt;[31mred");
        assert_eq!(text("tab\tand\nnewline"), "tab\tand\nnewline");
    }

    #[test]
    fn long_text_is_cut_and_marked() {
        let s = "x".repeat(MAX_CELL + 10);
        let t = text(&s);
        assert!(t.starts_with(&"x".repeat(MAX_CELL)));
        assert!(t.ends_with("… [10 more characters]"), "{}", &t[t.len() - 40..]);
        assert_eq!(text_full(&s).len(), MAX_CELL + 10);
    }

    #[test]
    fn numbers_are_formatted() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(12_345_678), "12,345,678");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }

    #[test]
    fn table_escapes_every_cell_kind() {
        let mut h = Html::new();
        let rows = vec![vec![
            Cell::Text("<b>t</b>".into()),
            Cell::Code("<i>c</i>".into()),
            Cell::Num(3.0, "<3>".into()),
            Cell::Markup { html: "<a href=\"#x\">ok</a>".into(), sort: "\"><script>".into() },
        ]];
        let cols = [
            Col { head: "<h>", numeric: false },
            Col { head: "c", numeric: false },
            Col { head: "n", numeric: true },
            Col { head: "m", numeric: false },
        ];
        table(&mut h, "t1", "", &cols, &rows, true, Some(10));
        let s = h.finish();
        assert!(s.contains("<th>&lt;h&gt;</th>"));
        assert!(s.contains("<td>&lt;b&gt;t&lt;/b&gt;</td>"));
        assert!(s.contains("<td class=\"mono\">&lt;i&gt;c&lt;/i&gt;</td>"));
        assert!(s.contains("data-v=\"3\">&lt;3&gt;</td>"));
        assert!(s.contains("data-v=\"&quot;&gt;&lt;script&gt;\"><a href=\"#x\">ok</a></td>"));
        assert!(!s.contains("<script"));
        assert!(s.contains("Showing 1 of 10."));
        // No filter box for a handful of rows.
        assert!(!s.contains("data-filter-for"));
    }
}
