//! The Sigma condition language: `and`, `or`, `not`, parentheses, `1 of x*`, `all of x*`,
//! `1 of them`, `all of them`, resolved against the rule's search identifiers at compile time.

/// A compiled condition over search indexes.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// The search at this index.
    Search(usize),
    /// Negation.
    Not(Box<Cond>),
    /// Every operand.
    And(Vec<Cond>),
    /// Any operand.
    Or(Vec<Cond>),
}

impl Cond {
    /// The same condition over searches numbered from `by` on (a filter's condition appended
    /// to a rule's searches).
    pub fn shifted(&self, by: usize) -> Cond {
        match self {
            Cond::Search(i) => Cond::Search(i + by),
            Cond::Not(c) => Cond::Not(Box::new(c.shifted(by))),
            Cond::And(cs) => Cond::And(cs.iter().map(|c| c.shifted(by)).collect()),
            Cond::Or(cs) => Cond::Or(cs.iter().map(|c| c.shifted(by)).collect()),
        }
    }

    /// Evaluates with `search(i)` giving the result of search `i`.
    pub fn eval(&self, search: &mut dyn FnMut(usize) -> bool) -> bool {
        match self {
            Cond::Search(i) => search(*i),
            Cond::Not(c) => !c.eval(search),
            Cond::And(cs) => cs.iter().all(|c| c.eval(search)),
            Cond::Or(cs) => cs.iter().any(|c| c.eval(search)),
        }
    }

    /// Evaluates in three-valued (Kleene) logic, `search(i)` giving `None` for a search whose
    /// result is unknown: `Some` when the known searches decide the condition whatever the
    /// unknown ones turn out to be.
    pub fn decide(&self, search: &mut dyn FnMut(usize) -> Option<bool>) -> Option<bool> {
        match self {
            Cond::Search(i) => search(*i),
            Cond::Not(c) => c.decide(search).map(|b| !b),
            Cond::And(cs) => kleene(cs.iter().map(|c| c.decide(search)), false),
            Cond::Or(cs) => kleene(cs.iter().map(|c| c.decide(search)), true),
        }
    }
}

/// Kleene `or` (`dominant` true) or `and` (`dominant` false) of three-valued operands: the
/// dominant value as soon as one operand has it, else unknown if one is unknown.
pub fn kleene(ops: impl Iterator<Item = Option<bool>>, dominant: bool) -> Option<bool> {
    let mut unknown = false;
    for o in ops {
        match o {
            Some(b) if b == dominant => return Some(dominant),
            Some(_) => {}
            None => unknown = true,
        }
    }
    (!unknown).then_some(!dominant)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    And,
    Or,
    Not,
    One,
    All,
    Of,
    Word(String),
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut it = s.char_indices().peekable();
    while let Some(&(i, c)) = it.peek() {
        if c.is_whitespace() {
            it.next();
        } else if c == '(' {
            out.push(Tok::LParen);
            it.next();
        } else if c == ')' {
            out.push(Tok::RParen);
            it.next();
        } else if c == '|' {
            return Err("an aggregation (`| count() ...`) is only allowed once, at the end of the condition".into());
        } else {
            let mut end = i;
            while let Some(&(j, d)) = it.peek() {
                if d.is_whitespace() || d == '(' || d == ')' || d == '|' {
                    break;
                }
                end = j + d.len_utf8();
                it.next();
            }
            let w = &s[i..end];
            out.push(match w.to_ascii_lowercase().as_str() {
                "and" => Tok::And,
                "or" => Tok::Or,
                "not" => Tok::Not,
                "1" | "any" => Tok::One,
                "all" => Tok::All,
                "of" => Tok::Of,
                _ => Tok::Word(w.to_string()),
            });
        }
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<Tok>,
    at: usize,
    names: &'a [String],
}

/// Full glob with `*` only (search identifiers have no other metacharacters).
fn glob_full(pat: &str, name: &str) -> bool {
    let p = pat.as_bytes();
    let n = name.as_bytes();
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if pi < p.len() && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        t
    }
    fn or(&mut self) -> Result<Cond, String> {
        let mut v = vec![self.and()?];
        while self.peek() == Some(&Tok::Or) {
            self.next();
            v.push(self.and()?);
        }
        Ok(if v.len() == 1 { v.remove(0) } else { Cond::Or(v) })
    }
    fn and(&mut self) -> Result<Cond, String> {
        let mut v = vec![self.not()?];
        while self.peek() == Some(&Tok::And) {
            self.next();
            v.push(self.not()?);
        }
        Ok(if v.len() == 1 { v.remove(0) } else { Cond::And(v) })
    }
    fn not(&mut self) -> Result<Cond, String> {
        if self.peek() == Some(&Tok::Not) {
            self.next();
            return Ok(Cond::Not(Box::new(self.not()?)));
        }
        self.atom()
    }
    fn atom(&mut self) -> Result<Cond, String> {
        match self.next() {
            Some(Tok::LParen) => {
                let c = self.or()?;
                match self.next() {
                    Some(Tok::RParen) => Ok(c),
                    _ => Err("missing `)`".into()),
                }
            }
            Some(q @ (Tok::One | Tok::All)) => {
                if self.next() != Some(Tok::Of) {
                    return Err("expected `of` after `1`/`all`".into());
                }
                let Some(Tok::Word(pat)) = self.next() else { return Err("expected a name pattern after `of`".into()) };
                let idx: Vec<usize> = if pat == "them" {
                    (0..self.names.len()).filter(|&i| !self.names[i].starts_with('_')).collect()
                } else {
                    (0..self.names.len()).filter(|&i| glob_full(&pat, &self.names[i])).collect()
                };
                if idx.is_empty() {
                    return Err(format!("`of {pat}` matches no search identifier"));
                }
                let cs = idx.into_iter().map(Cond::Search).collect();
                Ok(if q == Tok::One { Cond::Or(cs) } else { Cond::And(cs) })
            }
            Some(Tok::Word(w)) => match self.names.iter().position(|n| *n == w) {
                Some(i) => Ok(Cond::Search(i)),
                None if w.contains('*') => {
                    // A bare wildcard name is treated as `1 of` (as pySigma does).
                    let cs: Vec<Cond> =
                        (0..self.names.len()).filter(|&i| glob_full(&w, &self.names[i])).map(Cond::Search).collect();
                    if cs.is_empty() {
                        Err(format!("`{w}` matches no search identifier"))
                    } else {
                        Ok(Cond::Or(cs))
                    }
                }
                None => Err(format!("unknown search identifier `{w}`")),
            },
            Some(t) => Err(format!("unexpected {t:?}")),
            None => Err("condition ends early".into()),
        }
    }
}

