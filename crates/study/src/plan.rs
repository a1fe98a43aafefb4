//! Planning a sweep: the targets it names, resolved and checked against its axes, and every
//! point's settings, target text and cache key.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use serde_yaml::Value;

use crate::{
    cache,
    error::{StudyError, StudyResult},
    spec::{
        INPUT_RATE_AXIS, QatSpec, SYNAPSE_TAU_AXIS, SpecFile, TARGET_AXIS, TICKS_AXIS, show_value,
    },
};

/// Sets the field at dotted `path` in a target's YAML tree.
pub fn set_path(root: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let mut node = root;
    let parts: Vec<&str> = path.split('.').collect();
    for (k, part) in parts.iter().enumerate() {
        let map = node
            .as_mapping_mut()
            .ok_or_else(|| format!("`{}` is not a section", parts[..k].join(".")))?;
        let key = Value::String((*part).to_string());
        if k + 1 == parts.len() {
            map.insert(key, value);
            return Ok(());
        }
        if !map.contains_key(&key) {
            map.insert(key.clone(), Value::Mapping(Default::default()));
        }
        node = map
            .get_mut(&key)
            .ok_or_else(|| format!("no section `{part}`"))?;
    }
    Ok(())
}

/// Where `path` stops existing in a target tree: `None` if every part is there, else the
/// section walked so far and the keys it has.
pub fn missing_part(root: &Value, path: &str) -> Option<(String, Vec<String>)> {
    let mut node = root;
    let mut walked = Vec::new();
    for part in path.split('.') {
        let map = node.as_mapping()?;
        match map.get(part) {
            Some(next) => {
                walked.push(part);
                node = next;
            }
            None => {
                let keys = map
                    .keys()
                    .filter_map(|k| k.as_str().map(str::to_string))
                    .collect();
                let section = if walked.is_empty() {
                    "the top level".to_string()
                } else {
                    format!("section `{}`", walked.join("."))
                };
                return Some((format!("{section} has no `{part}`"), keys));
            }
        }
    }
    None
}

/// A resolved base target: its name and YAML tree.
pub struct Base {
    pub name: String,
    pub tree: Value,
}

/// Resolves every target the sweep names (base and `target` axis) and checks that every
/// target-field axis exists in at least one of them.
pub fn resolve_targets(file: &SpecFile) -> StudyResult<BTreeMap<String, Base>> {
    let mut bases = BTreeMap::new();
    for reference in file.target_refs() {
        let at = if file.spec.target.as_deref() == Some(reference.as_str()) {
            file.at(&["target"])
        } else {
            file.at(&["axes", TARGET_AXIS])
        };
        let target = if let Some(t) = lifchip_target::builtin(&reference) {
            t
        } else {
            let near = file.relative(Path::new(&reference));
            let path = if near.exists() {
                near
            } else if Path::new(&reference).exists() {
                PathBuf::from(&reference)
            } else {
                return Err(StudyError::Spec {
                    at,
                    message: format!(
                        "target `{reference}` is neither a built-in target ({}) nor a file \
                         (relative paths are relative to the spec file)",
                        lifchip_target::builtin_names().join(", ")
                    ),
                });
            };
            lifchip_target::load(&path).map_err(|e| StudyError::Spec {
                at,
                message: format!("target `{reference}`: {e}"),
            })?
        };
        let tree = serde_yaml::to_value(&target).map_err(|e| StudyError::Encode {
            what: "a target",
            message: format!("`{reference}`: {e}"),
        })?;
        bases.insert(
            reference,
            Base {
                name: target.name.clone(),
                tree,
            },
        );
    }
    for axis in file.spec.axes.0.iter().filter(|a| a.is_target_field()) {
        let misses: Vec<(String, (String, Vec<String>))> = bases
            .values()
            .filter_map(|b| missing_part(&b.tree, &axis.name).map(|m| (b.name.clone(), m)))
            .collect();
        if misses.len() < bases.len() {
            continue;
        }
        if let Some((name, (what, keys))) = misses.into_iter().next() {
            return Err(file.error(
                &["axes", &axis.name],
                format!(
                    "axes.{}: no such target field: in target `{name}`, {what}; expected one of {}",
                    axis.name,
                    keys.join(", ")
                ),
            ));
        }
    }
    Ok(bases)
}

/// One point, ready to run.
#[derive(Clone, Debug)]
pub struct Plan {
    pub index: usize,
    /// Axis name → value, as written in the spec.
    pub shown: Vec<(String, String)>,
    pub synapse_tau: f64,
    pub input_rate: f64,
    pub ticks: u32,
    /// The point's target as YAML, or why it could not be built.
    pub target_text: Result<String, String>,
    /// Fingerprint of everything the point's result depends on.
    pub key: String,
    /// With `qat:` and a valid target: the fine-tuning settings for its weight format, and
    /// their key (points with the same key share one fine-tuned net).
    pub qat: Option<(String, lifchip_train::QatConfig)>,
}

