//! Usage errors, bad input files, and the exit codes of `docs/interfaces.md`.

use crate::util::*;

#[test]
fn unknown_flag_is_a_usage_error() {
    let dir = tempdir();
    lifchip(dir.path(), &["compile", "--bogus"]).fails(2);
}

#[test]
fn malformed_net_names_file_and_line() {
    let dir = tempdir();
    let net = dir.path().join("bad.yaml");
    std::fs::write(&net, "name: x\npopulations:\n  - {name: in, shape: [2], neuron: {kind: input}}\nprojections: []\nextra_key: 3\n").unwrap();
    let out = dir.path().join("chip");
    let run = compile_run(dir.path(), &path_str(&net), "tiny", &path_str(&out));
    run.fails(1);
    assert!(run.stderr.contains("bad.yaml:5"), "{}", run.stderr);
    assert!(!out.exists());
}

#[test]
fn missing_net_file_is_reported() {
    let dir = tempdir();
    let run = lifchip(
        dir.path(),
        &[
            "compile", "--net", "nope.net", "--target", "tiny", "--out", "chip",
        ],
    );
    run.fails(1);
    assert!(run.stderr.contains("nope.net"), "{}", run.stderr);
}

#[test]
fn corrupt_idx_data_is_reported_not_panicked() {
    let dir = tempdir();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    // An images file whose header promises more pixels than it holds.
    let mut bytes = vec![0, 0, 8, 3, 0, 0, 0, 10, 0, 0, 0, 28, 0, 0, 0, 28];
    bytes.extend(vec![0u8; 100]);
    std::fs::write(data.join("t10k-images-idx3-ubyte"), &bytes).unwrap();
    std::fs::write(
        data.join("t10k-labels-idx1-ubyte"),
        [0, 0, 8, 1, 0, 0, 0, 10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0],
    )
    .unwrap();
    let net = root().join("examples/hand-written.yaml");
    let run = lifchip(
        dir.path(),
        &["eval", "--net", &path_str(&net), "--data", &path_str(&data)],
    );
    run.fails(1);
    assert!(run.stderr.contains("truncated"), "{}", run.stderr);
}

/// Outputs are written through temporary files, but end up with the permissions of a plainly
/// created file (0666 minus the umask), not the private 0600 of a temp file.
#[cfg(unix)]
#[test]
fn outputs_get_ordinary_file_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempdir();
    let net = root().join("examples/hand-written.yaml");
    lifchip(
        dir.path(),
        &[
            "compile",
            "--net",
            &path_str(&net),
            "--target",
            "tiny",
            "--out",
            "hand.chip",
            "--json",
            "report.json",
        ],
    )
    .ok();
    let plain = dir.path().join("plain");
    std::fs::write(&plain, b"x").unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir.path().join("report.json")), mode(&plain));
    assert_eq!(mode(&dir.path().join("hand.chip/cores.bin")), mode(&plain));
}
