//! Walks the marked tree against the schema table and collects every problem: unknown keys
//! (with "did you mean"), missing required fields, wrong types, out-of-range values, bad enum
//! names. The values that pass are kept, with their positions, for the cross-field rules.
//!
//! Scalars are read with the same rules `serde_yaml` applies when it later builds the
//! [`Target`](crate::Target): integers and numbers only when written plain (unquoted), with
//! the same prefixes (`0x`, `0o`, `0b`, `+`) and the same refusal of leading zeros.

use std::collections::{BTreeMap, HashMap};

use crate::error::Problem;
use crate::table::{self, Field, Kind};
use crate::tree::{Doc, Node, NodeKind, Pos};

/// A value that passed its own type and range check.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Val {
    U(u64),
    I(i64),
    F(f64),
    B(bool),
    S(String),
    E(&'static str),
}

/// A checked value and where it came from.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    pub value: Val,
    /// The value as written (or the default's text).
    pub raw: String,
    /// Where it was written; for a default, where its section starts.
    pub pos: Pos,
    /// False when the value is the field's default.
    pub written: bool,
}

/// Every checked leaf value by path, for the cross-field rules.
#[derive(Debug, Default)]
pub(crate) struct Values(BTreeMap<&'static str, Seen>);

impl Values {
    pub fn seen(&self, path: &str) -> Option<&Seen> {
        self.0.get(path)
    }

    pub fn u(&self, path: &str) -> Option<u64> {
        match self.seen(path)?.value {
            Val::U(v) => Some(v),
            _ => None,
        }
    }

    pub fn i(&self, path: &str) -> Option<i64> {
        match self.seen(path)?.value {
            Val::I(v) => Some(v),
            _ => None,
        }
    }

    pub fn b(&self, path: &str) -> Option<bool> {
        match self.seen(path)?.value {
            Val::B(v) => Some(v),
            _ => None,
        }
    }

    pub fn e(&self, path: &str) -> Option<&'static str> {
        match self.seen(path)?.value {
            Val::E(v) => Some(v),
            _ => None,
        }
    }

    /// A problem located at `path`'s value; `None` when the field has no checked value.
    pub fn problem(
        &self,
        path: &str,
        message: String,
        expected: String,
        hint: Option<String>,
    ) -> Option<Problem> {
        let seen = self.seen(path)?;
        let message = if seen.written {
            message
        } else {
            format!("{message} (`{}` is the default)", seen.raw)
        };
        Some(Problem {
            line: seen.pos.line,
            column: seen.pos.column,
            field: path.to_string(),
            value: if seen.written {
                seen.raw.clone()
            } else {
                String::new()
            },
            message,
            expected,
            hint,
        })
    }
}

/// Why a scalar was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Bad {
    pub message: String,
    pub hint: Option<String>,
}

fn bad(message: String) -> Bad {
    Bad {
        message,
        hint: None,
    }
}

/// Check the whole document; returns the problems and the values that passed.
pub(crate) fn check(doc: &Doc) -> (Vec<Problem>, Values) {
    let mut w = Walker::default();
    match &doc.root {
        None => w.push(
            Pos { line: 1, column: 1 },
            TOP,
            "",
            "the file holds no target".into(),
            top_expected(),
            None,
        ),
        Some(root) => w.section(root, "", root.pos),
    }
    for pos in &doc.extra_documents {
        w.push(
            *pos,
            TOP,
            "---",
            "a second YAML document; a target file holds exactly one".into(),
            "a single document".into(),
            Some("remove the `---` line and what follows, or split the file".into()),
        );
    }
    (w.problems, Values(w.values))
}

const TOP: &str = "(top level)";

fn top_expected() -> String {
    let keys: Vec<&str> = table::children("").map(|f| f.key()).collect();
    format!("a mapping with keys {}", keys.join(", "))
}

#[derive(Default)]
struct Walker {
    problems: Vec<Problem>,
    values: BTreeMap<&'static str, Seen>,
}

