//! Native part of the Python package `ipsec` (built with maturin).
