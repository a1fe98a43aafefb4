//! `xylo-v2-like`'s timing against SynSense's own cycle model of the Xylo Audio 2 core
//! (Rockpool's `syns61201.cycles_model`): nets of the chip's real sizes (16 inputs, up to 1000
//! hidden neurons, 8 readout neurons; sparse to dense recurrent weights; quiet to busy), each
//! compiled, emulated cycle-accurately, exported, and its activity given to Rockpool's model.
//! lifchip's mean cycles per tick must lie within [`BAND`] of Rockpool's estimate: never below
//! it, and at most 50 % above, which is what lifchip's cost fields cannot say (an input event
//! costs 3.5 cycles per hidden neuron in Rockpool's model, 7 per synapse here, the price of every
//! synaptic event; the nets' hidden neurons spike at most about once a tick, since Rockpool
//! prices several spikes of a neuron in one tick as one and lifchip each).
//!
//! Rockpool's figures are committed in `tests/fixtures/rockpool_cycles.json` (with the spike
//! counts of the run they were made from, so a changed net or emulator is caught), so the
//! comparison runs without Python. With the vendor environment (`LIFCHIP_XYLO_VENV`, else
//! `target/venvs/xylo`) the test also re-runs Rockpool's model and checks the fixture;
//! `LIFCHIP_BLESS=1` rewrites the fixture from that run (`python/rockpool_cycles.py`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use lifchip_backend_xylo::{XyloOptions, XyloSpec, input_raster_npy, to_xylo, write_export};
use lifchip_chip::ChipConfig;
use lifchip_compiler::{QuantizeOptions, compile};
use lifchip_emulator::{Emulator, Mode, ProbeSet, Probes, RunOptions, SampleResult};
use lifchip_net::{ChipLif, LinearOp, Net, Neuron, PerNeuron, Population, Projection, Tensor};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};

/// lifchip's mean cycles per tick over Rockpool's: the allowed range.
const BAND: (f64, f64) = (1.0, 1.5);
const TICKS: usize = 200;
const INPUTS: usize = 16;
const READOUT: usize = 8;

/// One net: hidden neurons, recurrent weight density, input events per channel per tick.
struct Shape {
    name: &'static str,
    hidden: usize,
    recurrent_density: f64,
    input_rate: f64,
    threshold: i64,
}

const SHAPES: [Shape; 7] = [
    // The chip's full size with recurrence (1000 hidden rows of the recurrent matrix and a
    // readout: mapped since `core.neuron_rows`).
    Shape {
        name: "1000-recurrent",
        hidden: 1000,
        recurrent_density: 0.05,
        input_rate: 0.3,
        threshold: 2000,
    },
    Shape {
        name: "1000-feedforward",
        hidden: 1000,
        recurrent_density: 0.0,
        input_rate: 0.3,
        threshold: 1500,
    },
    Shape {
        name: "500-sparse-quiet",
        hidden: 500,
        recurrent_density: 0.02,
        input_rate: 0.1,
        threshold: 1500,
    },
    Shape {
        name: "500-sparse-busy",
        hidden: 500,
        recurrent_density: 0.1,
        input_rate: 0.5,
        threshold: 2500,
    },
    Shape {
        name: "256-dense-quiet",
        hidden: 256,
        recurrent_density: 1.0,
        input_rate: 0.3,
        threshold: 6000,
    },
    Shape {
        name: "128-medium",
        hidden: 128,
        recurrent_density: 0.3,
        input_rate: 0.6,
        threshold: 2500,
    },
    Shape {
        name: "64-dense-busy",
        hidden: 64,
        recurrent_density: 1.0,
        input_rate: 0.8,
        threshold: 4000,
    },
];

fn chip_lif(n: usize, threshold: i64) -> Neuron {
    Neuron::ChipLif(ChipLif {
        current_decay: PerNeuron::All(1),
        current_decay_2: PerNeuron::All(1),
        voltage_decay: PerNeuron::All(1),
        threshold: PerNeuron::All(threshold),
        bias: Tensor::new(vec![n], vec![0.0; n]),
        bias_exp: Tensor::scalar(0.0),
        initial_u: Tensor::scalar(0.0),
        initial_v: Tensor::scalar(0.0),
        refractory: PerNeuron::All(0),
    })
}

fn weights(rng: &mut StdRng, rows: usize, cols: usize, density: f64) -> Vec<LinearOp> {
    let w = (0..rows * cols)
        .map(|_| {
            if rng.random_bool(density) {
                // Mostly excitatory, so activity spreads; never 0 where a synapse is drawn.
                let w: i64 = rng.random_range(-60..=127);
                if w == 0 { 1.0 } else { w as f32 }
            } else {
                0.0
            }
        })
        .collect();
    vec![LinearOp::Dense {
        weights: Tensor::new(vec![rows, cols], w),
    }]
}

