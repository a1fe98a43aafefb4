//! The `cuba` benchmark binary end to end on a small net: it compiles, writes, loads and
//! emulates in both modes, prints every figure, and the two modes agree on the events.

use std::process::Command;

fn figure<'a>(out: &'a str, line: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(line))
        .unwrap_or_else(|| panic!("no {line:?} line in:\n{out}"))
}

/// The number just before `unit` in `line`.
fn number_before(line: &str, unit: &str) -> f64 {
    let at = line
        .find(unit)
        .unwrap_or_else(|| panic!("{unit:?} in {line:?}"));
    let words: Vec<&str> = line[..at].split_whitespace().collect();
    words
        .last()
        .and_then(|w| w.trim_start_matches('(').parse().ok())
        .unwrap_or_else(|| panic!("number before {unit:?} in {line:?}"))
}

#[test]
fn runs_a_small_cuba_net_in_both_modes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let chip = dir.path().join("cuba.chip");
    let out = Command::new(env!("CARGO_BIN_EXE_cuba"))
        .args([
            "--neurons",
            "400",
            "--p",
            "0.1",
            "--ticks",
            "300",
            "--repeat",
            "2",
        ])
        .arg("--out")
        .arg(&chip)
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        chip.join("manifest.yaml").exists() || chip.is_dir(),
        "{text}"
    );
    figure(&text, "compile:");
    figure(&text, "load:");
    let f = figure(&text, "functional:");
    let c = figure(&text, "cycle-accurate:");
    // Both modes report the same spikes and events, and some activity.
    let tail = |l: &str| {
        l.split("ticks/s; ")
            .nth(1)
            .map(|t| t.split(';').next().unwrap_or(""))
            .map(str::to_string)
    };
    assert_eq!(tail(f), tail(c), "{text}");
    assert!(number_before(f, "spikes (") > 0.0, "{text}");
    assert!(number_before(c, "× the functional time") > 0.0, "{text}");

    // The written CHIPDIR runs again on its own, its whole result written with --results.
    let results = dir.path().join("results.json");
    let again = Command::new(env!("CARGO_BIN_EXE_cuba"))
        .args(["--ticks", "300", "--modes", "functional", "--chip"])
        .arg(&chip)
        .arg("--results")
        .arg(&results)
        .output()
        .expect("runs");
    let again_text = String::from_utf8_lossy(&again.stdout).to_string();
    assert!(again.status.success(), "{again_text}");
    assert_eq!(tail(figure(&again_text, "functional:")), tail(f));
    let json = std::fs::read_to_string(&results).expect("results written");
    let spikes = format!("\"spikes\": {}", number_before(f, "spikes ("));
    assert!(
        json.contains("\"functional\"") && json.contains(&spikes),
        "{json}"
    );
}

#[test]
fn refuses_bad_settings() {
    for args in [
        vec!["--neurons", "1"],
        vec!["--p", "0"],
        vec!["--modes", "fast"],
        vec!["--repeat", "0"],
        vec!["--threads", "0"],
        vec!["--results", "."],
        vec!["--results", "/no/such/dir/results.json"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_cuba"))
            .args(&args)
            .output()
            .expect("runs");
        assert!(!out.status.success(), "{args:?} accepted");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("error"),
            "{args:?}"
        );
    }
}
