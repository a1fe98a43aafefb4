//! CHIPDIR round trips, atomic replacement, corruption and truncation, routing, dump.

use std::{fs, path::Path};

use lifchip_chip::{
    Axon, ChipConfig, ChipError, Compartment, CoreConfig, Destination, FlatChip, Link,
    PopulationInfo, Synapse, dump_text, read_chipdir, read_chipdir_flat, validate, weight_format,
    write_chipdir, write_chipdir_flat, xy_route,
};
use lifchip_target::Target;
use proptest::prelude::*;
use rand::{Rng, SeedableRng, rngs::StdRng};

fn tiny() -> Target {
    lifchip_target::builtin("tiny").expect("the tiny target is built in")
}

/// A random configuration that meets every rule of `target` (which must have >= 2x2 cores).
fn random_config(target: &Target, seed: u64) -> ChipConfig {
    let mut rng = StdRng::seed_from_u64(seed);
    let wf = weight_format(target).unwrap();
    let cells = (target.mesh.width * target.mesh.height) as usize;
    let n_cores = rng.random_range(1..=cells.min(4));
    let per_core: Vec<usize> = (0..n_cores).map(|_| rng.random_range(1..=6)).collect();
    let total: usize = per_core.iter().sum();
    let readout = rng.random_range(1..=total.min(3));
    let hidden = total - readout;
    let n_inputs = rng.random_range(0..=5usize);
    let mut slots = Vec::new();
    for (c, &n) in per_core.iter().enumerate() {
        for k in 0..n {
            slots.push((c as u32, k as u32));
        }
    }
    let who: Vec<(u32, u32)> = (0..total)
        .map(|i| {
            if i < hidden {
                (1, i as u32)
            } else {
                (2, (i - hidden) as u32)
            }
        })
        .collect();
    let steps = (wf.max - wf.min) / wf.step;
    let weight = |rng: &mut StdRng| (wf.min + wf.step * rng.random_range(0..=steps)) as i32;
    let exp = &target.precision.weight_exponent;
    let mut cores: Vec<CoreConfig> = Vec::new();
    let mut next = 0;
    for (c, &n) in per_core.iter().enumerate() {
        let n_axons = rng.random_range(0..=6usize);
        let groups = if n_axons == 0 {
            0
        } else {
            rng.random_range(1..=2u16)
        };
        let axons = (0..n_axons)
            .map(|_| Axon {
                group: rng.random_range(0..groups),
                current: 1,
                synapses: (0..rng.random_range(0..=n))
                    .map(|_| Synapse {
                        compartment: rng.random_range(0..n as u32),
                        weight: weight(&mut rng),
                    })
                    .collect(),
            })
            .collect();
        let compartments = (0..n)
            .map(|_| {
                let (population, neuron) = who[next];
                next += 1;
                Compartment {
                    population,
                    neuron,
                    current_decay: rng.random_range(0..4096),
                    current_decay_2: 0,
                    voltage_decay: rng.random_range(0..4096),
                    threshold: rng.random_range(0..1 << 17),
                    bias: rng.random_range(-4096..4096),
                    bias_exp: rng.random_range(0..=7),
                    refractory: 0,
                    initial_u: rng.random_range(-(1 << 15)..1 << 15),
                    initial_v: rng.random_range(-(1 << 15)..1 << 15),
                    max_spikes: 1,
                    destinations: Vec::new(),
                    partial_of: None,
                }
            })
            .collect();
        let (x, y) = target.core_xy(c as u32);
        cores.push(CoreConfig {
            id: c as u32,
            x,
            y,
            group_exponents: (0..groups)
                .map(|_| rng.random_range(exp.min..=exp.max))
                .collect(),
            compartments,
            axons,
        });
    }
    let all_axons: Vec<(u32, u32)> = cores
        .iter()
        .flat_map(|c| (0..c.axons.len() as u32).map(move |a| (c.id, a)))
        .collect();
    let dests = |rng: &mut StdRng| -> Vec<Destination> {
        if all_axons.is_empty() {
            return Vec::new();
        }
        let mut d: Vec<Destination> = (0..rng.random_range(0..=3))
            .map(|_| {
                let (core, axon) = all_axons[rng.random_range(0..all_axons.len())];
                Destination { core, axon }
            })
            .collect();
        d.sort_unstable();
        d.dedup();
        d
    };
    for core in &mut cores {
        for comp in &mut core.compartments {
            comp.destinations = dests(&mut rng);
        }
    }
    let inputs = (0..n_inputs).map(|_| dests(&mut rng)).collect();
    let mut placement = vec![Vec::new(); 3];
    for (i, &(p, _)) in who.iter().enumerate() {
        placement[p as usize].push(slots[i]);
    }
    let mut placement = placement.into_iter();
    ChipConfig {
        target: target.clone(),
        net_name: format!("random-{seed}"),
        net_hash: seed.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        populations: vec![
            PopulationInfo {
                name: "in".into(),
                shape: vec![n_inputs],
                is_input: true,
                placement: placement.next().unwrap_or_default(),
            },
            PopulationInfo {
                name: "hidden".into(),
                shape: vec![hidden],
                is_input: false,
                placement: placement.next().unwrap_or_default(),
            },
            PopulationInfo {
                name: "out".into(),
                shape: vec![readout],
                is_input: false,
                placement: placement.next().unwrap_or_default(),
            },
        ],
        inputs,
        readout: 2,
        input_rate: rng.random_range(0.001..=1.0),
        cores,
    }
}