impl Walker {
    fn push(
        &mut self,
        pos: Pos,
        field: &str,
        value: &str,
        message: String,
        expected: String,
        hint: Option<String>,
    ) {
        self.problems.push(Problem {
            line: pos.line,
            column: pos.column,
            field: field.to_string(),
            value: value.to_string(),
            message,
            expected,
            hint,
        });
    }

    /// Check a mapping node against the children of section `path` ("" = top level).
    /// `anchor` is where missing fields are reported (the section's key).
    fn section(&mut self, node: &Node, path: &'static str, anchor: Pos) {
        let shown = if path.is_empty() { TOP } else { path };
        let expected = match table::field(path) {
            Some(f) => f.expected(),
            None => top_expected(),
        };
        if node.tagged {
            self.push(
                node.pos,
                shown,
                "",
                "YAML tags (`!name`) are not used in target files".into(),
                expected.clone(),
                Some("remove the tag".into()),
            );
        }
        let entries = match &node.kind {
            NodeKind::Map(entries) => entries,
            _ => {
                self.push(
                    node.pos,
                    shown,
                    scalar_text(node),
                    format!("expected a mapping, found {}", node.describe()),
                    expected,
                    None,
                );
                return;
            }
        };

        // In a tagged section the tag key picks which variant's fields apply.
        let tagged = table::field(path).and_then(|f| match f.kind {
            Kind::Tagged { tag, variants } => Some((tag, variants)),
            _ => None,
        });
        let variant: Option<&'static str> = tagged.and_then(|(tag, variants)| {
            entries.iter().find_map(|(k, v)| {
                let is_tag = matches!(&k.kind, NodeKind::Scalar { text, .. } if text == tag);
                match (&v.kind, is_tag) {
                    (NodeKind::Scalar { text, .. }, true) => {
                        variants.iter().copied().find(|n| n == text)
                    }
                    _ => None,
                }
            })
        });
        let applies = |f: &Field| f.when.is_none() || f.when == variant;
        let allowed: Vec<&'static str> = table::children(path)
            .filter(|f| applies(f))
            .map(|f| f.key())
            .collect();
        let allowed_text = format!("one of {}", allowed.join(", "));

        let mut first_at: HashMap<&str, Pos> = HashMap::new();
        // Required keys that an unknown key is probably a misspelling of: the unknown-key
        // problem already says so, so they are not reported missing as well.
        let mut suggested: Vec<&str> = Vec::new();
        for (k, v) in entries {
            let key = match &k.kind {
                NodeKind::Scalar { text, .. } if !k.tagged && !text.is_empty() => text.as_str(),
                _ => {
                    let found = if scalar_text(k).is_empty() {
                        "an empty key"
                    } else {
                        k.describe()
                    };
                    self.push(
                        k.pos,
                        shown,
                        "",
                        format!("a key must be a plain name, found {found}"),
                        allowed_text.clone(),
                        None,
                    );
                    continue;
                }
            };
            let full = join(path, key);
            if let Some(first) = first_at.get(key) {
                self.push(
                    k.pos,
                    &full,
                    "",
                    format!(
                        "duplicate key (first written at {}:{})",
                        first.line, first.column
                    ),
                    "each key once".into(),
                    Some("remove one of the two".into()),
                );
                continue;
            }
            first_at.insert(key, k.pos);
            match table::children(path).find(|f| f.key() == key) {
                Some(f) if applies(f) => self.value(f, v, k.pos),
                Some(f) => {
                    // A field of another variant; when the variant itself is unknown, the tag's
                    // own problem says so and these fields cannot be judged.
                    if let (Some((tag, _)), Some(_)) = (tagged, variant) {
                        self.push(
                            k.pos,
                            &full,
                            "",
                            format!(
                                "only applies when `{tag}` is `{}`",
                                f.when.unwrap_or_default()
                            ),
                            allowed_text.clone(),
                            Some(format!("remove `{key}`")),
                        );
                    }
                }
                None => {
                    let suggestion = did_you_mean(key, allowed.iter().copied());
                    let hint = match suggestion {
                        Some(m) => {
                            suggested.push(m);
                            Some(format!("did you mean `{m}`?"))
                        }
                        None => elsewhere_hint(key, path),
                    };
                    self.push(
                        k.pos,
                        &full,
                        "",
                        "unknown key".into(),
                        allowed_text.clone(),
                        hint,
                    );
                }
            }
        }

        for f in table::children(path).filter(|f| applies(f)) {
            if first_at.contains_key(f.key()) {
                continue;
            }
            match f.default {
                None => {
                    if (f.when.is_some() && variant.is_none()) || suggested.contains(&f.key()) {
                        continue;
                    }
                    let hint = f.when.map(|v| format!("required when `kind` is `{v}`"));
                    self.push(
                        anchor,
                        f.path,
                        "",
                        "missing required field".into(),
                        f.expected(),
                        hint,
                    );
                }
                Some(default) => {
                    let (text, plain) = unquote(default);
                    if let Ok(value) = parse_scalar(&f.kind, text, plain) {
                        self.values.insert(
                            f.path,
                            Seen {
                                value,
                                raw: default.to_string(),
                                pos: anchor,
                                written: false,
                            },
                        );
                    }
                }
            }
        }
    }

    fn value(&mut self, f: &'static Field, node: &Node, key_pos: Pos) {
        if f.is_section() {
            self.section(node, f.path, key_pos);
            return;
        }
        if node.tagged {
            self.push(
                node.pos,
                f.path,
                scalar_text(node),
                "YAML tags (`!name`) are not used in target files".into(),
                f.expected(),
                Some("remove the tag".into()),
            );
            return;
        }
        match &node.kind {
            NodeKind::Scalar { text, plain } => match parse_scalar(&f.kind, text, *plain) {
                Ok(value) => {
                    self.values.insert(
                        f.path,
                        Seen {
                            value,
                            raw: text.clone(),
                            pos: node.pos,
                            written: true,
                        },
                    );
                }
                Err(b) => {
                    let hint = b.hint.or_else(|| unit_hint(f, text));
                    self.push(node.pos, f.path, text, b.message, f.expected(), hint);
                }
            },
            NodeKind::Alias => self.push(
                node.pos,
                f.path,
                "",
                "aliases (`*name`) are not supported in target files".into(),
                f.expected(),
                Some("write the value out".into()),
            ),
            NodeKind::Seq(_) | NodeKind::Map(_) => self.push(
                node.pos,
                f.path,
                "",
                format!("expected a single value, found {}", node.describe()),
                f.expected(),
                None,
            ),
        }
    }
}

