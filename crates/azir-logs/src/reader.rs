//! From a byte stream to chunks of records: sniffs the payload (JSON of any container shape,
//! CSV as Log Analytics and the portal export it, AWS VPC flow text) and splits it.
//!
//! The name of a file is a hint at best (`PT1H.json` holds JSON Lines or one `{"records":…}`
//! object; a `.csv` may be a Log Analytics export or the portal's), so the decision is made
//! from the first bytes: `{` or `[` is JSON, a VPC header or a 14-field line of numbers and
//! addresses is VPC flow text, a comma-separated first line is CSV.

use crate::parsers::Payload;
use crate::split::{Chunk, Container, JsonSplitter, Span};
use serde_json::Value;
use std::io::{self, BufRead};
use std::sync::Arc;

/// Reads records of one stream, chunk by chunk.
pub enum RecordReader<R: BufRead> {
    /// JSON of any container shape.
    Json(JsonSplitter<R>),
    /// CSV rows.
    Csv(CsvRows<R>),
    /// Text lines (AWS VPC flow logs).
    Lines(TextLines<R>),
}

/// The payload of a stream, decided from its first bytes, and a reader for it.
pub fn open<R: BufRead>(mut r: R, max_record: usize) -> io::Result<(Payload, RecordReader<R>)> {
    let head = r.fill_buf()?;
    let head = head.strip_prefix(&[0xEF, 0xBB, 0xBF][..]).unwrap_or(head);
    let first = head.iter().copied().find(|b| !b.is_ascii_whitespace());
    if head.iter().take(512).any(|&b| b == 0) {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "binary content (NUL bytes): not a text log format"));
    }
    if matches!(first, Some(b'{') | Some(b'[')) || first.is_none() {
        return Ok((Payload::Json, RecordReader::Json(JsonSplitter::with_limit(r, max_record))));
    }
    let line_end = memchr::memchr(b'\n', head).unwrap_or(head.len());
    let line = String::from_utf8_lossy(&head[..line_end]);
    let line = line.trim_start_matches('\u{feff}').trim();
    if let Some(fields) = vpc_header(line) {
        return Ok((Payload::VpcFlow(Arc::new(fields)), RecordReader::Lines(TextLines::new(r, max_record, true))));
    }
    if looks_like_vpc_line(line) {
        let fields = crate::parsers::vpc::DEFAULT_FIELDS.iter().map(|s| s.to_string()).collect();
        return Ok((Payload::VpcFlow(Arc::new(fields)), RecordReader::Lines(TextLines::new(r, max_record, false))));
    }
    if line.contains(',') || line.contains('\t') {
        let delim = if line.contains('\t') && !line.contains(',') { b'\t' } else { b',' };
        return Ok((Payload::Csv, RecordReader::Csv(CsvRows::new(r, delim, max_record))));
    }
    Ok((Payload::Json, RecordReader::Json(JsonSplitter::with_limit(r, max_record))))
}

impl<R: BufRead> RecordReader<R> {
    /// Fills `chunk` with about `target` bytes of records; false once the stream is done.
    pub fn next_chunk(&mut self, chunk: &mut Chunk, target: usize) -> io::Result<bool> {
        match self {
            RecordReader::Json(s) => s.next_chunk(chunk, target),
            RecordReader::Csv(c) => c.next_chunk(chunk, target),
            RecordReader::Lines(l) => l.next_chunk(chunk, target),
        }
    }

    /// Bytes of the (decompressed) stream consumed so far.
    pub fn offset(&self) -> u64 {
        match self {
            RecordReader::Json(s) => s.offset(),
            RecordReader::Csv(c) => c.rdr.position().byte(),
            RecordReader::Lines(l) => l.offset,
        }
    }

    /// Short name of the detected layout, for the manifest (`json:records`, `csv`, `vpc-flow`).
    pub fn layout(&self) -> String {
        match self {
            RecordReader::Json(s) => {
                let mut names: Vec<&str> = s.containers_seen.iter().map(|c| c.as_str()).collect();
                names.dedup();
                if names.is_empty() {
                    "json:lines".to_string()
                } else {
                    format!("json:{}", names.join("+"))
                }
            }
            RecordReader::Csv(_) => "csv".to_string(),
            RecordReader::Lines(_) => "vpc-flow".to_string(),
        }
    }
}

