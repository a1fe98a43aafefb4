//! `lifchip report`: the page of a compile and a run, loaded in headless Chromium (no console
//! message, the expected number of cores, links and spike marks in the rendered DOM), and the
//! inputs it refuses without writing anything.
//!
//! The browser part skips with a message when `chromium` is not installed, unless
//! `LIFCHIP_REQUIRE_BROWSER=1` (set by `.ci/run`, which installs it).

use std::{collections::BTreeSet, path::Path, process::Command};

use crate::util::{lifchip, path_str, read_json, root, tempdir};

/// A net in chip units that spreads over three cores of the `tiny` target (16 neurons each):
/// 4 inputs -> 40 hidden -> 4 outputs, and input spikes that make it fire.
fn write_layered_net(dir: &Path) -> (String, String) {
    let hidden = 40;
    let list = |f: &dyn Fn(usize) -> usize| {
        (0..hidden)
            .map(|j| f(j).to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let zeros = |n: usize| vec!["0"; n].join(", ");
    let lif = |n: usize| {
        format!(
            "{{kind: chip_lif, current_decay: 1024, voltage_decay: 256, threshold: 100, bias: [{}]}}",
            zeros(n)
        )
    };
    let net = [
        "name: layered".to_string(),
        "description: three cores of the tiny target".into(),
        "populations:".into(),
        "  - {name: in, shape: [4], neuron: {kind: input}}".into(),
        format!("  - {{name: hidden, shape: [{hidden}], neuron: {}}}", lif(hidden)),
        format!("  - {{name: out, shape: [4], neuron: {}}}", lif(4)),
        "projections:".into(),
        format!(
            "  - {{name: in_hidden, from: in, to: hidden, ops: [{{kind: sparse, outputs: {hidden}, pre: [{}], post: [{}], weights: [{}]}}]}}",
            list(&|j| j % 4),
            list(&|j| j),
            list(&|_| 60)
        ),
        format!(
            "  - {{name: hidden_out, from: hidden, to: out, ops: [{{kind: sparse, outputs: 4, pre: [{}], post: [{}], weights: [{}]}}]}}",
            list(&|j| j),
            list(&|j| j % 4),
            list(&|_| 30)
        ),
    ]
    .join("\n");
    let spikes: Vec<String> = (0..30)
        .flat_map(|t| {
            (0..4)
                .filter(move |i| (t + i) % 2 == 0)
                .map(move |i| format!("[{t}, {i}]"))
        })
        .collect();
    let net_path = dir.join("layered.yaml");
    let spikes_path = dir.join("layered-spikes.json");
    std::fs::write(&net_path, net).unwrap();
    std::fs::write(
        &spikes_path,
        format!("{{\"ticks\": 30, \"spikes\": [{}]}}", spikes.join(", ")),
    )
    .unwrap();
    (path_str(&net_path), path_str(&spikes_path))
}

/// Compiles `net` to `target`, runs it with every population probed and renders the report;
/// returns (CHIPDIR, run JSON, report).
fn compile_run_report(
    dir: &Path,
    name: &str,
    net: &str,
    target: &str,
    spikes: &str,
) -> [String; 3] {
    let chip = path_str(&dir.join(format!("{name}.chip")));
    let run = path_str(&dir.join(format!("{name}-run.json")));
    let html = path_str(&dir.join(format!("{name}.html")));
    lifchip(
        dir,
        &["compile", "--net", net, "--target", target, "--out", &chip],
    )
    .ok();
    lifchip(
        dir,
        &[
            "emulate",
            "--chip",
            &chip,
            "--input-spikes",
            spikes,
            "--probe",
            "all",
            "--json",
            &run,
        ],
    )
    .ok();
    lifchip(dir, &["report", &chip, "--run", &run, "--out", &html]).ok();
    [chip, run, html]
}

/// The rendered DOM of `html` in headless Chromium, or `None` (with a message) when Chromium is
/// absent and not required. Fails on any console message.
pub(crate) fn rendered_dom(html: &str, profile: &Path) -> Option<String> {
    let output = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            &format!("--user-data-dir={}", profile.display()),
            "--dump-dom",
            &format!(
                "file://{}",
                Path::new(html).canonicalize().unwrap().display()
            ),
        ])
        .output();
    let output = match output {
        Ok(o) => o,
        Err(e) => {
            assert!(
                std::env::var("LIFCHIP_REQUIRE_BROWSER").as_deref() != Ok("1"),
                "LIFCHIP_REQUIRE_BROWSER=1 but chromium does not run: {e}"
            );
            eprintln!(
                "SKIPPED the browser check: chromium is not installed ({e}); `apt-get install chromium` or see .ci/run"
            );
            return None;
        }
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "chromium failed: {stderr}");
    let console: Vec<&str> = stderr.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(
        console.is_empty(),
        "console messages:\n{}",
        console.join("\n")
    );
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The distinct directed mesh links of every spike's XY multicast tree, computed here from the
/// chip configuration independently of the report.
fn loaded_links(chip: &str) -> usize {
    let config = lifchip_chip::read_chipdir(Path::new(chip)).unwrap();
    let at = |core: u32| (config.cores[core as usize].x, config.cores[core as usize].y);
    let mut links = BTreeSet::new();
    let mut add = |src, dests: Vec<(u32, u32)>| {
        for l in lifchip_chip::xy_route(&config.target, src, &dests).unwrap() {
            links.insert(l);
        }
    };
    for channel in &config.inputs {
        add(at(0), channel.iter().map(|d| at(d.core)).collect());
    }
    for core in &config.cores {
        for k in &core.compartments {
            add(
                (core.x, core.y),
                k.destinations.iter().map(|d| at(d.core)).collect(),
            );
        }
    }
    links.len()
}

fn spikes_in(run: &str) -> usize {
    read_json(Path::new(run))["probes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["spike_ticks"].as_array().unwrap().len())
        .sum()
}

#[test]
fn report_of_a_compile_and_a_run_renders_in_a_browser() {
    let tmp = tempdir();
    let dir = tmp.path();
    let hand = path_str(&root().join("examples/hand-written.yaml"));
    let hand_spikes = path_str(&root().join("examples/hand-written-spikes.json"));
    let (layered, layered_spikes) = write_layered_net(dir);
    for (name, net, target, spikes, cores) in [
        ("hand", hand.as_str(), "loihi-like", hand_spikes.as_str(), 1),
        (
            "layered",
            layered.as_str(),
            "tiny",
            layered_spikes.as_str(),
            3,
        ),
    ] {
        let [chip, run, html] = compile_run_report(dir, name, net, target, spikes);
        let page = std::fs::read_to_string(&html).unwrap();
        // The only URL is the SVG namespace.
        assert_eq!(
            page.matches("://").count(),
            page.matches("xmlns=\"http://www.w3.org/2000/svg\"").count(),
            "{name}: no address other than the SVG namespace"
        );
        assert!(!page.contains("<script"), "no script");
        // The link loads counted from the chip configuration agree with the compiler's.
        assert!(
            !page.contains("The compile report gives a maximum link load"),
            "{name}"
        );
        assert!(!page.contains("src=\""), "nothing loaded from elsewhere");
        let (links, spikes) = (loaded_links(&chip), spikes_in(&run));
        assert!(spikes > 0, "{name}: the run spikes");
        let Some(dom) = rendered_dom(&html, &dir.join(format!("{name}-profile"))) else {
            return;
        };
        assert_eq!(
            dom.matches("<rect class=\"c ").count(),
            cores,
            "{name}: core map"
        );
        assert_eq!(
            dom.matches("<line class=\"k ").count(),
            links,
            "{name}: link map"
        );
        assert_eq!(
            dom.matches("class=\"spk\"").count(),
            spikes,
            "{name}: raster"
        );
        // One rate histogram of ten bars per probed population.
        let populations = if name == "hand" { 1 } else { 2 };
        assert_eq!(dom.matches("<svg class=\"hist\"").count(), populations);
        // The run is cycle-accurate: the cycles over its ticks, and one bar per core.
        assert_eq!(dom.matches("<polyline class=\"cyc\"").count(), 1, "{name}");
        assert_eq!(dom.matches("<line class=\"peak\"").count(), cores, "{name}");
        assert!(dom.contains("Quantization per layer") && dom.contains("Energy per sample"));
    }
}

#[test]
fn report_refuses_bad_input_and_writes_nothing() {
    let tmp = tempdir();
    let dir = tmp.path();
    let hand = path_str(&root().join("examples/hand-written.yaml"));
    let hand_spikes = path_str(&root().join("examples/hand-written-spikes.json"));
    let (layered, layered_spikes) = write_layered_net(dir);
    let [hand_chip, _, _] = compile_run_report(dir, "hand", &hand, "tiny", &hand_spikes);
    let [layered_chip, layered_run, _] =
        compile_run_report(dir, "layered", &layered, "tiny", &layered_spikes);
    let out = dir.join("bad.html");
    let out_s = path_str(&out);

    // A run of another chip (same target, other net): `emulate` stamped it with that chip's
    // fingerprint.
    let r = lifchip(
        dir,
        &["report", &hand_chip, "--run", &layered_run, "--out", &out_s],
    );
    r.fails(1);
    assert!(r.stderr.contains("chip_fingerprint"), "{}", r.stderr);
    assert!(!out.exists());

    // Without the stamp, its populations are not this chip's.
    let mut unstamped = read_json(Path::new(&layered_run));
    unstamped
        .as_object_mut()
        .unwrap()
        .remove("chip_fingerprint");
    let unstamped_path = dir.join("unstamped.json");
    std::fs::write(&unstamped_path, unstamped.to_string()).unwrap();
    let r = lifchip(
        dir,
        &[
            "report",
            &hand_chip,
            "--run",
            &path_str(&unstamped_path),
            "--out",
            &out_s,
        ],
    );
    r.fails(1);
    assert!(
        r.stderr.contains("probes[0]") && r.stderr.contains("hidden"),
        "{}",
        r.stderr
    );
    assert!(!out.exists());

    // A run carrying the fingerprint of another CHIPDIR.
    let mut run = read_json(Path::new(&layered_run));
    run["chip_fingerprint"] = "0123456789abcdef".into();
    let stamped = dir.join("stamped.json");
    std::fs::write(&stamped, run.to_string()).unwrap();
    let r = lifchip(
        dir,
        &[
            "report",
            &layered_chip,
            "--run",
            &path_str(&stamped),
            "--out",
            &out_s,
        ],
    );
    r.fails(1);
    assert!(r.stderr.contains("chip_fingerprint"), "{}", r.stderr);
    assert!(!out.exists());

    // A CHIPDIR that fails validation.
    let cores = Path::new(&layered_chip).join("cores.bin");
    let mut bytes = std::fs::read(&cores).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&cores, bytes).unwrap();
    let r = lifchip(dir, &["report", &layered_chip, "--out", &out_s]);
    r.fails(1);
    assert!(r.stderr.contains("cores.bin"), "{}", r.stderr);
    assert!(!out.exists());

    // The report never replaces an input.
    let r = lifchip(
        dir,
        &[
            "report",
            &hand_chip,
            "--run",
            &layered_run,
            "--out",
            &layered_run,
        ],
    );
    r.fails(1);
    assert!(read_json(Path::new(&layered_run))["probes"].is_array());
}

#[test]
fn report_of_a_failed_compile_lists_its_violations() {
    let tmp = tempdir();
    let dir = tmp.path();
    let (layered, _) = write_layered_net(dir);
    // The tiny target cut to one core: the 44 neurons need three.
    let text = std::fs::read_to_string(root().join("targets/tiny.yaml")).unwrap();
    let one = text
        .replacen("width: 2", "width: 1", 1)
        .replacen("height: 2", "height: 1", 1);
    let target = dir.join("one-core.yaml");
    std::fs::write(&target, one).unwrap();
    let json = path_str(&dir.join("failed.json"));
    let chip = path_str(&dir.join("never.chip"));
    lifchip(
        dir,
        &[
            "compile",
            "--net",
            &layered,
            "--target",
            &path_str(&target),
            "--out",
            &chip,
            "--json",
            &json,
        ],
    )
    .fails(1);
    let html = dir.join("failed.html");
    lifchip(
        dir,
        &["report", "--compile-json", &json, "--out", &path_str(&html)],
    )
    .ok();
    let page = std::fs::read_to_string(&html).unwrap();
    let violations = read_json(Path::new(&json))["violations"]
        .as_array()
        .unwrap()
        .len();
    assert!(violations > 0);
    assert!(page.contains(&format!("The net does not fit: {violations} violation(s)")));
    // One table row per violation, plus the header.
    let section = &page[page.find("id=\"violations\"").unwrap()..];
    let table = &section[..section.find("</table>").unwrap()];
    assert_eq!(table.matches("<tr>").count(), violations + 1);
}

#[test]
fn compile_and_emulate_write_the_same_report_as_the_report_command() {
    let tmp = tempdir();
    let dir = tmp.path();
    let (layered, spikes) = write_layered_net(dir);
    let chip = path_str(&dir.join("layered.chip"));
    let from_compile = dir.join("compile.html");
    lifchip(
        dir,
        &[
            "compile",
            "--net",
            &layered,
            "--target",
            "tiny",
            "--out",
            &chip,
            "--report",
            &path_str(&from_compile),
        ],
    )
    .ok();
    let alone = dir.join("alone.html");
    lifchip(dir, &["report", &chip, "--out", &path_str(&alone)]).ok();
    assert_eq!(
        std::fs::read_to_string(&from_compile).unwrap(),
        std::fs::read_to_string(&alone).unwrap()
    );

    let run = path_str(&dir.join("run.json"));
    let from_emulate = dir.join("emulate.html");
    lifchip(
        dir,
        &[
            "emulate",
            "--chip",
            &chip,
            "--input-spikes",
            &spikes,
            "--probe",
            "all",
            "--json",
            &run,
            "--report",
            &path_str(&from_emulate),
        ],
    )
    .ok();
    // The run JSON is stamped with the CHIPDIR it ran.
    let stamped = read_json(Path::new(&run))["chip_fingerprint"].clone();
    assert!(stamped.as_str().is_some_and(|s| !s.is_empty()));
    let with_run = dir.join("with-run.html");
    lifchip(
        dir,
        &[
            "report",
            &chip,
            "--run",
            &run,
            "--out",
            &path_str(&with_run),
        ],
    )
    .ok();
    let page = std::fs::read_to_string(&from_emulate).unwrap();
    assert_eq!(page, std::fs::read_to_string(&with_run).unwrap());
    assert_eq!(page.matches("class=\"spk\"").count(), spikes_in(&run));
}

#[test]
fn compile_report_of_a_net_that_does_not_fit_shows_the_violations() {
    let tmp = tempdir();
    let dir = tmp.path();
    let (layered, _) = write_layered_net(dir);
    let text = std::fs::read_to_string(root().join("targets/tiny.yaml")).unwrap();
    let target = dir.join("one-core.yaml");
    std::fs::write(
        &target,
        text.replacen("width: 2", "width: 1", 1)
            .replacen("height: 2", "height: 1", 1),
    )
    .unwrap();
    let html = dir.join("failed.html");
    let chip = dir.join("never.chip");
    let r = lifchip(
        dir,
        &[
            "compile",
            "--net",
            &layered,
            "--target",
            &path_str(&target),
            "--out",
            &path_str(&chip),
            "--report",
            &path_str(&html),
        ],
    );
    r.fails(1);
    assert!(!chip.exists());
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("The net does not fit:"), "{page}");
    assert!(page.contains("id=\"violations\""));
}
