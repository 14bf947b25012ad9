//! Exact-output tests of the access-control model: parsing, matching, the most-specific-wins
//! decision and its explanation, grant and revoke.

use std::net::IpAddr;

use pharos_meta::access::{
    AccessError, AccessRequest, AccessState, Action, CIDRS_PER_ENTRY_MAX, Cidr, Decision, ENTRIES_PER_SUBJECT_MAX,
    Pattern, PolicyEntry, Resource, ResourceType, User, UserKind, Verdict, VerdictReason, evaluate, validate_user_name,
};

const ALICE: &str = "alice";

fn user(name: &str, kind: UserKind, enabled: bool) -> User {
    User { name: name.into(), kind, enabled, token_sha256: "00".repeat(32) }
}

fn state_with(users: &[User]) -> AccessState {
    let mut state = AccessState::default();
    for user in users {
        state.users.insert(user.name.clone(), user.clone());
    }
    state
}

/// `spec` is `"allow topic:orders pub,sub"` or `"deny topic:* all 10.0.0.0/8,::1"`.
fn entry(spec: &str) -> PolicyEntry {
    let parts: Vec<&str> = spec.split(' ').collect();
    let source_cidrs = match parts.get(3) {
        Some(cidrs) => cidrs.split(',').map(|cidr| cidr.parse().expect("cidr")).collect(),
        None => Vec::new(),
    };
    PolicyEntry {
        decision: parts[0].parse().expect("decision"),
        resource: parts[1].parse().expect("resource"),
        actions: parts[2].split(',').map(|action| action.parse().expect("action")).collect(),
        source_cidrs,
    }
}

/// A state in which the normal user alice holds `entries`, in order.
fn alice_with(entries: &[&str]) -> AccessState {
    let mut state = state_with(&[user(ALICE, UserKind::Normal, true)]);
    for spec in entries {
        assert_eq!(state.grant(ALICE, entry(spec)), Ok(true), "{spec}");
    }
    state
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("ip")
}

fn request<'a>(kind: ResourceType, name: &'a str, action: Action, source: Option<IpAddr>) -> AccessRequest<'a> {
    AccessRequest { subject: ALICE, kind, name, action, source }
}

fn topic(name: &str, action: Action) -> AccessRequest<'_> {
    request(ResourceType::Topic, name, action, None)
}

/// Evaluates and returns the explanation (which carries the outcome, the entry and its index).
fn explain(state: &AccessState, request: &AccessRequest<'_>) -> String {
    let verdict = evaluate(state, request);
    let explanation = verdict.explain();
    assert_eq!(verdict.allowed, explanation.starts_with("allowed: "), "{explanation}");
    explanation
}