struct Case {
    config: ChipConfig,
    input: Vec<Vec<u32>>,
}

fn case(index: usize, shape: &Shape) -> Case {
    let mut rng = StdRng::seed_from_u64(0x5eed_c7c1e5 + index as u64);
    let mut target = lifchip_target::builtin("xylo-v2-like").expect("built-in target");
    target.precision.weight_bits = 8;
    let mut net = Net::new(format!("xylo-cycles-{}", shape.name));
    let h = shape.hidden;
    for (name, n, neuron) in [
        ("in", INPUTS, Neuron::Input),
        ("hidden", h, chip_lif(h, shape.threshold)),
        ("out", READOUT, chip_lif(READOUT, shape.threshold)),
    ] {
        net.populations.push(Population {
            name: name.into(),
            shape: vec![n],
            neuron,
        });
    }
    net.readout = Some("out".into());
    let mut projection = |name: &str, from: &str, to: &str, ops: Vec<LinearOp>, exp: i32| {
        net.projections.push(Projection {
            current: 1,
            sign_mode: None,
            name: name.into(),
            from: from.into(),
            to: to.into(),
            ops,
            weight_exp: exp,
        });
    };
    projection("in_h", "in", "hidden", weights(&mut rng, h, INPUTS, 1.0), 2);
    if shape.recurrent_density > 0.0 {
        let ops = weights(&mut rng, h, h, shape.recurrent_density);
        projection("h_h", "hidden", "hidden", ops, 0);
    }
    projection(
        "h_out",
        "hidden",
        "out",
        weights(&mut rng, READOUT, h, 1.0),
        0,
    );
    let (mapped, _) = compile(&net, &target, &QuantizeOptions::default())
        .unwrap_or_else(|e| panic!("{}: compile failed: {e:?}", shape.name));
    let config = lifchip_backend_core::emit(&mapped, &target).unwrap();
    let input = (0..TICKS)
        .map(|_| {
            (0..INPUTS as u32)
                .filter(|_| rng.random_bool(shape.input_rate))
                .collect()
        })
        .collect();
    Case { config, input }
}

fn run(case: &Case) -> SampleResult {
    let mut emu = Emulator::new(&case.config).expect("emulator loads the config");
    let options = RunOptions {
        ticks: TICKS as u32,
        mode: Mode::CycleAccurate,
        probes: Probes {
            set: ProbeSet::All,
            state: false,
        },
        readout_from: 0,
    };
    emu.run(&case.input, &options).expect("emulator runs")
}

