//! A small marked YAML tree: mappings, sequences and scalars, each with the line and column
//! where it starts, built from `saphyr-parser` events without recursion.
//!
//! The checker walks this tree (not serde's view of the text) so that every problem can be
//! reported with its position, and so that all problems are found in one pass. It is public so
//! that other YAML files of the project (e.g. sweep specs) report positions the same way.

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// Deeper nesting than this is refused: no target needs more than three levels, and a bound
/// keeps hostile inputs from building trees whose recursive drop would exhaust the stack.
const MAX_DEPTH: usize = 64;

/// A position in the source text: 1-based line and column (in characters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    fn of(span: &Span) -> Pos {
        Pos {
            line: span.start.line(),
            column: span.start.col() + 1,
        }
    }
}

/// One node of the document.
#[derive(Clone, Debug)]
pub struct Node {
    pub pos: Pos,
    /// The node carries a YAML tag (`!foo`, `!!int`); target files never need one.
    pub tagged: bool,
    pub kind: NodeKind,
}

#[derive(Clone, Debug)]
pub enum NodeKind {
    /// A scalar as written; `plain` is false for quoted and block scalars.
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
    /// `*name`: a reference to an anchored node (not supported in target files).
    Alias,
}

impl Node {
    /// What this node is, for messages ("a mapping", "a list", "an empty value", ...).
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            NodeKind::Scalar { text, plain } if text.is_empty() && *plain => "an empty value",
            NodeKind::Scalar { .. } => "a single value",
            NodeKind::Seq(items) if items.is_empty() => "an empty list",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
            NodeKind::Alias => "an alias",
        }
    }
}

/// The parsed document.
#[derive(Debug, Default)]
pub struct Doc {
    /// The first document's root node; `None` for an empty file.
    pub root: Option<Node>,
    /// Where the second and later documents start (target files hold exactly one).
    pub extra_documents: Vec<Pos>,
}

/// A YAML syntax error: the text is not YAML at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

enum Frame {
    Seq {
        start: Pos,
        tagged: bool,
        items: Vec<Node>,
    },
    Map {
        start: Pos,
        tagged: bool,
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
    },
}

/// YAML's printable characters (YAML 1.2, production c-printable); `serde_yaml` refuses the
/// rest anywhere in a file, comments included.
fn printable(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{85}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}')
        || c >= '\u{10000}'
}

/// The first character YAML does not allow, with its position.
fn first_unprintable(text: &str) -> Option<SyntaxError> {
    let mut pos = Pos { line: 1, column: 1 };
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if !printable(c) {
            return Some(SyntaxError {
                pos,
                message: format!(
                    "control character U+{:04X} is not allowed in YAML",
                    u32::from(c)
                ),
            });
        }
        let line_break = c == '\n' || (c == '\r' && chars.peek() != Some(&'\n'));
        if line_break {
            pos = Pos {
                line: pos.line + 1,
                column: 1,
            };
        } else {
            pos.column += 1;
        }
    }
    None
}

