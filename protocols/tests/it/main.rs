//! Scenario-level tests of the protocols, one module per area.

mod gateway;
mod layers;
mod outbox;
mod properties;
mod saga;
mod tcc;
mod workflows;
