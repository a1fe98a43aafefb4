//! End-to-end tests of the trainer on MNIST and synthetic data: learning, determinism,
//! checkpoints and logs, budgets, divergence, and evaluation of odd nets and data.

use std::path::Path;

use lifchip_data::{DataSource, Dataset, Split};
use lifchip_net::Net;
use lifchip_train::{
    ActivationConfig, LayerConfig, OptimizerConfig, SpikingConfig, TrainConfig, TrainError,
    TrainOptions, bench_images_per_second, eval_rate, eval_spiking, train, train_on,
};

fn mnist(split: Split, n: usize) -> Dataset {
    lifchip_data::load(&DataSource::Mnist, split, Some(n)).unwrap()
}

fn tiny(units: usize) -> TrainConfig {
    let mut c = TrainConfig::quick();
    c.layers = vec![
        LayerConfig::Dense { units },
        LayerConfig::Dense { units: 10 },
    ];
    c
}

fn run(
    config: &TrainConfig,
    data: &Dataset,
    test: Option<&Dataset>,
) -> (Net, lifchip_train::TrainReport) {
    train_on(config, data, test, &mut |_| {}, &TrainOptions::default()).unwrap()
}

/// Synthetic 28x28 images whose label is which of ten horizontal bands is bright.
fn bands(n: usize) -> Dataset {
    let mut images = vec![0u8; n * 784];
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let label = (i * 7) % 10;
        labels.push(label as u8);
        for r in 0..28 {
            for c in 0..28 {
                let on = r / 3 == label || (r * 31 + c * 17 + i) % 23 == 0;
                images[i * 784 + r * 28 + c] = if on { 200 } else { 0 };
            }
        }
    }
    Dataset {
        images,
        labels,
        n,
        rows: 28,
        cols: 28,
    }
}

#[test]
fn quick_mlp_learns_mnist_in_rate_and_spiking_mode() {
    let mut config = TrainConfig::quick();
    config.train_limit = Some(4000);
    let train_set = mnist(Split::Train, 4000);
    let test = mnist(Split::Test, 1000);
    let (net, report) = run(&config, &train_set, Some(&test));
    let rate = eval_rate(&net, &test).unwrap();
    assert!(rate.accuracy > 0.85, "rate accuracy {}", rate.accuracy);
    // The report's accuracy is the converted net's, and equals the model's end-of-epoch test.
    assert_eq!(report.test_accuracy, Some(rate.accuracy));
    assert_eq!(
        report.epochs.last().and_then(|e| e.test_accuracy),
        Some(rate.accuracy)
    );
    assert_eq!(report.train_images, 4000);
    assert!(!report.stopped_early);
    assert_eq!(net.meta["seed"], "1");
    assert_eq!(
        net.meta["rate_test_accuracy"],
        format!("{:.4}", rate.accuracy)
    );

    let spiking = eval_spiking(&net, &test.clone().take(300), &SpikingConfig::default()).unwrap();
    assert!(
        spiking.accuracy > 0.8,
        "spiking accuracy {}",
        spiking.accuracy
    );
    assert_eq!(spiking.populations.len(), 2);
    assert!(
        spiking
            .populations
            .iter()
            .all(|p| p.mean_rate_hz > 1.0 && p.mean_rate_hz < 200.0)
    );
    let rate_300 = eval_rate(&net, &test.clone().take(300)).unwrap();
    assert!(spiking.agreement(&rate_300) > 0.85);

    // A net loaded from disk evaluates identically.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("quick.net");
    lifchip_net::save(&net, &path).unwrap();
    let loaded = lifchip_net::load(&path).unwrap();
    assert_eq!(
        eval_rate(&loaded, &test).unwrap().predictions,
        rate.predictions
    );
}

#[test]
fn the_same_seed_gives_a_byte_identical_net() {
    let data = mnist(Split::Train, 1500);
    let config = tiny(24);
    let (a, _) = run(&config, &data, None);
    let (b, _) = run(&config, &data, None);
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = (dir.path().join("a.net"), dir.path().join("b.net"));
    lifchip_net::save(&a, &pa).unwrap();
    lifchip_net::save(&b, &pb).unwrap();
    for file in ["manifest.yaml", "weights.bin"] {
        assert_eq!(
            std::fs::read(pa.join(file)).unwrap(),
            std::fs::read(pb.join(file)).unwrap(),
            "{file}"
        );
    }
    let mut other = config.clone();
    other.seed = 2;
    let (c, _) = run(&other, &data, None);
    assert_ne!(a.projections, c.projections);
}