fn check_roundtrip(config: &ChipConfig) {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a.chip");
    let b = tmp.path().join("b.chip");
    validate(config).unwrap();
    write_chipdir(config, &a).unwrap();
    write_chipdir(config, &b).unwrap();
    let back = read_chipdir(&a).unwrap();
    assert_eq!(&back, config);
    // The flat reader reads the same content, in flat tables, and knows it valid.
    let flat = read_chipdir_flat(&a).unwrap();
    assert_eq!(flat, FlatChip::from_config(config));
    flat.validate().unwrap();
    for (core, flat_core) in config.cores.iter().zip(flat.cores()) {
        assert_eq!(core.axons.len(), flat_core.n_axons());
        for (a, (axon, row)) in core.axons.iter().zip(flat_core.axons()).enumerate() {
            assert_eq!(
                (axon.group, axon.current, axon.synapses.as_slice()),
                (row.group, row.current, row.synapses)
            );
            assert_eq!(flat_core.axon(a), Some(row));
        }
    }
    // Dropping the axons of a copy (the tables are shared) leaves its compartments, and the
    // original whole.
    let mut dropped = flat.clone();
    dropped.drop_axons();
    for (c, d) in flat.cores().iter().zip(dropped.cores()) {
        assert_eq!((d.n_axons(), d.n_synapses(), d.axon(0)), (0, 0, None));
        assert_eq!(c.compartments(), d.compartments());
    }
    // The flat writer (streamed) writes the same bytes, from a chip read or built in memory.
    let c = tmp.path().join("c.chip");
    let d = tmp.path().join("d.chip");
    write_chipdir_flat(&flat, &c).unwrap();
    write_chipdir_flat(&FlatChip::from_config(config), &d).unwrap();
    assert_eq!(flat.into_config(), *config);
    for file in ["manifest.json", "target.yaml", "cores.bin"] {
        let bytes = fs::read(a.join(file)).unwrap();
        for other in [&b, &c, &d] {
            assert_eq!(bytes, fs::read(other.join(file)).unwrap(), "{file} differs");
        }
    }
}

#[test]
fn roundtrip_tiny_and_loihi() {
    for seed in 0..20 {
        check_roundtrip(&random_config(&tiny(), seed));
        check_roundtrip(&random_config(
            &lifchip_target::builtin("loihi-like").unwrap(),
            seed,
        ));
    }
}

