//! Scenario-level tests of the simulator, one module per area.

mod broker;
mod cache;
mod clock;
mod disk_faults;
mod replication;
mod world;
