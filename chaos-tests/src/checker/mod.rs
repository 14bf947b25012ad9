//! History checkers for docs/architecture.md, "Invariants". Each takes what a run recorded and returns the violations
//! it found as one sentence each; an empty list is a pass. They are pure functions over data,
//! so their own tests feed them known-bad histories and expect exact complaints.

pub mod brokers;
pub mod linearizable;
pub mod raft;
pub mod watch;
pub mod writes;