/// The field names of an AWS VPC flow log header line, if `line` is one (the parser's own
/// recogniser, so reader and parser agree on every spelling).
pub fn vpc_header(line: &str) -> Option<Vec<String>> {
    crate::parsers::vpc::header_fields(line)
}

fn looks_like_vpc_line(line: &str) -> bool {
    let t: Vec<&str> = line.split_whitespace().collect();
    t.len() == 14
        && matches!(t[0], "2" | "3" | "4" | "5")
        && !line.contains(',')
        && (t[12] == "ACCEPT" || t[12] == "REJECT" || t[12] == "-")
}

/// Lines of a text stream, each a record; a header line (if `header`) is skipped.
pub struct TextLines<R> {
    inner: R,
    max: usize,
    line: u64,
    offset: u64,
    skip_header: bool,
}

impl<R: BufRead> TextLines<R> {
    fn new(inner: R, max: usize, header: bool) -> Self {
        TextLines { inner, max, line: 0, offset: 0, skip_header: header }
    }

    fn next_chunk(&mut self, chunk: &mut Chunk, target: usize) -> io::Result<bool> {
        chunk.buf.clear();
        chunk.spans.clear();
        while chunk.buf.len() < target {
            let start = chunk.buf.len();
            let (n, size, complete) = read_line_limited(&mut self.inner, &mut chunk.buf, self.max)?;
            if n == 0 {
                return Ok(false);
            }
            self.line += 1;
            let offset = self.offset;
            self.offset += n as u64;
            // Trim the line ending and surrounding blanks.
            while chunk.buf.len() > start && matches!(chunk.buf[chunk.buf.len() - 1], b'\n' | b'\r' | b' ' | b'\t') {
                chunk.buf.pop();
            }
            if chunk.buf.len() == start {
                continue;
            }
            if self.skip_header {
                self.skip_header = false;
                chunk.buf.truncate(start);
                continue;
            }
            let defect = if !complete {
                Some(format!("line of {size} bytes exceeds the record limit"))
            } else if std::str::from_utf8(&chunk.buf[start..]).is_err() {
                Some("invalid UTF-8 in line".to_string())
            } else {
                None
            };
            chunk.spans.push(Span {
                start,
                end: chunk.buf.len(),
                line: self.line,
                offset,
                index: 0,
                size: size as u64,
                defect,
                container: Container::Lines,
            });
        }
        Ok(true)
    }
}

/// Reads one line into `out`, keeping at most `max` bytes of it. Returns (bytes consumed,
/// line size, whether it fit).
fn read_line_limited<R: BufRead>(r: &mut R, out: &mut Vec<u8>, max: usize) -> io::Result<(usize, usize, bool)> {
    let mut consumed = 0;
    let mut kept = 0;
    loop {
        let buf = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok((consumed, consumed, kept == consumed));
        }
        let (n, done) = match memchr::memchr(b'\n', buf) {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        let room = max.saturating_sub(kept).min(n);
        out.extend_from_slice(&buf[..room]);
        kept += room;
        r.consume(n);
        consumed += n;
        if done {
            return Ok((consumed, consumed, kept == consumed));
        }
    }
}

/// CSV rows turned into JSON objects keyed by header, as Log Analytics JSON exports look.
///
/// Header names lose a ` [UTC]` suffix (Log Analytics writes `TimeGenerated [UTC]`); a value
/// that is a JSON object or array (nested columns are exported as JSON text) is decoded; empty
/// cells are left out. The record's `raw` is this JSON object: a CSV row without its header
/// would be meaningless on its own.
pub struct CsvRows<R> {
    rdr: csv::Reader<LineEnds<R>>,
    headers: Vec<String>,
    max: usize,
    done: bool,
}

/// Passes bytes through to the CSV reader, remembering where line ends (`\r`, `\n`) are, so a
/// record's first byte and line are exact: the csv crate places a record after the previous
/// record's `\r` but before its `\n` (CRLF files, as the portal and Log Analytics write them),
/// and counts that `\n` only later, which put every row one line early.
pub struct LineEnds<R> {
    inner: R,
    read: u64,
    ends: std::collections::VecDeque<(u64, u8)>,
    newlines_before: u64,
}

impl<R: io::Read> io::Read for LineEnds<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        for i in memchr::memchr2_iter(b'\n', b'\r', &buf[..n]) {
            self.ends.push_back((self.read + i as u64, buf[i]));
        }
        self.read += n as u64;
        Ok(n)
    }
}

