//! One module per subcommand; each turns its raw flags into a validated config, then runs it.

pub mod compile;
pub mod demo;
pub mod emulate;
pub mod eval;
pub mod export;
pub mod export_chip;
pub mod import;
pub mod profile;
pub mod report;
pub mod sweep;
pub mod targets;
pub mod train;