/// Parses `cond` against the rule's search identifiers (`names`, in rule order).
pub fn parse(cond: &str, names: &[String]) -> Result<Cond, String> {
    let mut p = Parser { toks: lex(cond)?, at: 0, names };
    let c = p.or()?;
    if p.at < p.toks.len() {
        return Err(format!("unexpected {:?} after the condition", p.toks[p.at]));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_valued_decisions_settle_only_what_the_known_searches_settle() {
        let c = parse("a and not (b or c)", &["a".into(), "b".into(), "c".into()]).unwrap();
        let known = |a: Option<bool>, b: Option<bool>, c: Option<bool>| {
            let v = [a, b, c];
            parse("a and not (b or c)", &["a".into(), "b".into(), "c".into()]).unwrap().decide(&mut |i| v[i])
        };
        // `a` false decides; `b` true decides; otherwise an unknown leaves it open.
        assert_eq!(known(Some(false), None, None), Some(false));
        assert_eq!(known(None, Some(true), None), Some(false));
        assert_eq!(known(Some(true), Some(false), None), None);
        assert_eq!(known(Some(true), Some(false), Some(false)), Some(true));
        // Whenever it decides, it agrees with the two-valued evaluation.
        let all = [None, Some(false), Some(true)];
        for a in all {
            for b in all {
                for cc in all {
                    let v = [a, b, cc];
                    if let Some(d) = c.decide(&mut |i| v[i]) {
                        for fill in 0..8u8 {
                            let full: Vec<bool> = (0..3).map(|i| v[i].unwrap_or(fill & (1 << i) != 0)).collect();
                            assert_eq!(c.eval(&mut |i| full[i]), d, "{v:?} filled {full:?}");
                        }
                    }
                }
            }
        }
    }

    fn names(ns: &[&str]) -> Vec<String> {
        ns.iter().map(|s| s.to_string()).collect()
    }

    /// Evaluates `cond` with the searches named in `true_set` true.
    fn check(cond: &str, ns: &[&str], true_set: &[&str]) -> bool {
        let n = names(ns);
        let c = parse(cond, &n).unwrap();
        c.eval(&mut |i| true_set.contains(&ns[i]))
    }

    #[test]
    fn precedence_not_and_or() {
        let ns = ["a", "b", "c"];
        // not > and > or: `a or b and not c` is `a or (b and (not c))`.
        assert!(check("a or b and not c", &ns, &["a", "c"]));
        assert!(!check("a or b and not c", &ns, &["b", "c"]));
        assert!(check("a or b and not c", &ns, &["b"]));
        assert!(!check("(a or b) and not c", &ns, &["a", "c"]));
        assert!(check("not not a", &ns, &["a"]));
        assert!(check("NOT a AND b", &ns, &["b"]));
    }

    #[test]
    fn of_forms() {
        let ns = ["selection_a", "selection_b", "filter", "_hidden"];
        assert!(check("1 of selection_*", &ns, &["selection_b"]));
        assert!(!check("all of selection_*", &ns, &["selection_b"]));
        assert!(check("all of selection_* and not filter", &ns, &["selection_a", "selection_b"]));
        assert!(check("1 of them", &ns, &["filter"]));
        assert!(check("all of them", &ns, &["selection_a", "selection_b", "filter"]));
        assert!(!check("all of them", &ns, &["selection_a", "filter"]));
        assert!(!check("1 of them", &ns, &["_hidden"]));
        assert!(check("any of sel*", &ns, &["selection_a"]));
        assert!(check("selection_a and (1 of sel*_b or filter)", &ns, &["selection_a", "filter"]));
    }

    #[test]
    fn errors_are_reported() {
        let n = names(&["a"]);
        assert!(parse("a and", &n).is_err());
        assert!(parse("(a", &n).is_err());
        assert!(parse("b", &n).is_err());
        assert!(parse("1 of x*", &n).is_err());
        assert!(parse("a b", &n).is_err());
        assert!(parse("a | count() > 5", &n).unwrap_err().contains("only allowed once"));
    }

    #[test]
    fn glob_matches_stars_anywhere() {
        assert!(glob_full("sel*_x*", "sel_1_xyz"));
        assert!(!glob_full("sel*_x", "sel_1_xyz"));
        assert!(glob_full("*", ""));
    }
}
