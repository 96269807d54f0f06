//! Scenario-level tests of the simulator, one module per area.

mod world;
