//! How a study tells the person running it what it does: the library calls an [`Observer`]; the
//! CLI draws progress bars and prints the notes, tests stay [`Silent`].

/// Receives a study's notes and progress. Called from the worker threads.
pub trait Observer: Sync {
    /// A line about what the study does (reusing a net, training, fine-tuning ...).
    fn note(&self, line: &str);
    /// Progress of training or fine-tuning a net.
    fn training(&self, progress: &lifchip_train::Progress);
    /// The points start: `total` in all, `done` of them already finished (reused).
    fn points_started(&self, total: usize, done: usize);
    /// Point `index` finished.
    fn point_finished(&self, index: usize);
    /// Every point finished.
    fn points_finished(&self);
}

/// An observer that shows nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Observer for Silent {
    fn note(&self, _: &str) {}
    fn training(&self, _: &lifchip_train::Progress) {}
    fn points_started(&self, _: usize, _: usize) {}
    fn point_finished(&self, _: usize) {}
    fn points_finished(&self) {}
}