#[test]
fn a_small_conv_net_learns_and_runs_as_spikes() {
    let yaml =
        "name: small-conv\nepochs: 2\nbatch_size: 32\noptimizer: {kind: adam, lr: 0.002}\nlayers:
  - {kind: conv2d, filters: 4, kernel: 5, stride: 2, padding: 1}
  - {kind: avg_pool, size: 2}
  - {kind: flatten}
  - {kind: dropout, rate: 0.2}
  - {kind: dense, units: 10}";
    let config = TrainConfig::from_yaml_str(yaml).unwrap();
    let data = bands(600);
    let (net, report) = run(&config, &data, Some(&data));
    let acc = report.test_accuracy.unwrap();
    assert!(acc > 0.9, "conv rate accuracy {acc} on bands");
    assert_eq!(
        net.populations
            .iter()
            .map(|p| p.shape.clone())
            .collect::<Vec<_>>(),
        vec![vec![1, 28, 28], vec![4, 13, 13], vec![10]]
    );
    let spiking = eval_spiking(&net, &data.clone().take(100), &SpikingConfig::default()).unwrap();
    assert!(
        spiking.accuracy > 0.8,
        "spiking accuracy {}",
        spiking.accuracy
    );
}

#[test]
fn relu_and_hard_lif_train_but_relu_does_not_spike() {
    let data = bands(300);
    let mut relu = tiny(32);
    relu.activation = ActivationConfig::Relu;
    let (net, report) = run(&relu, &data, Some(&data));
    assert!(report.test_accuracy.unwrap() > 0.9);
    assert_eq!(net.populations[1].neuron.kind_name(), "relu");
    let e = eval_spiking(&net, &data, &SpikingConfig::default()).unwrap_err();
    assert!(
        matches!(e, TrainError::Unsupported { .. }) && e.to_string().contains("ReLU"),
        "{e}"
    );

    let mut lif = tiny(32);
    lif.activation = ActivationConfig::Lif(Default::default());
    let (net, report) = run(&lif, &data, Some(&data));
    assert!(report.test_accuracy.unwrap() > 0.9);
    assert!(
        eval_spiking(&net, &data.clone().take(50), &SpikingConfig::default())
            .unwrap()
            .accuracy
            > 0.8
    );
}

#[test]
fn divergence_names_the_epoch_and_the_layer() {
    let mut config = tiny(16);
    config.optimizer = OptimizerConfig::Sgd {
        lr: 1e30,
        momentum: 0.9,
    };
    let Err(e) = train_on(
        &config,
        &bands(200),
        None,
        &mut |_| {},
        &TrainOptions::default(),
    ) else {
        panic!("a learning rate of 1e30 should diverge");
    };
    match &e {
        TrainError::Diverged { epoch, layer, .. } => {
            assert_eq!(*epoch, 1);
            assert!(layer == "fc1" || layer == "out", "{layer}");
        }
        other => panic!("expected divergence, got {other}"),
    }
    assert!(e.to_string().contains("epoch 1"), "{e}");
}

