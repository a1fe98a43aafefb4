//! Broken target files: every problem is reported at once, at the right line and column, with
//! what was expected and a hint where one helps.

use lifchip_target::{Problem, TargetError, builtin_source, parse};

/// A shipped target with each `(from, to)` applied; each `from` must occur exactly once.
fn edited(base: &str, edits: &[(&str, &str)]) -> String {
    let mut text = builtin_source(base).expect("builtin").to_string();
    for (from, to) in edits {
        assert_eq!(
            text.matches(from).count(),
            1,
            "`{from}` must occur once in {base}"
        );
        text = text.replace(from, to);
    }
    text
}

/// 1-based line of the first occurrence of `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("`{needle}` not in text"));
    text[..at].matches('\n').count() + 1
}

/// 1-based column of the first occurrence of `needle` on its line.
fn column_of(text: &str, needle: &str) -> usize {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("`{needle}` not in text"));
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    text[line_start..at].chars().count() + 1
}

fn problems(text: &str) -> Vec<Problem> {
    match parse(text, "t.yaml") {
        Err(TargetError::Invalid { problems, .. }) => problems,
        Err(other) => panic!("expected an invalid target, got {other}"),
        Ok(_) => panic!("expected problems, the target checked"),
    }
}

fn find<'a>(problems: &'a [Problem], field: &str) -> &'a Problem {
    problems
        .iter()
        .find(|p| p.field == field)
        .unwrap_or_else(|| panic!("no problem for {field} in {problems:#?}"))
}

#[test]
fn several_problems_in_one_file_are_all_reported_in_order() {
    let text = edited(
        "loihi-like",
        &[
            ("  height: 8\n", "  height: \"8\"\n"),
            ("  input_axons: 4096 ", "  input_axon: 4096 "),
            ("  weight_bits: 8 ", "  weight_bits: 0 "),
            ("  reset: zero ", "  reset: substract "),
            ("  synop_joules: 33.6e-12", "  synop_joules: 33.6"),
            ("\nenergy:\n", "\ncolour: red\nenergy:\n"),
        ],
    );
    let ps = problems(&text);
    let got: Vec<(&str, usize)> = ps.iter().map(|p| (p.field.as_str(), p.line)).collect();
    assert_eq!(
        got,
        [
            ("mesh.height", line_of(&text, "height: \"8\"")),
            ("core.input_axon", line_of(&text, "input_axon:")),
            ("precision.weight_bits", line_of(&text, "weight_bits: 0")),
            ("neuron.reset", line_of(&text, "reset: substract")),
            ("colour", line_of(&text, "colour: red")),
            ("energy.synop_joules", line_of(&text, "synop_joules: 33.6 ")),
        ],
        "{ps:#?}"
    );

    let height = find(&ps, "mesh.height");
    assert_eq!(height.column, column_of(&text, "\"8\""));
    assert_eq!(height.value, "8");
    assert_eq!(height.hint.as_deref(), Some("remove the quotes"));

    let axon = find(&ps, "core.input_axon");
    assert_eq!(axon.column, 3);
    assert_eq!(axon.message, "unknown key");
    assert!(
        axon.expected
            .starts_with("one of neurons, input_axons, output_axons"),
        "{}",
        axon.expected
    );
    assert_eq!(axon.hint.as_deref(), Some("did you mean `input_axons`?"));

    let bits = find(&ps, "precision.weight_bits");
    assert_eq!(
        (bits.value.as_str(), bits.expected.as_str()),
        ("0", "an integer in 1..=16")
    );
    assert_eq!(
        bits.column,
        column_of(&text, "0             # [Lava] Dense")
    );

    let reset = find(&ps, "neuron.reset");
    assert_eq!(reset.expected, "one of zero, subtract");
    assert_eq!(reset.hint.as_deref(), Some("did you mean `subtract`?"));

    let joules = find(&ps, "energy.synop_joules");
    assert!(
        joules.hint.as_deref().is_some_and(|h| h.contains("joules")),
        "{joules:?}"
    );

    // The rendered error: a header, then one `path:line:col: field: ...` line per problem.
    let err = parse(&text, "targets/x.yaml").expect_err("invalid");
    let rendered = err.to_string();
    let lines: Vec<&str> = rendered.lines().collect();
    assert_eq!(lines[0], "targets/x.yaml: 6 problems in target file");
    let axon_line = line_of(&text, "input_axon:");
    assert_eq!(
        lines[2],
        format!(
            "targets/x.yaml:{axon_line}:3: core.input_axon: unknown key; expected one of neurons, input_axons, \
             output_axons, synapse_memory_bits, synapse_cost, fanin_split, shared_kernels, readout_neurons, neuron_rows (did you mean `input_axons`?)"
        )
    );
}

