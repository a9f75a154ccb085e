//! A plan as data, and its rendering to bash.
//!
//! A [`Plan`] is a list of [`Step`]s. Each step says why it exists (comment lines), which state
//! to look at before and after, and what to run. Everything derived from the case (names, ids,
//! prefixes, UPNs) lives in a [`Var`] at the top of the script and is referenced as `"${VAR}"`
//! in commands, so a hostile resource name is quoted once, in one place, with single quotes; the
//! command templates themselves are constants of this crate. Comments never carry raw case text:
//! [`comment_safe`] drops control characters so a name cannot end a comment line.

use serde::Serialize;
use std::fmt::Write as _;

/// One argument of a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Arg {
    /// A literal word (quoted for the shell when it needs it).
    Lit(String),
    /// A reference to a variable of the plan: rendered `"${NAME}"`.
    Var(String),
    /// A word built from literal text and variables: `Text("/subscriptions/"), Var("SUB"), …`,
    /// rendered as one double-quoted word.
    Join(Vec<Arg>),
}

/// Shorthand for a literal argument.
pub fn lit(s: impl Into<String>) -> Arg {
    Arg::Lit(s.into())
}

/// Shorthand for a variable reference.
pub fn var(s: impl Into<String>) -> Arg {
    Arg::Var(s.into())
}

/// A command line: `az` and its arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cmd {
    /// The words.
    pub argv: Vec<Arg>,
}

impl Cmd {
    /// An `az` command from its subcommand words (`["network", "vnet", "create"]`).
    pub fn az(words: &[&str]) -> Self {
        let mut argv = vec![lit("az")];
        argv.extend(words.iter().map(|w| lit(*w)));
        Cmd { argv }
    }

    /// Adds `--flag value`.
    pub fn opt(mut self, flag: &str, value: Arg) -> Self {
        self.argv.push(lit(flag));
        self.argv.push(value);
        self
    }

    /// Adds `--flag` followed by several values.
    pub fn opts(mut self, flag: &str, values: Vec<Arg>) -> Self {
        self.argv.push(lit(flag));
        self.argv.extend(values);
        self
    }

    /// Adds a bare word (a switch).
    pub fn flag(mut self, flag: &str) -> Self {
        self.argv.push(lit(flag));
        self
    }
}

/// What a step runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// Run the command.
    Run {
        /// The command.
        cmd: Cmd,
    },
    /// Run `create` unless `check` succeeds (`check >/dev/null 2>&1 || create`): idempotent
    /// creation where `az` has no create-or-update semantics.
    Ensure {
        /// A `show`-like command that succeeds when the resource exists.
        check: Cmd,
        /// The creating command.
        create: Cmd,
    },
    /// Shell lines written by this crate (loops over `az` output); never contain case text,
    /// which reaches them only through variables.
    Shell {
        /// The lines.
        lines: Vec<String>,
    },
    /// A command left commented out on purpose (irreversible or needing a human decision).
    Manual {
        /// The command.
        cmd: Cmd,
        /// Why it is not run.
        reason: String,
    },
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// Short title.
    pub title: String,
    /// Why this step exists and what to watch for (comment lines).
    pub why: Vec<String>,
    /// State queries printed before the step.
    pub before: Vec<Cmd>,
    /// What the step runs.
    pub actions: Vec<Action>,
    /// State queries printed after the step.
    pub after: Vec<Cmd>,
}

impl Step {
    /// A step with a title and its reasons.
    pub fn new(title: &str, why: &[&str]) -> Self {
        Step {
            title: title.to_string(),
            why: why.iter().map(|s| s.to_string()).collect(),
            before: Vec::new(),
            actions: Vec::new(),
            after: Vec::new(),
        }
    }
}

/// A variable at the top of the script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Var {
    /// Shell name (`[A-Z_][A-Z0-9_]*`).
    pub name: String,
    /// Value (written single-quoted).
    pub value: String,
    /// What it is.
    pub comment: String,
}

/// Which command wrote the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanKind {
    /// `azir lab plan`.
    Lab,
    /// `azir contain plan`.
    Contain,
}

impl PlanKind {
    /// `lab` or `contain`.
    pub fn as_str(self) -> &'static str {
        match self {
            PlanKind::Lab => "lab",
            PlanKind::Contain => "contain",
        }
    }
}

/// A generated plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Lab or containment.
    pub kind: PlanKind,
    /// One line saying what the plan does.
    pub title: String,
    /// Header comment lines (what it was generated from, how to run it).
    pub header: Vec<String>,
    /// Machine-readable facts for `azir lab check` (`# azir:KEY VALUE` lines): known prefixes of
    /// the case, the forensic prefix.
    pub meta: Vec<(String, String)>,
    /// Variables.
    pub vars: Vec<Var>,
    /// Steps in order.
    pub steps: Vec<Step>,
}

impl Plan {
    /// The value of a variable.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.iter().find(|v| v.name == name).map(|v| v.value.as_str())
    }
}

/// Text safe inside a comment or a one-line message: control characters (newlines included)
/// become spaces.
pub fn comment_safe(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// Quotes a word for bash: bare when it only holds safe characters, else single-quoted with
/// `'\''` for embedded quotes.
pub fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':' | '@' | '=' | ',' | '+'));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn render_arg(a: &Arg) -> String {
    match a {
        Arg::Lit(s) => shell_quote(s),
        Arg::Var(v) => format!("\"${{{v}}}\""),
        Arg::Join(parts) => format!("\"{}\"", join_inner(parts)),
    }
}