/// `random_config(&tiny(), seed)` cut to its core 0 and fitted to `xylo-like` (`None` when the
/// readout has no neuron there).
fn xylo_config(seed: u64) -> Option<ChipConfig> {
    let mut cfg = random_config(&tiny(), seed);
    cfg.target = lifchip_target::builtin("xylo-like").unwrap();
    // One core: every destination is core 0.
    cfg.cores.truncate(1);
    for p in &mut cfg.populations {
        p.placement.retain(|&(c, _)| c == 0);
        if !p.is_input {
            p.shape = vec![p.placement.len()];
        }
    }
    if cfg.populations[2].placement.is_empty() {
        return None;
    }
    // Renumber neurons within their populations and drop destinations off core 0.
    for p in 1..3 {
        for (n, &(_, slot)) in cfg.populations[p].placement.clone().iter().enumerate() {
            cfg.cores[0].compartments[slot as usize].neuron = n as u32;
        }
    }
    for comp in &mut cfg.cores[0].compartments {
        comp.destinations.retain(|d| d.core == 0);
        comp.current_decay %= 16;
        comp.bias = 0; // Xylo v1 has no bias
        comp.voltage_decay %= 16;
        comp.threshold %= 1 << 16;
        comp.bias_exp = 0;
    }
    for d in &mut cfg.inputs {
        d.retain(|d| d.core == 0);
    }
    for e in &mut cfg.cores[0].group_exponents {
        *e = (*e).clamp(0, 7);
    }
    for s in cfg.cores[0].axons.iter_mut().flat_map(|a| &mut a.synapses) {
        s.weight = s.weight.clamp(-128, 127);
    }
    Some(cfg)
}

#[test]
fn roundtrip_xylo_signed_weights() {
    for seed in 0..10 {
        if let Some(cfg) = xylo_config(seed) {
            check_roundtrip(&cfg);
        }
    }
}

#[test]
fn xylo_v1_bias_and_a_second_current_onto_the_readout_are_refused() {
    // A valid one with hidden and readout compartments.
    let cfg = (0..40)
        .filter_map(xylo_config)
        .find(|c| {
            lifchip_chip::validate(c).is_ok()
                && c.cores[0]
                    .compartments
                    .iter()
                    .any(|k| k.population != c.readout)
        })
        .expect("a valid xylo-like configuration");
    let mut bad = cfg.clone();
    bad.cores[0].compartments[0].bias = 1;
    let err = lifchip_chip::validate(&bad).unwrap_err().to_string();
    assert!(
        err.contains("compartments[0].bias") && err.contains("1 is outside 0..=0 (0 bias bits)"),
        "{err}"
    );
    // An axon of current 2 reaching a readout compartment.
    let readout = cfg.cores[0]
        .compartments
        .iter()
        .position(|c| c.population == cfg.readout)
        .expect("a readout compartment") as u32;
    let mut bad = cfg.clone();
    bad.cores[0].axons.push(lifchip_chip::Axon {
        group: 0,
        current: 2,
        synapses: vec![lifchip_chip::Synapse {
            compartment: readout,
            weight: 1,
        }],
    });
    let err = lifchip_chip::validate(&bad).unwrap_err().to_string();
    assert!(
        err.contains("current 2 reaches readout compartment")
            && err.contains("one synaptic current"),
        "{err}"
    );
    // The same axon onto a hidden compartment is what Xylo has (I_syn2).
    let hidden = cfg.cores[0]
        .compartments
        .iter()
        .position(|c| c.population != cfg.readout)
        .expect("a hidden compartment") as u32;
    bad.cores[0].axons.last_mut().unwrap().synapses[0].compartment = hidden;
    lifchip_chip::validate(&bad).unwrap();
}

#[test]
fn weight_formats() {
    let loihi = lifchip_target::builtin("loihi-like").unwrap();
    let wf = weight_format(&loihi).unwrap();
    assert_eq!((wf.field_bits, wf.min, wf.max, wf.step), (9, -256, 255, 1));
    let mut t = loihi.clone();
    t.precision.weight_bits = 6;
    let wf = weight_format(&t).unwrap();
    // Excitatory step 4 up to 252; mixed step 8 from -256: the finest step is 4.
    assert_eq!((wf.field_bits, wf.min, wf.max, wf.step), (9, -256, 252, 4));
    assert!(!wf.holds(2));
    let xylo = lifchip_target::builtin("xylo-like").unwrap();
    let wf = weight_format(&xylo).unwrap();
    assert_eq!((wf.field_bits, wf.min, wf.max, wf.step), (8, -128, 127, 1));
    // Steps of a power of two go by a mask; every step gives the grid's definition.
    for step in [1, 2, 4, 8, 3, 6, 12] {
        let wf = lifchip_chip::WeightFormat {
            field_bits: 9,
            min: -256,
            max: 252,
            step,
        };
        for w in -300..300 {
            let want = (-256..=252).contains(&w) && w % step == 0;
            assert_eq!(wf.holds(w), want, "weight {w}, step {step}");
        }
    }
}

