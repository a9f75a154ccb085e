//! Streaming record splitter: turns a byte stream of any JSON export shape into records.
//!
//! Azure hands the same logs over as JSON Lines (diagnostic blobs since 2018-11), one huge
//! `{"records":[...]}` object (flow logs, Event Hub), `{"value":[...],"nextLink":..}` pages (ARM
//! REST, Graph), bare arrays and single pretty-printed objects. A flow-log `PT1H.json` can be
//! gigabytes in a single JSON value, so nothing here ever holds a whole file: the splitter scans
//! bytes, tracks string/escape state and nesting depth, and cuts out one record at a time.
//!
//! Why hand-written instead of a streaming JSON crate: the splitter does not validate or build
//! values (serde_json does that per record, in parallel, in the parse stage); it only has to find
//! record boundaries, which is a byte loop at memory speed. It also has to do what generic
//! readers do not: report the line and byte offset of each record, cap the size of one record,
//! count depth without recursion (a 10,000-deep nesting is a counter, not a stack overflow),
//! and resynchronise after a truncated JSON Lines record instead of giving up on the file.
//!
//! Container detection: a top-level object is a container when its key `records` or `value`
//! (any case) holds an array and every key before it is paging metadata (`@odata.*`,
//! `nextLink`, `count`). Anything else is a record. Top-level values follow each other freely,
//! which is exactly JSON Lines.

use std::io::{self, BufRead};

/// Largest record the splitter hands on; larger ones are quarantined with their size.
pub const DEFAULT_MAX_RECORD: usize = 32 * 1024 * 1024;

/// How the records of a stream were packaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// One value after another (JSON Lines, or a single object).
    Lines,
    /// `{"records":[...]}` (Event Hub, flow-log blobs).
    Records,
    /// `{"value":[...]}` (ARM REST or Graph page).
    Value,
    /// A bare JSON array.
    Array,
}

impl Container {
    /// Lower-case name for manifests and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Container::Lines => "lines",
            Container::Records => "records",
            Container::Value => "value",
            Container::Array => "array",
        }
    }
}

/// A record's place in the stream, and whether it could be cut out whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// Start of the record's bytes in the chunk buffer.
    pub start: usize,
    /// End (exclusive) in the chunk buffer.
    pub end: usize,
    /// 1-based line where the record starts.
    pub line: u64,
    /// Byte offset of the record's start in the stream.
    pub offset: u64,
    /// Index among records starting on the same line.
    pub index: u32,
    /// Full size of the record in the stream (the buffer may hold only an excerpt).
    pub size: u64,
    /// Set when the record is defective: the buffer then holds an excerpt, and this the reason.
    pub defect: Option<String>,
    /// The container the record was found in.
    pub container: Container,
}

/// A batch of records cut from one stream: a byte buffer and the spans within it.
#[derive(Debug, Default)]
pub struct Chunk {
    /// Bytes of the records (or excerpts of defective ones).
    pub buf: Vec<u8>,
    /// Records in stream order.
    pub spans: Vec<Span>,
}

impl Chunk {
    /// Bytes of a span.
    pub fn bytes(&self, span: &Span) -> &[u8] {
        &self.buf[span.start..span.end]
    }
    fn clear(&mut self) {
        self.buf.clear();
        self.spans.clear();
    }
}

const EXCERPT: usize = 4096;