#[test]
fn each_pattern_allows_what_it_matches_and_nothing_else() {
    let state = alice_with(&["allow topic:orders pub", "allow topic:pay-* sub", "allow group:* sub"]);
    let cases: &[(AccessRequest<'_>, &str)] = &[
        (topic("orders", Action::Pub), "allowed: topic:orders (literal) allows pub [entry 0]"),
        (topic("orders2", Action::Pub), "denied: no entry matches"),
        (topic("order", Action::Pub), "denied: no entry matches"),
        (topic("orders", Action::Sub), "denied: no entry matches"),
        (topic("pay-eu", Action::Sub), "allowed: topic:pay-* (prefixed) allows sub [entry 1]"),
        (topic("pay-", Action::Sub), "allowed: topic:pay-* (prefixed) allows sub [entry 1]"),
        (topic("pay", Action::Sub), "denied: no entry matches"),
        (topic("xpay-eu", Action::Sub), "denied: no entry matches"),
        (topic("pay-eu", Action::Pub), "denied: no entry matches"),
        (request(ResourceType::Group, "g1", Action::Sub, None), "allowed: group:* (any) allows sub [entry 2]"),
        (request(ResourceType::Group, "", Action::Sub, None), "allowed: group:* (any) allows sub [entry 2]"),
        (request(ResourceType::Group, "g1", Action::Pub, None), "denied: no entry matches"),
        // Same name, other type: no match.
        (request(ResourceType::Group, "orders", Action::Pub, None), "denied: no entry matches"),
        (request(ResourceType::Namespace, "pay-eu", Action::Sub, None), "denied: no entry matches"),
    ];
    for (request, expected) in cases {
        assert_eq!(explain(&state, request), *expected, "{request:?}");
    }
}

#[test]
fn each_pattern_denies_what_it_matches() {
    let state = alice_with(&[
        "allow topic:* pub,sub",
        "deny topic:secret pub",
        "deny topic:internal-* pub",
        "deny group:* all",
    ]);
    let cases: &[(AccessRequest<'_>, &str)] = &[
        (topic("secret", Action::Pub), "denied: topic:secret (literal) denies pub [entry 1]"),
        (topic("secret", Action::Sub), "allowed: topic:* (any) allows pub,sub [entry 0]"),
        (topic("internal-x", Action::Pub), "denied: topic:internal-* (prefixed) denies pub [entry 2]"),
        (topic("public", Action::Pub), "allowed: topic:* (any) allows pub,sub [entry 0]"),
        (request(ResourceType::Group, "g", Action::Get, None), "denied: group:* (any) denies all [entry 3]"),
    ];
    for (request, expected) in cases {
        assert_eq!(explain(&state, request), *expected, "{request:?}");
    }
}

#[test]
fn the_most_specific_entry_wins_in_both_directions() {
    // Entries are granted most general first, then most specific first, so grant order cannot
    // be what decides.
    for specs in [
        ["deny topic:* pub", "allow topic:ord* pub", "deny topic:orders-* pub", "allow topic:orders-eu pub"],
        ["allow topic:orders-eu pub", "deny topic:orders-* pub", "allow topic:ord* pub", "deny topic:* pub"],
    ] {
        let state = alice_with(&specs);
        let index = |spec: &str| specs.iter().position(|held| *held == spec).expect("granted");
        let expectations = [
            // A literal allow beats a prefixed deny.
            ("orders-eu", "allowed: topic:orders-eu (literal) allows pub", "allow topic:orders-eu pub"),
            // The longer prefix, a deny, beats the shorter prefix, an allow.
            ("orders-us", "denied: topic:orders-* (prefixed) denies pub", "deny topic:orders-* pub"),
            // The shorter prefix, an allow, beats the any deny.
            ("ordinal", "allowed: topic:ord* (prefixed) allows pub", "allow topic:ord* pub"),
            ("other", "denied: topic:* (any) denies pub", "deny topic:* pub"),
        ];
        for (name, text, spec) in expectations {
            assert_eq!(explain(&state, &topic(name, Action::Pub)), format!("{text} [entry {}]", index(spec)), "{name}");
        }
    }
}

#[test]
fn a_prefixed_deny_beats_an_any_allow_and_a_literal_deny_beats_a_prefixed_allow() {
    let state =
        alice_with(&["allow topic:* pub", "deny topic:tmp-* pub", "allow topic:lab-* pub", "deny topic:lab-x pub"]);
    assert_eq!(explain(&state, &topic("tmp-1", Action::Pub)), "denied: topic:tmp-* (prefixed) denies pub [entry 1]");
    assert_eq!(explain(&state, &topic("lab-x", Action::Pub)), "denied: topic:lab-x (literal) denies pub [entry 3]");
    assert_eq!(explain(&state, &topic("lab-y", Action::Pub)), "allowed: topic:lab-* (prefixed) allows pub [entry 2]");
}

#[test]
fn deny_wins_a_tie_between_equally_specific_entries() {
    let cases: &[(&[&str], &str, &str)] = &[
        (
            &["allow topic:orders pub", "deny topic:orders all"],
            "orders",
            "denied: topic:orders (literal) denies all [entry 1]",
        ),
        (
            &["deny topic:orders all", "allow topic:orders pub"],
            "orders",
            "denied: topic:orders (literal) denies all [entry 0]",
        ),
        (
            &["allow topic:o-* pub", "allow topic:o-* all", "deny topic:o-* pub,sub"],
            "o-1",
            "denied: topic:o-* (prefixed) denies pub,sub [entry 2]",
        ),
        // Two denies: the first one decides.
        (
            &["allow topic:* pub", "deny topic:* pub", "deny topic:* all"],
            "x",
            "denied: topic:* (any) denies pub [entry 1]",
        ),
        // Two allows and no deny: the first one decides.
        (
            &["allow topic:* sub", "allow topic:* pub", "allow topic:* all"],
            "x",
            "allowed: topic:* (any) allows pub [entry 1]",
        ),
        // Equal specificity means equal prefix length: `ab*` is more specific than `a*`.
        (&["deny topic:a* pub", "allow topic:ab* pub"], "abc", "allowed: topic:ab* (prefixed) allows pub [entry 1]"),
    ];
    for (specs, name, expected) in cases {
        assert_eq!(explain(&alice_with(specs), &topic(name, Action::Pub)), *expected, "{specs:?}");
    }
}

#[test]
fn a_tie_reports_the_entry_that_decided() {
    let state = alice_with(&["allow topic:orders pub", "deny topic:orders pub,sub"]);
    let verdict = evaluate(&state, &topic("orders", Action::Pub));
    assert_eq!(
        verdict,
        Verdict {
            allowed: false,
            reason: VerdictReason::Matched { entry_index: 1, entry: entry("deny topic:orders pub,sub") }
        }
    );
}

#[test]
fn source_cidrs_limit_where_an_entry_applies() {
    let state = alice_with(&[
        "allow topic:v4 pub 10.0.0.0/8,192.168.1.7",
        "allow topic:v6 pub fd00::/8,::1",
        "allow topic:open pub",
        "deny topic:open pub 203.0.113.0/24",
    ]);
    let v4 = "allowed: topic:v4 (literal) allows pub from 10.0.0.0/8,192.168.1.7/32 [entry 0]";
    let v6 = "allowed: topic:v6 (literal) allows pub from ::1/128,fd00::/8 [entry 1]";
    let no = "denied: no entry matches";
    let cases: &[(&str, Option<&str>, &str)] = &[
        ("v4", Some("10.1.2.3"), v4),
        ("v4", Some("10.255.255.255"), v4),
        ("v4", Some("11.0.0.0"), no),
        ("v4", Some("9.255.255.255"), no),
        ("v4", Some("192.168.1.7"), v4),
        ("v4", Some("192.168.1.8"), no),
        // An IPv4-mapped IPv6 source counts as its IPv4 address.
        ("v4", Some("::ffff:10.9.8.7"), v4),
        ("v4", Some("::ffff:11.9.8.7"), no),
        // ... but an IPv4-compatible one (`::a.b.c.d`) does not.
        ("v4", Some("::10.9.8.7"), no),
        // An entry with CIDRs never matches a request without a source.
        ("v4", None, no),
        ("v6", Some("fd12:3456::1"), v6),
        ("v6", Some("::1"), v6),
        ("v6", Some("fe00::1"), no),
        ("v6", Some("::2"), no),
        // IPv4 and IPv6 never match each other.
        ("v6", Some("127.0.0.1"), no),
        ("v6", None, no),
        // Without CIDRs any source, or none, matches; the deny applies only to its network.
        ("open", None, "allowed: topic:open (literal) allows pub [entry 2]"),
        ("open", Some("198.51.100.1"), "allowed: topic:open (literal) allows pub [entry 2]"),
        ("open", Some("203.0.113.9"), "denied: topic:open (literal) denies pub from 203.0.113.0/24 [entry 3]"),
        ("open", Some("::ffff:203.0.113.9"), "denied: topic:open (literal) denies pub from 203.0.113.0/24 [entry 3]"),
    ];
    for (name, source, expected) in cases {
        let request = request(ResourceType::Topic, name, Action::Pub, source.map(ip));
        assert_eq!(explain(&state, &request), *expected, "{name} from {source:?}");
    }
}

#[test]
fn cidr_contains_at_the_edges() {
    let cases: &[(&str, &str, bool)] = &[
        ("0.0.0.0/0", "255.255.255.255", true),
        ("0.0.0.0/0", "::ffff:1.2.3.4", true),
        ("0.0.0.0/0", "::1", false),
        ("::/0", "1.2.3.4", false),
        ("::/0", "::ffff:1.2.3.4", true),
        ("::/0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true),
        ("10.0.0.0/31", "10.0.0.1", true),
        ("10.0.0.0/31", "10.0.0.2", false),
        ("10.0.0.1", "10.0.0.1", true),
        ("10.0.0.1", "10.0.0.0", false),
        ("172.16.0.0/12", "172.31.255.255", true),
        ("172.16.0.0/12", "172.32.0.0", false),
        ("2001:db8::/33", "2001:db8:7fff::1", true),
        ("2001:db8::/33", "2001:db8:8000::", false),
        ("::ffff:0:0/96", "::ffff:10.0.0.1", true),
        ("::ffff:0:0/96", "10.0.0.1", false),
        ("::1", "::1", true),
    ];
    for (cidr, address, expected) in cases {
        let cidr: Cidr = cidr.parse().expect("cidr");
        assert_eq!(cidr.contains(ip(address)), *expected, "{cidr} contains {address}");
    }
    // A prefix longer than the address, possible only in code, matches nothing.
    let broken = Cidr { address: ip("10.0.0.1"), prefix_len: 33 };
    assert!(!broken.contains(ip("10.0.0.1")));
}

#[test]
fn users_unknown_disabled_and_super() {
    let mut state = state_with(&[
        user("root", UserKind::Super, true),
        user("old-root", UserKind::Super, false),
        user("bob", UserKind::Normal, false),
        user(ALICE, UserKind::Normal, true),
    ]);
    for subject in ["old-root", "bob", ALICE] {
        assert_eq!(state.grant(subject, entry("allow topic:* all")), Ok(true));
    }
    let ask = |subject| AccessRequest {
        subject,
        kind: ResourceType::Topic,
        name: "orders",
        action: Action::Delete,
        source: Some(ip("10.0.0.1")),
    };
    let cases = [
        ("root", Verdict { allowed: true, reason: VerdictReason::SuperUser }, "allowed: super user"),
        ("old-root", Verdict { allowed: false, reason: VerdictReason::DisabledUser }, "denied: user is disabled"),
        ("bob", Verdict { allowed: false, reason: VerdictReason::DisabledUser }, "denied: user is disabled"),
        ("carol", Verdict { allowed: false, reason: VerdictReason::UnknownUser }, "denied: unknown user"),
        ("", Verdict { allowed: false, reason: VerdictReason::UnknownUser }, "denied: unknown user"),
    ];
    for (subject, verdict, text) in cases {
        assert_eq!(evaluate(&state, &ask(subject)), verdict, "{subject}");
        assert_eq!(verdict.explain(), text);
    }
    assert_eq!(explain(&state, &ask(ALICE)), "allowed: topic:* (any) allows all [entry 0]");
    // A super user needs no entry, and even a deny-all entry does not stop it.
    assert_eq!(state.grant("root", entry("deny topic:* all")), Ok(true));
    assert_eq!(explain(&state, &ask("root")), "allowed: super user");
    // A policy left behind by a removed user grants nothing.
    state.users.remove(ALICE);
    assert_eq!(explain(&state, &ask(ALICE)), "denied: unknown user");
}

#[test]
fn a_normal_user_without_entries_is_denied() {
    let state = state_with(&[user(ALICE, UserKind::Normal, true)]);
    assert_eq!(
        evaluate(&state, &topic("orders", Action::Get)),
        Verdict { allowed: false, reason: VerdictReason::NoMatch }
    );
}

#[test]
fn action_all_covers_every_action_and_only_all_covers_all() {
    let state = alice_with(&["allow topic:a all", "allow topic:b pub,sub,get"]);
    for action in Action::ALL_ACTIONS {
        assert_eq!(explain(&state, &topic("a", action)), "allowed: topic:a (literal) allows all [entry 0]", "{action}");
        let covered = matches!(action, Action::Pub | Action::Sub | Action::Get);
        assert_eq!(evaluate(&state, &topic("b", action)).allowed, covered, "{action}");
    }
}

#[test]
fn the_coordinator_wide_resource_is_matched_by_any_but_never_by_a_literal() {
    let admin = request(ResourceType::Cluster, "", Action::Admin, None);
    // The literal name is unrelated; even a prefixed entry with a non-empty prefix cannot match.
    let state = alice_with(&["allow cluster:c1 admin", "allow cluster:c* admin"]);
    assert_eq!(explain(&state, &admin), "denied: no entry matches");
    let broker_cluster = request(ResourceType::Cluster, "c1", Action::Admin, None);
    assert_eq!(explain(&state, &broker_cluster), "allowed: cluster:c1 (literal) allows admin [entry 0]");

    let state = alice_with(&["allow cluster:* admin,acl", "deny topic:* admin"]);
    assert_eq!(explain(&state, &admin), "allowed: cluster:* (any) allows admin,acl [entry 0]");
    assert_eq!(explain(&state, &request(ResourceType::Cluster, "", Action::Dr, None)), "denied: no entry matches");

    // A literal with an empty name (only constructible in code) never matches, not even the empty
    // name; a prefixed pattern with an empty prefix does.
    let literal_empty = Resource::literal(ResourceType::Cluster, "");
    assert!(!literal_empty.matches(ResourceType::Cluster, ""));
    assert!(Resource::prefixed(ResourceType::Cluster, "").matches(ResourceType::Cluster, ""));
    assert!(Resource::any(ResourceType::Cluster).matches(ResourceType::Cluster, ""));
    assert!(!Resource::any(ResourceType::Topic).matches(ResourceType::Cluster, ""));
}

#[test]
fn resource_text_round_trips() {
    let longest = format!("topic:{}", "n".repeat(255));
    let cases = [
        ("topic:orders", Resource::literal(ResourceType::Topic, "orders")),
        ("topic:orders-*", Resource::prefixed(ResourceType::Topic, "orders-")),
        ("topic:*", Resource::any(ResourceType::Topic)),
        ("group:g1", Resource::literal(ResourceType::Group, "g1")),
        ("namespace:ns-*", Resource::prefixed(ResourceType::Namespace, "ns-")),
        ("cluster:*", Resource::any(ResourceType::Cluster)),
        ("cluster:c1", Resource::literal(ResourceType::Cluster, "c1")),
        // Only the first `:` separates the type.
        ("topic:a:b", Resource::literal(ResourceType::Topic, "a:b")),
        (longest.as_str(), Resource::literal(ResourceType::Topic, "n".repeat(255))),
    ];
    for (text, resource) in cases {
        assert_eq!(text.parse::<Resource>(), Ok(resource.clone()), "{text}");
        assert_eq!(resource.to_string(), text);
        assert_eq!(resource.validate(), Ok(()));
    }
    assert_eq!(Resource::any(ResourceType::Topic).pattern, Pattern::Any);
    assert_eq!(Resource::any(ResourceType::Topic).name, "");
}

#[test]
fn resource_parse_errors() {
    let long = format!("topic:{}", "n".repeat(256));
    let long_prefix = format!("topic:{}*", "n".repeat(256));
    let cases: &[(&str, AccessError, &str)] = &[
        (
            "orders",
            AccessError::MissingResourceType { text: "orders".into() },
            "resource `orders` has no type: expected `type:name`",
        ),
        (
            "queue:q1",
            AccessError::UnknownResourceType { text: "queue".into() },
            "unknown resource type `queue`: expected cluster, topic, group or namespace",
        ),
        (
            "Topic:q1",
            AccessError::UnknownResourceType { text: "Topic".into() },
            "unknown resource type `Topic`: expected cluster, topic, group or namespace",
        ),
        (
            "topic:",
            AccessError::EmptyResourceName,
            "resource name is empty: name a resource, or use `*` for all of them",
        ),
        (
            "topic:*orders",
            AccessError::MisplacedWildcard { name: "*orders".into() },
            "resource name `*orders` has a `*` that is not its last character",
        ),
        (
            "topic:or*ders",
            AccessError::MisplacedWildcard { name: "or*ders".into() },
            "resource name `or*ders` has a `*` that is not its last character",
        ),
        (
            "topic:**",
            AccessError::MisplacedWildcard { name: "**".into() },
            "resource name `**` has a `*` that is not its last character",
        ),
        (
            "topic:a**",
            AccessError::MisplacedWildcard { name: "a**".into() },
            "resource name `a**` has a `*` that is not its last character",
        ),
        (
            &long,
            AccessError::ResourceNameTooLong { bytes: 256, max: 255 },
            "resource name is 256 bytes, the limit is 255",
        ),
        (
            &long_prefix,
            AccessError::ResourceNameTooLong { bytes: 256, max: 255 },
            "resource name is 256 bytes, the limit is 255",
        ),
    ];
    for (text, error, message) in cases {
        assert_eq!(text.parse::<Resource>().as_ref(), Err(error), "{text}");
        assert_eq!(error.to_string(), *message);
    }
    // A prefix of 255 bytes (256 with the `*`) is fine.
    assert_eq!(
        format!("topic:{}*", "n".repeat(255)).parse::<Resource>(),
        Ok(Resource::prefixed(ResourceType::Topic, "n".repeat(255)))
    );
}

#[test]
fn errors_never_echo_more_than_64_characters() {
    let long = "q".repeat(10_000);
    let error = format!("{long}:x").parse::<Resource>().expect_err("unknown type");
    assert_eq!(error, AccessError::UnknownResourceType { text: format!("{}…", "q".repeat(64)) });
    let error = format!("topic:{long}*x").parse::<Resource>().expect_err("too long");
    assert_eq!(error.to_string(), "resource name is 10002 bytes, the limit is 255");
    let error = format!("topic:{}*x", "q".repeat(100)).parse::<Resource>().expect_err("misplaced");
    assert_eq!(error, AccessError::MisplacedWildcard { name: format!("{}…", "q".repeat(64)) });
    let error = long.parse::<Action>().expect_err("unknown action");
    assert_eq!(error.to_string(), format!("unknown action `{}…`", "q".repeat(64)));
    // Exactly 64 characters are echoed whole; multi-byte characters count as one.
    let error = "é".repeat(64).parse::<Decision>().expect_err("unknown decision");
    assert_eq!(error.to_string(), format!("unknown decision `{}`: expected allow or deny", "é".repeat(64)));
    // Control characters are escaped, so a message stays on one line.
    let error = "pub\nsub".parse::<Action>().expect_err("unknown action");
    assert_eq!(error.to_string(), "unknown action `pub\\nsub`");
    let error = validate_user_name(&long).expect_err("too long");
    assert_eq!(error.to_string(), format!("invalid user name `{}…`: it is longer than 64 bytes", "q".repeat(64)));
}

#[test]
fn enum_text_round_trips_and_errors() {
    let actions = Action::ALL_ACTIONS.map(Action::as_str);
    assert_eq!(
        actions,
        [
            "get", "list", "create", "update", "delete", "pub", "sub", "register", "failover", "dr", "admin", "acl",
            "audit", "all"
        ]
    );
    for action in Action::ALL_ACTIONS {
        assert_eq!(action.as_str().parse::<Action>(), Ok(action));
        assert_eq!(action.to_string(), action.as_str());
    }
    for (kind, text) in [
        (ResourceType::Cluster, "cluster"),
        (ResourceType::Topic, "topic"),
        (ResourceType::Group, "group"),
        (ResourceType::Namespace, "namespace"),
    ] {
        assert_eq!(kind.as_str(), text);
        assert_eq!(text.parse::<ResourceType>(), Ok(kind));
    }
    for (pattern, text) in [(Pattern::Literal, "literal"), (Pattern::Prefixed, "prefixed"), (Pattern::Any, "any")] {
        assert_eq!(pattern.as_str(), text);
        assert_eq!(text.parse::<Pattern>(), Ok(pattern));
    }
    for (decision, text) in [(Decision::Allow, "allow"), (Decision::Deny, "deny")] {
        assert_eq!(decision.as_str(), text);
        assert_eq!(text.parse::<Decision>(), Ok(decision));
    }
    for (kind, text) in [(UserKind::Super, "super"), (UserKind::Normal, "normal")] {
        assert_eq!(kind.as_str(), text);
        assert_eq!(text.parse::<UserKind>(), Ok(kind));
    }
    let errors: [(Result<(), AccessError>, &str); 5] = [
        ("Pub".parse::<Action>().map(drop), "unknown action `Pub`"),
        ("".parse::<Action>().map(drop), "unknown action ``"),
        ("exact".parse::<Pattern>().map(drop), "unknown pattern `exact`: expected literal, prefixed or any"),
        ("permit".parse::<Decision>().map(drop), "unknown decision `permit`: expected allow or deny"),
        ("admin".parse::<UserKind>().map(drop), "unknown user kind `admin`: expected super or normal"),
    ];
    for (result, message) in errors {
        assert_eq!(result.expect_err(message).to_string(), message);
    }
}

#[test]
fn cidr_text_round_trips() {
    let cases: &[(&str, &str)] = &[
        ("10.0.0.0/8", "10.0.0.0/8"),
        ("0.0.0.0/0", "0.0.0.0/0"),
        ("192.168.1.7", "192.168.1.7/32"),
        ("192.168.1.7/32", "192.168.1.7/32"),
        ("::1/128", "::1/128"),
        ("::1", "::1/128"),
        ("::/0", "::/0"),
        ("fd00::/8", "fd00::/8"),
        ("2001:DB8::/32", "2001:db8::/32"),
        ("::ffff:10.0.0.0/104", "::ffff:10.0.0.0/104"),
    ];
    for (text, display) in cases {
        let cidr: Cidr = text.parse().expect("cidr");
        assert_eq!(cidr.to_string(), *display);
        assert_eq!(display.parse::<Cidr>(), Ok(cidr));
        assert_eq!(cidr.validate(), Ok(()));
    }
    assert_eq!("10.0.0.0/8".parse::<Cidr>(), Ok(Cidr { address: ip("10.0.0.0"), prefix_len: 8 }));
}

#[test]
fn cidr_parse_errors() {
    let cases: &[(&str, &str)] = &[
        ("10.0.0.0/33", "prefix length is longer than the address"),
        ("::/129", "prefix length is longer than the address"),
        ("10.0.0.0/256", "prefix length is not a number"),
        ("10.0.0.0/0008", "prefix length is not a number"),
        ("10.0.0.0/", "prefix length is not a number"),
        ("10.0.0.0/+8", "prefix length is not a number"),
        ("10.0.0.0/ 8", "prefix length is not a number"),
        ("10.0.0.0/8/8", "prefix length is not a number"),
        ("10.0.0/8", "not an IP address"),
        ("", "not an IP address"),
        ("/8", "not an IP address"),
        ("host.example/8", "not an IP address"),
        ("[::1]/128", "not an IP address"),
        ("10.0.0.1/8", "address has bits set after the prefix"),
        ("fd00::1/8", "address has bits set after the prefix"),
    ];
    for (text, reason) in cases {
        assert_eq!(text.parse::<Cidr>(), Err(AccessError::InvalidCidr { text: text.to_string(), reason }), "{text}");
    }
    assert_eq!(
        "10.0.0.1/8".parse::<Cidr>().expect_err("host bits").to_string(),
        "invalid CIDR `10.0.0.1/8`: address has bits set after the prefix"
    );
}

#[test]
fn user_names() {
    for name in ["a", "alice", "svc.orders_1-eu", "A.B-C_9", &"n".repeat(64)] {
        assert_eq!(validate_user_name(name), Ok(()), "{name}");
    }
    let cases: &[(&str, &str)] = &[
        ("", "invalid user name ``: it is empty"),
        ("al ice", "invalid user name `al ice`: only letters, digits, `.`, `_` and `-` are allowed"),
        ("alice:x", "invalid user name `alice:x`: only letters, digits, `.`, `_` and `-` are allowed"),
        ("élise", "invalid user name `élise`: only letters, digits, `.`, `_` and `-` are allowed"),
        ("a/b", "invalid user name `a/b`: only letters, digits, `.`, `_` and `-` are allowed"),
    ];
    for (name, message) in cases {
        assert_eq!(validate_user_name(name).expect_err(name).to_string(), *message);
    }
    assert_eq!(
        validate_user_name(&"n".repeat(65)).expect_err("65 bytes").to_string(),
        format!("invalid user name `{}…`: it is longer than 64 bytes", "n".repeat(64))
    );
    // 33 two-byte characters are 66 bytes: the limit is in bytes.
    assert_eq!(
        validate_user_name(&"é".repeat(33)).expect_err("66 bytes").to_string(),
        format!("invalid user name `{}`: it is longer than 64 bytes", "é".repeat(33))
    );
}

#[test]
fn grant_deduplicates_identical_entries() {
    let mut state = alice_with(&["allow topic:orders pub,sub 10.0.0.0/8"]);
    assert_eq!(state.grant(ALICE, entry("allow topic:orders pub,sub 10.0.0.0/8")), Ok(false));
    // The same entry written in another order, with repeats, is the same entry.
    assert_eq!(state.grant(ALICE, entry("allow topic:orders sub,pub,sub 10.0.0.0/8,10.0.0.0/8")), Ok(false));
    assert_eq!(state.entries(ALICE), [entry("allow topic:orders pub,sub 10.0.0.0/8")]);
    // Any difference makes another entry.
    for spec in [
        "deny topic:orders pub,sub 10.0.0.0/8",
        "allow topic:orders pub 10.0.0.0/8",
        "allow topic:orders pub,sub",
        "allow topic:orders* pub,sub 10.0.0.0/8",
        "allow group:orders pub,sub 10.0.0.0/8",
    ] {
        assert_eq!(state.grant(ALICE, entry(spec)), Ok(true), "{spec}");
    }
    assert_eq!(state.entries(ALICE).len(), 6);
    // Entries are stored normalized: actions and CIDRs sorted, without repeats.
    let mut state = alice_with(&[]);
    assert_eq!(state.grant(ALICE, entry("allow topic:t sub,get,sub ::1,10.0.0.0/8")), Ok(true));
    let policy = state.policy(ALICE);
    assert_eq!(policy.subject, ALICE);
    assert_eq!(policy.entries, [entry("allow topic:t get,sub 10.0.0.0/8,::1")]);
    assert_eq!(
        explain(&state, &request(ResourceType::Topic, "t", Action::Get, Some(ip("::1")))),
        "allowed: topic:t (literal) allows get,sub from 10.0.0.0/8,::1/128 [entry 0]"
    );
}

#[test]
fn grant_limits() {
    let mut state = alice_with(&[]);
    assert_eq!(
        state.grant("mallory", entry("allow topic:* all")),
        Err(AccessError::UnknownUser { name: "mallory".into() })
    );
    assert_eq!(
        state.grant("mallory", entry("allow topic:* all")).expect_err("unknown").to_string(),
        "user `mallory` is unknown"
    );
    assert!(state.policies.is_empty());

    let mut no_actions = entry("allow topic:t pub");
    no_actions.actions.clear();
    assert_eq!(state.grant(ALICE, no_actions), Err(AccessError::NoActions));

    let cidrs = |count: usize| (0..count).map(|i| format!("10.0.{i}.0/24")).collect::<Vec<_>>().join(",");
    assert_eq!(state.grant(ALICE, entry(&format!("allow topic:t pub {}", cidrs(CIDRS_PER_ENTRY_MAX)))), Ok(true));
    let too_many = state.grant(ALICE, entry(&format!("allow topic:t pub {}", cidrs(CIDRS_PER_ENTRY_MAX + 1))));
    assert_eq!(too_many, Err(AccessError::TooManyCidrs { count: 17, max: 16 }));
    assert_eq!(too_many.expect_err("17").to_string(), "a policy entry has 17 source CIDRs, the limit is 16");

    // Entries built in code are checked as parsing would have.
    let invalid_resources = [
        (Resource::literal(ResourceType::Topic, ""), AccessError::EmptyResourceName),
        (Resource::prefixed(ResourceType::Topic, ""), AccessError::EmptyPrefix),
        (Resource::literal(ResourceType::Topic, "a*b"), AccessError::MisplacedWildcard { name: "a*b".into() }),
        (Resource::prefixed(ResourceType::Topic, "a*"), AccessError::MisplacedWildcard { name: "a*".into() }),
        (
            Resource::literal(ResourceType::Topic, "n".repeat(256)),
            AccessError::ResourceNameTooLong { bytes: 256, max: 255 },
        ),
        (
            Resource { kind: ResourceType::Topic, name: "x".into(), pattern: Pattern::Any },
            AccessError::NameOnAnyPattern { name: "x".into() },
        ),
    ];
    for (resource, error) in invalid_resources {
        let invalid = PolicyEntry { resource, ..entry("allow topic:t pub") };
        assert_eq!(state.grant(ALICE, invalid), Err(error));
    }
    let invalid_cidrs = [
        (Cidr { address: ip("10.0.0.1"), prefix_len: 8 }, "10.0.0.1/8", "address has bits set after the prefix"),
        (Cidr { address: ip("::"), prefix_len: 129 }, "::/129", "prefix length is longer than the address"),
    ];
    for (cidr, text, reason) in invalid_cidrs {
        let invalid = PolicyEntry { source_cidrs: vec![cidr], ..entry("allow topic:t pub") };
        assert_eq!(state.grant(ALICE, invalid), Err(AccessError::InvalidCidr { text: text.into(), reason }));
    }
    assert_eq!(state.entries(ALICE).len(), 1);

    // Up to 128 entries per subject; an identical one is still answered false at the limit.
    for i in 1..ENTRIES_PER_SUBJECT_MAX {
        assert_eq!(state.grant(ALICE, entry(&format!("allow topic:t{i} pub"))), Ok(true));
    }
    assert_eq!(state.entries(ALICE).len(), 128);
    assert_eq!(state.grant(ALICE, entry("allow topic:t1 pub")), Ok(false));
    let full = state.grant(ALICE, entry("allow topic:t-new pub"));
    assert_eq!(full, Err(AccessError::TooManyEntries { subject: ALICE.into(), max: 128 }));
    assert_eq!(full.expect_err("full").to_string(), "user `alice` already has 128 policy entries, the limit");
    // Revoking one makes room again.
    assert_eq!(state.revoke(ALICE, &entry("allow topic:t1 pub")), Ok(()));
    assert_eq!(state.grant(ALICE, entry("allow topic:t-new pub")), Ok(true));
}

#[test]
fn revoke_removes_exactly_one_identical_entry() {
    let mut state = alice_with(&["allow topic:a pub,sub", "deny topic:b pub", "allow topic:c pub"]);
    let unknown = |state: &mut AccessState, spec: &str| state.revoke(ALICE, &entry(spec));
    for spec in
        ["allow topic:a pub", "deny topic:a pub,sub", "allow topic:a pub,sub 10.0.0.0/8", "allow topic:a* pub,sub"]
    {
        assert_eq!(unknown(&mut state, spec), Err(AccessError::UnknownEntry { subject: ALICE.into() }), "{spec}");
    }
    assert_eq!(
        state.revoke("nobody", &entry("allow topic:a pub,sub")).expect_err("unknown").to_string(),
        "user `nobody` has no such policy entry"
    );
    assert_eq!(state.entries(ALICE).len(), 3);

    // Written in another order, it is the same entry.
    assert_eq!(state.revoke(ALICE, &entry("allow topic:a sub,pub")), Ok(()));
    assert_eq!(state.entries(ALICE), [entry("deny topic:b pub"), entry("allow topic:c pub")]);
    // Indices shift: the explanation names the entry's current index.
    assert_eq!(explain(&state, &topic("c", Action::Pub)), "allowed: topic:c (literal) allows pub [entry 1]");
    assert_eq!(state.revoke(ALICE, &entry("deny topic:b pub")), Ok(()));
    assert_eq!(
        state.revoke(ALICE, &entry("deny topic:b pub")),
        Err(AccessError::UnknownEntry { subject: ALICE.into() })
    );
    assert_eq!(state.revoke(ALICE, &entry("allow topic:c pub")), Ok(()));
    // The empty policy is dropped.
    assert!(state.policies.is_empty());
    assert_eq!(state.entries(ALICE), []);
    assert_eq!(explain(&state, &topic("c", Action::Pub)), "denied: no entry matches");
}