#[test]
fn budget_log_and_checkpoints() {
    let data = bands(200);
    let dir = tempfile::tempdir().unwrap();
    let mut config = tiny(8);
    config.epochs = 2;
    let options = TrainOptions {
        max_seconds: None,
        checkpoint_dir: Some(dir.path().join("ckpt")),
        log_csv: Some(dir.path().join("log.csv")),
    };
    let mut epochs_seen = 0;
    let mut batches_seen = 0;
    let (_, report) = train_on(
        &config,
        &data,
        Some(&data),
        &mut |p| match p {
            lifchip_train::Progress::Epoch(_) => epochs_seen += 1,
            lifchip_train::Progress::Batch { .. } => batches_seen += 1,
        },
        &options,
    )
    .unwrap();
    assert_eq!((epochs_seen, batches_seen), (2, 2 * 200usize.div_ceil(32)));
    let csv = std::fs::read_to_string(dir.path().join("log.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "epoch,loss,train_accuracy,test_accuracy,seconds,learning_rate"
    );
    assert_eq!(lines.len(), 3);
    assert!(lines[2].starts_with("2,"));
    for k in 1..=2 {
        let ckpt = lifchip_net::load(&dir.path().join(format!("ckpt/epoch-{k:03}.net"))).unwrap();
        assert_eq!(ckpt.meta["epochs"], k.to_string());
    }
    assert_eq!(report.epochs.len(), 2);

    // A zero budget stops after the first batch and says so.
    let budget = TrainOptions {
        max_seconds: Some(0.0),
        ..TrainOptions::default()
    };
    let (net, report) = train_on(&config, &data, None, &mut |_| {}, &budget).unwrap();
    assert!(report.stopped_early);
    assert_eq!(report.train_images, 32);
    assert_eq!(net.meta["epochs"], "1");
}

#[test]
fn training_errors_are_typed_and_named() {
    // Config problems found against the data.
    let mut config = tiny(8);
    config.layers = vec![LayerConfig::Dense { units: 7 }];
    let e = train_on(
        &config,
        &bands(20),
        None,
        &mut |_| {},
        &TrainOptions::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("layers[0].units"), "{e}");
    // Labels beyond `classes`.
    let mut data = bands(20);
    data.labels[3] = 12;
    let e = train_on(&tiny(8), &data, None, &mut |_| {}, &TrainOptions::default()).unwrap_err();
    assert!(
        matches!(e, TrainError::Mismatch { .. }) && e.to_string().contains("image 3"),
        "{e}"
    );
    // A data folder that does not exist.
    let mut config = tiny(8);
    config.data = "/nonexistent/folder".into();
    let e = train(&config, &mut |_| {}, &TrainOptions::default()).unwrap_err();
    assert!(matches!(e, TrainError::Data { .. }), "{e}");
}

#[test]
fn evaluation_rejects_nets_and_data_it_cannot_run() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let chip = lifchip_net::load(&repo.join("examples/hand-written.yaml")).unwrap();
    let e = eval_rate(&chip, &bands(5)).unwrap_err();
    assert!(
        matches!(e, TrainError::Unsupported { .. }) && e.to_string().contains("chip_lif"),
        "{e}"
    );

    let (net, _) = run(&tiny(8), &bands(64), None);
    // Wrong image size.
    let small = Dataset {
        images: vec![0; 2 * 25],
        labels: vec![0, 1],
        n: 2,
        rows: 5,
        cols: 5,
    };
    let e = eval_rate(&net, &small).unwrap_err();
    assert!(
        matches!(e, TrainError::Mismatch { .. }) && e.to_string().contains("5x5"),
        "{e}"
    );
    // Out-of-range labels.
    let mut data = bands(5);
    data.labels[1] = 11;
    assert!(
        eval_spiking(&net, &data, &SpikingConfig::default())
            .unwrap_err()
            .to_string()
            .contains("label 11")
    );
    // A recurrent float net.
    let mut recurrent = net.clone();
    let mut back = recurrent.projections[1].clone();
    back.name = "loop".into();
    back.from = "out".into();
    back.to = "fc1".into();
    if let lifchip_net::LinearOp::Dense { weights } = &mut back.ops[0] {
        *weights = lifchip_net::Tensor::new(vec![8, 10], vec![0.1; 80]);
    }
    recurrent.projections.push(back);
    let e = eval_rate(&recurrent, &bands(5)).unwrap_err();
    assert!(e.to_string().contains("cycle"), "{e}");
    // Bad spiking parameters.
    let bad = SpikingConfig {
        dt: 0.0,
        ..SpikingConfig::default()
    };
    assert!(
        eval_spiking(&net, &bands(5), &bad)
            .unwrap_err()
            .to_string()
            .contains("spiking.dt")
    );
    // An empty dataset evaluates to zero samples, not a panic.
    let empty = bands(0);
    assert_eq!(eval_rate(&net, &empty).unwrap().samples, 0);
}

#[test]
fn example_configs_build() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for name in ["mnist-mlp.yaml", "mnist-conv.yaml"] {
        let config = TrainConfig::load(&repo.join("examples").join(name)).unwrap();
        // One batch on synthetic data checks every shape of the example.
        let budget = TrainOptions {
            max_seconds: Some(0.0),
            ..TrainOptions::default()
        };
        let (net, report) = train_on(&config, &bands(100), None, &mut |_| {}, &budget).unwrap();
        assert!(report.stopped_early, "{name}");
        assert_eq!(net.output().unwrap().size(), 10);
    }
}

#[test]
fn bench_reports_throughput() {
    let report = bench_images_per_second(&tiny(16), 300).unwrap();
    assert!(report.train_images_per_second > 0.0 && report.rate_images_per_second > 0.0);
    assert_eq!(report.spiking_images, 200);
    assert!(bench_images_per_second(&tiny(16), 0).is_err());
}

/// The MLP example to the end (10 epochs, ~1 min on 2 cores): run with `--ignored`.
#[test]
#[ignore]
fn mlp_example_reaches_98_percent() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let config = TrainConfig::load(&repo.join("examples/mnist-mlp.yaml")).unwrap();
    let (net, report) = train(&config, &mut |_| {}, &TrainOptions::default()).unwrap();
    assert!(
        report.test_accuracy.unwrap() > 0.98,
        "{:?}",
        report.test_accuracy
    );
    let test = mnist(Split::Test, 10_000);
    let spiking = eval_spiking(&net, &test, &SpikingConfig::default()).unwrap();
    assert!(spiking.accuracy > 0.975, "spiking {}", spiking.accuracy);
}

/// The paper's conv net, 20 epochs (~22 min on 2 cores): run with `--ignored`.
#[test]
#[ignore]
fn conv_example_reaches_99_percent() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let config = TrainConfig::load(&repo.join("examples/mnist-conv.yaml")).unwrap();
    let (net, report) = train(&config, &mut |_| {}, &TrainOptions::default()).unwrap();
    assert!(
        report.test_accuracy.unwrap() > 0.99,
        "{:?}",
        report.test_accuracy
    );
    let test = mnist(Split::Test, 2000);
    let spiking = eval_spiking(&net, &test, &SpikingConfig::default()).unwrap();
    assert!(spiking.accuracy > 0.98, "spiking {}", spiking.accuracy);
}
