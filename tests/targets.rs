//! `lifchip targets list | check`.

use crate::util::*;

#[test]
fn shipped_targets_pass_their_check() {
    let dir = tempdir();
    for name in ["tiny", "loihi-like", "xylo-like", "truenorth-like"] {
        let file = root().join(format!("targets/{name}.yaml"));
        lifchip(dir.path(), &["targets", "check", &path_str(&file)]).ok();
    }
    let list = lifchip(dir.path(), &["targets", "list"]);
    list.ok();
    assert!(list.stdout.contains("loihi-like"));
}

#[test]
fn broken_target_lists_every_problem_with_lines() {
    let dir = tempdir();
    let text = std::fs::read_to_string(root().join("targets/tiny.yaml")).unwrap();
    // Three problems on three different lines: an unknown key, a wrong type, a bad enum name.
    let broken = text
        .replacen("neurons:", "neuronz:", 1)
        .replacen("weight_bits:", "weight_bits: eight\n  old_weight_bits:", 1)
        .replacen("spike_test: greater", "spike_test: bigger", 1);
    let file = dir.path().join("broken.yaml");
    std::fs::write(&file, &broken).unwrap();
    let run = lifchip(dir.path(), &["targets", "check", &path_str(&file)]);
    run.fails(1);
    for needle in ["neuronz", "did you mean", "weight_bits", "bigger"] {
        assert!(
            run.stderr.contains(needle),
            "missing {needle:?} in:\n{}",
            run.stderr
        );
    }
    let line_of = |needle: &str| broken.lines().position(|l| l.contains(needle)).unwrap() + 1;
    assert!(
        run.stderr
            .contains(&format!("broken.yaml:{}:", line_of("neuronz"))),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains(&format!("broken.yaml:{}:", line_of("bigger"))),
        "{}",
        run.stderr
    );
}

#[test]
fn show_prints_a_builtin_target_that_checks_as_a_file() {
    let dir = tempdir();
    let run = lifchip(dir.path(), &["targets", "show", "xylo-like"]);
    run.ok();
    assert_eq!(
        run.stdout,
        std::fs::read_to_string(root().join("targets/xylo-like.yaml")).unwrap()
    );
    // A variant starts from it.
    let file = dir.path().join("variant.yaml");
    std::fs::write(
        &file,
        run.stdout
            .replacen("name: xylo-like", "name: xylo-variant", 1),
    )
    .unwrap();
    lifchip(dir.path(), &["targets", "check", &path_str(&file)]).ok();
    let run = lifchip(dir.path(), &["targets", "show", "xylo"]);
    run.fails(1);
    assert!(run.stderr.contains("xylo-like"), "{}", run.stderr);
}
