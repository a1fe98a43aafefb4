//! The population graph: populations as nodes, projections as edges (petgraph).
//!
//! Assumes: a [`QuantNet`]. Guarantees: [`population_order`] lists every neuron population
//! once, sources before their targets; populations on a recurrent loop (a strongly connected
//! component) stay adjacent, in file order. Does not: look at individual neurons.

use petgraph::{algo::condensation, graph::DiGraph, visit::Topo};

use crate::QuantNet;

/// The populations and projections as a directed graph; edge weights are synapse counts.
pub fn population_graph(net: &QuantNet) -> DiGraph<usize, usize> {
    let mut graph = DiGraph::new();
    let nodes: Vec<_> = (0..net.populations.len())
        .map(|p| graph.add_node(p))
        .collect();
    for proj in &net.projections {
        graph.add_edge(
            nodes[proj.from],
            nodes[proj.to],
            proj.synapses.num_synapses(),
        );
    }
    graph
}

/// Neuron populations in data-flow order (inputs first), loops kept together.
pub fn population_order(net: &QuantNet) -> Vec<usize> {
    let dag = condensation(population_graph(net), true);
    let mut order = Vec::with_capacity(net.populations.len());
    let mut topo = Topo::new(&dag);
    while let Some(component) = topo.next(&dag) {
        let mut members = dag[component].clone();
        members.sort_unstable();
        order.extend(
            members
                .into_iter()
                .filter(|&p| net.populations[p].neuron.is_some()),
        );
    }
    order
}
