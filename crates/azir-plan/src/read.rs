//! Reading a plan back: bash (`az` commands) and Bicep (resource blocks) into one [`PlanModel`]
//! that the checks examine. Generated and hand-edited plans go through the same reader, so a
//! check never trusts what the generator meant, only what the file says.
//!
//! **Bash.** A small lexer implements the part of the shell grammar plans use: comments, single
//! and double quotes, backslash escapes and line continuations, and the separators `;`, `&&`,
//! `||`, `|`, `&`, newlines and parentheses. Each simple command is a list of words with its
//! line. Leading keywords (`if`, `then`, `!`, `do`, …) are dropped, redirections ignored.
//! Assignments (`NAME=value`, `export NAME=value`) are recorded in order, and `$NAME`/`${NAME}`
//! in later words are replaced by the value when it is a plain literal; anything else (command
//! substitutions, loop variables) stays as written and is treated as unknown by the checks.
//! Commands starting with `az` are then read by their subcommand path and flags (`-g`, `-n`, `-l`
//! and singular/plural spellings normalised), with `az`'s own defaults where it has one that
//! matters (an `nsg rule create` without `--access` allows; a `storage account create` without
//! `--default-action` is open). State queries (`state before …`) and commented-out commands are
//! not actions and are skipped.
//!
//! **Bicep.** A tokenizer and a recursive-descent reader for declarations (`param`, `var`,
//! `resource`, `module`, `output`, `targetScope`, decorators) and values (objects, arrays,
//! strings with interpolation, numbers, booleans, expressions, `[for … : …]` loops and `if`
//! conditions). Values become JSON; expressions are kept as `${expr}` text, and identifiers
//! naming a `param` with a literal default or a literal `var` are resolved. Resources are then
//! read by type: NSGs with inline rules or `securityRules` children (by `parent:`), VNets with
//! inline subnets, peerings, storage accounts and their `networkAcls`, containers, NICs.
//! The same reader gives the structure check ([`bicep_structure`]) the tests run on generated
//! Bicep, since no Bicep compiler is available offline.
//!
//! Both formats carry `azir:` comment lines (`# azir:known-prefix CIDR SOURCE`,
//! `# azir:forensic-prefix CIDR`, `# azir:plan lab|contain`) which give the checks the context of
//! the case when the file is checked on its own. They are read from the leading comment block
//! only, so text from the case that spans lines inside a quoted value cannot forge one.

use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// The format of a plan file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// A bash script of `az` commands.
    Bash,
    /// A Bicep template.
    Bicep,
}

/// Guesses the format: Bicep declarations (`resource x 'Type@version'`, `param`, `targetScope`)
/// without a shebang, else bash.
pub fn detect(text: &str) -> Format {
    if text.starts_with("#!") {
        return Format::Bash;
    }
    let bicep = text.lines().any(|l| {
        let t = l.trim_start();
        (t.starts_with("resource ") && t.contains('@') && t.contains('\''))
            || t.starts_with("targetScope")
            || (t.starts_with("param ") && !t.contains("=$"))
    });
    if bicep {
        Format::Bicep
    } else {
        Format::Bash
    }
}

/// An NSG rule as the plan writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct PRule {
    /// NSG name.
    pub nsg: String,
    /// Rule name.
    pub name: String,
    /// Priority (`None` when not a number).
    pub priority: Option<i64>,
    /// `Inbound` or `Outbound`.
    pub direction: String,
    /// `Allow` or `Deny`.
    pub access: String,
    /// `Tcp`, `Udp`, `Icmp`, `*`, …
    pub protocol: String,
    /// Source prefixes or tags.
    pub src: Vec<String>,
    /// Destination prefixes or tags.
    pub dst: Vec<String>,
    /// Destination port ranges.
    pub ports: Vec<String>,
    /// Line in the file.
    pub line: usize,
}

/// A VNet created by the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct PVnet {
    /// Name.
    pub name: String,
    /// Address spaces.
    pub prefixes: Vec<String>,
    /// Subnets: (name, prefixes).
    pub subnets: Vec<(String, Vec<String>)>,
    /// Line.
    pub line: usize,
}

/// A storage account setting as the plan writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct PStorage {
    /// Account name.
    pub name: String,
    /// Created (`create`, Bicep) rather than updated: unset settings take Azure's defaults.
    pub created: bool,
    /// `networkAcls.defaultAction` / `--default-action`.
    pub default_action: Option<String>,
    /// `publicNetworkAccess` / `--public-network-access`.
    pub public_network_access: Option<String>,
    /// `allowBlobPublicAccess` / `--allow-blob-public-access`.
    pub allow_blob_public_access: Option<String>,
    /// `minimumTlsVersion` / `--min-tls-version`.
    pub min_tls: Option<String>,
    /// IP rules.
    pub ip_rules: Vec<String>,
    /// Line.
    pub line: usize,
}

/// A blob container and its public access level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct PContainer {
    /// Container name.
    pub name: String,
    /// `None`/`off`, `blob`, `container`.
    pub public_access: Option<String>,
    /// Line.
    pub line: usize,
}

/// An NSG applied to a NIC by the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct PNicNsg {
    /// NSG name (last segment of the id).
    pub nsg: String,
    /// Line.
    pub line: usize,
}

/// What a plan does, as read back from its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct PlanModel {
    /// `lab` or `contain` from `azir:plan`, when present.
    pub kind: Option<String>,
    /// `azir:known-prefix` lines: (prefix, source).
    pub known: Vec<(String, String)>,
    /// `azir:forensic-prefix`, else the `FORENSIC_PREFIX` variable or parameter.
    pub forensic_prefix: Option<String>,
    /// VNets created.
    pub vnets: Vec<PVnet>,
    /// NSGs created: (name, line).
    pub nsgs: Vec<(String, usize)>,
    /// NSG rules.
    pub rules: Vec<PRule>,
    /// Storage accounts created or updated.
    pub storage: Vec<PStorage>,
    /// Containers.
    pub containers: Vec<PContainer>,
    /// NSGs put on NICs.
    pub nic_nsgs: Vec<PNicNsg>,
    /// Peerings: (vnet, remote, line).
    pub peerings: Vec<(String, String, usize)>,
    /// What the reader could not make sense of (reported, never fatal).
    pub warnings: Vec<String>,
}

