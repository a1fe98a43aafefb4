//! The sweep spec (`SWEEP.yaml`): reading it with the file, line and column in every error, its
//! axes, and the points they span.

use std::{
    collections::BTreeSet,
    fmt,
    path::{Path, PathBuf},
};

use serde::{
    Deserialize, Deserializer,
    de::{self, MapAccess, Visitor},
};
use serde_yaml::Value;

use lifchip_target::tree::{Node, NodeKind};

use crate::error::{Location, StudyError, StudyResult};

/// Axis names that are sweep settings rather than target fields (target fields are always
/// dotted paths such as `precision.weight_bits`).
pub const TARGET_AXIS: &str = "target";
pub const SYNAPSE_TAU_AXIS: &str = "synapse_tau";
pub const INPUT_RATE_AXIS: &str = "input_rate";
pub const TICKS_AXIS: &str = "ticks";
const SETTING_AXES: [&str; 4] = [TARGET_AXIS, SYNAPSE_TAU_AXIS, INPUT_RATE_AXIS, TICKS_AXIS];

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SweepMode {
    /// Every combination of the axes' values.
    #[default]
    Grid,
    /// The k-th value of every axis together (all axes the same length).
    List,
}

fn default_data() -> String {
    "mnist".into()
}
fn default_split() -> String {
    "test".into()
}
fn default_samples() -> usize {
    100
}
fn default_ticks() -> u32 {
    100
}
fn default_synapse_tau() -> f64 {
    0.005
}
fn default_input_rate() -> f64 {
    1.0
}
fn default_downsample() -> usize {
    1
}
fn default_true() -> bool {
    true
}

/// The sweep spec file. Relative paths in it are relative to the spec file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// A title for `report.md` and the plots.
    pub title: Option<String>,
    /// The net to compile (a net directory, a YAML file, or a NIR file imported at `nir_dt`
    /// under `nir_convention`) ...
    pub net: Option<PathBuf>,
    /// Seconds per tick for a `.nir` net (default: the convention's; docs/nir.md).
    pub nir_dt: Option<f64>,
    /// How the library that wrote a `.nir` net discretised it: nir, snntorch, norse, sinabs or rockpool.
    pub nir_convention: Option<String>,
    /// ... or a training config: the net is trained once into `OUT/net.net`.
    pub train: Option<PathBuf>,
    /// Base target: a built-in name or a YAML file (optional when there is a `target` axis).
    pub target: Option<String>,
    #[serde(default)]
    pub mode: SweepMode,
    /// Axis name → values.
    pub axes: Axes,
    /// `mnist` (bundled) or a folder of MNIST-layout IDX files.
    #[serde(default = "default_data")]
    pub data: String,
    #[serde(default = "default_split")]
    pub split: String,
    /// Images emulated per point (the first ones of the split).
    #[serde(default = "default_samples")]
    pub samples: usize,
    #[serde(default = "default_ticks")]
    pub ticks: u32,
    #[serde(default = "default_synapse_tau")]
    pub synapse_tau: f64,
    #[serde(default = "default_input_rate")]
    pub input_rate: f64,
    /// Average-pool every image by this factor in both directions (1: none). Training (with
    /// `train:`) and emulation both use the pooled images.
    #[serde(default = "default_downsample")]
    pub downsample: usize,
    /// Also evaluate the float net (rate and spiking, as `lifchip eval`) on the same images.
    #[serde(default = "default_true")]
    pub float_reference: bool,
    /// Quantization-aware fine-tuning: every distinct weight format of the points gets its own
    /// fine-tuned net (`OUT/qat/`), compiled and emulated beside the plain one.
    pub qat: Option<QatSpec>,
}

fn default_qat_epochs() -> usize {
    2
}
fn default_qat_lr() -> f32 {
    1e-4
}
fn default_qat_batch() -> usize {
    100
}
fn default_qat_noise() -> f32 {
    10.0
}
fn default_qat_seed() -> u64 {
    1
}

