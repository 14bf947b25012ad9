//! At most one master per broker group per `master_epoch`, epochs never go backwards, and a new
//! master starts only after the previous master's lease ran out (§7.3, §5.4).
//!
//! Inputs come from two independent witnesses: the simulated brokers' own JSON event lines (what
//! each broker believed) and a watch on the group (what the coordinator committed).

use std::collections::{BTreeMap, BTreeSet};

/// A broker believed it was master in `master_epoch` until `valid_until_unix_ms` (one `lease`
/// event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseClaim {
    pub broker: String,
    pub broker_id: u64,
    pub master_epoch: u64,
    pub valid_until_unix_ms: u64,
}

/// A broker learned it became master (a `role` event with role `master`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MastershipStart {
    pub broker: String,
    pub broker_id: u64,
    pub master_epoch: u64,
    pub at_unix_ms: u64,
}

/// The group as one committed watch event showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupObservation {
    pub revision: u64,
    pub master_broker_id: Option<u64>,
    pub master_epoch: u64,
}

/// Lease claims and mastership starts from one simulated broker's event lines, in log order.
pub fn parse_broker_events(broker: &str, events: &[serde_json::Value]) -> (Vec<LeaseClaim>, Vec<MastershipStart>) {
    let number = |event: &serde_json::Value, field: &str| event[field].as_u64();
    let mut claims = Vec::new();
    let mut starts = Vec::new();
    for event in events {
        match event["event"].as_str() {
            Some("lease") => {
                if let (Some(broker_id), Some(master_epoch), Some(valid_until_unix_ms)) = (
                    number(event, "broker_id"),
                    number(event, "master_epoch"),
                    number(event, "lease_valid_until_unix_ms"),
                ) {
                    claims.push(LeaseClaim {
                        broker: broker.to_string(),
                        broker_id,
                        master_epoch,
                        valid_until_unix_ms,
                    });
                }
            }
            Some("role") if event["role"] == "master" => {
                if let (Some(broker_id), Some(master_epoch), Some(at_unix_ms)) =
                    (number(event, "broker_id"), number(event, "master_epoch"), number(event, "at_unix_ms"))
                {
                    starts.push(MastershipStart { broker: broker.to_string(), broker_id, master_epoch, at_unix_ms });
                }
            }
            _ => {}
        }
    }
    (claims, starts)
}

