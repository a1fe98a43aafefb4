//! Every parser, fed mutated inputs (flips, insertions, deletions, truncations, splices,
//! extreme numbers, nesting bombs, non-UTF-8), returns a value or a typed error that names the
//! file, never panics, and takes under 2 s per case. `LIFCHIP_FUZZ_CASES` changes the number of
//! cases per parser (the long runs use the `lifchip-fuzz` binary, `docs/fuzzing.md`).

use std::{sync::OnceLock, time::Duration};

use lifchip_fuzz::{Corpus, Parser, campaign};

fn corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(Corpus::new)
}

fn fuzz(parser: Parser, default_cases: u64) {
    let cases = std::env::var("LIFCHIP_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    let stats = campaign(
        corpus(),
        parser,
        0x15,
        0..cases,
        Duration::from_secs(2),
        Duration::from_secs(20),
        |_| {},
        0,
    );
    eprintln!(
        "{}: {} cases, {} accepted, {} refused, slowest {:.3} s (case {})",
        parser.name(),
        stats.cases,
        stats.accepted,
        stats.refused,
        stats.max_time.as_secs_f64(),
        stats.max_case
    );
    assert!(
        stats.panics.is_empty(),
        "{}: panics {:?}",
        parser.name(),
        stats.panics
    );
    assert!(
        stats.unnamed.is_empty(),
        "{}: refusals that do not name the file {:?}",
        parser.name(),
        stats.unnamed
    );
    assert!(
        stats.slow.is_empty(),
        "{}: cases over 2 s {:?}",
        parser.name(),
        stats.slow
    );
    // The mutations must reach both outcomes: a fuzz test that only ever sees refusals (or
    // only acceptances) tests less than it seems.
    assert!(
        stats.refused > stats.cases / 4,
        "{}: {stats:?}",
        parser.name()
    );
    assert!(stats.accepted > 0, "{}: nothing accepted", parser.name());
}

#[test]
fn net_yaml() {
    fuzz(Parser::NetYaml, 600);
}

#[test]
fn net_dir() {
    fuzz(Parser::NetDir, 600);
}

#[test]
fn spikes() {
    fuzz(Parser::Spikes, 2000);
}

#[test]
fn rate_profile() {
    fuzz(Parser::RateProfile, 600);
}

#[test]
fn train_config() {
    fuzz(Parser::TrainConfig, 1000);
}

#[test]
fn sweep_spec() {
    fuzz(Parser::SweepSpec, 1000);
}

#[test]
fn target() {
    fuzz(Parser::Target, 1000);
}

#[test]
fn nir() {
    fuzz(Parser::Nir, 1000);
}

#[test]
fn chip() {
    fuzz(Parser::Chip, 600);
}

#[test]
fn idx() {
    fuzz(Parser::Idx, 600);
}

/// The same seed and case give the same input (a failure can be re-run alone).
#[test]
fn cases_are_reproducible() {
    for p in Parser::ALL {
        for case in [0, 1, 17, 999] {
            assert_eq!(
                corpus().case(p, 3, case),
                corpus().case(p, 3, case),
                "{p:?}"
            );
        }
        assert_ne!(corpus().case(p, 3, 5), corpus().case(p, 4, 5), "{p:?}");
    }
}

/// The CHIPDIR fix-ups match the reader's checks, the manifest's own seal included: a
/// target.yaml or cores.bin edited and fixed up gets past every checksum, so mutations reach
/// the validation behind them instead of all stopping at `manifest_fnv1a64`.
#[test]
fn chip_fix_ups_pass_every_checksum() {
    use lifchip_fuzz::{Files, fix_checksums};
    let dir = tempfile::tempdir().unwrap();
    for seed in corpus().seeds(Parser::Chip) {
        let fixed = |name: &str, edit: &dyn Fn(&mut Vec<u8>)| -> Files {
            let mut files = seed.clone();
            let i = files.iter().position(|(n, _)| n.ends_with(name)).unwrap();
            let original = files[i].1.clone();
            edit(&mut files[i].1);
            fix_checksums(&mut files, name, &original);
            files
        };
        // A comment in target.yaml changes its bytes, not the target: accepted once fixed up.
        let files = fixed("target.yaml", &|b| b.extend_from_slice(b"\n# edited\n"));
        corpus()
            .run(Parser::Chip, dir.path(), &files)
            .unwrap_or_else(|r| panic!("{}", r.message));
        // Every edit of cores.bin gets past the checksums to the structure checks.
        for at in (0..seed
            .iter()
            .find(|(n, _)| n.ends_with("cores.bin"))
            .unwrap()
            .1
            .len())
            .step_by(7)
        {
            let files = fixed("cores.bin", &|b| b[at] ^= 0x5a);
            if let Err(r) = corpus().run(Parser::Chip, dir.path(), &files) {
                for checksum in [
                    "manifest_fnv1a64",
                    "crc32",
                    "FNV-1a",
                    "truncated or replaced",
                ] {
                    assert!(!r.message.contains(checksum), "byte {at}: {}", r.message);
                }
            }
        }
    }
}

/// Runs NIR case `case` of seed 1, which must be refused: the refusal and the seconds taken.
fn refused_nir_case(case: u64) -> (lifchip_fuzz::Refusal, f64) {
    let files = corpus().case(Parser::Nir, 1, case);
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let outcome = corpus().run(Parser::Nir, dir.path(), &files);
    let seconds = started.elapsed().as_secs_f64();
    (outcome.expect_err("the case is refused"), seconds)
}

/// Case 113906 of the long run (seed 1): a 89 KB NIR file whose compressed neuron parameter
/// declares 134 M neurons. It took 1.4 s and 1 GiB to read before the converter refused it;
/// the reader now refuses a neuron parameter above 2^26 values from its shape, unread.
#[test]
fn a_nir_neuron_parameter_declaring_134m_neurons_is_refused_unread() {
    let (refusal, seconds) = refused_nir_case(113_906);
    assert!(
        refusal.message.contains("more than 67108864 neurons"),
        "{}",
        refusal.message
    );
    assert!(seconds < 0.5, "{seconds} s");
}

/// Case 511331 of the 10^6 run (seed 1): a 64 KB NIR file whose compressed weight's shape was
/// mutated to [16776963, 8] while the file stores one chunk of it. The read allocated and
/// filled 1.5 GiB (11 s under load) before the converter refused the net; the reader now
/// compares the shape with what the file stores and refuses it unread.
#[test]
fn a_nir_dataset_announcing_more_chunks_than_stored_is_refused_unread() {
    let (refusal, seconds) = refused_nir_case(511_331);
    assert!(
        refusal
            .message
            .contains("has shape [16776963, 8] but the file stores 1 of its 5592321 chunks"),
        "{}",
        refusal.message
    );
    assert!(seconds < 0.5, "{seconds} s");
}