/// The `qat:` section: settings of the fine-tuning (as `lifchip train --qat`), on the training
/// split of the sweep's `data` (pooled like it with `downsample`).
#[derive(Clone, Debug, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct QatSpec {
    #[serde(default = "default_qat_epochs")]
    pub epochs: usize,
    /// Adam learning rate, cosine-decayed to 0 over the fine-tuning.
    #[serde(default = "default_qat_lr")]
    pub lr: f32,
    #[serde(default = "default_qat_batch")]
    pub batch_size: usize,
    /// Fine-tune on the first N training images only (all when absent).
    #[serde(default)]
    pub train_limit: Option<usize>,
    /// Training rate noise, Hz (times the amplitude).
    #[serde(default = "default_qat_noise")]
    pub noise: f32,
    #[serde(default = "default_qat_seed")]
    pub seed: u64,
}

impl QatSpec {
    /// Checks the values; the error starts with the field name.
    pub fn validate(&self) -> Result<(), String> {
        if self.epochs == 0 {
            return Err("epochs: must be at least 1".into());
        }
        if self.batch_size == 0 {
            return Err("batch_size: must be at least 1".into());
        }
        if self.train_limit == Some(0) {
            return Err("train_limit: must be at least 1 (leave it out for every image)".into());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(format!("lr: is {}, must be a positive number", self.lr));
        }
        if !(self.noise.is_finite() && self.noise >= 0.0) {
            return Err(format!(
                "noise: is {}, must be zero or positive",
                self.noise
            ));
        }
        Ok(())
    }
}

/// One axis: a name (target field path or sweep setting) and its values, in spec order.
#[derive(Clone, Debug)]
pub struct Axis {
    pub name: String,
    pub values: Vec<Value>,
}

impl Axis {
    /// Whether this axis is a target field path (not a sweep setting).
    pub fn is_target_field(&self) -> bool {
        self.name.contains('.')
    }
}

/// The axes, in spec order.
#[derive(Clone, Debug, Default)]
pub struct Axes(pub Vec<Axis>);

impl<'de> Deserialize<'de> for Axes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AxesVisitor;
        impl<'de> Visitor<'de> for AxesVisitor {
            type Value = Axes;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a mapping from a target field path (e.g. precision.weight_bits) or one of \
                     target, synapse_tau, input_rate, ticks to a list of values",
                )
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Axes, A::Error> {
                let mut axes: Vec<Axis> = Vec::new();
                while let Some(name) = map.next_key::<String>()? {
                    check_axis_name(&name).map_err(de::Error::custom)?;
                    if axes.iter().any(|a| a.name == name) {
                        return Err(de::Error::custom(format!("axis `{name}` given twice")));
                    }
                    let values: AxisValues = map.next_value()?;
                    check_axis_values(&name, &values.0).map_err(de::Error::custom)?;
                    axes.push(Axis {
                        name,
                        values: values.0,
                    });
                }
                if axes.is_empty() {
                    return Err(de::Error::custom(
                        "give at least one axis, e.g. `precision.weight_bits: [2, 4, 8]`",
                    ));
                }
                Ok(Axes(axes))
            }
        }
        deserializer.deserialize_map(AxesVisitor)
    }
}

/// A non-empty list of values.
struct AxisValues(Vec<Value>);

impl<'de> Deserialize<'de> for AxisValues {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValuesVisitor;
        impl<'de> Visitor<'de> for ValuesVisitor {
            type Value = AxisValues;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of values, e.g. [2, 4, 8]")
            }
            fn visit_seq<S: de::SeqAccess<'de>>(self, mut seq: S) -> Result<AxisValues, S::Error> {
                let mut values = Vec::new();
                while let Some(v) = seq.next_element::<Value>()? {
                    values.push(v);
                }
                if values.is_empty() {
                    return Err(de::Error::custom("the list of values is empty"));
                }
                Ok(AxisValues(values))
            }
        }
        deserializer.deserialize_seq(ValuesVisitor)
    }
}

