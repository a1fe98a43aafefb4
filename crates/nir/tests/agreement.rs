//! Agreement with the libraries that wrote the fixtures: each `tests/fixtures/nir/NAME.nir`
//! was exported by snnTorch, Norse, Sinabs or Rockpool, and `NAME.json` holds the input fed to the
//! library's own simulation and the output it produced, tick by tick. lifchip's import of the
//! file, run tick by tick (`lifchip_train::run_ticks`), must produce the same spikes.

use std::path::{Path, PathBuf};

use lifchip_nir::{Convention, ImportOptions};
use ndarray::Array2;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/nir")
}

struct Recorded {
    convention: Convention,
    dt: f64,
    inputs: Vec<Array2<f32>>,
    outputs: Vec<Array2<f32>>,
}

fn tensor3(v: &serde_json::Value) -> Vec<Array2<f32>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|tick| {
            let rows: Vec<Vec<f32>> = tick
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    r.as_array()
                        .unwrap()
                        .iter()
                        .map(|x| x.as_f64().unwrap() as f32)
                        .collect()
                })
                .collect();
            let (n, m) = (rows.len(), rows[0].len());
            Array2::from_shape_vec((n, m), rows.into_iter().flatten().collect()).unwrap()
        })
        .collect()
}

fn recorded(name: &str) -> Recorded {
    let text = std::fs::read_to_string(fixtures().join(format!("{name}.json"))).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    Recorded {
        convention: Convention::parse(v["convention"].as_str().unwrap()).unwrap(),
        dt: v["dt"].as_f64().unwrap(),
        inputs: tensor3(&v["input"]),
        outputs: tensor3(&v["output"]),
    }
}

/// (ticks x samples x neurons compared, mismatching values, samples whose predicted class —
/// argmax of the summed output — differs).
fn compare(name: &str) -> (usize, usize, usize) {
    let rec = recorded(name);
    let options = ImportOptions {
        dt: Some(rec.dt),
        convention: rec.convention,
        name: None,
    };
    let net = lifchip_nir::import(&fixtures().join(format!("{name}.nir")), &options)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let ours =
        lifchip_train::run_ticks(&net, &rec.inputs).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(ours.len(), rec.outputs.len());
    let mut mismatches = 0;
    let mut total = 0;
    for (t, (a, b)) in ours.iter().zip(&rec.outputs).enumerate() {
        assert_eq!(a.dim(), b.dim(), "{name} tick {t}");
        for (x, y) in a.iter().zip(b.iter()) {
            total += 1;
            if x != y {
                mismatches += 1;
            }
        }
    }
    let class = |trace: &[Array2<f32>], s: usize| -> usize {
        let n = trace[0].ncols();
        let sums: Vec<f32> = (0..n)
            .map(|j| trace.iter().map(|a| a[[s, j]]).sum())
            .collect();
        (0..n).fold(0, |best, j| if sums[j] > sums[best] { j } else { best })
    };
    let samples = rec.outputs[0].nrows();
    let class_diff = (0..samples)
        .filter(|&s| class(&ours, s) != class(&rec.outputs, s))
        .count();
    let spikes: f32 = rec.outputs.iter().map(|a| a.sum()).sum();
    eprintln!(
        "{name}: {mismatches} of {total} output values differ, {class_diff} of {samples} classes; library spikes {spikes}"
    );
    assert!(
        spikes > 0.0,
        "{name}: the fixture's output never spikes; it tests nothing"
    );
    (total, mismatches, class_diff)
}

macro_rules! exact {
    ($($test:ident => $name:literal),* $(,)?) => {$(
        #[test]
        fn $test() {
            let (_, mismatches, classes) = compare($name);
            assert_eq!(mismatches, 0, "{} differs from the library tick by tick", $name);
            assert_eq!(classes, 0);
        }
    )*};
}

exact! {
    snntorch_feed_forward => "snntorch_ff",
    snntorch_conv => "snntorch_conv",
    snntorch_recurrent => "snntorch_rec",
    snntorch_synaptic => "snntorch_syn",
    norse_lif_box => "norse_lifbox",
    norse_cuba_lif => "norse_cuba",
    sinabs_conv => "sinabs_conv",
    sinabs_lif => "sinabs_lif",
    rockpool_cuba_lif => "rockpool_cuba",
    rockpool_lif => "rockpool_lif",
}

/// import → export → import gives a net that spikes exactly like the first import.
#[test]
fn export_round_trip_keeps_the_spikes() {
    for name in [
        "snntorch_ff",
        "snntorch_conv",
        "snntorch_rec",
        "snntorch_syn",
    ] {
        let rec = recorded(name);
        let options = ImportOptions {
            dt: Some(rec.dt),
            convention: rec.convention,
            name: None,
        };
        let net = lifchip_nir::import(&fixtures().join(format!("{name}.nir")), &options).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("again.nir");
        lifchip_nir::export(&net, &out, rec.dt).unwrap();
        let again = lifchip_nir::import(&out, &options).unwrap_or_else(|e| panic!("{name}: {e}"));
        let a = lifchip_train::run_ticks(&net, &rec.inputs).unwrap();
        let b = lifchip_train::run_ticks(&again, &rec.inputs).unwrap();
        assert_eq!(a, b, "{name}: the re-imported net spikes differently");
        assert_eq!(b, rec.outputs, "{name}");
    }
}