fn limit_text(n: usize) -> String {
    if n >= 1024 * 1024 {
        format!("{} MiB", n / (1024 * 1024))
    } else {
        format!("{n}-byte")
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// Between top-level values.
    Top,
    /// Inside a container's array, between elements.
    Elements(Container),
    /// After a container array closed: skipping the rest of the enclosing object.
    ContainerTail,
}

/// Splits a JSON byte stream into records, chunk by chunk.
pub struct JsonSplitter<R> {
    inner: R,
    max_record: usize,
    offset: u64,
    line: u64,
    mode: Mode,
    /// Line and index of the last record, for numbering records that share a line.
    last_line: u64,
    last_index: u32,
    /// The stream looks like JSON Lines (first record held no newline): a newline outside a
    /// string at depth > 0 then means the record was truncated.
    lines_mode: Option<bool>,
    started: bool,
    eof: bool,
    /// Containers seen, for the manifest.
    pub containers_seen: Vec<Container>,
}

/// Outcome of scanning one value.
enum Scan {
    Done,
    /// Stream ended inside the value.
    Eof,
    /// A newline showed the (JSON Lines) record was cut short; the newline is not consumed.
    CutAtNewline,
}

impl<R: BufRead> JsonSplitter<R> {
    /// A splitter over `inner` with the default record limit.
    pub fn new(inner: R) -> Self {
        Self::with_limit(inner, DEFAULT_MAX_RECORD)
    }

    /// A splitter whose records may be at most `max_record` bytes.
    pub fn with_limit(inner: R, max_record: usize) -> Self {
        JsonSplitter {
            inner,
            max_record,
            offset: 0,
            line: 1,
            mode: Mode::Top,
            last_line: 0,
            last_index: 0,
            lines_mode: None,
            started: false,
            eof: false,
            containers_seen: Vec::new(),
        }
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn peek(&mut self) -> io::Result<Option<u8>> {
        if self.eof {
            return Ok(None);
        }
        let buf = self.inner.fill_buf()?;
        if buf.is_empty() {
            self.eof = true;
            return Ok(None);
        }
        Ok(Some(buf[0]))
    }

    fn bump(&mut self) {
        self.inner.consume(1);
        self.offset += 1;
    }

    /// Skips whitespace (and commas when `commas`), counting lines.
    fn skip_ws(&mut self, commas: bool) -> io::Result<Option<u8>> {
        loop {
            let buf = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                self.eof = true;
                return Ok(None);
            }
            let mut n = 0;
            let mut lines = 0;
            let mut found = None;
            for &b in buf {
                match b {
                    b'\n' => lines += 1,
                    b' ' | b'\t' | b'\r' => {}
                    b',' if commas => {}
                    _ => {
                        found = Some(b);
                        break;
                    }
                }
                n += 1;
            }
            self.inner.consume(n);
            self.offset += n as u64;
            self.line += lines;
            if found.is_some() {
                return Ok(found);
            }
        }
    }

    /// Skips a UTF-8 byte-order mark at the very start (PowerShell exports carry one).
    fn skip_bom(&mut self) -> io::Result<()> {
        const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];
        let buf = self.inner.fill_buf()?;
        if buf.len() >= BOM.len() {
            if buf.starts_with(&BOM) {
                self.inner.consume(BOM.len());
                self.offset += BOM.len() as u64;
            }
            return Ok(());
        }
        // The reader's buffer holds fewer than three bytes (a tiny buffer, a decoder handing
        // out a few bytes): match byte by byte. A partial mark is invalid UTF-8, consumed too.
        for b in BOM {
            if self.peek()? != Some(b) {
                break;
            }
            self.bump();
        }
        Ok(())
    }

    fn next_index(&mut self, line: u64) -> u32 {
        if line == self.last_line {
            self.last_index += 1;
        } else {
            self.last_line = line;
            self.last_index = 0;
        }
        self.last_index
    }

    /// Scans one JSON value starting at the current byte, appending at most `keep` bytes of it
    /// to `out`. Returns how the scan ended and the value's size in bytes.
    fn scan_value(&mut self, out: &mut Vec<u8>, keep: usize, cut_on_newline: bool) -> io::Result<(Scan, u64)> {
        self.scan_from(out, keep, cut_on_newline, 0)
    }

    /// The scanner behind [`Self::scan_value`] and [`Self::scan_rest_of_object`]: scans from
    /// nesting depth `start_depth` (0 = at a value's first byte, 1 = inside an object) to the end
    /// of the value.
    fn scan_from(
        &mut self,
        out: &mut Vec<u8>,
        keep: usize,
        cut_on_newline: bool,
        start_depth: u64,
    ) -> io::Result<(Scan, u64)> {
        let mut depth: u64 = start_depth;
        let mut in_str = false;
        let mut esc = false;
        let mut size: u64 = 0;
        let mut scalar = false;
        loop {
            let buf = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                self.eof = true;
                // A bare scalar (number, literal) at EOF is complete.
                return Ok((if scalar && depth == 0 { Scan::Done } else { Scan::Eof }, size));
            }
            let mut i = 0;
            let mut done = false;
            let mut cut = false;
            let mut lines = 0u64;
            while i < buf.len() {
                if in_str && !esc {
                    // Most bytes of a record are string content: jump to the next byte that
                    // matters inside a string instead of testing each one.
                    match memchr::memchr3(b'"', b'\\', b'\n', &buf[i..]) {
                        Some(k) => i += k,
                        None => {
                            i = buf.len();
                            break;
                        }
                    }
                }
                let b = buf[i];
                if in_str {
                    if b == b'\n' {
                        // Raw newlines are never valid inside a JSON string, escaped or not: the
                        // record is cut (a line truncated right after a backslash must not
                        // swallow the next line).
                        cut = true;
                        break;
                    } else if esc {
                        esc = false;
                    } else if b == b'\\' {
                        esc = true;
                    } else if b == b'"' {
                        in_str = false;
                        if depth == 0 {
                            i += 1;
                            done = true;
                            break;
                        }
                    }
                } else {
                    match b {
                        b'"' => in_str = true,
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            if depth == 0 {
                                // Closing bracket of the container: the scalar before it ended.
                                done = true;
                                break;
                            }
                            depth -= 1;
                            if depth == 0 {
                                i += 1;
                                done = true;
                                break;
                            }
                        }
                        b'\n' => {
                            if depth == 0 {
                                done = true;
                                break;
                            }
                            if cut_on_newline {
                                cut = true;
                                break;
                            }
                            lines += 1;
                        }
                        b',' | b' ' | b'\t' | b'\r' if depth == 0 => {
                            done = true;
                            break;
                        }
                        _ => {
                            if depth == 0 {
                                scalar = true;
                            }
                        }
                    }
                }
                i += 1;
            }
            let room = keep.saturating_sub(size as usize);
            out.extend_from_slice(&buf[..i.min(room)]);
            size += i as u64;
            self.inner.consume(i);
            self.offset += i as u64;
            self.line += lines;
            if cut {
                return Ok((Scan::CutAtNewline, size));
            }
            if done {
                return Ok((Scan::Done, size));
            }
        }
    }

    /// Reads a JSON string key at the current position (which is `"`), appending its bytes as
    /// written to `out` (at most `keep` of them; the record keeps them verbatim) and returning it
    /// unescaped enough to compare with container names; `Err` with the scan's outcome when
    /// the key is cut short.
    fn read_key(&mut self, out: &mut Vec<u8>, keep: usize) -> io::Result<Result<String, Scan>> {
        let start = out.len();
        let (scan, _) = self.scan_value(out, keep, true)?;
        if !matches!(scan, Scan::Done) {
            return Ok(Err(scan));
        }
        let raw = &out[start..];
        Ok(Ok(serde_json::from_slice::<String>(raw)
            .unwrap_or_else(|_| String::from_utf8_lossy(raw).trim_matches('"').to_string())))
    }

    /// Skips whitespace (and commas when `commas`) inside a record, up to the next byte, copying
    /// what it skips to `out` (while `out` is shorter than `cap`) so the record keeps its bytes
    /// as written and its line numbers. With `cut_on_newline` (JSON Lines) a newline ends the
    /// record: `Err(CutAtNewline)`, the newline not consumed. `Err(Eof)` at the end of the stream.
    fn skip_ws_in_record(
        &mut self,
        commas: bool,
        cut_on_newline: bool,
        out: &mut Vec<u8>,
        cap: usize,
    ) -> io::Result<Result<u8, Scan>> {
        loop {
            let buf = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                self.eof = true;
                return Ok(Err(Scan::Eof));
            }
            let mut n = 0;
            let mut lines = 0;
            let mut found = None;
            for &b in buf {
                match b {
                    b'\n' if cut_on_newline => {
                        found = Some(Err(Scan::CutAtNewline));
                        break;
                    }
                    b'\n' => lines += 1,
                    b' ' | b'\t' | b'\r' => {}
                    b',' if commas => {}
                    _ => {
                        found = Some(Ok(b));
                        break;
                    }
                }
                n += 1;
            }
            let room = cap.saturating_sub(out.len()).min(n);
            out.extend_from_slice(&buf[..room]);
            self.inner.consume(n);
            self.offset += n as u64;
            self.line += lines;
            if let Some(r) = found {
                return Ok(r);
            }
        }
    }

    // Private and called from three places with positional facts of one record.
    #[allow(clippy::too_many_arguments)]
    fn push_record(
        &mut self,
        chunk: &mut Chunk,
        start: usize,
        line: u64,
        offset: u64,
        size: u64,
        container: Container,
        defect: Option<String>,
    ) {
        let index = self.next_index(line);
        chunk.spans.push(Span { start, end: chunk.buf.len(), line, offset, index, size, defect, container });
    }

    /// Scans one record at the current position and adds it (or its defect) to `chunk`.
    fn take_record(&mut self, chunk: &mut Chunk, container: Container) -> io::Result<()> {
        let (line, offset) = (self.line, self.offset);
        let start = chunk.buf.len();
        let cut_on_newline = container == Container::Lines && self.lines_mode == Some(true);
        let (scan, size) = self.scan_value(&mut chunk.buf, self.max_record, cut_on_newline)?;
        let defect = match scan {
            Scan::Done if size as usize > self.max_record => {
                Some(format!("record of {size} bytes exceeds the {} limit", limit_text(self.max_record)))
            }
            Scan::Done => None,
            Scan::Eof => Some(format!("truncated record: the stream ends inside a JSON value ({size} bytes read)")),
            Scan::CutAtNewline => {
                Some(format!("truncated record: line {line} ends inside a JSON value ({size} bytes)"))
            }
        };
        if defect.is_some() {
            chunk.buf.truncate(start + EXCERPT.min(chunk.buf.len() - start));
        } else if container == Container::Lines && self.lines_mode.is_none() {
            self.lines_mode = Some(!chunk.buf[start..].contains(&b'\n'));
        }
        self.push_record(chunk, start, line, offset, size, container, defect);
        Ok(())
    }

    /// Skips bytes up to (not including) the next newline, keeping an excerpt; for garbage.
    fn take_garbage(&mut self, chunk: &mut Chunk, container: Container, what: &str) -> io::Result<()> {
        let (line, offset) = (self.line, self.offset);
        let start = chunk.buf.len();
        let mut size = 0u64;
        loop {
            let buf = self.inner.fill_buf()?;
            if buf.is_empty() {
                self.eof = true;
                break;
            }
            let n = memchr::memchr(b'\n', buf).unwrap_or(buf.len());
            let room = EXCERPT.saturating_sub(size as usize);
            chunk.buf.extend_from_slice(&buf[..n.min(room)]);
            size += n as u64;
            let found = n < buf.len();
            self.inner.consume(n);
            self.offset += n as u64;
            if found {
                break;
            }
        }
        let defect = Some(what.to_string());
        self.push_record(chunk, start, line, offset, size, container, defect);
        Ok(())
    }

    /// Fills `chunk` with records until it holds about `target` bytes. Returns false at the end
    /// of the stream (the chunk may still hold records then).
    pub fn next_chunk(&mut self, chunk: &mut Chunk, target: usize) -> io::Result<bool> {
        chunk.clear();
        if !self.started {
            self.started = true;
            self.skip_bom()?;
        }
        while chunk.buf.len() < target && chunk.spans.len() < 65_536 {
            match self.mode {
                Mode::Top => {
                    let Some(b) = self.skip_ws(false)? else {
                        return Ok(false);
                    };
                    match b {
                        b'{' => self.top_object(chunk)?,
                        b'[' => {
                            self.bump();
                            self.mode = Mode::Elements(Container::Array);
                            self.containers_seen.push(Container::Array);
                        }
                        _ => self.take_garbage(
                            chunk,
                            Container::Lines,
                            "not JSON: line does not start a JSON object or array",
                        )?,
                    }
                }
                Mode::Elements(c) => {
                    let Some(b) = self.skip_ws(true)? else {
                        let (line, offset) = (self.line, self.offset);
                        let start = chunk.buf.len();
                        self.push_record(
                            chunk,
                            start,
                            line,
                            offset,
                            0,
                            c,
                            Some(format!("truncated: the stream ends inside the {} array", c.as_str())),
                        );
                        return Ok(false);
                    };
                    if b == b']' {
                        self.bump();
                        self.mode = if c == Container::Array { Mode::Top } else { Mode::ContainerTail };
                        continue;
                    }
                    if b == b'}' {
                        // `{"records":[ ... }` — malformed close; treat as end of container.
                        self.bump();
                        self.mode = Mode::Top;
                        continue;
                    }
                    self.take_record(chunk, c)?;
                }
                Mode::ContainerTail => {
                    // Skip the remaining `"key": value` pairs of the container object.
                    let Some(b) = self.skip_ws(true)? else {
                        return Ok(false);
                    };
                    match b {
                        b'}' => {
                            self.bump();
                            self.mode = Mode::Top;
                        }
                        b':' => self.bump(),
                        _ => {
                            let mut sink = Vec::new();
                            let (scan, _) = self.scan_value(&mut sink, 0, false)?;
                            if matches!(scan, Scan::Eof) {
                                return Ok(false);
                            }
                            if let Some(b) = self.peek()? {
                                if b == b']' {
                                    self.bump();
                                }
                            }
                        }
                    }
                }
            }
        }
        Ok(!self.eof || self.mode != Mode::Top)
    }

    /// At a top-level `{`: decides whether it opens a container or is a record.
    ///
    /// Keys are read one by one while they are paging metadata. If `records`/`value` with an
    /// array follows, we switch to element mode. Otherwise the object is a record: we keep
    /// the bytes read so far and scan the rest of it as one value.
    fn top_object(&mut self, chunk: &mut Chunk) -> io::Result<()> {
        let (line, offset) = (self.line, self.offset);
        let start = chunk.buf.len();
        // Consume `{`.
        chunk.buf.push(b'{');
        self.bump();
        let cut_on_newline = self.lines_mode == Some(true);
        // The prefix is copied as written (whitespace, commas, keys), so the record keeps its
        // bytes and line numbers; at most `max_record` bytes of it are kept (an oversized
        // record is reported from its size, which comes from the offsets).
        let cap = start + self.max_record;
        // Set when reading the prefix already ran into the end of the record's line or stream.
        let mut ended = None;
        loop {
            let b = match self.skip_ws_in_record(true, cut_on_newline, &mut chunk.buf, cap)? {
                Ok(b) => b,
                Err(scan) => {
                    ended = Some(scan);
                    break;
                }
            };
            if b != b'"' {
                break;
            }
            let room = cap.saturating_sub(chunk.buf.len());
            let key = match self.read_key(&mut chunk.buf, room)? {
                Ok(key) => key,
                Err(scan) => {
                    ended = Some(scan);
                    break;
                }
            };
            let colon = match self.skip_ws_in_record(false, cut_on_newline, &mut chunk.buf, cap)? {
                Ok(b) => b,
                Err(scan) => {
                    ended = Some(scan);
                    break;
                }
            };
            if colon != b':' {
                break;
            }
            self.bump();
            chunk.buf.push(b':');
            let vb = match self.skip_ws_in_record(false, cut_on_newline, &mut chunk.buf, cap)? {
                Ok(b) => b,
                Err(scan) => {
                    ended = Some(scan);
                    break;
                }
            };
            let lk = key.to_ascii_lowercase();
            if (lk == "records" || lk == "value") && vb == b'[' {
                self.bump();
                chunk.buf.truncate(start);
                let c = if lk == "records" { Container::Records } else { Container::Value };
                self.containers_seen.push(c);
                self.mode = Mode::Elements(c);
                return Ok(());
            }
            let is_meta = lk.starts_with("@odata") || lk == "nextlink" || lk == "count";
            let room = cap.saturating_sub(chunk.buf.len());
            let (scan, _) = self.scan_value(&mut chunk.buf, room, cut_on_newline)?;
            if !matches!(scan, Scan::Done) {
                ended = Some(scan);
                break;
            }
            if !is_meta {
                break;
            }
        }
        // Not a container: the rest of the object is one record, whose prefix was copied as
        // written; finish the object by scanning to its matching brace at depth 1 — unless the prefix already hit
        // the end of the line or stream (its string state is lost then: the record is cut).
        let rest_start = chunk.buf.len();
        let (scan, size) = match ended {
            Some(scan) => (scan, 0),
            None => self.scan_rest_of_object(&mut chunk.buf, cut_on_newline)?,
        };
        let total = (self.offset - offset).max(size);
        let mut defect = match scan {
            Scan::Done => None,
            Scan::Eof => Some(format!("truncated record: the stream ends inside a JSON object ({total} bytes read)")),
            Scan::CutAtNewline => {
                Some(format!("truncated record: line {line} ends inside a JSON object ({total} bytes)"))
            }
        };
        if defect.is_none() && total as usize > self.max_record {
            defect = Some(format!("record of {total} bytes exceeds the {} limit", limit_text(self.max_record)));
        }
        if defect.is_some() {
            chunk.buf.truncate(start + EXCERPT.min(chunk.buf.len() - start));
        } else if self.lines_mode.is_none() {
            self.lines_mode = Some(!chunk.buf[rest_start..].contains(&b'\n') && self.line == line);
        }
        self.push_record(chunk, start, line, offset, total, Container::Lines, defect);
        Ok(())
    }

    /// Scans from inside an object (depth 1) to its closing brace.
    fn scan_rest_of_object(&mut self, out: &mut Vec<u8>, cut_on_newline: bool) -> io::Result<(Scan, u64)> {
        self.scan_from(out, self.max_record, cut_on_newline, 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits `input` with a small buffer (to exercise refills) and renders each record as
    /// `line:index:text` or `line:index:!defect`.
    fn split(input: &str) -> Vec<String> {
        split_bytes(input.as_bytes(), DEFAULT_MAX_RECORD)
    }

    fn split_bytes(input: &[u8], max: usize) -> Vec<String> {
        let reader = io::BufReader::with_capacity(7, input);
        let mut s = JsonSplitter::with_limit(reader, max);
        let mut out = Vec::new();
        let mut chunk = Chunk::default();
        loop {
            let more = s.next_chunk(&mut chunk, 64).unwrap();
            for sp in &chunk.spans {
                let text = String::from_utf8_lossy(chunk.bytes(sp)).to_string();
                match &sp.defect {
                    None => out.push(format!("{}:{}:{}", sp.line, sp.index, text)),
                    Some(d) => out.push(format!("{}:{}:!{}", sp.line, sp.index, d)),
                }
            }
            if !more {
                break;
            }
        }
        out
    }

    #[test]
    fn json_lines() {
        assert_eq!(
            split("{\"a\":1}\n{\"b\":\"x}\"}\n\n{\"c\":[1,{\"d\":2}]}\n"),
            vec!["1:0:{\"a\":1}", "2:0:{\"b\":\"x}\"}", "4:0:{\"c\":[1,{\"d\":2}]}",]
        );
    }

    #[test]
    fn records_container_on_one_line() {
        assert_eq!(
            split("{\"records\":[{\"a\":1},{\"a\":2}, {\"a\":[3]}]}"),
            vec!["1:0:{\"a\":1}", "1:1:{\"a\":2}", "1:2:{\"a\":[3]}",]
        );
    }

    #[test]
    fn value_page_with_odata_metadata_first_and_nextlink_after() {
        let page = "{\"@odata.context\":\"x\",\"@odata.nextLink\":\"https://g/?$skiptoken=1\",\n \"value\":[\n  {\"id\":\"1\"},\n  {\"id\":\"2\"}\n ],\"nextLink\":\"n\"}\n{\"value\":[{\"id\":\"3\"}]}";
        assert_eq!(split(page), vec!["3:0:{\"id\":\"1\"}", "4:0:{\"id\":\"2\"}", "6:0:{\"id\":\"3\"}"]);
    }

    #[test]
    fn object_with_value_key_after_data_is_a_record() {
        // `value` is a container only after paging metadata; here it is a record's field.
        assert_eq!(split("{\"name\":\"x\",\"value\":[1,2]}"), vec!["1:0:{\"name\":\"x\",\"value\":[1,2]}"]);
    }

    #[test]
    fn bare_array_and_pretty_single_object() {
        assert_eq!(split("[{\"a\":1},\n{\"a\":2}]"), vec!["1:0:{\"a\":1}", "2:0:{\"a\":2}"]);
        // A record is kept as written: whitespace and all, so lines inside it stay right.
        assert_eq!(
            split("{\n  \"a\": 1,\n  \"b\": {\"c\": 2}\n}\n"),
            vec!["1:0:{\n  \"a\": 1,\n  \"b\": {\"c\": 2}\n}"]
        );
    }

    #[test]
    fn truncated_last_line_of_pt1h() {
        let got = split("{\"a\":1}\n{\"a\":2}\n{\"a\":3,\"b\":\"tru");
        assert_eq!(got[..2], ["1:0:{\"a\":1}", "2:0:{\"a\":2}"]);
        assert!(got[2].starts_with("3:0:!truncated record"), "{got:?}");
    }

    #[test]
    fn truncated_line_in_the_middle_resyncs() {
        let got = split("{\"a\":1}\n{\"a\":{\"b\":2\n{\"a\":3}\n");
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got[1].starts_with("2:0:!truncated record: line 2"), "{got:?}");
        assert_eq!(got[2], "3:0:{\"a\":3}");
    }

    #[test]
    fn long_first_key_is_kept_verbatim() {
        // The first keys of a top-level object are read to detect containers; a long one used
        // to be cut to 256 bytes and the record silently altered.
        let key = format!("k\\\"{}", "x".repeat(400));
        let rec = format!("{{\"{key}\":1,\"b\":2}}");
        assert_eq!(split(&format!("{rec}\n{rec}\n")), vec![format!("1:0:{rec}"), format!("2:0:{rec}")]);
    }

    #[test]
    fn line_cut_after_a_backslash_does_not_swallow_the_next_line() {
        let got = split("{\"a\":1}\n{\"a\":\"x\\\n{\"a\":3}\n");
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got[1].starts_with("2:0:!truncated record: line 2"), "{got:?}");
        assert_eq!(got[2], "3:0:{\"a\":3}");
        // Same for a cut inside the first key (read by container detection).
        let got = split("{\"a\\\n{\"a\":3}\n");
        assert_eq!(got[1..], ["2:0:{\"a\":3}"], "{got:?}");
    }

    #[test]
    fn garbage_lines_are_defects_not_fatal() {
        let got = split("hello world\n{\"a\":1}\n");
        assert!(got[0].starts_with("1:0:!not JSON"), "{got:?}");
        assert_eq!(got[1], "2:0:{\"a\":1}");
    }

    #[test]
    fn oversized_record_is_reported_with_size() {
        let big = format!("{{\"a\":\"{}\"}}\n{{\"b\":1}}\n", "x".repeat(500));
        let got = split_bytes(big.as_bytes(), 100);
        assert!(got[0].contains("record of 508 bytes exceeds the 100-byte limit"), "{got:?}");
        assert_eq!(got[1], "2:0:{\"b\":1}");
    }

    #[test]
    fn deep_nesting_is_just_a_counter() {
        let deep = format!("{}{}\n{{\"ok\":1}}", "[".repeat(10_000), "]".repeat(10_000));
        let got = split(&deep);
        assert_eq!(got.len(), 1 + 10_000 / 10_000, "{}", got.len());
        assert_eq!(got.last().unwrap(), "2:0:{\"ok\":1}");
    }

    #[test]
    fn truncated_container_is_reported() {
        let got = split("{\"records\":[{\"a\":1},{\"a\":2");
        assert_eq!(got[0], "1:0:{\"a\":1}");
        assert!(got[1].starts_with("1:1:!truncated"), "{got:?}");
    }

    #[test]
    fn bom_and_crlf() {
        let got = split("\u{feff}{\"a\":1}\r\n{\"a\":2}\r\n");
        assert_eq!(got, vec!["1:0:{\"a\":1}", "2:0:{\"a\":2}"]);
    }

    #[test]
    fn offsets_point_at_record_start() {
        let input = b"{\"records\":[{\"a\":1},{\"a\":2}]}";
        let mut s = JsonSplitter::new(io::BufReader::new(&input[..]));
        let mut chunk = Chunk::default();
        s.next_chunk(&mut chunk, 1 << 20).unwrap();
        let offs: Vec<u64> = chunk.spans.iter().map(|s| s.offset).collect();
        assert_eq!(offs, vec![12, 20]);
        assert_eq!(&input[12..19], b"{\"a\":1}");
    }
}