fn join_inner(parts: &[Arg]) -> String {
    let mut out = String::new();
    for p in parts {
        match p {
            Arg::Var(v) => {
                let _ = write!(out, "${{{v}}}");
            }
            Arg::Lit(s) => {
                for c in s.chars() {
                    if matches!(c, '"' | '\\' | '$' | '`') {
                        out.push('\\');
                    }
                    out.push(c);
                }
            }
            Arg::Join(inner) => out.push_str(&join_inner(inner)),
        }
    }
    out
}

/// Renders a command, one `--flag value` pair per continuation line when it is long.
pub fn render_cmd(c: &Cmd, indent: &str) -> String {
    let words: Vec<String> = c.argv.iter().map(render_arg).collect();
    let one = words.join(" ");
    if one.len() + indent.len() <= 100 {
        return format!("{indent}{one}");
    }
    // Break before each flag.
    let mut out = String::from(indent);
    let mut first = true;
    for w in &words {
        if !first && w.starts_with("--") {
            let _ = write!(out, " \\\n{indent}  {w}");
        } else {
            if !first {
                out.push(' ');
            }
            out.push_str(w);
        }
        first = false;
    }
    out
}

/// The script's preamble: strict mode and the `state` helper that prints a state query and its
/// answer without stopping the script when the resource does not exist yet.
const PREAMBLE: &str = r#"set -euo pipefail

# Prints a state query and its answer; a failing query (resource absent) does not stop the plan.
state() {
  local when=$1
  shift
  printf '\n## %s: %s\n' "${when}" "$*" >&2
  "$@" || printf '## (query failed: absent or not readable)\n' >&2
}
"#;

/// Renders the plan as a bash script.
pub fn render_bash(p: &Plan) -> String {
    let mut s = String::from("#!/usr/bin/env bash\n");
    let _ = writeln!(s, "# {}", comment_safe(&p.title));
    for h in &p.header {
        let _ = writeln!(s, "# {}", comment_safe(h));
    }
    let _ = writeln!(s, "#\n# azir:plan {}", p.kind.as_str());
    for (k, v) in &p.meta {
        let _ = writeln!(s, "# azir:{} {}", comment_safe(k), comment_safe(v));
    }
    s.push('\n');
    s.push_str(PREAMBLE);
    s.push_str("\n# ---- Variables (review before running) ----\n");
    for v in &p.vars {
        let _ = writeln!(s, "# {}", comment_safe(&v.comment));
        if v.value.contains(['$', '`']) {
            // Case text that looks like an expansion stays literal, which is the point.
            s.push_str("# shellcheck disable=SC2016\n");
        }
        let _ = writeln!(s, "{}={}", v.name, shell_quote_always(&v.value));
    }
    for (i, st) in p.steps.iter().enumerate() {
        let _ = writeln!(s, "\n# ==== Step {}: {} ====", i + 1, comment_safe(&st.title));
        for w in &st.why {
            let _ = writeln!(s, "# {}", comment_safe(w));
        }
        if st.title.contains(['$', '`']) {
            s.push_str("# shellcheck disable=SC2016\n");
        }
        let _ = writeln!(s, "echo {}", shell_quote(&format!("==> Step {}: {}", i + 1, comment_safe(&st.title))));
        for b in &st.before {
            let _ = writeln!(s, "{}", render_cmd(&prefixed("before", b), ""));
        }
        for a in &st.actions {
            match a {
                Action::Run { cmd } => {
                    let _ = writeln!(s, "{}", render_cmd(cmd, ""));
                }
                Action::Ensure { check, create } => {
                    let _ = writeln!(s, "if ! {} >/dev/null 2>&1; then", render_cmd(check, "").trim_start());
                    let _ = writeln!(s, "{}", render_cmd(create, "  "));
                    s.push_str("fi\n");
                }
                Action::Shell { lines } => {
                    for l in lines {
                        let _ = writeln!(s, "{l}");
                    }
                }
                Action::Manual { cmd, reason } => {
                    let _ = writeln!(s, "# MANUAL ({}):", comment_safe(reason));
                    for l in render_cmd(cmd, "").lines() {
                        let _ = writeln!(s, "#   {l}");
                    }
                }
            }
        }
        for b in &st.after {
            let _ = writeln!(s, "{}", render_cmd(&prefixed("after", b), ""));
        }
    }
    s.push_str("\necho '==> Plan complete.'\n");
    s
}

/// Always single-quotes (variable values: even a safe-looking value stays one literal word).
pub fn shell_quote_always(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn prefixed(when: &str, c: &Cmd) -> Cmd {
    let mut argv = vec![lit("state"), lit(when)];
    argv.extend(c.argv.iter().cloned());
    Cmd { argv }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("vm-web-01"), "vm-web-01");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("$(rm -rf /)"), "'$(rm -rf /)'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("*"), "'*'");
        assert_eq!(comment_safe("a\nrm -rf /\r"), "a rm -rf / ");
    }

    #[test]
    fn join_escapes_literals() {
        let a = Arg::Join(vec![lit("/subscriptions/"), var("SUB"), lit("/x$`\"")]);
        assert_eq!(render_arg(&a), r#""/subscriptions/${SUB}/x\$\`\"""#);
    }
}