/// Reads a plan file of either format.
pub fn read_plan(text: &str, format: Format) -> PlanModel {
    let mut m = match format {
        Format::Bash => read_bash(text),
        Format::Bicep => read_bicep(text),
    };
    // Only the leading comment block counts: a comment-looking line further down may be the
    // continuation of a multi-line value taken from the case, and must not steer the checks.
    let header = text.lines().take_while(|l| {
        let t = l.trim_start();
        t.is_empty() || t.starts_with('#') || t.starts_with("//")
    });
    for (i, l) in header.enumerate() {
        let t = l.trim_start().trim_start_matches('#').trim_start_matches("//").trim();
        let Some(rest) = t.strip_prefix("azir:") else { continue };
        let (key, val) = rest.split_once(' ').unwrap_or((rest, ""));
        match key {
            "plan" => m.kind = Some(val.trim().to_string()),
            "known-prefix" => {
                let (p, src) = val.trim().split_once(' ').unwrap_or((val.trim(), ""));
                m.known.push((p.to_string(), src.trim().to_string()));
            }
            "forensic-prefix" => m.forensic_prefix = Some(val.trim().to_string()),
            _ => m.warnings.push(format!("line {}: unknown azir: key {key:?}", i + 1)),
        }
    }
    m
}

// ---------------------------------------------------------------- bash

/// One simple command: its words after quote removal and expansion of known variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellCmd {
    /// Words.
    pub words: Vec<String>,
    /// Line of the first word (1-based).
    pub line: usize,
}

#[derive(Default)]
struct Word {
    text: String,
    /// Spans of `text` that came from single quotes (never expanded).
    literal: Vec<bool>,
    any: bool,
}

impl Word {
    fn push(&mut self, c: char, lit: bool) {
        self.text.push(c);
        self.literal.extend(std::iter::repeat_n(lit, c.len_utf8()));
        self.any = true;
    }
}

/// Splits a script into simple commands (see the module docs for the grammar covered).
pub fn shell_commands(text: &str) -> Vec<ShellCmd> {
    shell_read(text).0
}

/// Simple commands and the final value of every variable assigned a literal.
pub fn shell_read(text: &str) -> (Vec<ShellCmd>, HashMap<String, String>) {
    let mut vars: HashMap<String, String> = HashMap::new();
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut line = 1;
    let mut words: Vec<Word> = Vec::new();
    let mut cur = Word::default();
    let mut cmd_line = 1;
    let finish_word = |cur: &mut Word, words: &mut Vec<Word>| {
        if cur.any {
            words.push(std::mem::take(cur));
        }
    };
    let finish_cmd = |words: &mut Vec<Word>,
                      line: usize,
                      vars: &mut HashMap<String, String>,
                      out: &mut Vec<ShellCmd>| {
        if words.is_empty() {
            return;
        }
        let ws: Vec<Word> = std::mem::take(words);
        let expanded: Vec<String> = ws.iter().map(|w| expand(w, vars)).collect();
        // Assignments: `NAME=value` alone, or after export/readonly/local/declare.
        let mut k = 0;
        while k < expanded.len() && matches!(expanded[k].as_str(), "export" | "readonly" | "local" | "declare") {
            k += 1;
        }
        let mut assigned = false;
        while k < expanded.len() {
            let w = &expanded[k];
            match w.split_once('=') {
                Some((n, val)) if is_name(n) => {
                    vars.insert(n.to_string(), val.to_string());
                    assigned = true;
                    k += 1;
                }
                _ => break,
            }
        }
        if assigned && k == expanded.len() {
            return;
        }
        // Drop leading keywords and redirections.
        let rest: Vec<String> = expanded[k..]
            .iter()
            .skip_while(|w| {
                matches!(w.as_str(), "if" | "then" | "else" | "elif" | "do" | "while" | "until" | "!" | "{" | "time")
            })
            .filter(|w| !is_redirection(w))
            .cloned()
            .collect();
        if !rest.is_empty() {
            out.push(ShellCmd { words: rest, line });
        }
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' if i + 1 < chars.len() && chars[i + 1] == '\n' => {
                i += 2;
                line += 1;
            }
            '\\' if i + 1 < chars.len() => {
                cur.push(chars[i + 1], true);
                i += 2;
            }
            '\'' => {
                cur.any = true;
                i += 1;
                while i < chars.len() && chars[i] != '\'' {
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    cur.push(chars[i], true);
                    i += 1;
                }
                i += 1;
            }
            '"' => {
                cur.any = true;
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' && i + 1 < chars.len() && matches!(chars[i + 1], '"' | '\\' | '$' | '`' | '\n')
                    {
                        if chars[i + 1] == '\n' {
                            line += 1;
                        } else {
                            cur.push(chars[i + 1], true);
                        }
                        i += 2;
                        continue;
                    }
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    cur.push(chars[i], false);
                    i += 1;
                }
                i += 1;
            }
            '$' if i + 1 < chars.len() && chars[i + 1] == '(' => {
                // Command substitution: kept as text up to the matching parenthesis.
                let mut depth = 0;
                while i < chars.len() {
                    let ch = chars[i];
                    if ch == '(' {
                        depth += 1;
                    } else if ch == ')' {
                        depth -= 1;
                    } else if ch == '\n' {
                        line += 1;
                    }
                    cur.push(ch, true);
                    i += 1;
                    if depth == 0 {
                        break;
                    }
                }
            }
            '#' if !cur.any => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            ' ' | '\t' => {
                finish_word(&mut cur, &mut words);
                i += 1;
            }
            '\n' | ';' | '&' | '|' | '(' | ')' => {
                // `2>&1`, `>&2`: part of a redirection word.
                if c == '&' && cur.any && cur.text.ends_with('>') {
                    cur.push(c, true);
                    i += 1;
                    continue;
                }
                finish_word(&mut cur, &mut words);
                finish_cmd(&mut words, cmd_line, &mut vars, &mut out);
                if c == '\n' {
                    line += 1;
                }
                i += 1;
                cmd_line = line;
            }
            _ => {
                if words.is_empty() && !cur.any {
                    cmd_line = line;
                }
                cur.push(c, false);
                i += 1;
            }
        }
    }
    finish_word(&mut cur, &mut words);
    finish_cmd(&mut words, cmd_line, &mut vars, &mut out);
    (out, vars)
}

