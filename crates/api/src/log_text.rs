//! Client-supplied text in logs: a submitted username (or any other field
//! that failed validation) is shown escaped and cut short, so a client can
//! neither forge log lines (newlines, ANSI escapes) nor fill the log with
//! megabytes of one field.

use std::fmt;

/// Most characters of client text a log line shows.
pub(crate) const LOG_TEXT_MAX_CHARS: usize = 64;

/// `text` for a log field: control characters (and `\`, `"`) escaped as in
/// Rust string literals, cut after [`LOG_TEXT_MAX_CHARS`] characters with
/// the number left out.
pub(crate) fn log_safe(text: &str) -> LogSafe<'_> {
    LogSafe(text)
}

pub(crate) struct LogSafe<'a>(&'a str);

impl fmt::Display for LogSafe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut chars = self.0.chars();
        for c in chars.by_ref().take(LOG_TEXT_MAX_CHARS) {
            if c.is_control() || c == '\\' || c == '"' {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        let rest = chars.count();
        if rest > 0 {
            write!(f, "…(+{rest} chars)")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_truncates() {
        assert_eq!(log_safe("alice").to_string(), "alice");
        assert_eq!(
            log_safe("a\nINFO forged line\u{1b}[31m").to_string(),
            "a\\nINFO forged line\\u{1b}[31m"
        );
        let long = "x".repeat(1000);
        assert_eq!(
            log_safe(&long).to_string(),
            format!("{}…(+936 chars)", "x".repeat(64))
        );
        assert_eq!(
            log_safe("é".repeat(70).as_str())
                .to_string()
                .chars()
                .count(),
            64 + "…(+6 chars)".chars().count()
        );
    }
}
