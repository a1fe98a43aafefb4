//! Progress on stderr: bars for training epochs, emulation and sweep points, and the notes a
//! study makes, through the study engine's [`Observer`].

use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};
use lifchip_study::Observer;
use lifchip_train::Progress;

/// A progress bar on stderr (hidden when stderr is not a terminal, e.g. in tests and CI).
pub fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    let style = ProgressStyle::with_template(
        "{msg:>12} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta} {prefix}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(what.to_string());
    bar
}

/// Training progress: a bar per epoch, and one line per finished epoch, on stderr.
#[derive(Default)]
pub struct Training {
    bar: Option<ProgressBar>,
}

impl Training {
    pub fn show(&mut self, p: &Progress) {
        match p {
            Progress::Batch {
                epoch,
                epochs,
                batch,
                batches,
                loss,
                ..
            } => {
                let b = self.bar.get_or_insert_with(|| {
                    bar(*batches as u64, &format!("epoch {epoch}/{epochs}"))
                });
                b.set_position(*batch as u64);
                if batch % 20 == 0 {
                    b.set_prefix(format!("loss {loss:.3}"));
                }
            }
            Progress::Epoch(stats) => {
                if let Some(b) = self.bar.take() {
                    b.finish_and_clear();
                }
                let test = stats
                    .test_accuracy
                    .map_or_else(String::new, |a| format!(", test {:.2}%", a * 100.0));
                eprintln!(
                    "epoch {}: loss {:.4}, train {:.2}%{test}, {:.1} s",
                    stats.epoch,
                    stats.loss,
                    stats.train_accuracy * 100.0,
                    stats.seconds
                );
            }
        }
    }
}

/// A study's notes and progress on stderr.
#[derive(Default)]
pub struct Terminal {
    training: Mutex<Training>,
    points: Mutex<Option<ProgressBar>>,
}

impl Observer for Terminal {
    fn note(&self, line: &str) {
        eprintln!("{line}");
    }

    fn training(&self, progress: &Progress) {
        if let Ok(mut t) = self.training.lock() {
            t.show(progress);
        }
    }

    fn points_started(&self, total: usize, done: usize) {
        let b = bar(total as u64, "sweep");
        b.set_position(done as u64);
        if let Ok(mut points) = self.points.lock() {
            *points = Some(b);
        }
    }

    fn point_finished(&self, index: usize) {
        if let Ok(points) = self.points.lock()
            && let Some(b) = points.as_ref()
        {
            b.inc(1);
            b.set_prefix(format!("last: point {index}"));
        }
    }

    fn points_finished(&self) {
        if let Ok(mut points) = self.points.lock()
            && let Some(b) = points.take()
        {
            b.finish_and_clear();
        }
    }
}
