//! Scenario-level tests of the protocols, one module per protocol.

mod saga;