fn is_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_ascii_alphabetic() || f == '_') && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

fn is_redirection(w: &str) -> bool {
    let t = w.trim_start_matches(|c: char| c.is_ascii_digit());
    t.starts_with('>') || t.starts_with('<')
}

/// Replaces `$NAME` and `${NAME}` outside single quotes with known values.
fn expand(w: &Word, vars: &HashMap<String, String>) -> String {
    let b = w.text.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' && !w.literal[i] {
            let (name, end) = if b.get(i + 1) == Some(&b'{') {
                match w.text[i + 2..].find('}') {
                    Some(e) => (&w.text[i + 2..i + 2 + e], i + 3 + e),
                    None => ("", i + 1),
                }
            } else {
                let e = w.text[i + 1..]
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .map_or(b.len(), |e| i + 1 + e);
                (&w.text[i + 1..e], e)
            };
            if let Some(v) = vars.get(name).filter(|_| is_name(name)) {
                out.push_str(v);
                i = end;
                continue;
            }
        }
        let ch = w.text[i..].chars().next().unwrap_or('\0');
        out.push(ch);
        i += ch.len_utf8().max(1);
    }
    out
}

/// The flags of an `az` command: subcommand path and `--flag → values`.
#[derive(Debug, Clone, Default)]
pub struct AzCmd {
    /// Subcommand words (`network nsg rule create`).
    pub path: String,
    /// Values per normalised long flag; a switch has no value.
    pub flags: HashMap<String, Vec<String>>,
    /// Line.
    pub line: usize,
}

impl AzCmd {
    /// First value of a flag.
    pub fn get(&self, f: &str) -> Option<&str> {
        self.flags.get(f).and_then(|v| v.first()).map(String::as_str)
    }

    /// All values of a flag.
    pub fn all(&self, f: &str) -> Vec<String> {
        self.flags.get(f).cloned().unwrap_or_default()
    }
}

fn normalise_flag(f: &str) -> String {
    let long = match f {
        "-g" => "--resource-group",
        "-n" => "--name",
        "-l" => "--location",
        "-o" => "--output",
        "-c" => "--container-name",
        other => other,
    };
    match long {
        "--address-prefix" => "--address-prefixes",
        "--subnet-prefix" => "--subnet-prefixes",
        "--source-address-prefix" => "--source-address-prefixes",
        "--destination-address-prefix" => "--destination-address-prefixes",
        "--destination-port-range" => "--destination-port-ranges",
        "--source-port-range" => "--source-port-ranges",
        other => other,
    }
    .to_string()
}

/// Reads an `az` command from a simple command's words.
pub fn az_cmd(c: &ShellCmd) -> Option<AzCmd> {
    if c.words.first().map(String::as_str) != Some("az") {
        return None;
    }
    let mut path = Vec::new();
    let mut k = 1;
    while k < c.words.len() && !c.words[k].starts_with('-') {
        path.push(c.words[k].as_str());
        k += 1;
    }
    let mut flags: HashMap<String, Vec<String>> = HashMap::new();
    let mut cur: Option<String> = None;
    for w in &c.words[k..] {
        let is_flag = (w.starts_with("--") && w.len() > 2)
            || (w.len() == 2 && w.starts_with('-') && w.as_bytes()[1].is_ascii_alphabetic());
        if is_flag {
            let (f, inline) = match w.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
                _ => (w.clone(), None),
            };
            let f = normalise_flag(&f);
            let e = flags.entry(f.clone()).or_default();
            if let Some(v) = inline {
                e.push(v);
            }
            cur = Some(f);
        } else if let Some(f) = &cur {
            flags.entry(f.clone()).or_default().push(w.clone());
        }
    }
    Some(AzCmd { path: path.join(" "), flags, line: c.line })
}

fn last_seg(s: &str) -> String {
    s.trim_end_matches('/').rsplit('/').next().unwrap_or(s).to_string()
}

