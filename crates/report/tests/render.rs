//! The report's figures below the CLI: a golden SVG of a small hand-made chip, the link
//! loads of known multicast trees, the size and aggregation of an 8,000-core chip, and runs
//! that do not belong to the chip.
//!
//! `LIFCHIP_BLESS=1 cargo test -p lifchip-report --test render` rewrites the golden file
//! (one SVG element per line); review the diff.

use std::path::Path;

use lifchip_chip::{
    Axon, ChipConfig, Compartment, CoreConfig, Destination, Link, PopulationInfo, Synapse,
};
use lifchip_report::{ChipInput, ReportError, RunSummary};

fn compartment(population: u32, neuron: u32, destinations: Vec<Destination>) -> Compartment {
    Compartment {
        population,
        neuron,
        current_decay: 1024,
        current_decay_2: 0,
        voltage_decay: 256,
        threshold: 100,
        bias: 0,
        bias_exp: 0,
        initial_u: 0,
        initial_v: 0,
        refractory: 0,
        max_spikes: 1,
        destinations,
        partial_of: None,
    }
}

fn axon(synapses: u32) -> Axon {
    Axon {
        group: 0,
        current: 1,
        synapses: (0..synapses)
            .map(|k| Synapse {
                compartment: k,
                weight: 10,
            })
            .collect(),
    }
}

/// A 2 x 2 `tiny` chip: input `in` (2 channels) -> `a` (3 neurons on core 0) -> `b` (2 neurons
/// on cores 1 and 2).
fn small_chip() -> ChipConfig {
    let target = lifchip_target::builtin("tiny").unwrap();
    let to = |core, axon| Destination { core, axon };
    let core = |id, x, y, compartments, axons| CoreConfig {
        id,
        x,
        y,
        group_exponents: vec![0],
        compartments,
        axons,
    };
    ChipConfig {
        target,
        net_name: "small".into(),
        net_hash: 7,
        populations: vec![
            PopulationInfo {
                name: "in".into(),
                shape: vec![2],
                is_input: true,
                placement: vec![],
            },
            PopulationInfo {
                name: "a".into(),
                shape: vec![3],
                is_input: false,
                placement: vec![(0, 0), (0, 1), (0, 2)],
            },
            PopulationInfo {
                name: "b".into(),
                shape: vec![2],
                is_input: false,
                placement: vec![(1, 0), (2, 0)],
            },
        ],
        inputs: vec![vec![to(0, 0)], vec![to(0, 1)]],
        readout: 2,
        input_rate: 1.0,
        cores: vec![
            core(
                0,
                0,
                0,
                (0..3)
                    .map(|n| compartment(1, n, vec![to(1, n), to(2, n)]))
                    .collect(),
                vec![axon(3), axon(3)],
            ),
            core(
                1,
                1,
                0,
                vec![compartment(2, 0, vec![])],
                (0..3).map(|_| axon(1)).collect(),
            ),
            core(
                2,
                1,
                1,
                vec![compartment(2, 1, vec![])],
                (0..3).map(|_| axon(1)).collect(),
            ),
        ],
    }
}

#[test]
fn link_loads_follow_xy_multicast_trees() {
    let loads = lifchip_report::link_loads(&small_chip());
    let link = |from, to| Link { from, to };
    // Each of a's 3 neurons sends one tree (0,0)->(1,0)->(1,1); inputs stay on core 0.
    let expected = [(link((0, 0), (1, 0)), 3), (link((1, 0), (1, 1)), 3)];
    assert_eq!(loads.into_iter().collect::<Vec<_>>(), expected);
}

#[test]
fn core_fill_counts_each_limit() {
    let chip = small_chip();
    let fills = lifchip_report::core_fill(&chip);
    assert_eq!(fills.len(), 3);
    assert_eq!((fills[0].neurons, fills[0].input_axons), (3, 2));
    assert_eq!(fills[0].populations, vec![(1, 3)]);
    assert_eq!(
        fills[0].synapse_bits,
        chip.cores[0].synapse_bits(&chip.target)
    );
    assert_eq!((fills[1].neurons, fills[1].input_axons), (1, 3));
}

