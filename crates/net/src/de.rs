//! YAML reading that says which field is wrong: `populations[1].neuron.threshold: invalid
//! type: floating point NaN, expected i64` rather than `populations[1]: …`.
//!
//! serde buffers the content of an internally tagged enum (`{kind: chip_lif, …}`) before it
//! picks the variant, and errors from the buffered content carry no field name. [`tracked`]
//! (a `deserialize_with` for a variant's content) records the path inside the variant;
//! [`from_yaml_str`] tracks the path outside it and joins the two.

use std::cell::RefCell;

use serde::{Deserialize, Deserializer, de::DeserializeOwned};

thread_local! {
    /// The path inside a tagged variant of the last error [`tracked`] saw, and its message.
    static INNER: RefCell<Option<(String, String)>> = const { RefCell::new(None) };
}

/// A YAML error with the path of the field it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// `a.b[2].c`; empty for the document itself.
    pub path: String,
    /// What is wrong, without the path or the location, long values cut.
    pub message: String,
    /// 1-based line and column of the field; (0, 0) when unknown.
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for YamlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// `deserialize_with` for the content of a variant of an internally tagged enum (or any value
/// serde buffers): records the path of a failing field inside it for [`from_yaml_str`].
pub fn tracked<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    serde_path_to_error::deserialize(d).map_err(|e| {
        let path = path_text(e.path());
        let inner = e.into_inner();
        if !path.is_empty() {
            let message = inner.to_string();
            INNER.with(|c| {
                let mut c = c.borrow_mut();
                let joined = match c.take() {
                    // A tracked value inside this one failed with the same error.
                    Some((below, m)) if m == message => join(&path, &below),
                    _ => path,
                };
                *c = Some((joined, message));
            });
        }
        inner
    })
}

/// Deserializes YAML text, the error naming the field: the path outside and inside tagged
/// enums joined, the location once, a long echoed value cut (`lifchip_files::short_message`).
/// The caller checks the nesting depth first (`lifchip_files::check_yaml_nesting`).
pub fn from_yaml_str<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    INNER.with(|c| c.borrow_mut().take());
    let result = serde_path_to_error::deserialize(serde_yaml::Deserializer::from_str(text));
    let inner = INNER.with(|c| c.borrow_mut().take());
    result.map_err(|e| {
        let mut path = path_text(e.path());
        let error = e.into_inner();
        let (line, column) = error.location().map_or((0, 0), |l| (l.line(), l.column()));
        let mut message = lifchip_files::short_message(&error.to_string());
        // serde_yaml writes its own path before the message, sometimes a shorter one (it
        // stops where serde buffers): drop it.
        let mut located_at = String::new();
        if let Some((head, rest)) = message.split_once(": ")
            && !head.is_empty()
            && !head.contains(' ')
            && path.starts_with(head)
        {
            located_at = head.to_string();
            message = rest.to_string();
        }
        if let Some((below, m)) = inner
            && (message == m || message == lifchip_files::short_message(&m))
        {
            path = join(&path, &below);
        }
        // serde_yaml's location is that of its path: keep it only when that is the field's.
        // A key's own error names the key: its path is the mapping's.
        if ["unknown field", "duplicate field"]
            .iter()
            .any(|m| message.starts_with(m))
        {
            path.truncate(path.rfind(['.', '[']).unwrap_or(0));
        }
        let (line, column) = if located_at == path {
            (line, column)
        } else {
            (0, 0)
        };
        YamlError {
            path,
            message,
            line,
            column,
        }
    })
}

fn join(outer: &str, inner: &str) -> String {
    match (outer.is_empty(), inner.starts_with('[')) {
        (true, _) => inner.to_string(),
        (false, true) => format!("{outer}{inner}"),
        (false, false) => format!("{outer}.{inner}"),
    }
}

/// `a.b[2].c`, without serde_path_to_error's enum segments and `?` for unknown ones.
fn path_text(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&lifchip_files::short_message(key));
            }
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        #[allow(dead_code)]
        n: i64,
        #[allow(dead_code)]
        #[serde(default)]
        list: Vec<u32>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(tag = "kind", rename_all = "snake_case")]
    enum Tagged {
        #[allow(dead_code)]
        A(#[serde(deserialize_with = "tracked")] Inner),
        #[allow(dead_code)]
        B(Inner),
    }

    #[derive(Debug, Deserialize)]
    struct Doc {
        #[allow(dead_code)]
        items: Vec<Tagged>,
    }

    #[test]
    fn paths_go_inside_tagged_variants() {
        let e = from_yaml_str::<Doc>("items:\n  - {kind: a, n: 1}\n  - {kind: a, n: .nan}\n")
            .unwrap_err();
        assert_eq!(e.path, "items[1].n", "{e:?}");
        assert_eq!(
            e.message,
            "invalid type: floating point `NaN`, expected i64"
        );
        // serde_yaml locates it at the list, not the field: no location rather than a wrong one.
        assert_eq!((e.line, e.column), (0, 0), "{e:?}");
        let e = from_yaml_str::<Doc>("items:\n  - {kind: a, n: 1}\n  - 7\n").unwrap_err();
        assert_eq!((e.path.as_str(), e.line), ("items[1]", 3), "{e:?}");
        let e = from_yaml_str::<Doc>("items: [{kind: a, n: 1, list: [1, -2]}]").unwrap_err();
        assert_eq!(
            e.to_string(),
            "items[0].list[1]: invalid value: integer `-2`, expected u32"
        );
        // Untracked variants still get the path outside.
        let e = from_yaml_str::<Doc>("items: [{kind: b, n: x}]").unwrap_err();
        assert_eq!(e.path, "items[0]", "{e:?}");
        let e = from_yaml_str::<Doc>("items: 5").unwrap_err();
        assert_eq!(e.path, "items", "{e:?}");
    }
}