#[test]
fn replace_only_a_chipdir() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = random_config(&tiny(), 7);
    let dir = tmp.path().join("out.chip");
    write_chipdir(&cfg, &dir).unwrap();
    fs::write(dir.join("report.json"), "{}").unwrap();
    let other = random_config(&tiny(), 8);
    write_chipdir(&other, &dir).unwrap();
    assert_eq!(read_chipdir(&dir).unwrap(), other);
    assert!(
        !dir.join("report.json").exists(),
        "the old CHIPDIR was replaced as a whole"
    );
    // An empty directory may be replaced.
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    write_chipdir(&cfg, &empty).unwrap();
    // A directory with other files, or a file, is refused and left alone.
    let precious = tmp.path().join("precious");
    fs::create_dir(&precious).unwrap();
    fs::write(precious.join("thesis.tex"), "x").unwrap();
    let err = write_chipdir(&cfg, &precious).unwrap_err();
    assert!(matches!(err, ChipError::NotChipdir { .. }), "{err}");
    assert!(precious.join("thesis.tex").exists());
    let file = tmp.path().join("file");
    fs::write(&file, "x").unwrap();
    assert!(matches!(
        write_chipdir(&cfg, &file),
        Err(ChipError::NotChipdir { .. })
    ));
    // No temporary directories are left behind.
    let leftovers: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // Reading a directory that is not a CHIPDIR.
    assert!(matches!(
        read_chipdir(&precious),
        Err(ChipError::NotChipdir { .. })
    ));
}

#[test]
fn writer_refuses_invalid_config() {
    let mut cfg = random_config(&tiny(), 3);
    cfg.cores[0].axons.push(Axon {
        group: 0,
        current: 1,
        synapses: vec![Synapse {
            compartment: 99,
            weight: 1,
        }],
    });
    if cfg.cores[0].group_exponents.is_empty() {
        cfg.cores[0].group_exponents.push(0);
    }
    let tmp = tempfile::tempdir().unwrap();
    let err = write_chipdir(&cfg, &tmp.path().join("x")).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, ChipError::Invalid { core: Some(0), .. }),
        "{msg}"
    );
    assert!(
        msg.contains("core 0") && msg.contains("compartment") && msg.contains("99"),
        "{msg}"
    );
    assert!(!tmp.path().join("x").exists());
    // The flat writer refuses it the same way, before writing anything.
    let flat_err = write_chipdir_flat(&FlatChip::from_config(&cfg), &tmp.path().join("x"))
        .unwrap_err()
        .to_string();
    assert_eq!(flat_err, msg);
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn validation_names_core_and_field() {
    let base = random_config(&tiny(), 11);
    let check = |edit: &dyn Fn(&mut ChipConfig), want: &str| {
        let mut cfg = base.clone();
        edit(&mut cfg);
        let msg = validate(&cfg).expect_err(want).to_string();
        assert!(msg.contains(want), "{msg:?} should mention {want:?}");
        // The flat form is held to the same rules, with the same error.
        let flat = FlatChip::from_config(&cfg).validate().expect_err(want);
        assert_eq!(flat.to_string(), msg);
    };
    check(
        &|c| c.cores[0].compartments[0].threshold = 1 << 17,
        "compartments[0].threshold",
    );
    check(
        &|c| c.cores[0].compartments[0].bias = 5000,
        "compartments[0].bias",
    );
    check(
        &|c| c.cores[0].compartments[0].current_decay = 4096,
        "compartments[0].current_decay",
    );
    check(
        &|c| c.cores[0].compartments[0].max_spikes = 2,
        "compartments[0].max_spikes",
    );
    check(
        &|c| {
            c.cores[0].compartments[0]
                .destinations
                .push(Destination { core: 9, axon: 0 })
        },
        "destination core 9",
    );
    check(&|c| c.cores[0].x = 5, "outside the 2x2 mesh");
    check(&|c| c.readout = 0, "input population");
    check(&|c| c.inputs.push(Vec::new()), "input channels");
    check(
        &|c| c.populations[2].placement.pop().map_or((), |_| ()),
        "populations[2].placement",
    );
    check(
        &|c| {
            c.cores[0].group_exponents = vec![8];
            for a in &mut c.cores[0].axons {
                a.group = 0;
            }
        },
        "group_exponents[0]",
    );
    check(
        &|c| {
            for _ in 0..40 {
                c.cores[0].axons.push(Axon::default());
            }
            c.cores[0].group_exponents = vec![0];
        },
        "axons: ",
    );
    check(
        &|c| {
            c.cores[0].group_exponents = vec![0];
            c.cores[0].axons = vec![Axon {
                group: 0,
                current: 1,
                synapses: vec![
                    Synapse {
                        compartment: 0,
                        weight: 3
                    };
                    400
                ],
            }];
            c.inputs.iter_mut().for_each(|d| d.clear());
            for core in &mut c.cores {
                for comp in &mut core.compartments {
                    comp.destinations.clear();
                }
            }
        },
        "synapse memory bits",
    );
}

