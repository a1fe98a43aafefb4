//! The network IR of lifchip: what a spiking network *is*, independent of how it runs.
//!
//! A [`Net`] is a list of [`Population`]s (groups of neurons sharing one [`Neuron`] model) and
//! [`Projection`]s (linear maps from one population onto another, written as a pipeline of
//! [`LinearOp`]s: dense, sparse, conv2d, avg-pool, flatten). Recurrent projections (a population
//! onto itself or an earlier one) are allowed. Two kinds of nets share the format:
//!
//! * trained nets carry float soft-LIF parameters ([`SoftLif`]) and float weights;
//! * hand-written nets may be in chip units ([`ChipLif`]): integer weights, decays, thresholds
//!   and biases (each one value for all neurons or one per neuron, [`PerNeuron`]), which the
//!   compiler passes through without re-quantization.
//!
//! On disk a net is either one YAML file with inline weights (handy for small hand-written nets)
//! or a directory `NAME.net/` holding `manifest.yaml` plus `weights.bin` (compact little-endian
//! blobs with a checksum), which loads millions of weights in milliseconds. See [`load`] and
//! [`save`].
//!
//! This crate does not train, quantize or run anything: the trainer, the compiler's integer
//! reference and the emulator are separate runners of this description.
//!
//! ```
//! let yaml = r#"
//! name: tiny
//! populations:
//!   - {name: in, shape: [2], neuron: {kind: input}}
//!   - {name: out, shape: [1], neuron: {kind: chip_lif, current_decay: 0, voltage_decay: 0, threshold: 10, bias: [0]}}
//! projections:
//!   - {name: w, from: in, to: out, ops: [{kind: dense, weights: [[3, 4]]}]}
//! "#;
//! let net = lifchip_net::from_yaml_str(yaml).unwrap();
//! assert_eq!(net.population("out").unwrap().size(), 1);
//! ```

pub mod de;
mod error;
mod io;
mod model;
mod ops;
mod per_neuron;
mod tensor;

pub use error::NetError;
pub use io::{NET_FORMAT, NET_VERSION, from_yaml_str, load, save, to_yaml_string};
pub use model::{
    ChipLif, CurrentOrder, Lif, LifCurrent, LifFire, LifReset, MAX_POPULATION_SIZE, Net, Neuron,
    Population, Projection, Relu, SignMode, SoftLif, SoftLifKind,
};
pub use ops::{LinearOp, Shape};
pub use per_neuron::{PerNeuron, PerNeuronInt};
pub use tensor::{Indices, Tensor};
