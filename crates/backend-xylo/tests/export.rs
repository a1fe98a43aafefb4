//! The Xylo export without the vendor: what it refuses, what it writes, and that the arrays
//! read back as written.

mod common;

use std::io::Read;

use lifchip_backend_xylo::{
    MANIFEST, SPEC_NPZ, XyloError, XyloOptions, spec_npz, to_xylo, write_export,
};
use lifchip_target::{Overflow, UpdateOrder};

fn first_case() -> common::Case {
    (0..50)
        .find_map(common::random_case)
        .expect("a random case compiles")
}

#[test]
fn every_problem_is_listed_at_once() {
    let mut config = first_case().config;
    config.target.precision.current_bits = 24;
    config.target.precision.current_overflow = Overflow::Wrap;
    config.target.neuron.order = UpdateOrder::DecayThenInput;
    let core = &mut config.cores[0];
    core.compartments[0].threshold = 40_000;
    core.compartments[0].voltage_decay = 20;
    let second = 1 % core.compartments.len();
    core.compartments[second].bias = 7;
    let last = core.compartments.len() - 1;
    core.compartments[last].refractory = 2;
    let err = to_xylo(&config, &XyloOptions { dt: 0.0 }).unwrap_err();
    let XyloError::Unsupported { problems } = &err else {
        panic!("{err}");
    };
    let text = err.to_string();
    for needle in [
        "precision.current_bits",
        "neuron.order",
        "threshold: 40000",
        "voltage_decay (dash_mem): 20",
        "bias: 7",
        "refractory: 2",
        "dt",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    assert!(problems.0.len() >= 7, "{text}");
    // Each names where, which field, what was found and what Xylo allows.
    assert!(text.contains("core 0 compartment 0 (population"), "{text}");
    assert!(text.contains("Xylo allows 0..=32767"), "{text}");
}

#[test]
fn structural_limits_are_refused() {
    // A readout neuron with a fan-out, and an input that reaches the readout directly.
    let mut config = first_case().config;
    let readout = config.readout;
    let core = &mut config.cores[0];
    let r = core
        .compartments
        .iter()
        .position(|c| c.population == readout)
        .unwrap();
    let axon = core.axons.len() as u32;
    core.axons.push(lifchip_chip::Axon {
        group: 0,
        current: 1,
        synapses: vec![lifchip_chip::Synapse {
            compartment: 0,
            weight: 1,
        }],
    });
    core.compartments[r]
        .destinations
        .push(lifchip_chip::Destination { core: 0, axon });
    let input_axon = config
        .inputs
        .iter()
        .flatten()
        .next()
        .expect("an input channel with an axon")
        .axon as usize;
    config.cores[0].axons[input_axon]
        .synapses
        .push(lifchip_chip::Synapse {
            compartment: r as u32,
            weight: 1,
        });
    let text = to_xylo(&config, &XyloOptions::default())
        .unwrap_err()
        .to_string();
    assert!(text.contains("readout spikes leave the chip"), "{text}");
    assert!(text.contains("inputs onto hidden neurons only"), "{text}");
}

#[test]
fn the_npz_reads_back_and_is_deterministic() {
    let case = first_case();
    let spec = to_xylo(&case.config, &XyloOptions::default()).unwrap();
    let bytes = spec_npz(&spec).unwrap();
    assert_eq!(bytes, spec_npz(&spec).unwrap());
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(&bytes)).unwrap();
    let mut raw = Vec::new();
    zip.by_name("weights_in.npy")
        .unwrap()
        .read_to_end(&mut raw)
        .unwrap();
    let npy = npyz::NpyFile::new(&raw[..]).unwrap();
    assert_eq!(
        npy.shape(),
        &[spec.inputs as u64, spec.hidden.len() as u64, 2]
    );
    assert_eq!(npy.into_vec::<i8>().unwrap(), spec.weights_in);
    let mut raw = Vec::new();
    zip.by_name("threshold.npy")
        .unwrap()
        .read_to_end(&mut raw)
        .unwrap();
    let npy = npyz::NpyFile::new(&raw[..]).unwrap();
    assert_eq!(npy.into_vec::<i16>().unwrap(), spec.threshold);
    // Hidden neurons other than alias neurons, and readout neurons, are every compartment.
    let aliases = spec.hidden.iter().filter(|o| o.alias_of.is_some()).count();
    assert_eq!(
        spec.hidden.len() - aliases + spec.readout.len(),
        case.config.cores[0].compartments.len()
    );
}

#[test]
fn export_directory_is_written_whole_and_never_over_foreign_files() {
    let case = first_case();
    let spec = to_xylo(&case.config, &XyloOptions::default()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("net.xylo");
    write_export(&spec, &out).unwrap();
    for file in [SPEC_NPZ, MANIFEST, "lifchip_xylo.py"] {
        assert!(out.join(file).is_file(), "{file}");
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join(MANIFEST)).unwrap()).unwrap();
    assert_eq!(manifest["generation"], "v1");
    assert_eq!(manifest["chips"][0], "SYNS61300");
    assert_eq!(
        manifest["hidden"].as_array().unwrap().len(),
        spec.hidden.len()
    );
    // An earlier export is replaced.
    write_export(&spec, &out).unwrap();
    // A directory that is not an export is left alone.
    let foreign = tmp.path().join("data");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("keep.txt"), b"x").unwrap();
    let err = write_export(&spec, &foreign).unwrap_err();
    assert!(matches!(err, XyloError::NotExportDir { .. }), "{err}");
    assert!(foreign.join("keep.txt").is_file());
    // Nothing but the export was left beside it (no staging directories).
    let names: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}