/// Reads a bash plan.
pub fn read_bash(text: &str) -> PlanModel {
    let mut m = PlanModel::default();
    let (cmds, vars) = shell_read(text);
    for c in &cmds {
        if c.words.first().map(String::as_str) == Some("state") {
            continue;
        }
        let Some(az) = az_cmd(c) else { continue };
        let line = az.line;
        match az.path.as_str() {
            "network vnet create" => {
                let mut v =
                    PVnet { name: az.get("--name").unwrap_or_default().to_string(), line, ..Default::default() };
                v.prefixes = az.all("--address-prefixes");
                if let Some(sn) = az.get("--subnet-name") {
                    v.subnets.push((sn.to_string(), az.all("--subnet-prefixes")));
                }
                m.vnets.push(v);
            }
            "network vnet subnet create" => {
                let vnet = az.get("--vnet-name").unwrap_or_default().to_string();
                let sub = (az.get("--name").unwrap_or_default().to_string(), az.all("--address-prefixes"));
                match m.vnets.iter_mut().find(|v| v.name == vnet) {
                    Some(v) => v.subnets.push(sub),
                    None => m.vnets.push(PVnet { name: vnet, subnets: vec![sub], line, ..Default::default() }),
                }
            }
            "network nsg create" => m.nsgs.push((az.get("--name").unwrap_or_default().to_string(), line)),
            "network nsg rule create" | "network nsg rule update" => {
                let nsg = az.get("--nsg-name").unwrap_or_default().to_string();
                let name = az.get("--name").unwrap_or_default().to_string();
                let update = az.path.ends_with("update");
                let existing = m.rules.iter().position(|r| r.nsg == nsg && r.name == name);
                let mut r = match (update, existing) {
                    (true, Some(i)) => m.rules.remove(i),
                    _ => PRule {
                        nsg,
                        name,
                        priority: None,
                        // az defaults: Inbound, Allow, *, source * , destination *, port 80.
                        direction: "Inbound".into(),
                        access: "Allow".into(),
                        protocol: "*".into(),
                        src: vec!["*".into()],
                        dst: vec!["*".into()],
                        ports: vec!["80".into()],
                        line,
                    },
                };
                r.line = line;
                if let Some(p) = az.get("--priority") {
                    r.priority = p.parse().ok();
                }
                for (flag, field) in
                    [("--direction", &mut r.direction), ("--access", &mut r.access), ("--protocol", &mut r.protocol)]
                {
                    if let Some(v) = az.get(flag) {
                        *field = v.to_string();
                    }
                }
                for (flag, field) in [
                    ("--source-address-prefixes", &mut r.src),
                    ("--destination-address-prefixes", &mut r.dst),
                    ("--destination-port-ranges", &mut r.ports),
                ] {
                    if az.flags.contains_key(flag) {
                        *field = az.all(flag);
                    }
                }
                m.rules.push(r);
            }
            "storage account create" | "storage account update" => {
                let s = PStorage {
                    name: az.get("--name").unwrap_or_default().to_string(),
                    created: az.path.ends_with("create"),
                    default_action: az.get("--default-action").map(str::to_string),
                    public_network_access: az.get("--public-network-access").map(str::to_string),
                    allow_blob_public_access: az
                        .flags
                        .get("--allow-blob-public-access")
                        .map(|v| v.first().cloned().unwrap_or_else(|| "true".into())),
                    min_tls: az.get("--min-tls-version").map(str::to_string),
                    ip_rules: Vec::new(),
                    line,
                };
                m.storage.push(s);
            }
            "storage account network-rule add" => {
                if let Some(ip) = az.get("--ip-address") {
                    let name = az.get("--account-name").unwrap_or_default().to_string();
                    m.storage.push(PStorage { name, ip_rules: vec![ip.to_string()], line, ..Default::default() });
                }
            }
            "storage container create" | "storage container-rm create" | "storage container set-permission" => {
                m.containers.push(PContainer {
                    name: az.get("--name").unwrap_or_default().to_string(),
                    public_access: az.get("--public-access").map(str::to_string),
                    line,
                });
            }
            "network nic update" => {
                if let Some(n) = az.get("--network-security-group") {
                    m.nic_nsgs.push(PNicNsg { nsg: last_seg(n), line });
                }
            }
            "network vnet peering create" => m.peerings.push((
                az.get("--vnet-name").unwrap_or_default().to_string(),
                az.get("--remote-vnet").unwrap_or_default().to_string(),
                line,
            )),
            _ => {}
        }
    }
    m.forensic_prefix = vars.get("FORENSIC_PREFIX").filter(|v| !v.contains('$')).cloned();
    m
}

// ---------------------------------------------------------------- bicep

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String, bool), // text, has interpolation
    Num(String),
    Punct(char),
    Newline,
}

/// Tokens of a Bicep file with their lines.
fn bicep_tokens(text: &str) -> Result<Vec<(Tok, usize)>, String> {
    let c: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut line = 1;
    let mut out = Vec::new();
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            out.push((Tok::Newline, line));
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && c.get(i + 1) == Some(&'/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && c.get(i + 1) == Some(&'*') {
            i += 2;
            while i + 1 < c.len() && !(c[i] == '*' && c[i + 1] == '/') {
                if c[i] == '\n' {
                    line += 1;
                }
                i += 1;
            }
            if i + 1 >= c.len() {
                return Err(format!("line {line}: unterminated comment"));
            }
            i += 2;
        } else if ch == '\'' {
            let start = line;
            if c.get(i + 1) == Some(&'\'') && c.get(i + 2) == Some(&'\'') {
                // Multi-line string, no escapes, no interpolation.
                i += 3;
                let mut s = String::new();
                while i + 2 < c.len() && !(c[i] == '\'' && c[i + 1] == '\'' && c[i + 2] == '\'') {
                    if c[i] == '\n' {
                        line += 1;
                    }
                    s.push(c[i]);
                    i += 1;
                }
                if i + 2 >= c.len() {
                    return Err(format!("line {start}: unterminated multi-line string"));
                }
                i += 3;
                out.push((Tok::Str(s, false), start));
                continue;
            }
            i += 1;
            let mut s = String::new();
            let mut interp = false;
            loop {
                let Some(&x) = c.get(i) else { return Err(format!("line {start}: unterminated string")) };
                match x {
                    '\'' => {
                        i += 1;
                        break;
                    }
                    '\n' => return Err(format!("line {start}: newline in string")),
                    '\\' => {
                        let e = c.get(i + 1).copied().unwrap_or('\\');
                        s.push(match e {
                            'n' => '\n',
                            'r' => '\r',
                            't' => '\t',
                            other => other,
                        });
                        if e == '$' {
                            // An escaped `${` stays literal: mark it so it is not read as interpolation.
                            s.push('\u{0}');
                        }
                        i += 2;
                    }
                    '$' if c.get(i + 1) == Some(&'{') => {
                        interp = true;
                        let mut depth = 0;
                        while i < c.len() {
                            s.push(c[i]);
                            if c[i] == '{' {
                                depth += 1;
                            } else if c[i] == '}' {
                                depth -= 1;
                                if depth == 0 {
                                    i += 1;
                                    break;
                                }
                            }
                            i += 1;
                        }
                    }
                    x => {
                        s.push(x);
                        i += 1;
                    }
                }
            }
            out.push((Tok::Str(s.replace("$\u{0}", "$"), interp), start));
        } else if ch.is_ascii_alphabetic() || ch == '_' {
            let mut s = String::new();
            while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '_') {
                s.push(c[i]);
                i += 1;
            }
            out.push((Tok::Ident(s), line));
        } else if ch.is_ascii_digit() {
            let mut s = String::new();
            while i < c.len() && (c[i].is_ascii_digit() || c[i] == '.') {
                s.push(c[i]);
                i += 1;
            }
            out.push((Tok::Num(s), line));
        } else if "{}[]():,.=?!<>&|+-*/%@".contains(ch) {
            out.push((Tok::Punct(ch), line));
            i += 1;
        } else {
            return Err(format!("line {line}: unexpected character {ch:?}"));
        }
    }
    Ok(out)
}

