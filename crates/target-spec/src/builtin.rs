//! The shipped targets of `targets/`, embedded in the binary and read through the same checks
//! as any file.

use std::path::Path;

use crate::error::TargetError;
use crate::load::{load, parse};
use crate::schema::Target;

/// Names of the built-in targets, sorted.
const NAMES: &[&str] = &[
    "loihi-like",
    "tiny",
    "truenorth-like",
    "xylo-like",
    "xylo-v2-like",
];

/// Their YAML, in the order of `NAMES`.
const SOURCES: &[&str] = &[
    include_str!("../../../targets/loihi-like.yaml"),
    include_str!("../../../targets/tiny.yaml"),
    include_str!("../../../targets/truenorth-like.yaml"),
    include_str!("../../../targets/xylo-like.yaml"),
    include_str!("../../../targets/xylo-v2-like.yaml"),
];

/// The names of the built-in targets (`targets/NAME.yaml`), sorted.
pub fn builtin_names() -> &'static [&'static str] {
    NAMES
}

/// The YAML text of built-in target `name`, as shipped.
pub fn builtin_source(name: &str) -> Option<&'static str> {
    let i = NAMES.iter().position(|n| *n == name)?;
    SOURCES.get(i).copied()
}

/// Built-in target `name`, checked; `None` if there is no such target (or, which tests rule
/// out, if it fails its own check: [`resolve`] reports why).
pub fn builtin(name: &str) -> Option<Target> {
    checked_builtin(name)?.ok()
}

fn checked_builtin(name: &str) -> Option<Result<Target, TargetError>> {
    let source = builtin_source(name)?;
    Some(parse(source, &format!("targets/{name}.yaml")))
}

/// A built-in target by name, or else a target file by path.
///
/// A built-in name wins over a file of the same name in the working directory. When neither
/// exists, the error lists the built-in names.
pub fn resolve(name_or_path: &str) -> Result<Target, TargetError> {
    if let Some(result) = checked_builtin(name_or_path) {
        return result;
    }
    if Path::new(name_or_path).exists() {
        return load(name_or_path);
    }
    Err(TargetError::UnknownTarget {
        name: name_or_path.to_string(),
        builtins: NAMES.iter().map(|n| n.to_string()).collect(),
    })
}
