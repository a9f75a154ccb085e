//! Firewall verdicts in every vendor's words.
//!
//! One list for the whole workspace: the parsers read an Azure Firewall (or other firewall)
//! action into `DvcAction` Allow/Deny with it, and the Sigma engine answers generic
//! `category: firewall` rules (`action: denied`, `action: [forward, accept]`) with it, so a word
//! the parser knows is one a rule can match.

/// Words that say the traffic was stopped.
pub const BLOCKED: &[&str] = &["deny", "denied", "drop", "dropped", "block", "blocked", "reject", "rejected"];

/// Words that say the traffic went through.
pub const ALLOWED: &[&str] = &["allow", "allowed", "accept", "accepted", "pass", "permit", "forward"];

/// Is `word` a block (`Some(true)`), a pass (`Some(false)`), or neither (an IDS alert, a NAT
/// action, an unknown word)? Compared ASCII-case-insensitively, ignoring surrounding spaces.
pub fn blocked(word: &str) -> Option<bool> {
    let w = word.trim();
    let is = |words: &[&str]| words.iter().any(|x| w.eq_ignore_ascii_case(x));
    if is(BLOCKED) {
        Some(true)
    } else if is(ALLOWED) {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_vendor_word_has_one_verdict() {
        for w in ["Deny", "DROP", " rejected ", "Blocked"] {
            assert_eq!(blocked(w), Some(true), "{w}");
        }
        for w in ["Allow", "ACCEPT", "forward", "Permit", "pass"] {
            assert_eq!(blocked(w), Some(false), "{w}");
        }
        for w in ["Alert", "DNAT", "", "denyall"] {
            assert_eq!(blocked(w), None, "{w}");
        }
        assert!(BLOCKED.iter().all(|w| !ALLOWED.contains(w)));
    }
}