#[test]
fn golden_svg_of_a_small_chip() {
    let chip = small_chip();
    let fills = lifchip_report::core_fill(&chip);
    let loads = lifchip_report::link_loads(&chip);
    let spikes: Vec<u32> = vec![1, 4, 9];
    let (raster, aggregated) =
        lifchip_report::raster_svg("b", &[(0, &spikes), (1, &spikes[1..])], 10);
    assert!(!aggregated);
    let text = format!(
        "{}\n{}\n{}\n{}\n",
        lifchip_report::core_map_svg(&chip, &fills),
        lifchip_report::link_map_svg(&chip, &loads),
        raster,
        lifchip_report::rate_histogram_svg("b", &[0.3, 0.2])
    )
    // One element per line, so a change shows as a readable diff.
    .replace("><", ">\n<");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/small.svg.txt");
    if std::env::var("LIFCHIP_BLESS").as_deref() == Ok("1") {
        std::fs::write(&path, &text).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        text == expected,
        "the SVG differs from {}; run `LIFCHIP_BLESS=1 cargo test -p lifchip-report --test render` and review the diff",
        path.display()
    );
    // Figures the golden file must show, so a bad blessing is caught too.
    assert_eq!(text.matches("<rect class=\"c ").count(), 3);
    assert_eq!(text.matches("<line class=\"k ").count(), 2);
    assert_eq!(text.matches("class=\"spk\"").count(), 5);
    assert!(text.contains("core 0 (0, 0): neurons 3/16 (19%)"));
    assert!(text.contains("link (0, 0) → (1, 0): 3 packets per all-spike tick"));
}

/// A synthetic chip of `cores` cores on a `side` x `side` mesh, each with 32 neurons sending to
/// their row neighbour and the core below.
fn big_chip(side: u32, cores: u32) -> ChipConfig {
    let mut target = lifchip_target::builtin("loihi-like").unwrap();
    target.mesh.width = side;
    target.mesh.height = side;
    let per = 32u32;
    let mut chip = small_chip();
    chip.target = target;
    chip.populations.truncate(2);
    chip.populations[1].shape = vec![(cores * per) as usize];
    chip.populations[1].placement = (0..cores)
        .flat_map(|c| (0..per).map(move |k| (c, k)))
        .collect();
    chip.inputs = vec![vec![Destination { core: 0, axon: 0 }]];
    chip.cores = (0..cores)
        .map(|id| {
            let right = (id + 1) % cores;
            let below = (id + side) % cores;
            CoreConfig {
                id,
                x: id % side,
                y: id / side,
                group_exponents: vec![0],
                compartments: (0..per)
                    .map(|k| {
                        compartment(
                            1,
                            id * per + k,
                            vec![
                                Destination {
                                    core: right,
                                    axon: k,
                                },
                                Destination {
                                    core: below,
                                    axon: k,
                                },
                            ],
                        )
                    })
                    .collect(),
                axons: (0..2 * per).map(|k| axon(1 + k % 8)).collect(),
            }
        })
        .collect();
    chip
}

#[test]
fn an_8000_core_report_stays_small() {
    let chip = ChipInput {
        source: "synthetic".into(),
        config: big_chip(90, 8000),
        compile: None,
        fingerprint: None,
    };
    let started = std::time::Instant::now();
    let html = lifchip_report::render(&chip, None).unwrap();
    let seconds = started.elapsed().as_secs_f64();
    eprintln!("8,000 cores: {} bytes in {seconds:.2} s", html.len());
    assert!(html.len() < 5 << 20, "{} bytes", html.len());
    assert_eq!(html.matches("<rect class=\"c ").count(), 8000);
    // Too many links to draw one by one: one path per load step, and the page says so.
    assert_eq!(html.matches("<line class=\"k ").count(), 0);
    assert!(html.matches("<path class=\"k l").count() >= 1);
    assert!(html.contains("links are drawn as one path per load step"));
    if let Ok(out) = std::env::var("LIFCHIP_REPORT_BIG_OUT") {
        lifchip_report::write_report(Path::new(&out), &html).unwrap();
    }
}

#[test]
fn a_mesh_too_large_to_draw_is_tiled_and_says_so() {
    let chip = ChipInput {
        source: "synthetic".into(),
        config: big_chip(200, 400),
        compile: None,
        fingerprint: None,
    };
    let html = lifchip_report::render(&chip, None).unwrap();
    assert!(html.contains("Aggregated: the mesh has more routers"));
    // 200 x 200 routers in tiles of 2 x 2: the 400 cores on rows 0 and 1 share 100 tiles.
    assert_eq!(html.matches("<rect class=\"c ").count(), 100);
}

