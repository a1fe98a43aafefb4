//! Issue 15, item 4: leftovers of a killed run are removed by the next run into the same place;
//! every command creates the missing parents of its outputs; `demo` checks its outputs before
//! training.

use crate::util::*;

/// A process id no process has (above Linux's largest `pid_max`).
const DEAD: u64 = 4_000_000_000;

fn hand_written() -> String {
    path_str(&root().join("examples/hand-written.yaml"))
}

#[test]
fn leftovers_of_a_killed_compile_are_removed_by_the_next_one() {
    let dir = tempdir();
    let d = dir.path();
    // What a compile killed while writing leaves: a staging directory and a report temp file.
    let staging = d.join(format!(".c.chip.tmp-p{DEAD}-Ab12Cd"));
    std::fs::create_dir(&staging).unwrap();
    std::fs::write(staging.join("cores.bin"), "half").unwrap();
    let json_tmp = d.join(format!(".r.json.p{DEAD}-xY34zW.tmp"));
    std::fs::write(&json_tmp, "{\"cores").unwrap();
    // Not lifchip's (another name or pattern), or of a live process (pid 1): left alone.
    let keep = [
        d.join(format!(".c.chip.tmp-p{DEAD}-Ab12Cd-mine")),
        d.join(format!(".other.chip.tmp-p{DEAD}-Ab12Cd")),
        d.join(".c.chip.tmp-p1-Ab12Cd"),
    ];
    for k in &keep {
        std::fs::create_dir(k).unwrap();
    }
    lifchip(
        d,
        &[
            "compile",
            "--net",
            &hand_written(),
            "--target",
            "loihi-like",
            "--out",
            "c.chip",
            "--json",
            "r.json",
        ],
    )
    .ok();
    assert!(!staging.exists(), "the staging directory was left");
    assert!(!json_tmp.exists(), "the temp file was left");
    for k in &keep {
        assert!(k.exists(), "{} was removed", k.display());
    }
    assert!(d.join("c.chip/cores.bin").is_file() && d.join("r.json").is_file());
}

#[test]
fn every_command_creates_missing_parent_directories() {
    let dir = tempdir();
    let d = dir.path();
    lifchip(
        d,
        &[
            "compile",
            "--net",
            &hand_written(),
            "--target",
            "loihi-like",
            "--out",
            "a/b/c.chip",
            "--json",
            "j/k/compile.json",
            "--report",
            "h/i/compile.html",
        ],
    )
    .ok();
    for p in [
        "a/b/c.chip/cores.bin",
        "j/k/compile.json",
        "h/i/compile.html",
    ] {
        assert!(d.join(p).is_file(), "compile: {p}");
    }
    lifchip(
        d,
        &[
            "emulate",
            "--chip",
            "a/b/c.chip",
            "--input-spikes",
            &path_str(&root().join("examples/hand-written-spikes.json")),
            "--json",
            "e/f/run.json",
            "--report",
            "e/g/run.html",
        ],
    )
    .ok();
    for p in ["e/f/run.json", "e/g/run.html"] {
        assert!(d.join(p).is_file(), "emulate: {p}");
    }
    lifchip(
        d,
        &[
            "report",
            "a/b/c.chip",
            "--run",
            "e/f/run.json",
            "--out",
            "r/s/page.html",
        ],
    )
    .ok();
    assert!(d.join("r/s/page.html").is_file(), "report");
    lifchip(
        d,
        &[
            "import",
            &path_str(&root().join("tests/fixtures/nir/snntorch_ff.nir")),
            "--out",
            "n/o/ff.net",
        ],
    )
    .ok();
    assert!(d.join("n/o/ff.net/manifest.yaml").is_file(), "import");
    lifchip(d, &["export", "n/o/ff.net", "--out", "x/y/ff.nir"]).ok();
    assert!(d.join("x/y/ff.nir").is_file(), "export");
    lifchip(
        d,
        &[
            "export-chip",
            "a/b/c.chip",
            "--backend",
            "lava",
            "--ticks",
            "5",
            "--out",
            "l/m/lava",
        ],
    )
    .ok();
    assert!(d.join("l/m/lava").is_dir(), "export-chip");
}

#[test]
fn demo_checks_its_outputs_before_training() {
    let dir = tempdir();
    let d = dir.path();
    std::fs::write(d.join("notes.txt"), "mine").unwrap();
    let started = std::time::Instant::now();
    let run = lifchip(d, &["demo", "--quick", "--out", "notes.txt"]);
    run.fails(1);
    assert!(run.stderr.contains("not a directory"), "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(d.join("notes.txt")).unwrap(),
        "mine"
    );

    // A demo.chip in --out that is not a chip directory is not replaced.
    std::fs::create_dir_all(d.join("out/demo.chip")).unwrap();
    std::fs::write(d.join("out/demo.chip/photo.jpg"), "meow").unwrap();
    let run = lifchip(d, &["demo", "--quick", "--out", "out"]);
    run.fails(1);
    assert!(run.stderr.contains("demo.chip"), "{}", run.stderr);
    assert!(
        !d.join("out/demo.net").exists(),
        "it trained before checking"
    );

    let run = lifchip(d, &["demo", "--quick", "--json", "."]);
    run.fails(1);
    assert!(run.stderr.contains("is a directory"), "{}", run.stderr);
    assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
}
