//! `parse` never panics: not on arbitrary text, not on YAML-looking noise, and not on randomly
//! mutated copies of the shipped targets. What it accepts re-validates; what it refuses comes
//! with well-formed problems.

use lifchip_target::{TargetError, builtin_names, builtin_source, parse};
use proptest::prelude::*;

/// Accepted targets re-check; refused ones carry positions inside the text.
fn check_outcome(text: &str) {
    // YAML breaks lines at `\n`, `\r` and `\r\n`; counting both bounds the line numbers.
    let lines = text.matches(['\n', '\r']).count() + 1;
    match parse(text, "fuzz.yaml") {
        Ok(target) => target.validate().expect("an accepted target re-validates"),
        Err(TargetError::Invalid { problems, .. }) => {
            assert!(!problems.is_empty());
            for p in &problems {
                assert!(
                    p.line >= 1 && p.line <= lines + 1,
                    "{p:?} outside {lines} lines"
                );
                assert!(p.column >= 1, "{p:?}");
                assert!(!p.field.is_empty() && !p.message.is_empty(), "{p:?}");
                // The serde fallback means the checker passed something serde refused.
                assert!(
                    !p.expected.starts_with("a target as described"),
                    "checker and serde disagree: {p:?}\n{text}"
                );
            }
            let rendered = TargetError::Invalid {
                path: "fuzz.yaml".into(),
                problems,
            }
            .to_string();
            assert!(rendered.starts_with("fuzz.yaml: "));
        }
        Err(TargetError::Syntax { line, .. }) => {
            assert!(line <= lines + 1, "syntax error at line {line}")
        }
        Err(other) => panic!("unexpected error kind: {other}"),
    }
}

#[derive(Clone, Debug)]
enum Mutation {
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    ReplaceChar(usize, char),
    Insert(usize, String),
    Truncate(usize),
    ReplaceValue(usize, String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let noise = prop_oneof![
        Just(String::new()),
        Just("-1".to_string()),
        Just("0".to_string()),
        Just("99999999999999999999999".to_string()),
        Just("\"7\"".to_string()),
        Just("[1, 2]".to_string()),
        Just("{a: 1}".to_string()),
        Just("*x".to_string()),
        Just("&x 3".to_string()),
        Just("!!str 4".to_string()),
        Just(".nan".to_string()),
        Just("1e999".to_string()),
        Just("~".to_string()),
        Just("subtract".to_string()),
        Just("crossbar".to_string()),
        "[ -~]{0,12}",
    ];
    prop_oneof![
        any::<usize>().prop_map(Mutation::DeleteLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (any::<usize>(), any::<char>()).prop_map(|(i, c)| Mutation::ReplaceChar(i, c)),
        (any::<usize>(), "[ -~\t\n]{0,16}").prop_map(|(i, s)| Mutation::Insert(i, s)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), noise).prop_map(|(i, s)| Mutation::ReplaceValue(i, s)),
    ]
}

fn apply(text: &str, m: &Mutation) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let n = lines.len().max(1);
    let chars: Vec<char> = text.chars().collect();
    let nc = chars.len().max(1);
    match m {
        Mutation::DeleteLine(i) => {
            if !lines.is_empty() {
                lines.remove(i % n);
            }
        }
        Mutation::DuplicateLine(i) => {
            if let Some(l) = lines.get(i % n).cloned() {
                lines.insert(i % n, l);
            }
        }
        Mutation::SwapLines(a, b) => {
            if !lines.is_empty() {
                lines.swap(a % n, b % n);
            }
        }
        Mutation::ReplaceChar(i, c) => {
            let mut chars = chars.clone();
            if !chars.is_empty() {
                chars[i % nc] = *c;
            }
            return chars.into_iter().collect();
        }
        Mutation::Insert(i, s) => {
            let at = i % (chars.len() + 1);
            let mut out: String = chars[..at].iter().collect();
            out.push_str(s);
            out.extend(&chars[at..]);
            return out;
        }
        Mutation::Truncate(i) => return chars[..i % (chars.len() + 1)].iter().collect(),
        Mutation::ReplaceValue(i, s) => {
            if let Some(line) = lines.get_mut(i % n)
                && let Some(colon) = line.find(": ")
            {
                let rest = &line[colon + 2..];
                let comment = rest
                    .find(" #")
                    .map(|c| rest[c..].to_string())
                    .unwrap_or_default();
                *line = format!("{}: {s}{comment}", &line[..colon]);
            }
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        check_outcome(&text);
    }

    #[test]
    fn yaml_like_noise_never_panics(text in "[a-z_:\\- \n\t\\[\\]{},\"'#&*!|>.0-9]{0,300}") {
        check_outcome(&text);
    }

    #[test]
    fn mutated_targets_never_panic(
        which in 0..builtin_names().len(),
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        let mut text = builtin_source(builtin_names()[which]).unwrap_or_default().to_string();
        for m in &mutations {
            text = apply(&text, m);
        }
        check_outcome(&text);
    }
}

#[test]
fn pathological_inputs_do_not_panic() {
    let mut cases = vec![
        "[".repeat(100_000),
        "{".repeat(100_000),
        "- ".repeat(10_000),
        "a: &a [*a]\n".to_string(),
        "? [a, b]\n: c\n".to_string(),
        "\u{feff}name: x\n".to_string(),
        "name: x\r\nmesh: {}\r\n".to_string(),
        "%YAML 1.2\n---\nname: x\n".to_string(),
        "name: !<tag:yaml.org,2002:str> x\n".to_string(),
        "\0\0\0".to_string(),
    ];
    cases.push(
        (0..200)
            .map(|d| format!("{}a:\n", "  ".repeat(d)))
            .collect(),
    );
    for text in &cases {
        check_outcome(text);
    }
}