/// `claims_per_broker` and `observations` are each in the order they were recorded.
pub fn check_masters(
    claims_per_broker: &[Vec<LeaseClaim>],
    starts: &[MastershipStart],
    observations: &[GroupObservation],
) -> Vec<String> {
    let mut problems = Vec::new();
    // One master per epoch, across both witnesses.
    let mut masters: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
    for claim in claims_per_broker.iter().flatten() {
        masters.entry(claim.master_epoch).or_default().insert(claim.broker_id);
    }
    for observation in observations {
        if let Some(master) = observation.master_broker_id {
            masters.entry(observation.master_epoch).or_default().insert(master);
        }
    }
    for (epoch, brokers) in &masters {
        if brokers.len() > 1 {
            problems.push(format!("master_epoch {epoch} had {} masters: brokers {brokers:?}", brokers.len()));
        }
    }
    // Epochs never go backwards, as each broker saw them and as the watch saw them.
    for claims in claims_per_broker {
        for pair in claims.windows(2) {
            if pair[1].master_epoch < pair[0].master_epoch {
                problems.push(format!(
                    "broker {} saw master_epoch go back from {} to {}",
                    pair[0].broker, pair[0].master_epoch, pair[1].master_epoch
                ));
            }
        }
    }
    for pair in observations.windows(2) {
        if pair[1].master_epoch < pair[0].master_epoch {
            problems.push(format!(
                "the group watch saw master_epoch go back from {} (revision {}) to {} (revision {})",
                pair[0].master_epoch, pair[0].revision, pair[1].master_epoch, pair[1].revision
            ));
        }
    }
    // No overlap: an older epoch's lease ends before a newer epoch's master starts. Only the
    // last lease of each (broker, epoch) matters.
    let mut last_leases: BTreeMap<(u64, u64), &LeaseClaim> = BTreeMap::new();
    for claim in claims_per_broker.iter().flatten() {
        let entry = last_leases.entry((claim.broker_id, claim.master_epoch)).or_insert(claim);
        if claim.valid_until_unix_ms > entry.valid_until_unix_ms {
            *entry = claim;
        }
    }
    for claim in last_leases.values() {
        for start in starts {
            if start.broker_id != claim.broker_id
                && start.master_epoch > claim.master_epoch
                && claim.valid_until_unix_ms > start.at_unix_ms
            {
                problems.push(format!(
                    "two masters at once: broker {} (id {}) held a lease of epoch {} until {} ms, but broker {} (id \
                     {}) became master of epoch {} at {} ms",
                    claim.broker,
                    claim.broker_id,
                    claim.master_epoch,
                    claim.valid_until_unix_ms,
                    start.broker,
                    start.broker_id,
                    start.master_epoch,
                    start.at_unix_ms
                ));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claim(broker_id: u64, master_epoch: u64, valid_until_unix_ms: u64) -> LeaseClaim {
        LeaseClaim { broker: format!("b{broker_id}"), broker_id, master_epoch, valid_until_unix_ms }
    }
    fn start(broker_id: u64, master_epoch: u64, at_unix_ms: u64) -> MastershipStart {
        MastershipStart { broker: format!("b{broker_id}"), broker_id, master_epoch, at_unix_ms }
    }
    fn seen(revision: u64, master_broker_id: Option<u64>, master_epoch: u64) -> GroupObservation {
        GroupObservation { revision, master_broker_id, master_epoch }
    }

    #[test]
    fn a_clean_handover_passes() {
        let claims = vec![vec![claim(1, 1, 1_000), claim(1, 1, 1_500)], vec![claim(2, 2, 3_000)]];
        let starts = vec![start(1, 1, 10), start(2, 2, 1_600)];
        let observations = vec![seen(5, Some(1), 1), seen(9, None, 1), seen(10, Some(2), 2)];
        assert!(check_masters(&claims, &starts, &observations).is_empty());
    }

    #[test]
    fn two_masters_in_one_epoch_are_reported() {
        let claims = vec![vec![claim(1, 3, 1_000)], vec![claim(2, 3, 1_000)]];
        assert_eq!(check_masters(&claims, &[], &[]), vec!["master_epoch 3 had 2 masters: brokers {1, 2}".to_string()]);
        // The watch alone can show it too.
        let observations = vec![seen(5, Some(1), 4), seen(6, Some(2), 4)];
        assert_eq!(check_masters(&[], &[], &observations), vec!["master_epoch 4 had 2 masters: brokers {1, 2}"]);
    }

    #[test]
    fn epochs_going_back_are_reported() {
        let claims = vec![vec![claim(1, 2, 100), claim(1, 1, 200)]];
        assert_eq!(check_masters(&claims, &[], &[]), vec!["broker b1 saw master_epoch go back from 2 to 1"]);
        let observations = vec![seen(5, Some(1), 2), seen(6, Some(1), 1)];
        assert_eq!(
            check_masters(&[], &[], &observations),
            vec!["the group watch saw master_epoch go back from 2 (revision 5) to 1 (revision 6)"]
        );
    }

    #[test]
    fn a_new_master_before_the_old_lease_ended_is_reported() {
        let claims = vec![vec![claim(1, 1, 1_000), claim(1, 1, 2_000)]];
        let starts = vec![start(2, 2, 1_999)];
        let problems = check_masters(&claims, &starts, &[]);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].starts_with("two masters at once"), "{problems:?}");
    }

    #[test]
    fn broker_event_lines_are_parsed() {
        let events = vec![
            json!({"event": "registered", "broker_id": 7}),
            json!({"event": "lease", "broker_id": 7, "master_epoch": 2, "lease_valid_until_unix_ms": 900}),
            json!({"event": "role", "role": "master", "broker_id": 7, "master_epoch": 2, "at_unix_ms": 400}),
            json!({"event": "role", "role": "replica", "broker_id": 7, "master_epoch": 3, "at_unix_ms": 950}),
        ];
        let (claims, starts) = parse_broker_events("b", &events);
        assert_eq!(
            claims,
            vec![LeaseClaim { broker: "b".into(), broker_id: 7, master_epoch: 2, valid_until_unix_ms: 900 }]
        );
        assert_eq!(
            starts,
            vec![MastershipStart { broker: "b".into(), broker_id: 7, master_epoch: 2, at_unix_ms: 400 }]
        );
    }
}
