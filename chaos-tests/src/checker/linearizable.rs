//! Per-key linearizability of a read/write/compare-and-set register history.
//!
//! The search is Wing and Gong's: walk the history's call and return events in time order; at a
//! call, try to linearize that operation now (if the register model allows it from the current
//! state) and continue; at a return whose operation is not linearized yet, the current prefix is
//! wrong, so undo the last choice and try the next candidate. Lowe's improvement memoizes every
//! (set of linearized operations, register state) configuration already explored, which turns the
//! exponential search into one that is fast on real histories (Lowe, "Testing for
//! linearizability", 2017; the same algorithm as Porcupine and Knossos' "wgl").
//!
//! Operations whose outcome is unknown (the client gave up waiting) get a return time of
//! infinity: they may take effect at any point after their call or, by being placed after
//! everything else, not at all. Refused operations and unanswered reads are dropped: they had no
//! effect and told us nothing.

use std::collections::{BTreeMap, HashSet};

use crate::history::{Operation, RegisterCall, RegisterOutcome, RegisterValue};

/// Configurations the search may memoize per key before it gives up and says "inconclusive".
pub const SEARCH_STATES_MAX: usize = 2_000_000;

/// The verdict for one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyVerdict {
    Linearizable,
    /// No order exists. `stuck_on` is the operation the deepest attempt could not place before
    /// it returned, `deepest` how many operations that attempt had linearized, and `state` the
    /// register value at that point.
    NotLinearizable {
        deepest: usize,
        stuck_on: Box<Operation>,
        state: RegisterValue,
        /// For a read: who wrote what it saw, and the last write acknowledged before it.
        explanation: String,
    },
    /// The search budget ran out; nothing was proven either way.
    Inconclusive {
        states_explored: usize,
    },
}

/// The verdict for a whole history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Per key, in key order.
    pub keys: BTreeMap<String, KeyVerdict>,
    /// Operations that took part in the search (after dropping refused ops and unknown reads).
    pub operations_checked: usize,
}

impl Verdict {
    pub fn is_linearizable(&self) -> bool {
        self.keys.values().all(|verdict| *verdict == KeyVerdict::Linearizable)
    }

    /// One line per key that is not linearizable (or could not be decided).
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (key, verdict) in &self.keys {
            match verdict {
                KeyVerdict::Linearizable => {}
                KeyVerdict::NotLinearizable { deepest, stuck_on, state, explanation } => problems.push(format!(
                    "key {key:?} is not linearizable: the deepest attempt linearized {deepest} operations with the \
                     register at {state:?}, then could not place {stuck_on:?} before it returned{explanation}"
                )),
                KeyVerdict::Inconclusive { states_explored } => problems.push(format!(
                    "key {key:?}: linearizability search gave up after {states_explored} states (history too \
                     concurrent); nothing proven"
                )),
            }
        }
        problems
    }
}

/// The register model: the state after `operation` runs on `state`, or `None` if the operation
/// could not have returned what it returned from that state.
fn step(state: RegisterValue, operation: &Operation) -> Option<RegisterValue> {
    match (operation.call, &operation.outcome) {
        (RegisterCall::Read, RegisterOutcome::ReadOk { value }) => (*value == state).then_some(state),
        (RegisterCall::Write { value }, RegisterOutcome::WriteOk | RegisterOutcome::Unknown { .. }) => {
            Some(Some(value))
        }
        (RegisterCall::Cas { expect, value }, RegisterOutcome::CasOk { succeeded: true }) => {
            (state == expect).then_some(Some(value))
        }
        (RegisterCall::Cas { expect, .. }, RegisterOutcome::CasOk { succeeded: false }) => {
            (state != expect).then_some(state)
        }
        // An unanswered CAS either happened (and wrote iff the comparison held) or did not.
        // Not happening is covered by placing it last, so here it behaves like a real CAS.
        (RegisterCall::Cas { expect, value }, RegisterOutcome::Unknown { .. }) => {
            Some(if state == expect { Some(value) } else { state })
        }
        // Shapes that cannot come out of a real client (a read answered like a write): refuse.
        _ => None,
    }
}