/// A Bicep declaration.
#[derive(Debug, Clone, PartialEq)]
pub struct BicepDecl {
    /// `param`, `var`, `resource`, `module`, `output`, `targetScope`.
    pub keyword: String,
    /// Symbolic name.
    pub name: String,
    /// Resource type with API version (`Microsoft.Network/…@2023-09-01`) or module path.
    pub type_ref: Option<String>,
    /// `existing` resource.
    pub existing: bool,
    /// The value (object body, default, expression) as JSON; expressions as `${…}` strings.
    pub value: Value,
    /// Identifiers the value refers to (symbol before the first `.`, `[` or `(`).
    pub refs: Vec<String>,
    /// Line.
    pub line: usize,
}

struct BicepParser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    refs: Vec<String>,
}

impl BicepParser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.0)
    }
    fn line(&self) -> usize {
        self.toks.get(self.pos).or(self.toks.last()).map_or(0, |t| t.1)
    }
    fn skip_nl(&mut self) {
        while self.peek() == Some(&Tok::Newline) {
            self.pos += 1;
        }
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).map(|t| t.0.clone());
        self.pos += 1;
        t
    }
    fn expect(&mut self, p: char) -> Result<(), String> {
        match self.next() {
            Some(Tok::Punct(c)) if c == p => Ok(()),
            other => Err(format!("line {}: expected '{p}', found {other:?}", self.line())),
        }
    }

    /// A value: object, array (or loop), string, number, or expression up to the end of line or
    /// the closing bracket of the enclosing structure.
    fn value(&mut self) -> Result<Value, String> {
        self.skip_nl();
        match self.peek() {
            Some(Tok::Punct('{')) => self.object(),
            Some(Tok::Punct('[')) => self.array(),
            Some(Tok::Ident(k)) if k == "if" => {
                // `if (cond) { … }`
                self.pos += 1;
                self.expect('(')?;
                self.expr_until_close(')')?;
                self.value()
            }
            _ => {
                let mut parts: Vec<String> = Vec::new();
                let mut single: Option<Value> = None;
                let mut depth = 0i32;
                let start = self.pos;
                loop {
                    match self.peek() {
                        None => break,
                        Some(Tok::Newline) if depth == 0 => break,
                        Some(Tok::Punct('}' | ']' | ',')) if depth == 0 => break,
                        Some(Tok::Punct(')')) if depth == 0 => break,
                        _ => {}
                    }
                    let t = self.next().expect("peeked");
                    match &t {
                        Tok::Punct('(' | '[' | '{') => depth += 1,
                        Tok::Punct(')' | ']' | '}') => depth -= 1,
                        _ => {}
                    }
                    let prev_dot = self.pos >= 2 && matches!(self.toks[self.pos - 2].0, Tok::Punct('.'));
                    match t {
                        Tok::Ident(s) => {
                            if !prev_dot && !["true", "false", "null"].contains(&s.as_str()) {
                                self.refs.push(s.clone());
                            }
                            single = Some(match s.as_str() {
                                "true" => Value::Bool(true),
                                "false" => Value::Bool(false),
                                "null" => Value::Null,
                                _ => Value::String(format!("${{{s}}}")),
                            });
                            parts.push(s);
                        }
                        Tok::Str(s, interp) => {
                            if interp {
                                collect_interp_refs(&s, &mut self.refs);
                            }
                            parts.push(format!("'{s}'"));
                            single = Some(Value::String(s));
                        }
                        Tok::Num(n) => {
                            parts.push(n.clone());
                            single = Some(n.parse::<i64>().map(Value::from).unwrap_or(Value::String(n)));
                        }
                        Tok::Punct(p) => parts.push(p.to_string()),
                        Tok::Newline => {}
                    }
                }
                if self.pos == start {
                    return Err(format!("line {}: expected a value", self.line()));
                }
                if self.pos - start == 1 {
                    Ok(single.unwrap_or(Value::Null))
                } else {
                    Ok(Value::String(format!("${{{}}}", parts.join(""))))
                }
            }
        }
    }

    fn expr_until_close(&mut self, close: char) -> Result<(), String> {
        let mut depth = 1;
        while depth > 0 {
            match self.next() {
                None => return Err(format!("line {}: missing '{close}'", self.line())),
                Some(Tok::Punct('(' | '[' | '{')) => depth += 1,
                Some(Tok::Punct(')' | ']' | '}')) => depth -= 1,
                Some(Tok::Ident(s)) => self.refs.push(s),
                _ => {}
            }
        }
        Ok(())
    }

    fn object(&mut self) -> Result<Value, String> {
        self.expect('{')?;
        let mut map = Map::new();
        loop {
            self.skip_nl();
            match self.next() {
                Some(Tok::Punct('}')) => break,
                Some(Tok::Ident(k)) | Some(Tok::Str(k, false)) => {
                    self.expect(':')?;
                    let v = self.value()?;
                    map.insert(k, v);
                    if self.peek() == Some(&Tok::Punct(',')) {
                        self.pos += 1;
                    }
                }
                other => {
                    return Err(format!("line {}: expected a property name or '}}', found {other:?}", self.line()))
                }
            }
        }
        Ok(Value::Object(map))
    }

    fn array(&mut self) -> Result<Value, String> {
        self.expect('[')?;
        self.skip_nl();
        if matches!(self.peek(), Some(Tok::Ident(k)) if k == "for") {
            // `[for x in expr: body]` (also `(x, i)` and a trailing `if`): the body stands for
            // every element.
            self.pos += 1;
            let mut depth = 0;
            loop {
                match self.next() {
                    None => return Err(format!("line {}: unterminated for", self.line())),
                    Some(Tok::Punct('(' | '[' | '{')) => depth += 1,
                    Some(Tok::Punct(')' | ']' | '}')) => depth -= 1,
                    Some(Tok::Punct(':')) if depth == 0 => break,
                    Some(Tok::Ident(s)) if s != "in" => self.refs.push(s),
                    _ => {}
                }
            }
            let body = self.value()?;
            self.skip_nl();
            self.expect(']')?;
            return Ok(Value::Array(vec![body]));
        }
        let mut items = Vec::new();
        loop {
            self.skip_nl();
            if self.peek() == Some(&Tok::Punct(']')) {
                self.pos += 1;
                break;
            }
            items.push(self.value()?);
            if self.peek() == Some(&Tok::Punct(',')) {
                self.pos += 1;
            }
        }
        Ok(Value::Array(items))
    }

    fn decls(&mut self) -> Result<Vec<BicepDecl>, String> {
        let mut out = Vec::new();
        loop {
            self.skip_nl();
            let line = self.line();
            let Some(t) = self.next() else { break };
            match t {
                Tok::Punct('@') => {
                    // Decorator: name(args)
                    match self.next() {
                        Some(Tok::Ident(_)) => {}
                        other => return Err(format!("line {line}: decorator name expected, found {other:?}")),
                    }
                    while self.peek() == Some(&Tok::Punct('.')) {
                        self.pos += 1;
                        self.next();
                    }
                    if self.peek() == Some(&Tok::Punct('(')) {
                        self.pos += 1;
                        self.expr_until_close(')')?;
                    }
                }
                Tok::Ident(k) => {
                    self.refs.clear();
                    let d = match k.as_str() {
                        "targetScope" => {
                            self.expect('=')?;
                            let v = self.value()?;
                            BicepDecl {
                                keyword: k,
                                name: String::new(),
                                type_ref: None,
                                existing: false,
                                value: v,
                                refs: vec![],
                                line,
                            }
                        }
                        "param" | "output" => {
                            let Some(Tok::Ident(name)) = self.next() else {
                                return Err(format!("line {line}: {k} name expected"));
                            };
                            match self.next() {
                                Some(Tok::Ident(_)) => {}
                                other => {
                                    return Err(format!("line {line}: type of {k} {name} expected, found {other:?}"))
                                }
                            }
                            let value = if self.peek() == Some(&Tok::Punct('=')) {
                                self.pos += 1;
                                self.value()?
                            } else if k == "output" {
                                return Err(format!("line {line}: output {name} without a value"));
                            } else {
                                Value::Null
                            };
                            BicepDecl {
                                keyword: k,
                                name,
                                type_ref: None,
                                existing: false,
                                value,
                                refs: std::mem::take(&mut self.refs),
                                line,
                            }
                        }
                        "var" => {
                            let Some(Tok::Ident(name)) = self.next() else {
                                return Err(format!("line {line}: var name expected"));
                            };
                            self.expect('=')?;
                            let value = self.value()?;
                            BicepDecl {
                                keyword: k,
                                name,
                                type_ref: None,
                                existing: false,
                                value,
                                refs: std::mem::take(&mut self.refs),
                                line,
                            }
                        }
                        "resource" | "module" => {
                            let Some(Tok::Ident(name)) = self.next() else {
                                return Err(format!("line {line}: {k} name expected"));
                            };
                            let Some(Tok::Str(ty, false)) = self.next() else {
                                return Err(format!("line {line}: {k} {name}: type string expected"));
                            };
                            let mut existing = false;
                            if matches!(self.peek(), Some(Tok::Ident(e)) if e == "existing") {
                                existing = true;
                                self.pos += 1;
                            }
                            self.expect('=')?;
                            let value = self.value()?;
                            BicepDecl {
                                keyword: k,
                                name,
                                type_ref: Some(ty),
                                existing,
                                value,
                                refs: std::mem::take(&mut self.refs),
                                line,
                            }
                        }
                        "import" | "using" | "metadata" | "type" | "func" => {
                            while !matches!(self.peek(), None | Some(Tok::Newline)) {
                                self.pos += 1;
                            }
                            continue;
                        }
                        other => return Err(format!("line {line}: unexpected {other:?} at top level")),
                    };
                    out.push(d);
                    match self.peek() {
                        None | Some(Tok::Newline) => {}
                        other => return Err(format!("line {}: unexpected {other:?} after a declaration", self.line())),
                    }
                }
                other => return Err(format!("line {line}: unexpected {other:?} at top level")),
            }
        }
        Ok(out)
    }
}

