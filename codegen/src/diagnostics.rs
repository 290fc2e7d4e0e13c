//! Errors and diagnostics. Every schema problem names `file:line:col`, shows
//! the offending source and says how to fix it.

use std::fmt;
use std::sync::Arc;

use miette::{Diagnostic as MietteDiagnostic, NamedSource, SourceSpan};

/// A problem found in a schema, pointing into its source.
#[derive(Debug, thiserror::Error, MietteDiagnostic)]
#[error("{location}: {message}")]
pub struct Diagnostic {
    /// `file:line:col` (1-based), or the file name when no position is known.
    pub location: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    #[help]
    pub help: Option<String>,
    #[source_code]
    source_code: Option<NamedSource<Arc<String>>>,
    #[label("{label}")]
    span: Option<SourceSpan>,
    label: String,
}

impl Diagnostic {
    /// A diagnostic at `span` (byte offset and length) in `text`.
    pub fn new(
        file: &str,
        text: Option<Arc<String>>,
        span: Option<(usize, usize)>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) -> Self {
        let location = match (&text, span) {
            (Some(text), Some((offset, _))) => {
                let (line, col) = line_col(text, offset);
                format!("{file}:{line}:{col}")
            }
            _ => file.to_owned(),
        };
        let help = help.into();
        Diagnostic {
            location,
            message: message.into(),
            help: (!help.is_empty()).then_some(help),
            source_code: text.map(|t| NamedSource::new(file, t).with_language("protobuf")),
            span: span.map(|(o, l)| SourceSpan::new(o.into(), l)),
            label: "here".to_owned(),
        }
    }
}

impl Diagnostic {
    /// A diagnostic at a model span, without a source snippet (for backends,
    /// which see the model and not the source).
    pub fn at(span: &crate::model::Span, message: impl Into<String>, help: impl Into<String>) -> Self {
        let mut d = Diagnostic::new(&span.file, None, None, message, help);
        if span.line > 0 {
            d.location = format!("{}:{}:{}", span.file, span.line, span.column);
        }
        d
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Everything that can stop generation.
#[derive(thiserror::Error)]
pub enum Error {
    /// The schema has problems; each is a diagnostic.
    #[error("{} error{} in the schema", .0.len(), if .0.len() == 1 { "" } else { "s" })]
    Schema(Vec<Diagnostic>),
    /// protox could not compile the files (syntax, unknown import, types).
    #[error(transparent)]
    Protox(Box<protox::Error>),
    /// The command was used wrongly (missing file, file outside include paths).
    #[error("{0}")]
    Usage(String),
    /// Reading or writing a file failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Generated code did not parse; a bug in apigen.
    #[error("internal error: {0}; please report it with the schema that caused it")]
    Internal(String),
}

impl Error {
    /// The process exit code: 1 for schema errors, 2 for usage errors.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => 2,
            _ => 1,
        }
    }

    /// The error as a report that renders with source snippets. Lines are
    /// not wrapped, so every message and `file:line:col` stays greppable.
    pub fn render(&self, color: bool) -> String {
        use miette::{GraphicalReportHandler, GraphicalTheme};
        let theme = if color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
        let handler = GraphicalReportHandler::new_themed(theme).with_width(usize::MAX / 4);
        let mut out = String::new();
        let mut one = |d: &dyn MietteDiagnostic| {
            // Rendering into a String cannot fail.
            let _ = handler.render_report(&mut out, d);
        };
        match self {
            Error::Schema(diags) => diags.iter().for_each(|d| one(d)),
            Error::Protox(e) => one(e.as_ref()),
            other => out = format!("error: {other}\n"),
        }
        out
    }
}

impl fmt::Debug for Error {
    // `build.rs` prints errors with `{:?}`: make that the readable report.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }
}