#[test]
fn missing_fields_are_reported_at_their_section() {
    let text = edited(
        "xylo-like",
        &[
            (
                "  clock_hz: 5.0e7            # 50 MHz, Rockpool's default main clock [Monitor]\n",
                "",
            ),
            ("  weight_encoding: signed\n", ""),
        ],
    );
    let ps = problems(&text);
    assert_eq!(ps.len(), 2, "{ps:#?}");
    let clock = find(&ps, "timing.clock_hz");
    assert_eq!(
        (clock.line, clock.column),
        (line_of(&text, "\ntiming:") + 1, 1)
    );
    assert_eq!(clock.message, "missing required field");
    assert_eq!(clock.expected, "a number in (0, 1e12]");
    let enc = find(&ps, "precision.weight_encoding");
    assert_eq!(enc.line, line_of(&text, "\nprecision:") + 1);
    assert_eq!(enc.expected, "one of signed, loihi_sign_mode");
}

#[test]
fn did_you_mean_covers_keys_values_and_misplaced_keys() {
    let text = edited(
        "tiny",
        &[
            ("  neurons: 16\n", "  nuerons: 16\n"),
            ("  spike_test: greater\n", "  spike_test: greater-equal\n"),
            ("  decay: multiplicative\n", "  decay: Multiplicative\n"),
            (
                "  fanin_split: false\n",
                "  fanin_split: false\n  weight_bits: 8\n",
            ),
            ("  fifo_depth: 4 ", "  fifo_dept: 4 "),
        ],
    );
    let ps = problems(&text);
    let hint = |field: &str| find(&ps, field).hint.clone().unwrap_or_default();
    assert_eq!(hint("core.nuerons"), "did you mean `neurons`?");
    assert_eq!(hint("neuron.spike_test"), "did you mean `greater_equal`?");
    assert_eq!(hint("neuron.decay"), "did you mean `multiplicative`?");
    assert_eq!(
        hint("core.weight_bits"),
        "`weight_bits` belongs at `precision.weight_bits`"
    );
    assert_eq!(hint("mesh.fifo_dept"), "did you mean `fifo_depth`?");
    // A misspelt required key is not also reported missing.
    assert!(!ps.iter().any(|p| p.field == "core.neurons"), "{ps:#?}");
    assert_eq!(ps.len(), 5, "{ps:#?}");
}

#[test]
fn wrong_types_are_named() {
    let text = edited(
        "tiny",
        &[
            ("  width: 2\n", "  width: [2]\n"),
            ("  input_axons: 32\n", "  input_axons: {n: 32}\n"),
            ("  fanin_split: false\n", "  fanin_split: yes\n"),
            ("  refractory_max: 0\n", "  refractory_max: -1\n"),
            ("  barrier_cycles: 100\n", "  barrier_cycles: 1.5\n"),
            ("  clock_hz: 1.0e9\n", "  clock_hz: 1GHz\n"),
            ("  synaptic_delay: 1\n", "  synaptic_delay: 01\n"),
            ("name: tiny\n", "name: tiny one\n"),
        ],
    );
    let ps = problems(&text);
    let msg = |field: &str| find(&ps, field).message.clone();
    assert_eq!(msg("mesh.width"), "expected a single value, found a list");
    assert_eq!(
        msg("core.input_axons"),
        "expected a single value, found a mapping"
    );
    assert_eq!(msg("core.fanin_split"), "`yes` is not a boolean");
    assert_eq!(
        find(&ps, "core.fanin_split").hint.as_deref(),
        Some("write `true` or `false`")
    );
    assert_eq!(msg("neuron.refractory_max"), "`-1` is negative");
    assert_eq!(msg("timing.barrier_cycles"), "`1.5` is not a whole number");
    assert_eq!(msg("timing.clock_hz"), "`1GHz` is not a number");
    assert!(
        find(&ps, "timing.clock_hz")
            .hint
            .as_deref()
            .is_some_and(|h| h.contains("100e6"))
    );
    assert!(msg("neuron.synaptic_delay").contains("leading zero"));
    assert_eq!(msg("name"), "`tiny one` is not a valid name");
    assert_eq!(ps.len(), 8, "{ps:#?}");
}

