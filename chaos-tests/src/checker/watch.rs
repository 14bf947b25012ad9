//! Watch streams are gap-free, duplicate-free and in revision order (§7.4).
//!
//! The live watcher reconnects through faults, resuming from the last revision it saw. The
//! reference is a fresh watch opened after the faults healed, replaying from the live watcher's
//! first revision: every change the live watcher should have seen, exactly once.

/// One event as a watcher saw it: its revision and a summary of its content to compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchEvent {
    pub revision: u64,
    pub summary: String,
}

pub fn check_watch(observed: &[WatchEvent], reference: &[WatchEvent]) -> Vec<String> {
    let mut problems = Vec::new();
    for pair in observed.windows(2) {
        if pair[1].revision <= pair[0].revision {
            problems.push(format!(
                "watch went from revision {} to {} (duplicate or out of order)",
                pair[0].revision, pair[1].revision
            ));
        }
    }
    let (Some(first), Some(last)) = (observed.first(), observed.iter().map(|event| event.revision).max()) else {
        return problems;
    };
    // The first observed event may be the initial view (from revision 0); the reference is
    // every change after it.
    let expected: Vec<&WatchEvent> =
        reference.iter().filter(|event| event.revision > first.revision && event.revision <= last).collect();
    let actual: Vec<&WatchEvent> = observed.iter().skip(1).collect();
    for event in &expected {
        if !actual.iter().any(|seen| seen.revision == event.revision) {
            problems.push(format!("watch missed revision {} ({})", event.revision, event.summary));
        }
    }
    for event in &actual {
        match expected.iter().find(|reference| reference.revision == event.revision) {
            None => problems.push(format!("watch delivered revision {} that the replay does not have", event.revision)),
            Some(reference) if reference.summary != event.summary => problems.push(format!(
                "watch revision {} differs from the replay: live {:?}, replay {:?}",
                event.revision, event.summary, reference.summary
            )),
            Some(_) => {}
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(revisions: &[u64]) -> Vec<WatchEvent> {
        revisions.iter().map(|&revision| WatchEvent { revision, summary: format!("r{revision}") }).collect()
    }

    #[test]
    fn an_exact_replay_passes() {
        assert!(check_watch(&events(&[3, 5, 8]), &events(&[5, 8, 9])).is_empty());
    }

    #[test]
    fn gaps_duplicates_and_reordering_are_reported() {
        assert_eq!(check_watch(&events(&[3, 8]), &events(&[5, 8])), vec!["watch missed revision 5 (r5)".to_string()]);
        assert_eq!(
            check_watch(&events(&[3, 5, 5, 8]), &events(&[5, 8])),
            vec!["watch went from revision 5 to 5 (duplicate or out of order)".to_string()]
        );
        assert_eq!(
            check_watch(&events(&[3, 8, 5]), &events(&[5, 8])),
            vec!["watch went from revision 8 to 5 (duplicate or out of order)".to_string()]
        );
    }

    #[test]
    fn changed_content_is_reported() {
        let mut observed = events(&[3, 5]);
        observed[1].summary = "other".into();
        assert_eq!(
            check_watch(&observed, &events(&[5])),
            vec!["watch revision 5 differs from the replay: live \"other\", replay \"r5\"".to_string()]
        );
    }
}