/// The QAT settings of a point's target and their key (everything the fine-tuned net depends
/// on: the net, the training data, the `qat:` settings and the weight format, not the rest of
/// the target).
fn qat_plan(
    spec: &QatSpec,
    target_text: &str,
    qat_base: &str,
    train_data: &str,
) -> Option<(String, lifchip_train::QatConfig)> {
    let target = lifchip_target::parse(target_text, "point").ok()?;
    let mut q = lifchip_train::QatConfig::from_target(&target);
    q.target = weight_format(&q);
    q.data = train_data.to_string();
    q.train_limit = spec.train_limit;
    q.test_limit = Some(0);
    q.epochs = spec.epochs;
    q.lr = spec.lr;
    q.batch_size = spec.batch_size;
    q.noise = spec.noise;
    q.seed = spec.seed;
    let text = serde_json::to_string(&q).unwrap_or_default();
    Some((cache::key(&["lifchip-sweep-qat-1", qat_base, &text]), q))
}

/// `4-bit loihi_sign_mode`.
pub fn weight_format(q: &lifchip_train::QatConfig) -> String {
    let enc = match q.encoding {
        lifchip_target::WeightEncoding::Signed => "signed",
        lifchip_target::WeightEncoding::LoihiSignMode => "loihi_sign_mode",
    };
    format!("{}-bit {enc}", q.weight_bits)
}

/// Every point of the sweep, in spec order. `fingerprint` stands for the net (and whether
/// there is a float reference), `data_desc` for the emulated images, `qat_base` and
/// `train_data` for what fine-tuning depends on besides the weight format.
pub fn plan_points(
    file: &SpecFile,
    bases: &BTreeMap<String, Base>,
    fingerprint: &str,
    data_desc: &str,
    qat_base: &str,
    train_data: &str,
) -> Vec<Plan> {
    let spec = &file.spec;
    file.points()
        .into_iter()
        .enumerate()
        .map(|(index, values)| {
            let mut target_ref = spec.target.clone().unwrap_or_default();
            let (mut synapse_tau, mut input_rate, mut ticks) =
                (spec.synapse_tau, spec.input_rate, spec.ticks);
            for (name, v) in &values {
                match name.as_str() {
                    TARGET_AXIS => target_ref = v.as_str().unwrap_or_default().to_string(),
                    SYNAPSE_TAU_AXIS => synapse_tau = v.as_f64().unwrap_or(synapse_tau),
                    INPUT_RATE_AXIS => input_rate = v.as_f64().unwrap_or(input_rate),
                    TICKS_AXIS => {
                        ticks = v
                            .as_u64()
                            .and_then(|t| u32::try_from(t).ok())
                            .unwrap_or(ticks);
                    }
                    _ => {}
                }
            }
            let target_text = match bases.get(&target_ref) {
                None => Err(format!("target `{target_ref}` was not resolved")),
                Some(base) => {
                    let mut tree = base.tree.clone();
                    values
                        .iter()
                        .filter(|(name, _)| name.contains('.'))
                        .try_for_each(|(path, v)| {
                            set_path(&mut tree, path, v.clone()).map_err(|e| format!("{path}: {e}"))
                        })
                        .and_then(|()| serde_yaml::to_string(&tree).map_err(|e| e.to_string()))
                }
            };
            let target_part = match &target_text {
                Ok(t) => t.clone(),
                Err(e) => format!("error: {e}"),
            };
            let qat = match (&spec.qat, &target_text) {
                (Some(q), Ok(t)) => qat_plan(q, t, qat_base, train_data),
                _ => None,
            };
            let mut parts = vec![
                "lifchip-sweep-point-1",
                fingerprint,
                data_desc,
                &target_part,
            ];
            let settings = [
                synapse_tau.to_string(),
                input_rate.to_string(),
                ticks.to_string(),
            ];
            parts.splice(3..3, settings.iter().map(String::as_str));
            if spec.qat.is_some() {
                parts.push(qat.as_ref().map_or("qat: none", |(k, _)| k.as_str()));
            }
            let key = cache::key(&parts);
            Plan {
                index,
                shown: values
                    .iter()
                    .map(|(k, v)| (k.clone(), show_value(v)))
                    .collect(),
                synapse_tau,
                input_rate,
                ticks,
                target_text,
                key,
                qat,
            }
        })
        .collect()
}

/// A target problem as a line without the generated file's positions.
pub fn target_problems(e: &lifchip_target::TargetError) -> Vec<String> {
    let problems = e.problems();
    if problems.is_empty() {
        return vec![e.to_string()];
    }
    problems
        .iter()
        .map(|p| {
            let mut s = format!("{}: {}", p.field, p.message);
            if !p.value.is_empty() {
                s.push_str(&format!(" (value {})", p.value));
            }
            if !p.expected.is_empty() {
                s.push_str(&format!("; expected {}", p.expected));
            }
            if let Some(h) = &p.hint {
                s.push_str(&format!(" ({h})"));
            }
            s
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_path_and_missing_part() {
        let mut tree: Value =
            serde_yaml::from_str("core: {neurons: 4}\nname: x\n").unwrap_or(Value::Null);
        assert!(set_path(&mut tree, "core.neurons", Value::from(8)).is_ok());
        assert_eq!(tree["core"]["neurons"].as_u64(), Some(8));
        assert!(set_path(&mut tree, "name.x", Value::from(1)).is_err());
        assert!(missing_part(&tree, "core.neurons").is_none());
        let m = missing_part(&tree, "core.neuron").map(|m| m.0);
        assert_eq!(m.as_deref(), Some("section `core` has no `neuron`"));
        let m = missing_part(&tree, "cores.neurons").map(|m| m.1);
        assert_eq!(m, Some(vec!["core".to_string(), "name".to_string()]));
    }
}