#[test]
fn yaml_features_targets_do_not_use_are_refused_with_positions() {
    let text = edited(
        "tiny",
        &[
            ("  width: 2\n", "  width: &w 2\n"),
            ("  height: 2\n", "  height: *w\n"),
            ("  neurons: 16\n", "  neurons: !!int 16\n"),
            ("  fifo_depth: 4 ", "  fifo_depth: 4\n  fifo_depth: 8 "),
        ],
    );
    let ps = problems(&text);
    assert_eq!(find(&ps, "mesh.height").line, line_of(&text, "*w"));
    assert!(find(&ps, "mesh.height").message.contains("aliases"));
    assert!(find(&ps, "core.neurons").message.contains("tags"));
    let dup = find(&ps, "mesh.fifo_depth");
    assert_eq!(dup.line, line_of(&text, "fifo_depth: 8"));
    let first = line_of(&text, "fifo_depth: 4");
    assert_eq!(
        dup.message,
        format!("duplicate key (first written at {first}:3)")
    );
    assert_eq!(ps.len(), 3, "{ps:#?}");
}

#[test]
fn cross_field_rules_point_at_the_offending_field() {
    // (base target, edits, offending field, text on the line it is reported at)
    type Case = (
        &'static str,
        &'static [(&'static str, &'static str)],
        &'static str,
        &'static str,
    );
    let cases: &[Case] = &[
        (
            "loihi-like",
            &[("    max: 7\n", "    max: -9\n")],
            "precision.weight_exponent.max",
            "max: -9",
        ),
        (
            "xylo-like",
            &[("    scope: layer ", "    scope: none ")],
            "precision.weight_exponent.max",
            "max: 7",
        ),
        (
            "truenorth-like",
            &[(
                "  synapse_memory_bits: 262144",
                "  synapse_memory_bits: 100000",
            )],
            "core.synapse_memory_bits",
            "synapse_memory_bits: 100000",
        ),
        (
            "loihi-like",
            &[("    index_bits: 10 ", "    index_bits: 9 ")],
            "core.synapse_cost.index_bits",
            "index_bits: 9",
        ),
        (
            "loihi-like",
            &[("  max_spikes_per_tick: 1\n", "  max_spikes_per_tick: 4\n")],
            "neuron.max_spikes_per_tick",
            "max_spikes_per_tick: 4",
        ),
        (
            "xylo-like",
            &[(
                "  shift_min_step: true ",
                "  decay_bits: 10\n  shift_min_step: true ",
            )],
            "neuron.decay_bits",
            "decay_bits: 10",
        ),
        (
            // No bias (Xylo v1) and a bias exponent contradict each other.
            "xylo-like",
            &[("  bias_exp_max: 0 ", "  bias_exp_max: 3 ")],
            "precision.bias_exp_max",
            "bias_exp_max: 3",
        ),
        (
            "loihi-like",
            &[("  threshold_bits: 17 ", "  threshold_bits: 19 ")],
            "precision.threshold_bits",
            "threshold_bits: 19",
        ),
        (
            "xylo-like",
            &[("  current_overflow: saturate ", "  current_overflow: wrap ")],
            "precision.current_overflow",
            "current_overflow: wrap",
        ),
        (
            "loihi-like",
            &[("  current_bits: 24 ", "  current_bits: 16 ")],
            "precision.current_bits",
            "current_bits: 16",
        ),
        (
            "loihi-like",
            &[("  bias_exp_max: 7 ", "  bias_exp_max: 12 ")],
            "precision.bias_bits",
            "bias_bits: 13",
        ),
        (
            "loihi-like",
            &[("  accumulator_bits: 0 ", "  accumulator_bits: 6 ")],
            "precision.accumulator_bits",
            "accumulator_bits: 6",
        ),
        (
            "loihi-like",
            &[
                ("  weight_bits: 8 ", "  weight_bits: 12 "),
                ("    max: 7\n", "    max: 4\n"),
            ],
            "precision.weight_bits",
            "weight_bits: 12",
        ),
    ];
    for (base, edits, field, at) in cases {
        let text = edited(base, edits);
        let ps = problems(&text);
        assert_eq!(ps.len(), 1, "{base} {edits:?}: {ps:#?}");
        assert_eq!(ps[0].field, *field, "{ps:#?}");
        assert_eq!(ps[0].line, line_of(&text, at), "{ps:#?}");
        assert!(!ps[0].expected.is_empty());
    }
    // The crossbar rule says what to write.
    let text = edited(
        "truenorth-like",
        &[(
            "  synapse_memory_bits: 262144",
            "  synapse_memory_bits: 100000",
        )],
    );
    let p = &problems(&text)[0];
    assert_eq!(
        p.hint.as_deref(),
        Some("write `synapse_memory_bits: 262144`, or use kind `sparse`")
    );
}

