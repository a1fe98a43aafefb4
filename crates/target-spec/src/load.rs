//! Reading a target: text → marked tree → schema and cross-field checks → `Target`.
//!
//! Only a document with no problems at all is handed to serde; so serde's own errors are a
//! fallback that the checker should already have caught.

use std::io::Read as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use crate::error::{Problem, TargetError};
use crate::schema::Target;
use crate::{check, rules, tree};

/// Target files larger than this are refused unread: no target comes near it.
const MAX_BYTES: u64 = 1 << 20;

/// Read and check the target file at `path`.
///
/// On failure the error names the file; an invalid target lists every problem at once.
pub fn load(path: impl AsRef<Path>) -> Result<Target, TargetError> {
    let path = path.as_ref();
    let shown = path.display().to_string();
    let io = |source| TargetError::Io {
        path: shown.clone(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut text = String::new();
    file.take(MAX_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(io)?;
    if text.len() as u64 > MAX_BYTES {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {MAX_BYTES} bytes, so not a target file"),
        )));
    }
    parse(&text, &shown)
}

/// Check target YAML `text`; `origin` names it in messages (usually its path).
pub fn parse(text: &str, origin: &str) -> Result<Target, TargetError> {
    // The YAML parser is third-party code: should it ever panic on hostile input, that is
    // reported as a syntax error rather than taking the caller down.
    let built = catch_unwind(AssertUnwindSafe(|| tree::build(text))).unwrap_or_else(|_| {
        Err(tree::SyntaxError {
            pos: tree::Pos { line: 1, column: 1 },
            message: "the YAML parser failed on this input".into(),
        })
    });
    let doc = built.map_err(|e| TargetError::Syntax {
        path: origin.to_string(),
        line: e.pos.line,
        column: e.pos.column,
        message: e.message,
    })?;
    let (mut problems, values) = check::check(&doc);
    rules::apply(&values, &mut problems);
    if !problems.is_empty() {
        problems.sort_by_key(|p| (p.line, p.column));
        return Err(TargetError::Invalid {
            path: origin.to_string(),
            problems,
        });
    }
    // Two YAML parsers read the file: the checker's and serde's. Where serde's refuses text
    // the checker's accepted (rare corners such as tabs in odd places), that is a syntax
    // error, reported at serde's position.
    let syntax = |e: serde_yaml::Error| {
        let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
        TargetError::Syntax {
            path: origin.to_string(),
            line,
            column,
            message: e.to_string(),
        }
    };
    match catch_unwind(AssertUnwindSafe(|| {
        serde_yaml::from_str::<serde_yaml::Value>(text)
    })) {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(syntax(e)),
        Err(_) => {
            return Err(TargetError::Syntax {
                path: origin.to_string(),
                line: 1,
                column: 1,
                message: "the YAML deserializer failed on this input".into(),
            });
        }
    }
    let result = catch_unwind(AssertUnwindSafe(|| serde_yaml::from_str::<Target>(text)));
    match result {
        Ok(Ok(target)) => Ok(target),
        Ok(Err(e)) => {
            let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
            Err(TargetError::Invalid {
                path: origin.to_string(),
                problems: vec![Problem {
                    line,
                    column,
                    field: "(top level)".into(),
                    value: String::new(),
                    message: e.to_string(),
                    expected: "a target as described in docs/target-yaml.md".into(),
                    hint: None,
                }],
            })
        }
        Err(_) => Err(TargetError::Syntax {
            path: origin.to_string(),
            line: 1,
            column: 1,
            message: "the YAML deserializer failed on this input".into(),
        }),
    }
}

impl Target {
    /// Run every check of [`parse`] on a target built in code (its YAML form is checked, so
    /// problem positions refer to `serde_yaml::to_string(self)`).
    pub fn validate(&self) -> Result<(), TargetError> {
        let origin = format!("<target {}>", self.name);
        let text = serde_yaml::to_string(self).map_err(|e| TargetError::Invalid {
            path: origin.clone(),
            problems: vec![Problem {
                line: 1,
                column: 1,
                field: "(top level)".into(),
                value: String::new(),
                message: format!("cannot be written as YAML: {e}"),
                expected: "a serializable target".into(),
                hint: None,
            }],
        })?;
        parse(&text, &origin).map(|_| ())
    }
}