fn scalar_text(node: &Node) -> &str {
    match &node.kind {
        NodeKind::Scalar { text, .. } => text,
        _ => "",
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// A default as written in the table: `"..."` is a quoted string.
pub(crate) fn unquote(default: &str) -> (&str, bool) {
    match default.strip_prefix('"').and_then(|d| d.strip_suffix('"')) {
        Some(inner) => (inner, false),
        None => (default, true),
    }
}

/// The closest of `candidates` to `word`, if it is close enough to be a likely typo.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let norm = word.trim().to_ascii_lowercase().replace(['-', ' '], "_");
    let mut best: Option<(f64, &'a str)> = None;
    for c in candidates {
        let score = if c == norm {
            2.0
        } else if norm.chars().count() > 10 * c.chars().count() {
            // Far too long to be a typo of `c` (Jaro-Winkler stays below 0.82), and the edit
            // distance takes time and memory proportional to the product of the lengths.
            0.0
        } else {
            let jw = strsim::jaro_winkler(&norm, c);
            let dl = strsim::damerau_levenshtein(&norm, c);
            if dl <= 2 && norm.len() > 3 {
                jw.max(0.9)
            } else {
                jw
            }
        };
        if best.is_none_or(|(s, _)| score > s) {
            best = Some((score, c));
        }
    }
    best.filter(|(s, _)| *s >= 0.82).map(|(_, c)| c)
}

/// The right key in the wrong section?
fn elsewhere_hint(key: &str, path: &str) -> Option<String> {
    let elsewhere: Vec<&str> = table::FIELDS
        .iter()
        .filter(|f| f.key() == key && f.parent() != path)
        .map(|f| f.path)
        .collect();
    if !elsewhere.is_empty() {
        return Some(format!("`{key}` belongs at `{}`", elsewhere.join("` or `")));
    }
    None
}

fn unit_hint(f: &Field, text: &str) -> Option<String> {
    let t = text.trim();
    let has_suffix = t
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_digit() || c == '.')
        && t.chars().last().is_some_and(|c| c.is_ascii_alphabetic());
    match f.unit {
        "J" if has_suffix || parse_float(t).is_some_and(|x| x > 1e-6) => {
            Some("energies are in joules: 23.6 pJ is written `23.6e-12`".into())
        }
        "W" if has_suffix => Some("power is in watts: 50 uW is written `50e-6`".into()),
        "Hz" if has_suffix => Some("the clock is in hertz: 100 MHz is written `100e6`".into()),
        _ if has_suffix => Some(format!("write a bare number; the unit is {}", f.unit)),
        _ => None,
    }
}

/// Read a scalar as a value of `kind`, with serde_yaml's rules; a message echoes at most 80
/// characters of the value (a 600 KB value is not printed whole).
pub(crate) fn parse_scalar(kind: &Kind, text: &str, plain: bool) -> Result<Val, Bad> {
    const ECHO: usize = 80;
    parse_scalar_echoing(kind, text, plain).map_err(|mut b| {
        if let Some((at, _)) = text.char_indices().nth(ECHO) {
            let cut = format!("{}… ({} bytes)", &text[..at], text.len());
            b.message = b.message.replacen(text, &cut, 1);
        }
        b
    })
}

fn parse_scalar_echoing(kind: &Kind, text: &str, plain: bool) -> Result<Val, Bad> {
    let numeric = matches!(
        kind,
        Kind::Uint { .. } | Kind::Int { .. } | Kind::Float { .. } | Kind::Bool
    );
    if numeric && !plain {
        return Err(Bad {
            message: format!("`{text}` is quoted, which makes it a string"),
            hint: Some("remove the quotes".into()),
        });
    }
    if numeric && text.is_empty() {
        return Err(bad("no value given".into()));
    }
    match *kind {
        Kind::Section | Kind::Tagged { .. } => Err(bad("expected a mapping".into())),
        Kind::Uint { min, max } => {
            let Some(v) = parse_unsigned(text) else {
                return Err(not_integer(text, true));
            };
            if v < min || v > max {
                return Err(bad(format!("`{text}` is out of range")));
            }
            Ok(Val::U(v))
        }
        Kind::Int { min, max } => {
            let Some(v) = parse_signed(text) else {
                return Err(not_integer(text, false));
            };
            if v < min || v > max {
                return Err(bad(format!("`{text}` is out of range")));
            }
            Ok(Val::I(v))
        }
        Kind::Float {
            min,
            max,
            min_exclusive,
        } => {
            let Some(x) = parse_float(text) else {
                return Err(bad(format!("`{text}` is not a number")));
            };
            if !x.is_finite() {
                return Err(bad(format!("`{text}` is not a finite number")));
            }
            let low_ok = if min_exclusive { x > min } else { x >= min };
            if !low_ok || x > max {
                return Err(bad(format!("`{text}` is out of range")));
            }
            Ok(Val::F(x))
        }
        Kind::Bool => match text {
            "true" | "True" | "TRUE" => Ok(Val::B(true)),
            "false" | "False" | "FALSE" => Ok(Val::B(false)),
            _ => Err(Bad {
                message: format!("`{text}` is not a boolean"),
                hint: matches!(
                    text.to_ascii_lowercase().as_str(),
                    "yes" | "no" | "on" | "off" | "y" | "n" | "1" | "0"
                )
                .then(|| "write `true` or `false`".to_string()),
            }),
        },
        Kind::Name => {
            let ok = (1..=64).contains(&text.chars().count())
                && text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if ok {
                Ok(Val::S(text.to_string()))
            } else if text.is_empty() {
                Err(bad("no name given".into()))
            } else {
                Err(bad(format!("`{text}` is not a valid name")))
            }
        }
        Kind::Text => Ok(Val::S(text.to_string())),
        Kind::Enum(names) => match names.iter().copied().find(|n| *n == text) {
            Some(n) => Ok(Val::E(n)),
            None => Err(Bad {
                message: if text.is_empty() {
                    "no value given".into()
                } else {
                    format!("`{text}` is not a known value")
                },
                hint: did_you_mean(text, names.iter().copied())
                    .map(|m| format!("did you mean `{m}`?")),
            }),
        },
    }
}

fn not_integer(text: &str, unsigned: bool) -> Bad {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if unsigned && parse_signed(text).is_some_and(|v| v < 0) {
        bad(format!("`{text}` is negative"))
    } else if !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits_but_not_number(text)
    {
        bad(format!("`{text}` is out of range"))
    } else if digits_but_not_number(text) {
        Bad {
            message: format!("`{text}` has a leading zero, which YAML reads as a string"),
            hint: Some("drop the leading zeros".into()),
        }
    } else if parse_float(text).is_some_and(f64::is_finite) {
        Bad {
            message: format!("`{text}` is not a whole number"),
            hint: None,
        }
    } else {
        bad(format!("`{text}` is not an integer"))
    }
}

/// Leading zeros followed by digits: a string in YAML 1.2 (and in serde_yaml).
fn digits_but_not_number(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    s.len() > 1 && s.starts_with('0') && s[1..].bytes().all(|b| b.is_ascii_digit())
}

/// serde_yaml's reading of an unsigned integer.
fn parse_unsigned(s: &str) -> Option<u64> {
    let unpositive = s.strip_prefix('+').unwrap_or(s);
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(rest) = unpositive.strip_prefix(prefix) {
            if rest.starts_with(['+', '-']) {
                return None;
            }
            if let Ok(v) = u64::from_str_radix(rest, radix) {
                return Some(v);
            }
        }
    }
    if unpositive.starts_with(['+', '-']) || digits_but_not_number(s) {
        return None;
    }
    unpositive.parse().ok()
}