fn collect_interp_refs(s: &str, refs: &mut Vec<String>) {
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        let inner = &rest[i + 2..];
        let end = inner.find('}').unwrap_or(inner.len());
        for w in inner[..end].split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.')) {
            if let Some(first) =
                w.split('.').next().filter(|f| f.chars().next().is_some_and(|c| c.is_ascii_alphabetic()))
            {
                refs.push(first.to_string());
            }
        }
        rest = &inner[end.min(inner.len())..];
    }
}

/// Parses a Bicep file into declarations.
pub fn parse_bicep(text: &str) -> Result<Vec<BicepDecl>, String> {
    let toks = bicep_tokens(text)?;
    BicepParser { toks, pos: 0, refs: Vec::new() }.decls()
}

/// Built-in functions and namespaces a Bicep reference may name besides declared symbols.
const BICEP_BUILTINS: &[&str] = &[
    "resourceGroup",
    "subscription",
    "tenant",
    "managementGroup",
    "deployment",
    "environment",
    "concat",
    "format",
    "uniqueString",
    "guid",
    "toLower",
    "toUpper",
    "length",
    "contains",
    "empty",
    "first",
    "last",
    "union",
    "split",
    "replace",
    "substring",
    "string",
    "int",
    "bool",
    "json",
    "range",
    "reference",
    "resourceId",
    "subscriptionResourceId",
    "listKeys",
    "az",
    "sys",
    "take",
    "skip",
    "min",
    "max",
    "any",
    "loadTextContent",
    "if",
    "for",
    "in",
    "existing",
    "true",
    "false",
    "null",
];