/// Parse `text` into a marked tree.
pub fn build(text: &str) -> Result<Doc, SyntaxError> {
    if let Some(e) = first_unprintable(text) {
        return Err(e);
    }
    let mut doc = Doc::default();
    let mut stack: Vec<Frame> = Vec::new();
    let mut documents = 0usize;
    let mut parser = Parser::new_from_str(text);
    for item in &mut parser {
        let (event, span) = item.map_err(|e| SyntaxError {
            pos: Pos {
                line: e.marker().line(),
                column: e.marker().col() + 1,
            },
            message: e.info().to_string(),
        })?;
        let pos = Pos::of(&span);
        let node = match event {
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => None,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    doc.extra_documents.push(pos);
                }
                None
            }
            Event::Scalar(text, style, _anchor, tag) => Some(Node {
                pos,
                tagged: tag.is_some(),
                kind: NodeKind::Scalar {
                    text: text.into_owned(),
                    plain: style == ScalarStyle::Plain,
                },
            }),
            Event::Alias(_) => Some(Node {
                pos,
                tagged: false,
                kind: NodeKind::Alias,
            }),
            Event::SequenceStart(..) | Event::MappingStart(..) if stack.len() >= MAX_DEPTH => {
                return Err(SyntaxError {
                    pos,
                    message: format!("nesting deeper than {MAX_DEPTH} levels"),
                });
            }
            Event::SequenceStart(_, tag) => {
                stack.push(Frame::Seq {
                    start: pos,
                    tagged: tag.is_some(),
                    items: Vec::new(),
                });
                None
            }
            Event::MappingStart(_, tag) => {
                stack.push(Frame::Map {
                    start: pos,
                    tagged: tag.is_some(),
                    entries: Vec::new(),
                    key: None,
                });
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq {
                    start,
                    tagged,
                    items,
                }) => Some(Node {
                    pos: start,
                    tagged,
                    kind: NodeKind::Seq(items),
                }),
                _ => return Err(unbalanced(pos)),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map {
                    start,
                    tagged,
                    entries,
                    key: None,
                }) => Some(Node {
                    pos: start,
                    tagged,
                    kind: NodeKind::Map(entries),
                }),
                _ => return Err(unbalanced(pos)),
            },
        };
        let Some(node) = node else { continue };
        match stack.last_mut() {
            None => {
                // Only the first document counts; later ones are reported, not read.
                if documents <= 1 && doc.root.is_none() {
                    doc.root = Some(node);
                }
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }
    if stack.is_empty() {
        Ok(doc)
    } else {
        Err(SyntaxError {
            pos: Pos::default(),
            message: "unexpected end of input".into(),
        })
    }
}

fn unbalanced(pos: Pos) -> SyntaxError {
    SyntaxError {
        pos,
        message: "unbalanced collection end".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_positions(text: &str) -> Vec<(String, Pos, Pos)> {
        let doc = build(text).expect("valid yaml");
        let mut out = Vec::new();
        let mut todo = vec![doc.root.expect("root")];
        while let Some(node) = todo.pop() {
            if let NodeKind::Map(entries) = node.kind {
                for (k, v) in entries {
                    if let NodeKind::Scalar { text, .. } = &k.kind {
                        out.push((text.clone(), k.pos, v.pos));
                    }
                    todo.push(v);
                }
            }
        }
        out.sort_by_key(|(_, k, _)| (k.line, k.column));
        out
    }

    #[test]
    fn positions_are_one_based_lines_and_columns() {
        let text = "# comment\na: 1\nb:\n  c: \"x\"\n  d: [1, 2]\n";
        let keys = key_positions(text);
        let got: Vec<_> = keys
            .iter()
            .map(|(k, kp, vp)| (k.as_str(), kp.line, kp.column, vp.line, vp.column))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a", 2, 1, 2, 4),
                ("b", 3, 1, 4, 3),
                ("c", 4, 3, 4, 6),
                ("d", 5, 3, 5, 6)
            ]
        );
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = build("a: 1\nb: [1, 2\n").expect_err("unterminated flow sequence");
        assert!(err.pos.line >= 2, "{err:?}");
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        // Flow nesting: the parser's own limit.
        assert!(build(&"[".repeat(100_000)).is_err());
        // Block nesting: ours.
        let text: String = (0..200)
            .map(|d| format!("{}a:\n", "  ".repeat(d)))
            .collect();
        let err = build(&text).expect_err("too deep");
        assert!(err.message.contains("nesting"), "{err:?}");
    }

    #[test]
    fn control_characters_are_refused_where_they_are() {
        let err = build("a: 1\r\nb: x\u{e}y\n").expect_err("control character");
        assert_eq!(err.pos, Pos { line: 2, column: 5 });
        assert!(err.message.contains("U+000E"), "{err:?}");
        assert!(build("# tab\tand\u{a0}nbsp \u{1F600}\nk: v\n").is_ok());
    }

    #[test]
    fn extra_documents_are_noted() {
        let doc = build("a: 1\n---\nb: 2\n").expect("two docs");
        assert_eq!(doc.extra_documents.len(), 1);
        assert_eq!(doc.extra_documents[0].line, 2);
    }

    #[test]
    fn empty_input_has_no_root() {
        assert!(build("").expect("empty").root.is_none());
        assert!(build("# only a comment\n").expect("comment").root.is_none());
    }
}