fn check_axis_name(name: &str) -> Result<(), String> {
    if name.contains('.') {
        if name
            .split('.')
            .any(|p| p.trim().is_empty() || p != p.trim())
        {
            return Err(format!(
                "axis `{name}`: expected a dotted target field path such as precision.weight_bits"
            ));
        }
        return Ok(());
    }
    if SETTING_AXES.contains(&name) {
        return Ok(());
    }
    Err(format!(
        "unknown axis `{name}`: expected a target field path such as precision.weight_bits or \
         core.neurons, or one of {}",
        SETTING_AXES.join(", ")
    ))
}

fn check_axis_values(name: &str, values: &[Value]) -> Result<(), String> {
    for v in values {
        let ok = match name {
            TARGET_AXIS => v.as_str().is_some_and(|s| !s.trim().is_empty()),
            SYNAPSE_TAU_AXIS => v.as_f64().is_some_and(|x| x.is_finite() && x >= 0.0),
            INPUT_RATE_AXIS => v
                .as_f64()
                .is_some_and(|x| x.is_finite() && x > 0.0 && x <= 1.0),
            TICKS_AXIS => v
                .as_u64()
                .is_some_and(|t| (1..=u64::from(lifchip_data::MAX_TICKS)).contains(&t)),
            _ => !v.is_null(),
        };
        if !ok {
            let expected = match name {
                TARGET_AXIS => "a built-in target name or a target file",
                SYNAPSE_TAU_AXIS => "a number of seconds >= 0",
                INPUT_RATE_AXIS => "spikes per tick in (0, 1]",
                TICKS_AXIS => "a whole number of ticks in [1, 1000000] (docs/interfaces.md#limits)",
                _ => "a value for the target field",
            };
            return Err(format!(
                "axis `{name}`: value `{}` is not {expected}",
                show_value(v)
            ));
        }
    }
    Ok(())
}

/// A value as written in the spec, on one line, cut to 80 characters.
pub fn show_value(v: &Value) -> String {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => serde_json::to_string(other).unwrap_or_else(|_| format!("{other:?}")),
    };
    match text.char_indices().nth(80) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

/// A parsed spec with its file, text and directory (for locations and relative paths).
pub struct SpecFile {
    pub spec: Spec,
    pub path: PathBuf,
    /// The marked YAML tree of the text, for the line and column of a key.
    tree: Option<Node>,
}

impl SpecFile {
    /// Reads and checks a spec file; every error names the file, line and column.
    pub fn load(path: &Path) -> StudyResult<SpecFile> {
        let text = std::fs::read_to_string(path).map_err(|source| StudyError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(text, path)
    }

    pub fn parse(text: String, path: &Path) -> StudyResult<SpecFile> {
        // serde_yaml takes time quadratic in the nesting depth: refuse deep documents first.
        lifchip_files::check_yaml_nesting(&text, lifchip_files::MAX_NESTING).map_err(|e| {
            StudyError::Spec {
                at: Location {
                    file: path.to_path_buf(),
                    line_column: Some((e.line, e.column)),
                },
                message: e.to_string(),
            }
        })?;
        // The error names the field, and a long echoed value is cut.
        let spec: Spec = lifchip_net::de::from_yaml_str(&text).map_err(|e| StudyError::Spec {
            at: Location {
                file: path.to_path_buf(),
                line_column: (e.line > 0).then_some((e.line, e.column)),
            },
            message: e.to_string(),
        })?;
        // serde has read the text, so the marked tree builds; without one, places are the file.
        let tree = lifchip_target::tree::build(&text)
            .ok()
            .and_then(|doc| doc.root);
        let file = SpecFile {
            spec,
            path: path.to_path_buf(),
            tree,
        };
        file.check()?;
        Ok(file)
    }

    /// The place of the key at `keys` (a path of mapping keys): its line and column when it is
    /// written in the file, else the file alone.
    pub fn at(&self, keys: &[&str]) -> Location {
        Location {
            file: self.path.clone(),
            line_column: self.tree.as_ref().and_then(|root| locate(root, keys)),
        }
    }

    /// The whole file as a place (for what is missing from it).
    pub fn file(&self) -> Location {
        Location {
            file: self.path.clone(),
            line_column: None,
        }
    }

    /// An error at the key at `keys`.
    pub fn error(&self, keys: &[&str], message: impl Into<String>) -> StudyError {
        StudyError::Spec {
            at: self.at(keys),
            message: message.into(),
        }
    }

    /// The directory relative paths are taken from.
    pub fn dir(&self) -> &Path {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        }
    }