/// Structure check of a Bicep file: it parses; every resource has a `'Provider/type@yyyy-mm-dd'`
/// type and a `name` (but `existing` ones need only the name); children name their `parent`
/// (or a nested type's name has the right number of segments); symbols are unique; every
/// identifier used refers to a declaration, a loop variable or a built-in; every `param`
/// without a default is documented with `@description`; and a `targetScope` is set.
/// Returns the problems found (empty: the file is well-formed).
pub fn bicep_structure(text: &str) -> Vec<String> {
    let decls = match parse_bicep(text) {
        Ok(d) => d,
        Err(e) => return vec![e],
    };
    let mut errs = Vec::new();
    let mut symbols: HashMap<&str, usize> = HashMap::new();
    for d in &decls {
        if d.keyword == "targetScope" || d.keyword == "output" {
            continue;
        }
        if let Some(prev) = symbols.insert(d.name.as_str(), d.line) {
            errs.push(format!("line {}: symbol {} already declared at line {prev}", d.line, d.name));
        }
    }
    if !decls.iter().any(|d| d.keyword == "targetScope") {
        errs.push("no targetScope".into());
    }
    // Loop variables are local to their declaration.
    let loop_vars = loop_variables(text);
    for d in &decls {
        if d.keyword == "resource" {
            let ty = d.type_ref.clone().unwrap_or_default();
            let ok = ty.split_once('@').is_some_and(|(t, v)| {
                t.contains('/')
                    && t.split('/').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '.'))
                    && v.len() >= 10
                    && v[..10]
                        .chars()
                        .enumerate()
                        .all(|(i, c)| if i == 4 || i == 7 { c == '-' } else { c.is_ascii_digit() })
            });
            if !ok {
                errs.push(format!("line {}: resource {}: bad type {ty:?}", d.line, d.name));
            }
            let body = match &d.value {
                Value::Array(a) => a.first().cloned().unwrap_or(Value::Null),
                v => v.clone(),
            };
            if body.get("name").is_none() {
                errs.push(format!("line {}: resource {} has no name", d.line, d.name));
            }
            let segments = ty.split('@').next().unwrap_or_default().split('/').count();
            if segments > 2 && body.get("parent").is_none() && !d.existing {
                let name_parts = body.get("name").and_then(Value::as_str).map_or(0, |n| n.split('/').count());
                if name_parts != segments - 1 {
                    errs.push(format!("line {}: child resource {} has neither parent nor a full name", d.line, d.name));
                }
            }
            if !d.existing
                && body.get("location").is_none()
                && segments == 2
                && !ty.starts_with("Microsoft.Authorization/")
            {
                errs.push(format!("line {}: resource {} has no location", d.line, d.name));
            }
        }
        if d.keyword == "module" && d.value.get("name").is_none() && d.value.get("params").is_none() {
            errs.push(format!("line {}: module {} has neither name nor params", d.line, d.name));
        }
        for r in &d.refs {
            if !symbols.contains_key(r.as_str()) && !BICEP_BUILTINS.contains(&r.as_str()) && !loop_vars.contains(r) {
                errs.push(format!("line {}: {} {}: unknown symbol {r}", d.line, d.keyword, d.name));
            }
        }
    }
    // Parameters without a default must be described.
    let lines: Vec<&str> = text.lines().collect();
    for d in decls.iter().filter(|d| d.keyword == "param" && d.value.is_null()) {
        let above = d.line.checked_sub(2).and_then(|i| lines.get(i)).map_or("", |l| l.trim());
        if !above.starts_with("@description(") {
            errs.push(format!("line {}: param {} has no default and no @description", d.line, d.name));
        }
    }
    errs
}

fn loop_variables(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in text.split("[for ").skip(1) {
        let head = part.split(" in ").next().unwrap_or_default();
        for w in head.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if !w.is_empty() {
                out.push(w.to_string());
            }
        }
    }
    out
}

/// Replaces `${ident}` (a whole value) and `${ident}` inside interpolated strings with the
/// literal value of a param default or var, where known.
fn resolve(v: &Value, env: &HashMap<String, Value>) -> Value {
    match v {
        Value::String(s) => {
            if let Some(id) = s.strip_prefix("${").and_then(|x| x.strip_suffix('}')) {
                if let Some(val) = env.get(id) {
                    return val.clone();
                }
            }
            let mut out = s.clone();
            for (k, val) in env {
                if let Value::String(lit) = val {
                    out = out.replace(&format!("${{{k}}}"), lit);
                }
            }
            Value::String(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| resolve(x, env)).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, x)| (k.clone(), resolve(x, env))).collect()),
        other => other.clone(),
    }
}

fn s_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn list_of(one: Option<&Value>, many: Option<&Value>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if let Some(Value::Array(a)) = many {
        out.extend(a.iter().filter_map(|x| s_of(Some(x))));
    }
    if out.is_empty() {
        out.extend(s_of(one));
    }
    out
}

fn rule_from(nsg: &str, r: &Value, line: usize) -> PRule {
    let p = r.get("properties").unwrap_or(r);
    PRule {
        nsg: nsg.to_string(),
        name: s_of(r.get("name")).unwrap_or_default(),
        priority: p.get("priority").and_then(|x| x.as_i64().or_else(|| x.as_str().and_then(|s| s.parse().ok()))),
        direction: s_of(p.get("direction")).unwrap_or_default(),
        access: s_of(p.get("access")).unwrap_or_default(),
        protocol: s_of(p.get("protocol")).unwrap_or_default(),
        src: list_of(p.get("sourceAddressPrefix"), p.get("sourceAddressPrefixes")),
        dst: list_of(p.get("destinationAddressPrefix"), p.get("destinationAddressPrefixes")),
        ports: list_of(p.get("destinationPortRange"), p.get("destinationPortRanges")),
        line,
    }
}