fn run_json(text: &str) -> RunSummary {
    RunSummary::from_json_str(text, Path::new("run.json")).unwrap()
}

#[test]
fn a_run_of_another_chip_is_refused() {
    let chip = ChipInput {
        source: "small.chip".into(),
        config: small_chip(),
        compile: None,
        fingerprint: Some("00000000000000aa".into()),
    };
    let ok = run_json(
        r#"{"target":"tiny","ticks_per_sample":10,"probes":[{"population":"b","neuron":1,"spike_ticks":[3]}]}"#,
    );
    let html = lifchip_report::render(&chip, Some((&ok, Path::new("run.json")))).unwrap();
    assert!(html.contains("class=\"spk\""));
    let refused = |text: &str, field: &str| {
        let run = run_json(text);
        match lifchip_report::render(&chip, Some((&run, Path::new("run.json")))) {
            Err(ReportError::Mismatch { field: f, .. }) => assert_eq!(f, field, "{text}"),
            other => panic!("{text}: expected a mismatch on {field}, got {other:?}"),
        }
    };
    refused(
        r#"{"target":"tiny","chip_fingerprint":"00000000000000bb"}"#,
        "chip_fingerprint",
    );
    refused(r#"{"target":"loihi-like"}"#, "target");
    refused(
        r#"{"target":"tiny","ticks_per_sample":10,"probes":[{"population":"hidden","neuron":0}]}"#,
        "probes[0]",
    );
    refused(
        r#"{"target":"tiny","ticks_per_sample":10,"probes":[{"population":"b","neuron":2}]}"#,
        "probes[0].neuron",
    );
    refused(
        r#"{"target":"tiny","ticks_per_sample":10,"probes":[{"population":"b","neuron":0,"spike_ticks":[10]}]}"#,
        "probes[0].spike_ticks",
    );
    refused(
        r#"{"target":"tiny","overflows":[{"population":"in"}]}"#,
        "overflows[0].population",
    );
    refused(
        r#"{"target":"tiny","ticks_per_sample":3,"cycles_by_tick":[1,2]}"#,
        "cycles_by_tick",
    );
    refused(
        r#"{"target":"tiny","ticks_per_sample":2,"cycles_by_tick":[1,-2]}"#,
        "cycles_by_tick[1]",
    );
    let cores = chip.config.cores.len();
    refused(
        &format!(r#"{{"target":"tiny","cycles_by_core":[{{"core":{cores},"mean":1,"max":1}}]}}"#),
        "cycles_by_core[0].core",
    );
    // A run with a cycle account draws the line over the ticks and a bar per busy core.
    let cycled = run_json(
        r#"{"target":"tiny","ticks_per_sample":3,"cycles_by_tick":[10,30,20],"cycles_by_core":[{"core":0,"mean":4.5,"max":9},{"core":1,"mean":0,"max":0}]}"#,
    );
    let html = lifchip_report::render(&chip, Some((&cycled, Path::new("run.json")))).unwrap();
    assert_eq!(html.matches("<polyline class=\"cyc\"").count(), 1);
    assert_eq!(html.matches("<line class=\"peak\"").count(), 2);
    assert!(html.contains("core 0: mean 4.5 cycles per tick, most 9"));
    assert!(html.contains("1 cores never computed"));
    let bad = RunSummary::from_json_str(r#"{"target": 3}"#, Path::new("run.json"));
    assert!(
        matches!(bad, Err(ReportError::Json { line: 1, .. })),
        "{bad:?}"
    );
}

#[test]
fn a_failed_compile_page_lists_every_violation() {
    let compile = lifchip_report::CompileSummary::from_json_str(
        r#"{"target":"tiny","neurons":44,"violations":[
            {"kind":"neurons","where":"population hidden","value":40,"limit":16,"hint":"raise core.neurons"},
            {"kind":"input_axons","where":"population out","value":40,"limit":32,"hint":"h"}]}"#,
        Path::new("failed.json"),
    )
    .unwrap();
    let html = lifchip_report::render_failed_compile(&compile, "failed.json");
    assert!(html.contains("The net does not fit: 2 violation(s)"));
    assert!(html.contains("<td class=\"l\">population hidden</td><td>40</td><td>16</td>"));
}
