//! Proposals, transform sets, traffic selectors (crypto ACLs), peers and keys.