#[test]
fn variant_fields_follow_the_kind() {
    let text = edited(
        "xylo-like",
        &[(
            "    kind: crossbar\n",
            "    kind: crossbar\n    index_bits: 10\n",
        )],
    );
    let ps = problems(&text);
    assert_eq!(ps.len(), 1, "{ps:#?}");
    assert_eq!(ps[0].field, "core.synapse_cost.index_bits");
    assert_eq!(ps[0].message, "only applies when `kind` is `sparse`");

    let text = edited(
        "loihi-like",
        &[("    axon_entry_bits: 16 ", "    axon_entry: 16 ")],
    );
    let ps = problems(&text);
    assert_eq!(ps.len(), 1, "{ps:#?}");
    assert_eq!(
        ps[0].hint.as_deref(),
        Some("did you mean `axon_entry_bits`?")
    );

    let text = edited(
        "loihi-like",
        &[("    axon_entry_bits: 16 ", "    # axon_entry_bits: 16 ")],
    );
    let ps = problems(&text);
    assert_eq!(ps[0].field, "core.synapse_cost.axon_entry_bits");
    assert_eq!(
        ps[0].hint.as_deref(),
        Some("required when `kind` is `sparse`")
    );

    let text = edited(
        "loihi-like",
        &[("    kind: sparse\n", "    kind: sparce\n")],
    );
    let ps = problems(&text);
    assert_eq!(ps.len(), 1, "only the kind, not its fields: {ps:#?}");
    assert_eq!(ps[0].hint.as_deref(), Some("did you mean `sparse`?"));
}

