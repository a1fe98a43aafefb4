pub mod big_graph;
