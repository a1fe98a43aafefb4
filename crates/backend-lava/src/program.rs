//! Rendering the Lava process graph as files: `program.json`, `.npy` arrays and `network.py`.

use npyz::WriterBuilder;
use serde::{Deserialize, Serialize};

use lifchip_chip::ChipConfig;

use crate::{ExportError, Graph, Source};

/// The program's Python module (the same for every export; everything specific is data).
pub const NETWORK_PY: &str = include_str!("network.py");

/// Format name and version of `program.json`.
pub const PROGRAM_FORMAT: &str = "lifchip-lava";
pub const PROGRAM_VERSION: u32 = 1;

/// An exported program: file names and contents, in a fixed order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LavaProgram {
    pub files: Vec<(String, Vec<u8>)>,
}

/// One LIF process as `program.json` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifSpec {
    pub name: String,
    pub size: usize,
    pub du: u32,
    pub dv: u32,
    pub vth: u32,
}

/// One Dense process as `program.json` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenseSpec {
    pub name: String,
    /// `"input"` or the name of a LIF process.
    pub source: String,
    pub target: String,
    pub weight_exp: i32,
    pub num_weight_bits: u32,
    /// `lava.utils.weightutils.SignMode` value: 1 mixed, 2 excitatory, 3 inhibitory.
    pub sign_mode: u8,
    /// 0: binary spikes; > 0: graded (the input when a channel spikes more than once a tick).
    pub num_message_bits: u32,
}

/// `program.json`: the process graph; arrays are in `<name>_<field>.npy`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramSpec {
    pub format: String,
    pub version: u32,
    pub net: String,
    pub target: String,
    pub ticks: u32,
    pub input_channels: usize,
    pub compartments: usize,
    pub lifs: Vec<LifSpec>,
    pub denses: Vec<DenseSpec>,
}

fn npy<T: npyz::AutoSerialize + Copy>(
    name: &str,
    shape: &[u64],
    data: &[T],
) -> Result<Vec<u8>, ExportError> {
    let encode = |e: std::io::Error| ExportError::Encode {
        file: name.into(),
        message: e.to_string(),
    };
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut w = npyz::WriteOptions::new()
            .default_dtype()
            .shape(shape)
            .writer(&mut out)
            .begin_nd()
            .map_err(encode)?;
        w.extend(data.iter().copied()).map_err(encode)?;
        w.finish().map_err(encode)?;
    }
    Ok(out.into_inner())
}

pub(crate) fn render(
    config: &ChipConfig,
    graph: &Graph,
    counts: &[i64],
    ticks: u32,
) -> Result<LavaProgram, ExportError> {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let graded = counts.iter().any(|&c| c > 1);
    let lif_name = |b: usize| format!("lif{b}");
    let mut spec = ProgramSpec {
        format: PROGRAM_FORMAT.into(),
        version: PROGRAM_VERSION,
        net: config.net_name.clone(),
        target: config.target.name.clone(),
        ticks,
        input_channels: graph.input_channels,
        compartments: graph.compartments.len(),
        lifs: Vec::new(),
        denses: Vec::new(),
    };
    for (b, lif) in graph.lifs.iter().enumerate() {
        let name = lif_name(b);
        let n = lif.compartments.len();
        let idx: Vec<i64> = lif.compartments.iter().map(|&c| c as i64).collect();
        for (field, bytes) in [
            ("compartments", npy(&name, &[n as u64], &idx)?),
            ("bias_mant", npy(&name, &[n as u64], &lif.bias_mant)?),
            ("bias_exp", npy(&name, &[n as u64], &lif.bias_exp)?),
            ("u", npy(&name, &[n as u64], &lif.u0)?),
            ("v", npy(&name, &[n as u64], &lif.v0)?),
        ] {
            files.push((format!("{name}_{field}.npy"), bytes));
        }
        spec.lifs.push(super::program::LifSpec {
            name,
            size: n,
            du: lif.du,
            dv: lif.dv,
            vth: lif.vth,
        });
    }
    for (di, d) in graph.denses.iter().enumerate() {
        let name = format!("dense{di}");
        files.push((
            format!("{name}_weights.npy"),
            npy(&name, &[d.rows as u64, d.cols as u64], &d.weights)?,
        ));
        spec.denses.push(DenseSpec {
            name,
            source: match d.source {
                Source::Input => "input".into(),
                Source::Lif(b) => lif_name(b),
            },
            target: lif_name(d.target),
            weight_exp: d.weight_exp,
            num_weight_bits: d.num_weight_bits,
            sign_mode: d.sign_mode.lava_value(),
            num_message_bits: if d.source == Source::Input && graded {
                8
            } else {
                0
            },
        });
    }
    let table: Vec<i64> = graph
        .compartments
        .iter()
        .flat_map(|r| r.iter().map(|&x| i64::from(x)))
        .collect();
    files.push((
        "compartments.npy".into(),
        npy(
            "compartments",
            &[graph.compartments.len() as u64, 4],
            &table,
        )?,
    ));
    let counts32: Vec<i32> = counts
        .iter()
        .map(|&c| i32::try_from(c).unwrap_or(i32::MAX))
        .collect();
    files.push((
        "input.npy".into(),
        npy(
            "input",
            &[graph.input_channels as u64, u64::from(ticks)],
            &counts32,
        )?,
    ));
    let json = serde_json::to_vec_pretty(&spec).map_err(|e| ExportError::Encode {
        file: "program.json".into(),
        message: e.to_string(),
    })?;
    files.push(("program.json".into(), json));
    files.push(("network.py".into(), NETWORK_PY.as_bytes().to_vec()));
    Ok(LavaProgram { files })
}