/// serde_yaml's reading of a signed integer.
fn parse_signed(s: &str) -> Option<i64> {
    let unpositive = match s.strip_prefix('+') {
        Some(u) if u.starts_with(['+', '-']) => return None,
        Some(u) => u,
        None => s,
    };
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(rest) = unpositive.strip_prefix(prefix) {
            if rest.starts_with(['+', '-']) {
                return None;
            }
            if let Ok(v) = i64::from_str_radix(rest, radix) {
                return Some(v);
            }
        }
        if let Some(rest) = s.strip_prefix('-').and_then(|r| r.strip_prefix(prefix))
            && let Ok(v) = i64::from_str_radix(&format!("-{rest}"), radix)
        {
            return Some(v);
        }
    }
    if digits_but_not_number(s) {
        return None;
    }
    unpositive.parse().ok()
}

/// serde_yaml's reading of a float (`.inf` and `.nan` included; the caller refuses them).
fn parse_float(s: &str) -> Option<f64> {
    let unpositive = match s.strip_prefix('+') {
        Some(u) if u.starts_with(['+', '-']) => return None,
        Some(u) => u,
        None => s,
    };
    match unpositive {
        ".inf" | ".Inf" | ".INF" => return Some(f64::INFINITY),
        _ => {}
    }
    match s {
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    unpositive.parse::<f64>().ok().filter(|x| x.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 15: a long bad value is echoed cut, with its length.
    #[test]
    fn long_values_are_echoed_cut() {
        let long = format!("f{}", "x".repeat(600_000));
        for kind in [Kind::Bool, Kind::Uint { min: 0, max: 9 }, Kind::Name] {
            let m = parse_scalar(&kind, &long, true).err().unwrap().message;
            assert!(
                m.len() < 200 && m.contains("… (600001 bytes)"),
                "{}",
                m.len()
            );
        }
    }

    #[test]
    fn integers_read_like_serde_yaml() {
        for (text, want) in [
            ("12", Some(12)),
            ("+12", Some(12)),
            ("0x10", Some(16)),
            ("0o17", Some(15)),
            ("0b101", Some(5)),
            ("0", Some(0)),
            ("012", None),
            ("-1", None),
            ("1_000", None),
            ("12.0", None),
            ("", None),
        ] {
            assert_eq!(parse_unsigned(text), want, "{text}");
            let serde: Result<u64, _> =
                serde_yaml::from_str(if text.is_empty() { "''" } else { text });
            assert_eq!(serde.ok(), want, "serde on {text}");
        }
        for (text, want) in [
            ("-8", Some(-8)),
            ("+7", Some(7)),
            ("-0x10", Some(-16)),
            ("-08", None),
        ] {
            assert_eq!(parse_signed(text), want, "{text}");
            let serde: Result<i64, _> = serde_yaml::from_str(text);
            assert_eq!(serde.ok(), want, "serde on {text}");
        }
    }

    #[test]
    fn floats_read_like_serde_yaml() {
        for text in [
            "1e6",
            "23.6e-12",
            "0",
            "+1.5",
            "100000000",
            "-2",
            "1e400",
            "abc",
            "0x10",
            "inf",
            "1_0.0",
        ] {
            let ours = parse_float(text).filter(|x| x.is_finite());
            let serde: Option<f64> = serde_yaml::from_str(text)
                .ok()
                .filter(|x: &f64| x.is_finite());
            assert_eq!(ours, serde, "{text}");
        }
    }

    #[test]
    fn a_huge_unknown_value_is_refused_quickly() {
        // Found by fuzzing (`lifchip-fuzz --parser target --seed 1 --case 94650`): a 500 KB
        // enum value took 1.5 s (20 s on a loaded machine) in the edit distance of the hint.
        let huge = format!("satur{}", "{\"a\":".repeat(200_000));
        let started = std::time::Instant::now();
        assert_eq!(did_you_mean(&huge, ["saturate", "wrap"]), None);
        assert!(
            started.elapsed().as_secs_f64() < 0.5,
            "{:?}",
            started.elapsed()
        );
        assert_eq!(
            did_you_mean("saturat", ["saturate", "wrap"]),
            Some("saturate")
        );
    }

    #[test]
    fn did_you_mean_finds_typos_only() {
        let keys = [
            "neurons",
            "input_axons",
            "output_axons",
            "synapse_memory_bits",
        ];
        assert_eq!(did_you_mean("input_axon", keys), Some("input_axons"));
        assert_eq!(did_you_mean("nuerons", keys), Some("neurons"));
        assert_eq!(did_you_mean("Input-Axons", keys), Some("input_axons"));
        assert_eq!(
            did_you_mean("synapse_bits", keys),
            Some("synapse_memory_bits")
        );
        assert_eq!(did_you_mean("colour", keys), None);
        let resets = ["zero", "subtract"];
        assert_eq!(did_you_mean("substract", resets), Some("subtract"));
        assert_eq!(
            did_you_mean("greater-equal", ["greater", "greater_equal"]),
            Some("greater_equal")
        );
    }
}