/// The cores are checked side by side; the problem reported is still the first in core order
/// (a core's id and position before its own fields), for any thread count.
#[test]
fn validation_reports_the_first_problem_in_core_order() {
    let base = (0..500)
        .map(|seed| random_config(&tiny(), seed))
        .find(|c| c.cores.len() == 4)
        .expect("a configuration of 4 cores");
    // (cores given a threshold out of range, a core put on core 0's router, the error wanted)
    let cases: [(&[usize], Option<usize>, &str); 4] = [
        (&[1], Some(2), "core 1"),
        (&[3], Some(2), "already holds another core"),
        (&[2], Some(2), "already holds another core"),
        (&[3, 1], None, "core 1"),
    ];
    for (thresholds, same_place, want) in cases {
        let mut cfg = base.clone();
        for &core in thresholds {
            cfg.cores[core].compartments[0].threshold = 1 << 17;
        }
        if let Some(core) = same_place {
            (cfg.cores[core].x, cfg.cores[core].y) = (cfg.cores[0].x, cfg.cores[0].y);
        }
        let mut seen = Vec::new();
        for threads in [1, 2, 4] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("a thread pool");
            let msg = pool.install(|| validate(&cfg)).expect_err(want).to_string();
            assert!(
                msg.contains(want),
                "{threads} threads: {msg:?} should mention {want:?}"
            );
            seen.push(msg);
        }
        assert!(seen.windows(2).all(|w| w[0] == w[1]), "{seen:?}");
    }
}

#[test]
fn corrupt_files_are_refused_with_their_name() {
    let cfg = random_config(&tiny(), 5);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c.chip");
    write_chipdir(&cfg, &dir).unwrap();
    let cores = fs::read(dir.join("cores.bin")).unwrap();
    let mut bad = cores.clone();
    bad[40] ^= 1;
    fs::write(dir.join("cores.bin"), &bad).unwrap();
    let msg = read_chipdir(&dir).unwrap_err().to_string();
    assert!(msg.contains("cores.bin") && msg.contains("crc32"), "{msg}");
    fs::write(dir.join("cores.bin"), &cores[..cores.len() - 3]).unwrap();
    let msg = read_chipdir(&dir).unwrap_err().to_string();
    assert!(msg.contains("cores.bin") && msg.contains("size"), "{msg}");
    fs::write(dir.join("cores.bin"), &cores).unwrap();
    let target = fs::read_to_string(dir.join("target.yaml")).unwrap();
    fs::write(
        dir.join("target.yaml"),
        target.replace("weight_bits: 8", "weight_bits: 7"),
    )
    .unwrap();
    let msg = read_chipdir(&dir).unwrap_err().to_string();
    assert!(msg.contains("target.yaml") && msg.contains("hash"), "{msg}");
    fs::write(dir.join("target.yaml"), &target).unwrap();
    let manifest = fs::read_to_string(dir.join("manifest.json")).unwrap();
    fs::write(
        dir.join("manifest.json"),
        manifest.replace("\"version\": 4", "\"version\": 5"),
    )
    .unwrap();
    let msg = read_chipdir(&dir).unwrap_err().to_string();
    assert!(
        msg.contains("manifest.json") && msg.contains("version"),
        "{msg}"
    );
    fs::remove_file(dir.join("manifest.json")).unwrap();
    assert!(read_chipdir(&dir).is_err());
    assert!(read_chipdir(&tmp.path().join("missing")).is_err());
}

/// Every leaf of a JSON value, as a path of keys and indices.
fn leaves(value: &serde_json::Value, path: Vec<String>, out: &mut Vec<Vec<String>>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let mut p = path.clone();
                p.push(k.clone());
                leaves(v, p, out);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let mut p = path.clone();
                p.push(i.to_string());
                leaves(v, p, out);
            }
        }
        _ => out.push(path),
    }
}