    /// `p` relative to the spec file (absolute paths unchanged).
    pub fn relative(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir().join(p)
        }
    }

    pub fn axis(&self, name: &str) -> Option<&Axis> {
        self.spec.axes.0.iter().find(|a| a.name == name)
    }

    /// How a `.nir` net is imported (`nir_dt`, `nir_convention`).
    pub fn nir_options(&self) -> StudyResult<lifchip_nir::ImportOptions> {
        let s = &self.spec;
        let convention = match &s.nir_convention {
            None => lifchip_nir::Convention::Nir,
            Some(c) => lifchip_nir::Convention::parse(c).ok_or_else(|| {
                self.error(
                    &["nir_convention"],
                    format!(
                        "nir_convention: {c}: expected nir, snntorch, norse, sinabs or rockpool"
                    ),
                )
            })?,
        };
        if let Some(dt) = s.nir_dt
            && !(dt.is_finite() && dt > 0.0)
        {
            return Err(self.error(
                &["nir_dt"],
                format!("nir_dt: {dt}: expected a positive number of seconds"),
            ));
        }
        Ok(lifchip_nir::ImportOptions {
            dt: s.nir_dt,
            convention,
            name: None,
        })
    }

    fn check(&self) -> StudyResult<()> {
        let s = &self.spec;
        match (&s.net, &s.train) {
            (Some(_), Some(_)) => {
                return Err(self.error(
                    &["train"],
                    "give either `net:` (a trained net) or `train:` (a training config), not both",
                ));
            }
            (None, None) => {
                return Err(StudyError::Spec {
                    at: self.file(),
                    message: "missing `net:` (a trained net) or `train:` (a training config)"
                        .into(),
                });
            }
            _ => {}
        }
        if s.target.is_none() && self.axis(TARGET_AXIS).is_none() {
            return Err(StudyError::Spec {
                at: self.file(),
                message: "missing `target:` (a built-in target such as loihi-like, or a target \
                          file), or an axis `target: [...]`"
                    .into(),
            });
        }
        self.nir_options()?;
        if s.samples == 0 {
            return Err(self.error(&["samples"], "samples: expected at least 1"));
        }
        if s.ticks == 0 || s.ticks > lifchip_data::MAX_TICKS {
            return Err(self.error(
                &["ticks"],
                format!(
                    "ticks: {} is not a number of ticks in [1, {}] (docs/interfaces.md#limits)",
                    s.ticks,
                    lifchip_data::MAX_TICKS
                ),
            ));
        }
        if s.downsample == 0 {
            return Err(self.error(
                &["downsample"],
                "downsample: expected a factor of at least 1",
            ));
        }
        if !(s.synapse_tau.is_finite() && s.synapse_tau >= 0.0) {
            return Err(self.error(
                &["synapse_tau"],
                "synapse_tau: expected a number of seconds >= 0",
            ));
        }
        if !(s.input_rate.is_finite() && s.input_rate > 0.0 && s.input_rate <= 1.0) {
            return Err(self.error(
                &["input_rate"],
                "input_rate: expected spikes per tick in (0, 1]",
            ));
        }
        if s.mode == SweepMode::List {
            let first = &s.axes.0[0];
            if let Some(a) = s
                .axes
                .0
                .iter()
                .find(|a| a.values.len() != first.values.len())
            {
                return Err(self.error(
                    &["axes", &a.name],
                    format!(
                        "axes.{}: {} values, but mode list needs every axis to have as many as \
                         `{}` ({})",
                        a.name,
                        a.values.len(),
                        first.name,
                        first.values.len()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Every point: the (axis name, value) pairs, in axis order.
    pub fn points(&self) -> Vec<Vec<(String, Value)>> {
        let axes = &self.spec.axes.0;
        match self.spec.mode {
            SweepMode::List => {
                let n = axes.first().map_or(0, |a| a.values.len());
                (0..n)
                    .map(|i| {
                        axes.iter()
                            .filter_map(|a| a.values.get(i).map(|v| (a.name.clone(), v.clone())))
                            .collect()
                    })
                    .collect()
            }
            SweepMode::Grid => {
                let mut out: Vec<Vec<(String, Value)>> = vec![Vec::new()];
                for axis in axes {
                    out = out
                        .into_iter()
                        .flat_map(|p| {
                            axis.values.iter().map(move |v| {
                                let mut q = p.clone();
                                q.push((axis.name.clone(), v.clone()));
                                q
                            })
                        })
                        .collect();
                }
                out
            }
        }
    }

    /// The distinct target references of the sweep: the base target and a `target` axis.
    pub fn target_refs(&self) -> BTreeSet<String> {
        let mut refs = BTreeSet::new();
        if let Some(t) = &self.spec.target {
            refs.insert(t.clone());
        }
        if let Some(axis) = self.axis(TARGET_AXIS) {
            refs.extend(
                axis.values
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string)),
            );
        }
        refs
    }
}

/// Line and column (1-based) of the key at `keys` below `root`: each key is looked for in the
/// mapping the previous one holds. `None` when it is not written there (e.g. a default).
fn locate(root: &Node, keys: &[&str]) -> Option<(usize, usize)> {
    let mut node = root;
    let mut found = None;
    for key in keys {
        let NodeKind::Map(entries) = &node.kind else {
            return None;
        };
        let (k, v) = entries
            .iter()
            .find(|(k, _)| matches!(&k.kind, NodeKind::Scalar { text, .. } if text == key))?;
        found = Some((k.pos.line, k.pos.column));
        node = v;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> StudyResult<SpecFile> {
        SpecFile::parse(text.to_string(), Path::new("s.yaml"))
    }

    #[test]
    fn locates_nested_keys() {
        let text =
            "net: a\naxes:\n  # comment\n  core.neurons: [1, 2]\n  target: [x]\nsamples: 3\n";
        let root = lifchip_target::tree::build(text).unwrap().root.unwrap();
        assert_eq!(locate(&root, &["axes", "target"]), Some((5, 3)));
        assert_eq!(locate(&root, &["samples"]), Some((6, 1)));
        assert_eq!(locate(&root, &["axes", "samples"]), None);
        assert_eq!(locate(&root, &["nothing"]), None);
        assert_eq!(locate(&root, &["net", "x"]), None);
        // Flow style and quoted keys have places too.
        let root = lifchip_target::tree::build("axes: {ticks: [5], \"core.neurons\": [1]}\n")
            .unwrap()
            .root
            .unwrap();
        assert_eq!(locate(&root, &["axes", "core.neurons"]), Some((1, 20)));
    }

    /// A type error names the field once with its place, and a 2 MB value is not echoed whole.
    #[test]
    fn type_errors_name_the_field_and_cut_long_values() {
        let e = parse("net: a\ntarget: tiny\naxes: {ticks: [5]}\nsamples: x\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("samples: invalid type"), "{e}");
        assert_eq!(
            e.matches("line").count() + e.matches(":4:").count(),
            1,
            "{e}"
        );
        let long = format!(
            "net: a\ntarget: tiny\naxes: {{ticks: [5]}}\nsamples: \"{}\"\n",
            "x".repeat(2_000_000)
        );
        let e = parse(&long)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("samples: ") && e.len() < 400,
            "{} bytes",
            e.len()
        );
    }

    #[test]
    fn deep_nesting_is_refused_quickly() {
        let text = format!(
            "net: a\ntarget: tiny\naxes: {{ticks: {}}}\n",
            "[".repeat(100_000)
        );
        let started = std::time::Instant::now();
        let e = parse(&text)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("nesting deeper than 64 levels"), "{e}");
        assert!(started.elapsed().as_secs_f64() < 1.0);
    }

    #[test]
    fn nir_import_settings_are_checked() {
        let e = parse("net: a.nir\nnir_convention: bogus\ntarget: tiny\naxes: {ticks: [5]}\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("nir_convention: bogus"), "{e}");
        assert!(e.contains(":2:"), "the line of the field: {e}");
        let e = parse("net: a.nir\nnir_dt: -1\ntarget: tiny\naxes: {ticks: [5]}\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("nir_dt: -1"), "{e}");
        let ok = parse(
            "net: a.nir\nnir_dt: 0.001\nnir_convention: norse\ntarget: tiny\naxes: {ticks: [5]}\n",
        );
        let options = ok.ok().map(|s| s.nir_options().ok());
        assert!(matches!(
            options,
            Some(Some(lifchip_nir::ImportOptions { dt: Some(d), convention: lifchip_nir::Convention::Norse, .. })) if d == 0.001
        ));
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = parse("net: a\ntarget: tiny\naxes:\n  precision.weight_bits: []\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.starts_with("s.yaml:4:"), "{e}");
        assert!(e.contains("empty"), "{e}");
        let e = parse("net: a\ntarget: tiny\naxes:\n  weight_bits: [1]\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.starts_with("s.yaml:4:"), "{e}");
        assert!(e.contains("unknown axis `weight_bits`"), "{e}");
        let e = parse("net: a\ntarget: tiny\naxes: {ticks: [0]}\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.starts_with("s.yaml:3:"), "{e}");
        let e = parse("net: a\ntarget: tiny\nsamples: 0\naxes: {ticks: [5]}\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(e, "s.yaml:3:1: samples: expected at least 1");
        let e = parse("net: a\ntrain: b\ntarget: tiny\naxes: {ticks: [5]}\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.starts_with("s.yaml:2:1: give either"), "{e}");
        let e = parse(
            "net: a\ntarget: tiny\nmode: list\naxes:\n  ticks: [5]\n  core.neurons: [1, 2]\n",
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(
            e.starts_with("s.yaml:6:3: axes.core.neurons: 2 values"),
            "{e}"
        );
        let e = parse("net: a\ntarget: tiny\nbogus: 1\naxes: {ticks: [5]}\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.starts_with("s.yaml:3:1: unknown field `bogus`"), "{e}");
    }

    #[test]
    fn grid_and_list_points() {
        let s = parse("net: a\ntarget: tiny\naxes:\n  core.neurons: [1, 2]\n  ticks: [5, 6]\n")
            .ok()
            .map(|s| s.points())
            .unwrap_or_default();
        assert_eq!(s.len(), 4);
        assert_eq!(show_value(&s[1][1].1), "6");
        let s = parse(
            "net: a\ntarget: tiny\nmode: list\naxes:\n  core.neurons: [1, 2]\n  ticks: [5, 6]\n",
        )
        .ok()
        .map(|s| s.points())
        .unwrap_or_default();
        assert_eq!(s.len(), 2);
        assert_eq!(show_value(&s[1][0].1), "2");
    }
}