/// Whether an operation takes part in the search at all.
fn relevant(operation: &Operation) -> bool {
    !matches!(
        (&operation.call, &operation.outcome),
        (_, RegisterOutcome::Fail { .. }) | (RegisterCall::Read, RegisterOutcome::Unknown { .. })
    )
}

/// Checks every key of `history` on its own (a register history is linearizable iff each
/// key's is, by locality), starting from an absent value.
pub fn check(history: &[Operation]) -> Verdict {
    let mut per_key: BTreeMap<&str, Vec<&Operation>> = BTreeMap::new();
    for operation in history.iter().filter(|operation| relevant(operation)) {
        per_key.entry(operation.key.as_str()).or_default().push(operation);
    }
    let operations_checked = per_key.values().map(Vec::len).sum();
    let keys = per_key
        .into_iter()
        .map(|(key, operations)| {
            let mut verdict = check_key(&operations, None, SEARCH_STATES_MAX);
            if let KeyVerdict::NotLinearizable { stuck_on, explanation, .. } = &mut verdict {
                *explanation = explain(&operations, stuck_on);
            }
            (key.to_string(), verdict)
        })
        .collect();
    Verdict { keys, operations_checked }
}

/// For a read that could not be placed: who wrote the value it saw, and which write had been
/// acknowledged before it began (the usual shape of a stale read or a lost write).
fn explain(operations: &[&Operation], stuck: &Operation) -> String {
    let RegisterOutcome::ReadOk { value } = stuck.outcome else { return String::new() };
    let written_by = |wanted: u64| {
        operations.iter().find(|operation| match operation.call {
            RegisterCall::Write { value } | RegisterCall::Cas { value, .. } => value == wanted,
            RegisterCall::Read => false,
        })
    };
    let source = match value {
        None => "absent".to_string(),
        Some(seen) => match written_by(seen) {
            Some(writer) => format!(
                "{seen}, written by worker {} ({}–{} µs, {:?})",
                writer.worker, writer.invoke_us, writer.complete_us, writer.outcome
            ),
            None => format!("{seen}, which no operation wrote"),
        },
    };
    let last_acknowledged = operations
        .iter()
        .filter(|operation| operation.acknowledged() && operation.complete_us < stuck.invoke_us)
        .max_by_key(|operation| operation.complete_us);
    let before = match last_acknowledged.map(|operation| (operation, operation.call)) {
        Some((operation, RegisterCall::Write { value } | RegisterCall::Cas { value, .. })) => format!(
            "; the last write acknowledged before the read began was {value} by worker {} (completed at {} µs)",
            operation.worker, operation.complete_us
        ),
        _ => String::new(),
    };
    format!(" — the read saw {source}{before}")
}

const NIL: usize = usize::MAX;

/// One call or return event in the doubly linked list the search walks.
#[derive(Debug, Clone, Copy)]
struct Event {
    operation: usize,
    is_call: bool,
    /// For a call: the list position of its return event.
    partner: usize,
}