/// The `(ticks, neurons)` spike-count raster of `origins`, as `.npy` bytes.
fn raster(result: &SampleResult, origins: &[lifchip_backend_xylo::Origin]) -> Vec<u8> {
    let mut events = vec![Vec::new(); TICKS];
    for (j, o) in origins.iter().enumerate() {
        let probe = result
            .probes
            .iter()
            .find(|p| p.population == o.population_index && p.neuron == o.neuron)
            .expect("every neuron is probed");
        for &t in &probe.spike_ticks {
            events[t as usize].push(j as u32);
        }
    }
    input_raster_npy(&events, origins.len()).expect("raster")
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct Fixture {
    provenance: String,
    cases: Vec<FixtureCase>,
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct FixtureCase {
    name: String,
    /// Spikes of the run Rockpool's figure was computed from (input, hidden, readout).
    spikes: [u64; 3],
    rockpool_cycles: f64,
}

#[derive(Deserialize)]
struct VendorCycles {
    cycles: f64,
}

fn fixture_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rockpool_cycles.json")
}

/// Rockpool's cycles per time step for each case, from its own model.
fn rockpool(runs: &[(String, Case, XyloSpec, SampleResult)], python: &Path) -> Vec<f64> {
    let work = tempfile::tempdir().unwrap();
    let mut dirs = Vec::new();
    for (name, case, spec, result) in runs {
        let dir = work.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        write_export(spec, &dir.join("xylo")).unwrap();
        let input = input_raster_npy(&case.input, spec.inputs).unwrap();
        std::fs::write(dir.join("input.npy"), input).unwrap();
        std::fs::write(dir.join("hidden.npy"), raster(result, &spec.hidden)).unwrap();
        std::fs::write(dir.join("output.npy"), raster(result, &spec.readout)).unwrap();
        dirs.push(dir.display().to_string());
    }
    let list = work.path().join("cases.txt");
    std::fs::write(&list, dirs.join("\n")).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/rockpool_cycles.py");
    let out = Command::new(python)
        .arg(&script)
        .arg(&list)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "rockpool_cycles.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dirs.iter()
        .map(|d| {
            let text = std::fs::read(Path::new(d).join("rockpool_cycles.json")).unwrap();
            serde_json::from_slice::<VendorCycles>(&text)
                .unwrap()
                .cycles
        })
        .collect()
}

#[test]
fn xylo_v2_timing_follows_rockpools_cycle_model() {
    let runs: Vec<(String, Case, XyloSpec, SampleResult)> = SHAPES
        .iter()
        .enumerate()
        .map(|(i, shape)| {
            let case = case(i, shape);
            let spec = to_xylo(&case.config, &XyloOptions::default())
                .unwrap_or_else(|e| panic!("{}: export refused: {e}", shape.name));
            let result = run(&case);
            (shape.name.to_string(), case, spec, result)
        })
        .collect();
    let spikes = |case: &Case, spec: &XyloSpec, r: &SampleResult| -> [u64; 3] {
        let count = |origins: &[lifchip_backend_xylo::Origin]| -> u64 {
            r.probes
                .iter()
                .filter(|p| {
                    origins
                        .iter()
                        .any(|o| o.population_index == p.population && o.neuron == p.neuron)
                })
                .map(|p| p.spike_ticks.len() as u64)
                .sum()
        };
        let input = case.input.iter().map(|t| t.len() as u64).sum();
        [input, count(&spec.hidden), count(&spec.readout)]
    };
    let measured: Vec<FixtureCase> = match common::venv_python() {
        Some(python) => runs
            .iter()
            .zip(rockpool(&runs, &python))
            .map(|((name, case, spec, r), cycles)| FixtureCase {
                name: name.clone(),
                spikes: spikes(case, spec, r),
                rockpool_cycles: cycles,
            })
            .collect(),
        None => Vec::new(),
    };
    let path = fixture_path();
    if std::env::var("LIFCHIP_BLESS").as_deref() == Ok("1") {
        assert!(
            !measured.is_empty(),
            "blessing needs the vendor environment"
        );
        let fixture = Fixture {
            provenance: "Rockpool 3.1 rockpool.devices.xylo.syns61201.cycles_model on lifchip's \
                         exports and emulated activity; regenerate with LIFCHIP_BLESS=1 cargo \
                         test -p lifchip-backend-xylo --test cycles (needs target/venvs/xylo)"
                .into(),
            cases: measured,
        };
        let text = serde_json::to_string_pretty(&fixture).unwrap() + "\n";
        std::fs::write(&path, text).unwrap();
        return;
    }
    let fixture: Fixture = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    if !measured.is_empty() {
        for (m, f) in measured.iter().zip(&fixture.cases) {
            assert_eq!(m.name, f.name);
            assert_eq!(
                m.spikes, f.spikes,
                "{}: the run differs from the fixture's",
                m.name
            );
            let rel = (m.rockpool_cycles - f.rockpool_cycles).abs() / f.rockpool_cycles;
            assert!(
                rel < 1e-9,
                "{}: Rockpool now says {}",
                m.name,
                m.rockpool_cycles
            );
        }
    } else {
        eprintln!("no vendor environment: comparing with the committed Rockpool figures");
    }
    assert_eq!(fixture.cases.len(), runs.len());
    let (mut lowest, mut highest) = (f64::INFINITY, 0.0f64);
    for ((name, case, spec, result), f) in runs.iter().zip(&fixture.cases) {
        assert_eq!(*name, f.name);
        assert_eq!(
            spikes(case, spec, result),
            f.spikes,
            "{name}: the run differs from the one the fixture was made from"
        );
        let ours = result
            .cycles
            .as_ref()
            .expect("cycle-accurate")
            .cycles_per_tick_mean;
        let ratio = ours / f.rockpool_cycles;
        let [si, sh, so] = f.spikes;
        eprintln!(
            "{name}: lifchip {ours:.0} cycles/tick, Rockpool {:.0}: ratio {ratio:.3} \
             (spikes in {si}, hidden {sh}, readout {so})",
            f.rockpool_cycles
        );
        (lowest, highest) = (lowest.min(ratio), highest.max(ratio));
    }
    assert!(
        lowest >= BAND.0 && highest <= BAND.1,
        "lifchip's xylo-v2-like cycles are {lowest:.3}..{highest:.3} x Rockpool's model, \
         outside {BAND:?}"
    );
}