#[test]
fn syntax_errors_have_a_position() {
    let text = edited("tiny", &[("  height: 2\n", "  height: [2\n")]);
    match parse(&text, "t.yaml") {
        Err(TargetError::Syntax {
            path, line, column, ..
        }) => {
            assert_eq!(path, "t.yaml");
            assert!(line >= line_of(&text, "height: [2"), "line {line}");
            assert!(column >= 1);
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
    let err = parse("a: b: c\n", "t.yaml").expect_err("syntax");
    assert!(err.to_string().starts_with("t.yaml:1:"), "{err}");
}

#[test]
fn documents_that_are_not_one_mapping() {
    for (text, message) in [
        ("", "the file holds no target"),
        ("# nothing\n", "the file holds no target"),
        ("- 1\n- 2\n", "expected a mapping, found a list"),
        ("42\n", "expected a mapping, found a single value"),
    ] {
        let ps = problems(text);
        assert_eq!(ps.len(), 1, "{text:?}: {ps:#?}");
        assert_eq!(
            (ps[0].line, ps[0].column, ps[0].message.as_str()),
            (1, 1, message)
        );
        assert_eq!(ps[0].field, "(top level)");
    }
    let two = format!(
        "{}---\nname: other\n",
        builtin_source("tiny").expect("tiny")
    );
    let ps = problems(&two);
    assert_eq!(ps.len(), 1, "{ps:#?}");
    assert_eq!(ps[0].line, line_of(&two, "---"));
}

#[test]
fn problem_display_matches_the_documented_format() {
    let p = Problem {
        line: 12,
        column: 5,
        field: "core.input_axon".into(),
        value: String::new(),
        message: "unknown key".into(),
        expected: "one of neurons, input_axons".into(),
        hint: Some("did you mean `input_axons`?".into()),
    };
    assert_eq!(
        p.to_string(),
        "12:5: core.input_axon: unknown key; expected one of neurons, input_axons (did you mean `input_axons`?)"
    );
}

#[test]
fn tiles_must_divide_the_mesh_width() {
    let text = edited(
        "loihi-like",
        &[("  cores_per_tile: 4 ", "  cores_per_tile: 3 ")],
    );
    let ps = problems(&text);
    let p = find(&ps, "mesh.cores_per_tile");
    assert_eq!(p.line, line_of(&text, "cores_per_tile: 3"));
    assert_eq!(p.expected, "a divisor of mesh.width");
}

#[test]
fn the_barrier_grows_with_tiles_up_to_its_cap() {
    let t = parse(builtin_source("loihi-like").unwrap(), "loihi-like.yaml").unwrap();
    // SANA-FE's Loihi table: 0.6 us at 1 tile, 1.0 us at 2, 1.4 us from 4 (0.1 ns cycles).
    let barrier: Vec<u64> = [1, 2, 3, 4, 8, 32].map(|n| t.barrier_cycles(n)).to_vec();
    assert_eq!(barrier, [6000, 10000, 10000, 14000, 14000, 14000]);
    // Four cores share a router along x.
    assert_eq!(t.router_of((0, 3)), (0, 3));
    assert_eq!(t.router_of((7, 3)), (1, 3));
    // A target without tiles or a growing barrier: one router per core, a fixed barrier.
    let tiny = parse(builtin_source("tiny").unwrap(), "tiny.yaml").unwrap();
    assert_eq!(tiny.router_of((1, 1)), (1, 1));
    assert_eq!(
        tiny.barrier_cycles(64),
        u64::from(tiny.timing.barrier_cycles)
    );
}

/// `core.neuron_rows` (Xylo's own-rows counting) needs one core, and its crossbar holds the
/// neurons' own rows beside the input axons.
#[test]
fn neuron_rows_need_one_core_and_a_crossbar_with_the_neurons_rows() {
    let text = edited("xylo-like", &[("  width: 1 ", "  width: 2 ")]);
    let p = problems(&text);
    let one = find(&p, "core.neuron_rows");
    assert!(one.message.contains("the mesh has 2 x 1 cores"), "{one:#?}");
    let text = edited(
        "xylo-like",
        &[(
            "synapse_memory_bits: 8128000",
            "synapse_memory_bits: 128000",
        )],
    );
    let p = problems(&text);
    let memory = find(&p, "core.synapse_memory_bits");
    assert!(
        memory.message.contains("16 axons + 1000 neuron rows")
            && memory.expected.contains("8128000"),
        "{memory:#?}"
    );
    // Without own rows, the same crossbar is 16 x 1000 x 8 bits.
    let text = edited(
        "xylo-like",
        &[
            ("  neuron_rows: true ", "  neuron_rows: false "),
            (
                "synapse_memory_bits: 8128000",
                "synapse_memory_bits: 128000",
            ),
        ],
    );
    assert!(parse(&text, "t.yaml").is_ok());
}