impl<R> LineEnds<R> {
    /// The real first byte and 1-based line of a record the csv crate placed at `byte`
    /// (positions must come in stream order): line ends at the position are skipped.
    fn locate(&mut self, byte: u64) -> (u64, u64) {
        let mut start = byte;
        while let Some(&(at, b)) = self.ends.front() {
            if at > start {
                break;
            }
            if at == start {
                start += 1;
            }
            if b == b'\n' {
                self.newlines_before += 1;
            }
            self.ends.pop_front();
        }
        (start, self.newlines_before + 1)
    }
}

impl<R: BufRead> CsvRows<R> {
    fn new(inner: R, delim: u8, max: usize) -> Self {
        let inner = LineEnds { inner, read: 0, ends: Default::default(), newlines_before: 0 };
        let rdr = csv::ReaderBuilder::new().delimiter(delim).flexible(true).has_headers(false).from_reader(inner);
        CsvRows { rdr, headers: Vec::new(), max, done: false }
    }

    fn next_chunk(&mut self, chunk: &mut Chunk, target: usize) -> io::Result<bool> {
        chunk.buf.clear();
        chunk.spans.clear();
        let mut rec = csv::ByteRecord::new();
        while chunk.buf.len() < target && !self.done {
            let pos_line;
            let pos_byte;
            match self.rdr.read_byte_record(&mut rec) {
                Ok(false) => {
                    self.done = true;
                    break;
                }
                Ok(true) => {
                    let at = rec.position().map_or(0, |p| p.byte());
                    (pos_byte, pos_line) = self.rdr.get_mut().locate(at);
                }
                Err(e) => {
                    if let csv::ErrorKind::Io(_) = e.kind() {
                        return Err(io::Error::other(e.to_string()));
                    }
                    let at = e.position().map_or(0, |p| p.byte());
                    let (byte, line) = self.rdr.get_mut().locate(at);
                    let start = chunk.buf.len();
                    chunk.spans.push(Span {
                        start,
                        end: start,
                        line,
                        offset: byte,
                        index: 0,
                        size: 0,
                        defect: Some(format!("CSV error: {e}")),
                        container: Container::Lines,
                    });
                    continue;
                }
            }
            if self.headers.is_empty() {
                self.headers = rec
                    .iter()
                    .map(|h| {
                        let h = String::from_utf8_lossy(h);
                        let h = h.trim_start_matches('\u{feff}').trim();
                        h.strip_suffix(" [UTC]").unwrap_or(h).to_string()
                    })
                    .collect();
                continue;
            }
            let start = chunk.buf.len();
            let size: usize = rec.as_slice().len();
            let mut defect = None;
            if size > self.max {
                defect = Some(format!("CSV row of {size} bytes exceeds the record limit"));
            }
            let mut map: Vec<(String, Value)> = Vec::new();
            if defect.is_none() {
                for (i, field) in rec.iter().enumerate() {
                    let Ok(s) = std::str::from_utf8(field) else {
                        let name = self.headers.get(i).cloned().unwrap_or_else(|| format!("column {}", i + 1));
                        defect = Some(format!("invalid UTF-8 in CSV column {name:?}"));
                        break;
                    };
                    if s.is_empty() {
                        continue;
                    }
                    let key = self.headers.get(i).cloned().unwrap_or_else(|| format!("_col{}", i + 1));
                    let t = s.trim_start();
                    let value = if t.starts_with('{') || t.starts_with('[') {
                        serde_json::from_str::<Value>(t).unwrap_or_else(|_| Value::String(s.to_string()))
                    } else {
                        Value::String(s.to_string())
                    };
                    map.push((key, value));
                }
            }
            match defect {
                None => {
                    // Written by hand to keep the header's column order in `raw`.
                    chunk.buf.push(b'{');
                    for (i, (k, v)) in map.iter().enumerate() {
                        if i > 0 {
                            chunk.buf.push(b',');
                        }
                        serde_json::to_writer(&mut chunk.buf, k).map_err(io::Error::other)?;
                        chunk.buf.push(b':');
                        serde_json::to_writer(&mut chunk.buf, v).map_err(io::Error::other)?;
                    }
                    chunk.buf.push(b'}');
                }
                Some(_) => {
                    let cut = rec.as_slice().len().min(4096);
                    chunk.buf.extend_from_slice(&rec.as_slice()[..cut]);
                }
            }
            chunk.spans.push(Span {
                start,
                end: chunk.buf.len(),
                line: pos_line,
                offset: pos_byte,
                index: 0,
                size: size as u64,
                defect,
                container: Container::Lines,
            });
        }
        Ok(!self.done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(input: &[u8]) -> (Payload, Vec<String>) {
        let (payload, mut r) = open(io::BufReader::with_capacity(4096, input), 1 << 20).unwrap();
        let mut out = Vec::new();
        let mut chunk = Chunk::default();
        loop {
            let more = r.next_chunk(&mut chunk, 32).unwrap();
            for s in &chunk.spans {
                match &s.defect {
                    Some(d) => out.push(format!("{}:!{d}", s.line)),
                    None => out.push(format!("{}:{}", s.line, String::from_utf8_lossy(chunk.bytes(s)))),
                }
            }
            if !more {
                break;
            }
        }
        (payload, out)
    }

    #[test]
    fn log_analytics_csv_with_nested_json_and_quotes() {
        let csv = "TimeGenerated [UTC],UserPrincipalName,Status,Note\n\"5/1/2024, 10:00:00.000 AM\",m@contoso.com,\"{\"\"errorCode\"\":50126}\",\"multi\nline\"\n2024-05-01T10:01:00Z,x@contoso.com,,\n";
        let (p, recs) = records(csv.as_bytes());
        assert_eq!(p, Payload::Csv);
        assert_eq!(recs, vec![
            "2:{\"TimeGenerated\":\"5/1/2024, 10:00:00.000 AM\",\"UserPrincipalName\":\"m@contoso.com\",\"Status\":{\"errorCode\":50126},\"Note\":\"multi\\nline\"}",
            "4:{\"TimeGenerated\":\"2024-05-01T10:01:00Z\",\"UserPrincipalName\":\"x@contoso.com\"}",
        ]);
    }

    #[test]
    fn crlf_csv_rows_have_their_own_line_and_first_byte() {
        // The portal and Log Analytics write CRLF; a blank line and a quoted CRLF too.
        let input = b"a,b\r\n1,2\r\n\r\n3,\"x\r\ny\"\r\n4,5\r\n";
        let (_, mut r) = open(io::BufReader::with_capacity(4096, &input[..]), 1 << 20).unwrap();
        let mut chunk = Chunk::default();
        let mut got = Vec::new();
        loop {
            let more = r.next_chunk(&mut chunk, 1 << 20).unwrap();
            got.extend(chunk.spans.iter().map(|s| (s.line, s.offset)));
            if !more {
                break;
            }
        }
        assert_eq!(got, vec![(2, 5), (4, 12), (6, 22)]);
        assert_eq!(&input[12..15], b"3,\"");
        assert_eq!(&input[22..25], b"4,5");
    }

    #[test]
    fn csv_invalid_utf8_is_a_defect_naming_the_column() {
        let (_, recs) = records(b"a,b\n1,\xff\xfe\n2,3\n");
        assert_eq!(recs[0], "2:!invalid UTF-8 in CSV column \"b\"");
        assert_eq!(recs[1], "3:{\"a\":\"2\",\"b\":\"3\"}");
    }

    #[test]
    fn vpc_with_header_and_default() {
        let text = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK\n";
        let (p, recs) = records(text.as_bytes());
        assert!(matches!(p, Payload::VpcFlow(ref f) if f[3] == "srcaddr"));
        assert_eq!(recs, vec!["2:2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK"]);
        let (p, recs) = records(b"2 123456789010 eni-1a2b3c4d5e6f7g8h9 - - - - - - - 1431280876 1431280934 - NODATA\n");
        assert!(matches!(p, Payload::VpcFlow(_)));
        assert_eq!(recs.len(), 1);
    }

    #[test]
    fn json_and_binary_sniffing() {
        let (p, recs) = records(b"\xef\xbb\xbf  {\"records\":[{\"a\":1}]}");
        assert_eq!(p, Payload::Json);
        assert_eq!(recs, vec!["1:{\"a\":1}"]);
        assert!(open(io::BufReader::new(&b"\x00\x01binary"[..]), 100).is_err());
    }

    #[test]
    fn custom_vpc_header_spellings() {
        assert_eq!(
            vpc_header("${version} ${srcaddr} ${dstaddr} ${flow_direction}").unwrap(),
            vec!["version", "srcaddr", "dstaddr", "flow-direction"]
        );
        assert_eq!(vpc_header("hello world"), None);
    }
}
