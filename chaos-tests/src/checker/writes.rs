//! No acknowledged write lost (§7.1): every unique key whose put was acknowledged must exist at
//! the end, and nothing may exist that nobody tried to write.

use std::collections::BTreeSet;

/// `acknowledged`: keys whose put was answered OK; `attempted`: every key a put was sent for
/// (acknowledged, refused or unanswered); `present`: the keys found by a linearizable listing
/// after the faults healed.
pub fn check_acknowledged_writes(
    acknowledged: &BTreeSet<String>,
    attempted: &BTreeSet<String>,
    present: &BTreeSet<String>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let lost: Vec<&String> = acknowledged.difference(present).collect();
    if !lost.is_empty() {
        problems.push(format!(
            "{} acknowledged write(s) lost (first: {:?})",
            lost.len(),
            lost.iter().take(5).collect::<Vec<_>>()
        ));
    }
    let phantom: Vec<&String> = present.difference(attempted).collect();
    if !phantom.is_empty() {
        problems.push(format!(
            "{} key(s) present that no client wrote (first: {:?})",
            phantom.len(),
            phantom.iter().take(5).collect::<Vec<_>>()
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(keys: &[&str]) -> BTreeSet<String> {
        keys.iter().map(|key| key.to_string()).collect()
    }

    #[test]
    fn unknown_writes_may_be_missing_but_acknowledged_ones_may_not() {
        let attempted = set(&["a", "b", "c"]);
        assert!(check_acknowledged_writes(&set(&["a"]), &attempted, &set(&["a", "c"])).is_empty());
        assert_eq!(
            check_acknowledged_writes(&set(&["a", "b"]), &attempted, &set(&["a"])),
            vec!["1 acknowledged write(s) lost (first: [\"b\"])".to_string()]
        );
    }

    #[test]
    fn keys_nobody_wrote_are_reported() {
        assert_eq!(
            check_acknowledged_writes(&set(&[]), &set(&["a"]), &set(&["a", "z"])),
            vec!["1 key(s) present that no client wrote (first: [\"z\"])".to_string()]
        );
    }
}
