//! Errors: I/O, YAML syntax, and invalid targets with every [`Problem`] listed.

use std::fmt;

/// One thing wrong with a target file, with where it is and what would be right.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line of the offending key or value (for a missing field: of its section).
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// Dotted path of the field, e.g. `core.input_axons` (`(top level)` for the document).
    pub field: String,
    /// The value as written, or empty (missing fields, keys, mappings).
    pub value: String,
    /// What is wrong.
    pub message: String,
    /// What was expected, e.g. "an integer in 1..=4096" or "one of zero, subtract".
    pub expected: String,
    /// A suggestion, e.g. "did you mean `input_axons`?".
    pub hint: Option<String>,
}

impl fmt::Display for Problem {
    /// `12:5: core.input_axon: unknown key; expected one of ... (did you mean `input_axons`?)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.line, self.column, self.field, self.message
        )?;
        if !self.expected.is_empty() {
            write!(f, "; expected {}", self.expected)?;
        }
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

/// Why a target could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The text is not YAML.
    #[error("{path}:{line}:{column}: YAML syntax error: {message}")]
    Syntax {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// The YAML is not a valid target; `problems` lists every problem, in file order.
    #[error("{}", render_invalid(.path, .problems))]
    Invalid {
        path: String,
        problems: Vec<Problem>,
    },
    /// [`resolve`](crate::resolve) found neither a built-in target nor a file of that name.
    #[error("{}", render_unknown(.name, .builtins))]
    UnknownTarget { name: String, builtins: Vec<String> },
}

impl TargetError {
    /// The problems of an invalid target (empty for other errors).
    pub fn problems(&self) -> &[Problem] {
        match self {
            TargetError::Invalid { problems, .. } => problems,
            _ => &[],
        }
    }
}

fn render_invalid(path: &str, problems: &[Problem]) -> String {
    let n = problems.len();
    let mut out = format!(
        "{path}: {n} problem{} in target file",
        if n == 1 { "" } else { "s" }
    );
    for p in problems {
        out.push('\n');
        out.push_str(path);
        out.push(':');
        out.push_str(&p.to_string());
    }
    out
}

fn render_unknown(name: &str, builtins: &[String]) -> String {
    let mut out = format!(
        "`{name}` is neither a built-in target nor a readable file; built-in targets: {}",
        builtins.join(", ")
    );
    if let Some(m) = crate::check::did_you_mean(name, builtins.iter().map(String::as_str)) {
        out.push_str(&format!(" (did you mean `{m}`?)"));
    }
    out
}
