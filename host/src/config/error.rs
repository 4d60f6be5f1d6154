//! Configuration errors and where they point: a [`ConfigError`] is one problem
//! in one file, with the 1-based line and column of the offending value, what
//! is wrong, and how to fix it, rendered as
//! `PATH:LINE:COL: error: WHAT\n  fix: FIX`. This module owns the conversion
//! of byte spans (from `toml::Spanned` and `toml::de::Error`) into line and
//! column, and the wording of TOML's own errors (syntax, unknown and missing
//! keys, wrong types). It must not decide what is valid (that is `validate`)
//! and must not quote secret material (key file contents) in any message.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A position in the configuration text, both 1-based; the column counts
/// characters, not bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// One problem in a configuration file. `Display` is complete (it includes
/// the cause of an I/O error), so print it alone; the CLI maps every
/// configuration error to exit code 2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct ConfigError {
    path: PathBuf,
    location: Option<Location>,
    what: String,
    fix: String,
}

impl ConfigError {
    /// An error about the file as a whole (it cannot be read), with no
    /// position in it.
    pub fn file(path: &Path, what: impl Into<String>, fix: impl Into<String>) -> Self {
        ConfigError {
            path: path.to_path_buf(),
            location: None,
            what: what.into(),
            fix: fix.into(),
        }
    }

    /// The configuration file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where in the file, when the error is about a value of it.
    pub fn location(&self) -> Option<Location> {
        self.location
    }

    /// What is wrong (one line).
    pub fn what(&self) -> &str {
        &self.what
    }

    /// How to fix it (one line).
    pub fn fix(&self) -> &str {
        &self.fix
    }

    fn render(&self) -> String {
        let at = match self.location {
            Some(l) => format!("{}:{l}", self.path.display()),
            None => self.path.display().to_string(),
        };
        format!("{at}: error: {}\n  fix: {}", self.what, self.fix)
    }
}

/// The text being validated and its file name: turns byte spans into
/// located errors.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Source<'a> {
    pub path: &'a Path,
    pub text: &'a str,
}

impl<'a> Source<'a> {
    /// 1-based line and column of a byte offset (clamped into the text).
    pub fn locate(&self, offset: usize) -> Location {
        let mut end = offset.min(self.text.len());
        while !self.text.is_char_boundary(end) {
            end -= 1;
        }
        let before = self.text.get(..end).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
        Location { line, column }
    }

    /// An error at the start of `span`.
    pub fn err(
        &self,
        span: Range<usize>,
        what: impl Into<String>,
        fix: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            path: self.path.to_path_buf(),
            location: Some(self.locate(span.start)),
            what: what.into(),
            fix: fix.into(),
        }
    }

    /// An error from the TOML parser or from serde (syntax, unknown or
    /// missing key, wrong type), reworded with a fix.
    pub fn toml_error(&self, e: &toml::de::Error) -> ConfigError {
        let message = e
            .message()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        let (what, fix) = reword_toml_message(&message);
        ConfigError {
            path: self.path.to_path_buf(),
            location: e.span().map(|s| self.locate(s.start)),
            what,
            fix,
        }
    }
}

/// The required top-level tables (a missing one is reported as a table, not
/// as a key).
const TABLES: [&str; 2] = ["gateway", "tun"];

/// The text between the first pair of backticks after `prefix`.
fn backticked_after<'m>(message: &'m str, prefix: &str) -> Option<(&'m str, &'m str)> {
    let rest = message.strip_prefix(prefix)?;
    let rest = rest.strip_prefix('`')?;
    let end = rest.find('`')?;
    Some((rest.get(..end)?, rest.get(end + 1..)?))
}

fn reword_toml_message(message: &str) -> (String, String) {
    if let Some((key, rest)) = backticked_after(message, "unknown field ") {
        let expected = rest.trim_start_matches(',').trim();
        let fix = if expected.is_empty() || expected.starts_with("there are no fields") {
            format!("remove `{key}`: this table takes no keys")
        } else {
            format!("remove `{key}` or correct its spelling ({expected})")
        };
        return (format!("unknown key `{key}`"), fix);
    }
    if let Some((key, _)) = backticked_after(message, "missing field ") {
        if TABLES.contains(&key) {
            return (
                format!("missing table [{key}]"),
                format!("add a [{key}] table (see examples/static/vgw.toml)"),
            );
        }
        return (
            format!("missing key `{key}` in this table"),
            format!("add `{key} = ...` to it (see examples/static/*.toml)"),
        );
    }
    if message.starts_with("invalid type") || message.starts_with("invalid value") {
        return (
            message.to_string(),
            "write the value with the expected type: strings in double quotes, \
             numbers and true/false without quotes, lists in [ ]"
                .to_string(),
        );
    }
    if message.starts_with("duplicate key") {
        return (message.to_string(), "keep only one of the two".to_string());
    }
    if message.contains("too large") {
        return (
            message.to_string(),
            "use a number within the range this key allows".to_string(),
        );
    }
    if message.starts_with("invalid string") {
        return (
            format!("invalid TOML: {message}"),
            "put text values in double quotes, e.g. role = \"vgw\"".to_string(),
        );
    }
    (
        format!("invalid TOML: {message}"),
        "correct the TOML syntax here (see https://toml.io/en/v1.0.0)".to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_lines_and_columns() {
        let src = Source {
            path: Path::new("x.toml"),
            text: "a = 1\nbé = 2\n",
        };
        assert_eq!(src.locate(0), Location { line: 1, column: 1 });
        assert_eq!(src.locate(6), Location { line: 2, column: 1 });
        // "bé = " : 'é' is two bytes but one column.
        assert_eq!(src.locate(11), Location { line: 2, column: 5 });
        // Inside a multi-byte character and past the end are clamped.
        assert_eq!(src.locate(8), Location { line: 2, column: 2 });
        assert_eq!(src.locate(999), Location { line: 3, column: 1 });
    }

    #[test]
    fn display_format() {
        let src = Source {
            path: Path::new("/etc/sitelink/vgw.toml"),
            text: "x\ny = 1\n",
        };
        let e = src.err(6..7, "bad", "do better");
        assert_eq!(
            e.to_string(),
            "/etc/sitelink/vgw.toml:2:5: error: bad\n  fix: do better"
        );
        let e = ConfigError::file(Path::new("a.toml"), "gone", "put it back");
        assert_eq!(e.to_string(), "a.toml: error: gone\n  fix: put it back");
    }
}
