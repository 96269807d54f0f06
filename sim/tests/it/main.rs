//! Scenario-level tests of the simulator, one module per area.

mod broker;
mod clock;
mod disk_faults;
mod replication;
mod world;
