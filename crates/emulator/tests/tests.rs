//! The emulator's integration tests, in one binary.

mod api;
mod cycles;
mod layouts;
mod section_a;
mod section_b;
mod switches;
mod util;