fn leaf<'a>(value: &'a mut serde_json::Value, path: &[String]) -> &'a mut serde_json::Value {
    path.iter().fold(value, |v, k| match v {
        serde_json::Value::Array(items) => &mut items[k.parse::<usize>().unwrap()],
        other => &mut other[k.as_str()],
    })
}

/// `manifest` with `manifest_fnv1a64` recomputed, as someone editing on purpose would.
fn reseal(manifest: &str) -> String {
    let at = manifest.find("\"manifest_fnv1a64\": \"").unwrap() + 21;
    let mut text = manifest.to_string();
    text.replace_range(at..at + 16, "0000000000000000");
    let hash = format!("{:016x}", lifchip_files::Fingerprint::of(text.as_bytes()));
    text.replace_range(at..at + 16, &hash);
    text
}

#[test]
fn every_manifest_field_edited_is_refused() {
    let mut cfg = random_config(&tiny(), 3);
    cfg.input_rate = 0.5;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c.chip");
    write_chipdir(&cfg, &dir).unwrap();
    let original = fs::read_to_string(dir.join("manifest.json")).unwrap();
    let value: serde_json::Value = serde_json::from_str(&original).unwrap();
    let mut paths = Vec::new();
    leaves(&value, Vec::new(), &mut paths);
    assert!(paths.len() > 20, "{paths:?}");
    for path in &paths {
        let mut edited = value.clone();
        let field = leaf(&mut edited, path);
        *field = match field.clone() {
            serde_json::Value::Bool(b) => serde_json::Value::Bool(!b),
            serde_json::Value::Number(n) => (n.as_u64().unwrap() + 1).into(),
            serde_json::Value::String(s) if s == "0.5" => "0.25".into(),
            serde_json::Value::String(s) => format!("{s}0").into(),
            other => panic!("{other}"),
        };
        let text = serde_json::to_string_pretty(&edited).unwrap() + "\n";
        fs::write(dir.join("manifest.json"), &text).unwrap();
        let msg = read_chipdir(&dir)
            .map(|_| "read".to_string())
            .unwrap_or_else(|e| e.to_string());
        assert!(msg.contains("manifest.json"), "{path:?}: {msg}");
    }
    // Fields that do not change behaviour are still checked when the hash is recomputed.
    for (from, to, says) in [
        (
            "\"file\": \"cores.bin\"",
            "\"file\": \"other.bin\"",
            "cores_bin.file",
        ),
        (
            "\"file\": \"target.yaml\"",
            "\"file\": \"t.yaml\"",
            "target.file",
        ),
        (
            "\"input_rate\": \"0.5\"",
            "\"input_rate\": \"0.50\"",
            "input_rate",
        ),
        (
            "\"readout\"",
            "\"readout\": 0,\n  \"readout\"",
            "duplicate key \"readout\"",
        ),
    ] {
        assert!(original.contains(from), "{from}");
        fs::write(
            dir.join("manifest.json"),
            reseal(&original.replacen(from, to, 1)),
        )
        .unwrap();
        let msg = read_chipdir(&dir).unwrap_err().to_string();
        assert!(
            msg.contains("manifest.json") && msg.contains(says),
            "{says}: {msg}"
        );
    }
    fs::write(dir.join("manifest.json"), reseal(&original)).unwrap();
    assert_eq!(read_chipdir(&dir).unwrap(), cfg);
    // A version the reader does not know is printed as written, without Rust's `Some(…)`.
    fs::write(
        dir.join("manifest.json"),
        original.replace("\"version\": 4", "\"version\": 3"),
    )
    .unwrap();
    let msg = read_chipdir(&dir).unwrap_err().to_string();
    assert!(
        msg.contains("version: 3 is not supported") && !msg.contains("Some"),
        "{msg}"
    );
    // A huge echoed value is cut.
    let long = "x".repeat(100_000);
    fs::write(
        dir.join("manifest.json"),
        original.replace(
            "\"format\": \"lifchip-chipdir\"",
            &format!("\"format\": \"{long}\""),
        ),
    )
    .unwrap();
    let msg = read_chipdir(&dir).unwrap_err().to_string();
    assert!(msg.len() < 400 && msg.contains('…'), "{}", msg.len());
}