/// Wing–Gong–Lowe search over one key's operations, from `initial` state.
pub fn check_key(operations: &[&Operation], initial: RegisterValue, states_max: usize) -> KeyVerdict {
    // Events sorted by time; calls before returns at equal times (treating such operations
    // as concurrent is the permissive reading). Unknown outcomes return at infinity.
    let mut timeline: Vec<(u64, u8, usize)> = Vec::with_capacity(operations.len() * 2);
    for (index, operation) in operations.iter().enumerate() {
        let return_us = match operation.outcome {
            RegisterOutcome::Unknown { .. } => u64::MAX,
            _ => operation.complete_us.max(operation.invoke_us),
        };
        timeline.push((operation.invoke_us, 0, index));
        timeline.push((return_us, 1, index));
    }
    timeline.sort_unstable();

    // Position 0 is the list head; events live at 1..=len.
    let mut events = vec![Event { operation: NIL, is_call: false, partner: NIL }];
    let mut return_position = vec![NIL; operations.len()];
    for &(_, kind, operation) in &timeline {
        events.push(Event { operation, is_call: kind == 0, partner: NIL });
        if kind == 1 {
            return_position[operation] = events.len() - 1;
        }
    }
    for event in events.iter_mut().skip(1) {
        if event.is_call {
            event.partner = return_position[event.operation];
        }
    }
    let count = events.len();
    let mut next: Vec<usize> =
        (0..count).map(|position| if position + 1 < count { position + 1 } else { NIL }).collect();
    let mut prev: Vec<usize> = (0..count).map(|position| position.wrapping_sub(1)).collect();
    prev[0] = NIL;

    let unlink = |position: usize, next: &mut Vec<usize>, prev: &mut Vec<usize>| {
        let (before, after) = (prev[position], next[position]);
        next[before] = after;
        if after != NIL {
            prev[after] = before;
        }
    };
    let relink = |position: usize, next: &mut Vec<usize>, prev: &mut Vec<usize>| {
        let (before, after) = (prev[position], next[position]);
        next[before] = position;
        if after != NIL {
            prev[after] = position;
        }
    };

    let words = operations.len().div_ceil(64).max(1);
    let mut linearized = vec![0u64; words];
    let mut cache: HashSet<(Vec<u64>, RegisterValue)> = HashSet::new();
    // Each frame: the call event linearized and the state before it.
    let mut stack: Vec<(usize, RegisterValue)> = Vec::new();
    let mut state = initial;
    let mut deepest = (0usize, NIL, initial);
    let mut position = next[0];

    while next[0] != NIL {
        if cache.len() > states_max {
            return KeyVerdict::Inconclusive { states_explored: cache.len() };
        }
        let event = events[position];
        if event.is_call {
            let operation = event.operation;
            if let Some(new_state) = step(state, operations[operation]) {
                linearized[operation / 64] |= 1 << (operation % 64);
                if cache.insert((linearized.clone(), new_state)) {
                    stack.push((position, state));
                    state = new_state;
                    unlink(position, &mut next, &mut prev);
                    unlink(event.partner, &mut next, &mut prev);
                    position = next[0];
                    continue;
                }
                linearized[operation / 64] &= !(1 << (operation % 64));
            }
            position = next[position];
        } else {
            // A return of an operation not yet linearized: this prefix cannot be right.
            if stack.len() >= deepest.0 {
                deepest = (stack.len(), event.operation, state);
            }
            let Some((call_position, previous_state)) = stack.pop() else {
                let (depth, operation, state) = deepest;
                return KeyVerdict::NotLinearizable {
                    deepest: depth,
                    stuck_on: Box::new(operations[operation].clone()),
                    state,
                    explanation: String::new(),
                };
            };
            let call = events[call_position];
            relink(call.partner, &mut next, &mut prev);
            relink(call_position, &mut next, &mut prev);
            linearized[call.operation / 64] &= !(1 << (call.operation % 64));
            state = previous_state;
            position = next[call_position];
        }
    }
    KeyVerdict::Linearizable
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(worker: u32, call: RegisterCall, outcome: RegisterOutcome, invoke_us: u64, complete_us: u64) -> Operation {
        Operation { worker, key: "k".to_string(), call, outcome, invoke_us, complete_us }
    }
    fn write(worker: u32, value: u64, from: u64, to: u64) -> Operation {
        op(worker, RegisterCall::Write { value }, RegisterOutcome::WriteOk, from, to)
    }
    fn read(worker: u32, value: RegisterValue, from: u64, to: u64) -> Operation {
        op(worker, RegisterCall::Read, RegisterOutcome::ReadOk { value }, from, to)
    }
    fn unknown_write(worker: u32, value: u64, from: u64) -> Operation {
        op(worker, RegisterCall::Write { value }, RegisterOutcome::Unknown { error: "timeout".into() }, from, from + 5)
    }
    fn cas(worker: u32, expect: RegisterValue, value: u64, succeeded: bool, from: u64, to: u64) -> Operation {
        op(worker, RegisterCall::Cas { expect, value }, RegisterOutcome::CasOk { succeeded }, from, to)
    }

    #[test]
    fn sequential_history_is_linearizable() {
        let history = [read(1, None, 0, 1), write(1, 1, 2, 3), read(1, Some(1), 4, 5), cas(1, Some(1), 2, true, 6, 7)];
        assert!(check(&history).is_linearizable());
    }

    #[test]
    fn concurrent_read_may_see_either_value() {
        // The write of 2 overlaps both reads: one sees 1, the other 2 — fine in either order
        // as long as the read of 2 does not precede the read of 1 in real time.
        let history = [write(1, 1, 0, 1), write(2, 2, 10, 30), read(3, Some(2), 12, 14), read(4, Some(2), 15, 16)];
        assert!(check(&history).is_linearizable());
        let history = [write(1, 1, 0, 1), write(2, 2, 10, 30), read(3, Some(1), 12, 14), read(4, Some(2), 15, 16)];
        assert!(check(&history).is_linearizable());
    }

    #[test]
    fn stale_read_after_an_acknowledged_write_is_not_linearizable() {
        let history = [write(1, 1, 0, 1), write(1, 2, 2, 3), read(2, Some(1), 4, 5)];
        let verdict = check(&history);
        assert!(!verdict.is_linearizable());
        let problems = verdict.problems();
        assert!(
            problems[0].ends_with(
                "the read saw 1, written by worker 1 (0–1 µs, WriteOk); the last write acknowledged before the read \
                 began was 2 by worker 1 (completed at 3 µs)"
            ),
            "{problems:?}"
        );
        match &verdict.keys["k"] {
            KeyVerdict::NotLinearizable { stuck_on, .. } => assert_eq!(stuck_on.call, RegisterCall::Read),
            other => panic!("expected a violation, got {other:?}"),
        }
    }

    #[test]
    fn a_read_that_goes_back_in_time_is_not_linearizable() {
        // Two reads, in real-time order, see the new value and then the old one.
        let history = [write(1, 1, 0, 1), write(2, 2, 10, 40), read(3, Some(2), 12, 14), read(4, Some(1), 15, 16)];
        assert!(!check(&history).is_linearizable());
    }

    #[test]
    fn a_value_nobody_wrote_is_not_linearizable() {
        assert!(!check(&[write(1, 1, 0, 1), read(2, Some(7), 2, 3)]).is_linearizable());
    }

    #[test]
    fn a_lost_acknowledged_write_is_not_linearizable() {
        // Write 2 was acknowledged, later reads still see absent.
        assert!(!check(&[write(1, 2, 0, 1), read(2, None, 5, 6)]).is_linearizable());
    }

    #[test]
    fn an_unknown_write_may_or_may_not_have_happened() {
        // Seen later: it happened.
        let history = [write(1, 1, 0, 1), unknown_write(2, 2, 2), read(3, Some(2), 100, 101)];
        assert!(check(&history).is_linearizable());
        // Never seen: it did not happen (or happened after everything).
        let history = [write(1, 1, 0, 1), unknown_write(2, 2, 2), read(3, Some(1), 100, 101)];
        assert!(check(&history).is_linearizable());
        // Seen, then unseen: it cannot have happened and un-happened.
        let history =
            [write(1, 1, 0, 1), unknown_write(2, 2, 2), read(3, Some(2), 100, 101), read(3, Some(1), 102, 103)];
        assert!(!check(&history).is_linearizable());
        // It cannot take effect before it was invoked.
        let history = [write(1, 1, 0, 1), read(3, Some(2), 2, 3), unknown_write(2, 2, 10)];
        assert!(!check(&history).is_linearizable());
    }

    #[test]
    fn a_refused_write_must_not_be_seen_and_is_otherwise_ignored() {
        let refused = op(2, RegisterCall::Write { value: 9 }, RegisterOutcome::Fail { error: "bad".into() }, 2, 3);
        assert!(check(&[write(1, 1, 0, 1), refused.clone(), read(3, Some(1), 4, 5)]).is_linearizable());
        assert!(!check(&[write(1, 1, 0, 1), refused, read(3, Some(9), 4, 5)]).is_linearizable());
    }

    #[test]
    fn compare_and_set_outcomes_must_match_the_state() {
        // Two CAS from absent both succeeding: impossible.
        let history = [cas(1, None, 1, true, 0, 10), cas(2, None, 2, true, 0, 10)];
        assert!(!check(&history).is_linearizable());
        // One succeeds, the other fails: fine, and a read sees the winner.
        let history = [cas(1, None, 1, true, 0, 10), cas(2, None, 2, false, 0, 10), read(3, Some(1), 11, 12)];
        assert!(check(&history).is_linearizable());
        // A failed CAS whose comparison must have held: impossible.
        let history = [write(1, 5, 0, 1), cas(2, Some(5), 6, false, 2, 3)];
        assert!(!check(&history).is_linearizable());
    }

    #[test]
    fn an_unknown_cas_only_writes_when_its_comparison_holds() {
        let unknown_cas = op(
            2,
            RegisterCall::Cas { expect: Some(1), value: 3 },
            RegisterOutcome::Unknown { error: "timeout".into() },
            2,
            3,
        );
        let history = [write(1, 1, 0, 1), unknown_cas.clone(), read(3, Some(3), 10, 11)];
        assert!(check(&history).is_linearizable());
        // The comparison cannot have held (the value was 2 from before its call on).
        let history = [write(1, 2, 0, 1), unknown_cas, read(3, Some(3), 10, 11)];
        assert!(!check(&history).is_linearizable());
    }

    #[test]
    fn keys_are_checked_independently() {
        let mut other = write(1, 1, 0, 1);
        other.key = "other".into();
        let history = [write(1, 1, 0, 1), other, read(2, Some(1), 2, 3)];
        let verdict = check(&history);
        assert!(verdict.is_linearizable());
        assert_eq!(verdict.keys.len(), 2);
        assert_eq!(verdict.operations_checked, 3);
    }

    #[test]
    fn the_search_budget_is_reported_as_inconclusive() {
        // Many concurrent unknown writes and a read nobody can explain: with a budget of a few
        // states the search must give up rather than answer.
        let mut history: Vec<Operation> = (0..12).map(|worker| unknown_write(worker, worker as u64 + 1, 0)).collect();
        history.push(read(99, Some(1_000), 1, 2));
        let operations: Vec<&Operation> = history.iter().collect();
        assert_eq!(check_key(&operations, None, 10), KeyVerdict::Inconclusive { states_explored: 11 });
        assert!(matches!(check_key(&operations, None, SEARCH_STATES_MAX), KeyVerdict::NotLinearizable { .. }));
    }

    #[test]
    fn a_long_concurrent_linearizable_history_is_decided_quickly() {
        // 8 workers, 2000 overlapping writes and reads, generated from a known sequential order
        // (each op's linearization point is its invoke time + 1).
        let mut history = Vec::new();
        let mut current = None;
        for index in 0..2_000u64 {
            let at = index * 10;
            let worker = (index % 8) as u32;
            if index % 3 == 0 {
                history.push(read(worker, current, at, at + 35));
            } else {
                current = Some(index);
                history.push(write(worker, index, at, at + 35));
            }
        }
        assert!(check(&history).is_linearizable());
    }
}
