//! Keeping SAS signatures out of everything azir prints or stores.

/// `msg` with the value of every `sig=` parameter (any case) replaced by `REDACTED`: for error
/// texts of HTTP clients and storage libraries, which may quote a request URL with its SAS.
/// The value ends at `&`, whitespace, a quote or `)`.
pub fn scrub_sig(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(i) = rest.to_ascii_lowercase().find("sig=") {
        out.push_str(&rest[..i + 4]);
        out.push_str("REDACTED");
        let tail = &rest[i + 4..];
        let end = tail.find(|c: char| matches!(c, '&' | '"' | '\'' | ')') || c.is_whitespace()).unwrap_or(tail.len());
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::scrub_sig;

    #[test]
    fn signatures_are_removed_and_the_rest_kept() {
        assert_eq!(
            scrub_sig("GET https://a/b?sv=1&sig=s3cr%2Bt&se=2 failed"),
            "GET https://a/b?sv=1&sig=REDACTED&se=2 failed"
        );
        assert_eq!(scrub_sig("SIG=abc def"), "SIG=REDACTED def");
        assert_eq!(scrub_sig("(url: x?sig=abc)"), "(url: x?sig=REDACTED)");
        assert_eq!(scrub_sig("no secret here"), "no secret here");
    }
}
