//! Watch streams are gap-free, duplicate-free and in revision order (§7.4).
//!
//! The live watcher reconnects through faults, resuming from the last revision it saw. The
//! reference is a fresh watch opened after the faults healed, replaying from the live watcher's
//! first revision: every change the live watcher should have seen, exactly once.
//!
//! A node answers a resume from a revision it no longer has (its history is bounded and, after a
//! restart, starts at its applied revision) with `COMPACTED`; the watch contract (docs/brokers.md) allows that, and the
//! watcher then re-lists and watches on from the listed revision. The listing is a `resync`
//! event: it starts a new segment, and the gap before it is announced, not silent. Each segment
//! is checked against its own replay.

/// One event as a watcher saw it: its revision and a summary of its content to compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchEvent {
    pub revision: u64,
    pub summary: String,
    /// A re-listing after `COMPACTED` (or the first view), not a change.
    pub resync: bool,
}

/// The observed events split where the watcher re-listed; each segment starts with its baseline.
pub fn segments(observed: &[WatchEvent]) -> Vec<&[WatchEvent]> {
    let mut segments = Vec::new();
    let mut start = 0;
    for (index, event) in observed.iter().enumerate().skip(1) {
        if event.resync {
            segments.push(&observed[start..index]);
            start = index;
        }
    }
    if start < observed.len() {
        segments.push(&observed[start..]);
    }
    segments
}

/// Revisions never go back; they only repeat at a re-listing (which may find nothing new).
pub fn check_order(observed: &[WatchEvent]) -> Vec<String> {
    observed
        .windows(2)
        .filter(|pair| pair[1].revision < pair[0].revision || (pair[1].revision == pair[0].revision && !pair[1].resync))
        .map(|pair| {
            format!("watch went from revision {} to {} (duplicate or out of order)", pair[0].revision, pair[1].revision)
        })
        .collect()
}

/// One segment against the replay of every change after its first event.
pub fn check_watch(observed: &[WatchEvent], reference: &[WatchEvent]) -> Vec<String> {
    let mut problems = check_order(observed);
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
        revisions
            .iter()
            .map(|&revision| WatchEvent { revision, summary: format!("r{revision}"), resync: false })
            .collect()
    }

    #[test]
    fn a_resync_starts_a_new_segment_and_may_repeat_a_revision() {
        let mut observed = events(&[3, 5, 9, 9, 12]);
        observed[3].resync = true;
        let split = segments(&observed);
        assert_eq!(split.len(), 2);
        assert_eq!(split[0].iter().map(|event| event.revision).collect::<Vec<_>>(), vec![3, 5, 9]);
        assert_eq!(split[1].iter().map(|event| event.revision).collect::<Vec<_>>(), vec![9, 12]);
        assert!(check_order(&observed).is_empty());
        observed[3].resync = false;
        assert_eq!(check_order(&observed), vec!["watch went from revision 9 to 9 (duplicate or out of order)"]);
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