fn damaged_read_never_panics(
    dir: &Path,
    file: &str,
    original: &[u8],
    edit: impl FnOnce(&mut Vec<u8>),
) -> bool {
    let mut bytes = original.to_vec();
    edit(&mut bytes);
    fs::write(dir.join(file), &bytes).unwrap();
    let ok = read_chipdir(dir).is_ok();
    // The flat reader (the same decoder) accepts and refuses the same files, with the same
    // errors.
    let flat = read_chipdir_flat(dir).map(drop).map_err(|e| e.to_string());
    assert_eq!(flat, read_chipdir(dir).map(drop).map_err(|e| e.to_string()));
    fs::write(dir.join(file), original).unwrap();
    ok
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn roundtrip_random(seed in any::<u64>()) {
        check_roundtrip(&random_config(&tiny(), seed));
    }

    #[test]
    fn flips_and_truncations_never_panic(seed in 0u64..8, pos in any::<prop::sample::Index>(), mask in 1u8..=255, cut in any::<prop::sample::Index>()) {
        let cfg = random_config(&tiny(), seed);
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("p.chip");
        write_chipdir(&cfg, &dir).unwrap();
        for file in ["cores.bin", "manifest.json", "target.yaml"] {
            let original = fs::read(dir.join(file)).unwrap();
            let at = pos.index(original.len());
            let flipped_ok = damaged_read_never_panics(&dir, file, &original, |b| b[at] ^= mask);
            if file == "cores.bin" {
                // Every byte of cores.bin is covered by a checksum.
                prop_assert!(!flipped_ok);
            }
            let len = cut.index(original.len());
            let truncated_ok = damaged_read_never_panics(&dir, file, &original, |b| b.truncate(len));
            prop_assert!(!truncated_ok || file == "manifest.json" && original[len..].iter().all(|c| c.is_ascii_whitespace()));
        }
    }
}

#[test]
fn xy_route_is_a_multicast_tree() {
    let mut t = tiny();
    t.mesh.width = 4;
    t.mesh.height = 3;
    let l = |a: (u32, u32), b: (u32, u32)| Link { from: a, to: b };
    assert_eq!(xy_route(&t, (1, 1), &[(1, 1)]).unwrap(), vec![]);
    assert_eq!(
        xy_route(&t, (0, 0), &[(2, 1)]).unwrap(),
        vec![l((0, 0), (1, 0)), l((1, 0), (2, 0)), l((2, 0), (2, 1))]
    );
    // Two destinations share the x leg: 4 links, not 5.
    let tree = xy_route(&t, (0, 0), &[(2, 1), (2, 2)]).unwrap();
    assert_eq!(
        tree,
        vec![
            l((0, 0), (1, 0)),
            l((1, 0), (2, 0)),
            l((2, 0), (2, 1)),
            l((2, 1), (2, 2))
        ]
    );
    // Branches in both x directions and along y.
    let tree = xy_route(&t, (1, 1), &[(0, 1), (3, 0), (1, 2)]).unwrap();
    assert_eq!(
        tree,
        vec![
            l((1, 1), (0, 1)),
            l((1, 1), (1, 2)),
            l((1, 1), (2, 1)),
            l((2, 1), (3, 1)),
            l((3, 1), (3, 0))
        ]
    );
    assert!(xy_route(&t, (0, 0), &[(4, 0)]).is_err());
}

#[test]
fn dump_is_stable_and_readable() {
    let cfg = random_config(&tiny(), 2);
    let text = dump_text(&cfg);
    assert_eq!(text, dump_text(&cfg.clone()));
    assert!(text.starts_with("chip config: net \"random-2\""), "{text}");
    assert!(text.contains("core 0 at (0, 0)"), "{text}");
    assert!(text.contains("compartment 0: pop"), "{text}");
}

#[test]
fn builder_refuses_an_axon_before_any_core() {
    let mut chip = lifchip_chip::FlatChipBuilder::new(tiny(), 1, 1);
    chip.push_axon(
        0,
        1,
        &[Synapse {
            compartment: 0,
            weight: 1,
        }],
    );
    chip.begin_core(0, (0, 0), vec![0], Vec::new());
    let err = chip.finish().unwrap_err().to_string();
    assert!(err.contains("before any core"), "{err}");
}