/// Reads a Bicep plan.
pub fn read_bicep(text: &str) -> PlanModel {
    let mut m = PlanModel::default();
    let decls = match parse_bicep(text) {
        Ok(d) => d,
        Err(e) => {
            m.warnings.push(format!("not readable as Bicep: {e}"));
            return m;
        }
    };
    let mut env: HashMap<String, Value> = HashMap::new();
    for d in &decls {
        if (d.keyword == "param" || d.keyword == "var") && !d.value.is_null() {
            let v = resolve(&d.value, &env);
            env.insert(d.name.clone(), v);
        }
    }
    if let Some(Value::String(f)) = env.get("forensicPrefix") {
        m.forensic_prefix = Some(f.clone());
    }
    // Symbol → resource name, for `parent:` and `nsg.id` references.
    let mut names: HashMap<String, String> = HashMap::new();
    let body = |d: &BicepDecl| match resolve(&d.value, &env) {
        Value::Array(a) => a.first().cloned().unwrap_or(Value::Null),
        v => v,
    };
    for d in decls.iter().filter(|d| d.keyword == "resource") {
        names.insert(d.name.clone(), s_of(body(d).get("name")).unwrap_or_default());
    }
    let sym_name = |v: Option<&Value>| -> String {
        let s = s_of(v).unwrap_or_default();
        let sym = s.trim_start_matches("${").trim_end_matches('}');
        let sym = sym.split('.').next().unwrap_or(sym);
        names.get(sym).cloned().unwrap_or_else(|| last_seg(&s))
    };
    for d in decls.iter().filter(|d| d.keyword == "resource" && !d.existing) {
        let ty = d.type_ref.as_deref().unwrap_or_default().split('@').next().unwrap_or_default().to_ascii_lowercase();
        let b = body(d);
        let name = s_of(b.get("name")).unwrap_or_default();
        let props = b.get("properties").cloned().unwrap_or(Value::Null);
        match ty.as_str() {
            "microsoft.network/networksecuritygroups" => {
                m.nsgs.push((name.clone(), d.line));
                for r in props.get("securityRules").and_then(Value::as_array).into_iter().flatten() {
                    m.rules.push(rule_from(&name, r, d.line));
                }
            }
            "microsoft.network/networksecuritygroups/securityrules" => {
                let nsg = sym_name(b.get("parent"));
                m.rules.push(rule_from(&nsg, &b, d.line));
            }
            "microsoft.network/virtualnetworks" => {
                let mut v = PVnet { name, line: d.line, ..Default::default() };
                v.prefixes = list_of(None, props.get("addressSpace").and_then(|a| a.get("addressPrefixes")));
                for s in props.get("subnets").and_then(Value::as_array).into_iter().flatten() {
                    let sp = s.get("properties").unwrap_or(s);
                    v.subnets.push((
                        s_of(s.get("name")).unwrap_or_default(),
                        list_of(sp.get("addressPrefix"), sp.get("addressPrefixes")),
                    ));
                }
                m.vnets.push(v);
            }
            "microsoft.network/virtualnetworks/subnets" => {
                let vnet = sym_name(b.get("parent"));
                let sub = (name, list_of(props.get("addressPrefix"), props.get("addressPrefixes")));
                match m.vnets.iter_mut().find(|v| v.name == vnet) {
                    Some(v) => v.subnets.push(sub),
                    None => m.vnets.push(PVnet { name: vnet, subnets: vec![sub], line: d.line, ..Default::default() }),
                }
            }
            "microsoft.network/virtualnetworks/virtualnetworkpeerings" => {
                let remote = props.get("remoteVirtualNetwork").and_then(|r| s_of(r.get("id"))).unwrap_or_default();
                m.peerings.push((sym_name(b.get("parent")), remote, d.line));
            }
            "microsoft.storage/storageaccounts" => {
                let acls = props.get("networkAcls").cloned().unwrap_or(Value::Null);
                m.storage.push(PStorage {
                    name,
                    created: true,
                    default_action: s_of(acls.get("defaultAction")),
                    public_network_access: s_of(props.get("publicNetworkAccess")),
                    allow_blob_public_access: s_of(props.get("allowBlobPublicAccess")),
                    min_tls: s_of(props.get("minimumTlsVersion")),
                    ip_rules: acls
                        .get("ipRules")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|r| s_of(r.get("value")))
                        .collect(),
                    line: d.line,
                });
            }
            "microsoft.storage/storageaccounts/blobservices/containers" => {
                m.containers.push(PContainer { name, public_access: s_of(props.get("publicAccess")), line: d.line });
            }
            "microsoft.network/networkinterfaces" => {
                if let Some(n) = props.get("networkSecurityGroup").map(|n| sym_name(n.get("id"))) {
                    m.nic_nsgs.push(PNicNsg { nsg: n, line: d.line });
                }
            }
            _ => {}
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words() {
        let s = "X='a b'\nY=\"${X}-c\"\naz group create -n \"$Y\" \\\n  --tags 'k=$X' # comment\nif ! az vm show >/dev/null 2>&1; then echo hi; fi\n";
        let c = shell_commands(s);
        assert_eq!(c[0].words, ["az", "group", "create", "-n", "a b-c", "--tags", "k=$X"]);
        assert_eq!(c[0].line, 3);
        assert_eq!(c[1].words, ["az", "vm", "show"]);
        assert_eq!(c[1].line, 5);
        assert_eq!(c[2].words, ["echo", "hi"]);
        let az = az_cmd(&c[0]).unwrap();
        assert_eq!(az.path, "group create");
        assert_eq!(az.get("--name"), Some("a b-c"));
    }

    #[test]
    fn bicep_values() {
        let t = "targetScope = 'resourceGroup'\n@description('x')\nparam p string = 'v'\nvar t = {\n  'a-b': p\n}\nresource r 'Microsoft.Network/networkSecurityGroups@2023-09-01' = {\n  name: '${p}-n'\n  location: 'x'\n  properties: {\n    securityRules: [for (x, i) in range(0, 2): {\n      name: 'r${i}'\n    }]\n  }\n}\n";
        let d = parse_bicep(t).unwrap();
        assert_eq!(d.len(), 4);
        assert_eq!(bicep_structure(t), Vec::<String>::new());
        let m = read_bicep(t);
        assert_eq!(m.nsgs[0].0, "v-n");
        assert!(!bicep_structure("resource r 'bad' = {\n}\n").is_empty());
        assert!(!bicep_structure("targetScope = 'resourceGroup'\nvar x = y\n").is_empty());
        assert!(!bicep_structure("targetScope = 'resourceGroup'\nvar x = {\n").is_empty());
    }
}
