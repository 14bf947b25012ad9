//! Fuzzing, on stable Rust, of the server configuration parser (`ServeConfig::resolve`: the
//! TOML file of `--config`, merged with flags and `PHAROS_*` variables): whatever the file or
//! the flags hold ends in a configuration or a typed `ConfigError`, never a panic, and an
//! accepted configuration satisfies every rule `validate` promises. The file is the only input
//! read from disk, so it gets the most properties:
//! - `arbitrary_bytes`: any bytes (invalid UTF-8 included);
//! - `arbitrary_toml`: lines of known and unknown keys with values of any TOML type and at
//!   their edges (negative, `i64::MAX`, out of range, ill-formed member lists);
//! - `mutated_valid_file`: a valid file with bits flipped, bytes inserted, removed, repeated;
//! - `valid_files_are_accepted`, and for every accepted one, `--print-config` output reads back
//!   as the same configuration.
//!
//! Cases per property: `PHAROS_FUZZ_CASES` (default 256). A long run:
//! `PHAROS_FUZZ_CASES=20000 cargo test --release -p pharos-server --test fuzz_config`.
//! A failure prints the minimal (shrunk) failing input; nothing is written to the repository.

use std::path::{Path, PathBuf};

use pharos_fuzz_support::*;
use pharos_server::config::{BROKER_RECORD_RETENTION_MS_MAX, ConfigError, ServeArgs, ServeConfig};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

// ---- inputs ----

const KEYS: [&str; 25] = [
    "node_id",
    "data_dir",
    "listen_client",
    "listen_peer",
    "listen_http",
    "listen_remoting",
    "advertise_client",
    "advertise_peer",
    "zone",
    "region",
    "initial_cluster",
    "initial_cluster_token",
    "join",
    "auto_promote",
    "heartbeat_interval_ms",
    "election_timeout_min_ms",
    "election_timeout_max_ms",
    "snapshot_logs_since_last",
    "logs_to_keep_after_snapshot",
    "broker_heartbeat_interval_ms",
    "broker_lease_ms",
    "broker_clock_drift_ms",
    "broker_record_retention_ms",
    "log_format",
    "log_level",
];

/// `ID=PEER,...` lists, well- and ill-formed: ids 0, huge, repeated, missing `=`, spaces.
fn member_list() -> BoxedStrategy<String> {
    let item = prop_oneof![
        (0u64..5, "127\\.0\\.0\\.1:900[0-4]").prop_map(|(id, peer)| format!("{id}={peer}")),
        (edge_u64(), "(?s).{0,8}").prop_map(|(id, peer)| format!("{id}={peer}")),
        "(?s).{0,12}",
    ];
    vec(item, 0..5).prop_map(|items| items.join(",")).boxed()
}

/// A TOML value of any type, often the right one for the key, often at its edges.
fn toml_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|value| value.to_string()),
        prop_oneof![Just(0i64), Just(1), Just(2), Just(150), Just(750), Just(1500), Just(i64::MAX), Just(-1)]
            .prop_map(|value| value.to_string()),
        Just("99999999999999999999".to_string()),
        any::<bool>().prop_map(|value| value.to_string()),
        member_list().prop_map(|text| toml_string(&text)),
        prop_oneof![Just("text"), Just("json"), Just("xml")].prop_map(toml_string),
        "(?s).{0,16}".prop_map(|text| toml_string(&text)),
        Just("[1, \"a\", [2]]".to_string()),
        Just("{ a = 1 }".to_string()),
        Just("1979-05-27T07:32:00Z".to_string()),
        Just("inf".to_string()),
        "(?s).{0,8}",
    ]
}

/// A TOML basic string holding `text`, every character escaped.
fn toml_string(text: &str) -> String {
    let escaped: String = text.chars().map(|character| format!("\\U{:08X}", u32::from(character))).collect();
    format!("\"{escaped}\"")
}

/// Lines of `key = value` over the known keys (and some unknown ones), sometimes in a table.
fn toml_file() -> impl Strategy<Value = String> {
    let key = prop_oneof![9 => proptest::sample::select(KEYS.to_vec()).prop_map(str::to_string), 1 => "[a-z_]{1,12}"];
    (vec((key, toml_value()), 0..12), prop_oneof![4 => Just(String::new()), 1 => "\\[[a-z.]{0,8}\\]\n"]).prop_map(
        |(lines, header)| {
            let body: String = lines.iter().map(|(key, value)| format!("{key} = {value}\n")).collect();
            format!("{header}{body}")
        },
    )
}

/// A valid file: the defaults with timings that satisfy every rule.
fn valid_file() -> impl Strategy<Value = String> {
    (
        1u64..1_000,
        1u64..500,
        1u64..500,
        1u64..500,
        1u64..1_000,
        0u64..3_000,
        any::<bool>(),
        1u64..=BROKER_RECORD_RETENTION_MS_MAX,
    )
        .prop_map(|(node_id, heartbeat, min_gap, max_gap, broker_heartbeat, lease_extra, json, retention)| {
            format!(
                "node_id = {node_id}\nheartbeat_interval_ms = {heartbeat}\nelection_timeout_min_ms = {}\n\
                 election_timeout_max_ms = {}\nbroker_heartbeat_interval_ms = {broker_heartbeat}\n\
                 broker_lease_ms = {}\nlog_format = \"{}\"\nzone = \"zone-b\"\n\
                 broker_record_retention_ms = {retention}\n",
                heartbeat + min_gap,
                heartbeat + min_gap + max_gap,
                2 * broker_heartbeat + lease_extra,
                if json { "json" } else { "text" },
            )
        })
}

/// Flags (or the `PHAROS_*` environment, which clap maps onto the same fields).
fn flags() -> impl Strategy<Value = ServeArgs> {
    let number = || option::of(edge_u64());
    (
        (number(), number(), number(), number(), number(), number(), number(), number(), number()),
        (option::of(member_list()), option::of(member_list()), option::of("127\\.0\\.0\\.1:900[0-4]")),
        option::of(prop_oneof![Just("text"), Just("json"), Just("")].prop_map(str::to_string)),
    )
        .prop_map(
            |(
                (node_id, heartbeat, min, max, snapshot_logs, broker_heartbeat, lease, drift, retention),
                (initial_cluster, join, listen_peer),
                log_format,
            )| ServeArgs {
                node_id,
                heartbeat_interval_ms: heartbeat,
                election_timeout_min_ms: min,
                election_timeout_max_ms: max,
                snapshot_logs_since_last: snapshot_logs,
                broker_heartbeat_interval_ms: broker_heartbeat,
                broker_lease_ms: lease,
                broker_clock_drift_ms: drift,
                broker_record_retention_ms: retention,
                initial_cluster,
                join,
                listen_peer,
                log_format,
                ..ServeArgs::default()
            },
        )
}

// ---- what an accepted configuration promises ----

fn check_accepted(resolved: Result<ServeConfig, ConfigError>, path: &Path) -> Result<(), TestCaseError> {
    let Ok(config) = resolved else { return Ok(()) };
    prop_assert!(config.node_id >= 1);
    prop_assert!(config.heartbeat_interval_ms < config.election_timeout_min_ms);
    prop_assert!(config.election_timeout_min_ms < config.election_timeout_max_ms);
    prop_assert!(config.broker_heartbeat_interval_ms > 0);
    prop_assert!(u128::from(config.broker_lease_ms) >= 2 * u128::from(config.broker_heartbeat_interval_ms));
    prop_assert!((1..=BROKER_RECORD_RETENTION_MS_MAX).contains(&config.broker_record_retention_ms));
    prop_assert!(matches!(config.log_format.as_str(), "text" | "json"));
    prop_assert!(config.bootstrap().is_ok());
    // `--print-config` output is a valid file that resolves to the same configuration.
    std::fs::write(path, config.to_toml()).expect("write the printed config");
    let reread = ServeConfig::resolve(&ServeArgs { config: Some(path.to_path_buf()), ..ServeArgs::default() });
    prop_assert_eq!(reread.map_err(|error| error.to_string()), Ok(config));
    Ok(())
}

fn resolve_file(path: &Path, bytes: &[u8]) -> Result<(), TestCaseError> {
    std::fs::write(path, bytes).expect("write the config file");
    let args = ServeArgs { config: Some(path.to_path_buf()), ..ServeArgs::default() };
    check_accepted(ServeConfig::resolve(&args), path)
}

// ---- the targets ----

fn config_path() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("pharos.toml");
    (dir, path)
}

#[test]
fn arbitrary_bytes() {
    let (_dir, path) = config_path();
    proptest!(fuzz_config(), |(bytes in vec(any::<u8>(), 0..2048))| {
        resolve_file(&path, &bytes)?;
    });
}

#[test]
fn arbitrary_toml() {
    let (_dir, path) = config_path();
    proptest!(fuzz_config(), |(text in toml_file())| {
        resolve_file(&path, text.as_bytes())?;
    });
}

#[test]
fn mutated_valid_file() {
    let (_dir, path) = config_path();
    proptest!(fuzz_config(), |(text in valid_file(), mutations in mutations())| {
        let mut bytes = text.into_bytes();
        mutate(&mut bytes, &mutations);
        resolve_file(&path, &bytes)?;
    });
}

#[test]
fn valid_files_are_accepted() {
    let (_dir, path) = config_path();
    proptest!(fuzz_config(), |(text in valid_file())| {
        std::fs::write(&path, &text).expect("write the config file");
        let resolved = ServeConfig::resolve(&ServeArgs { config: Some(path.clone()), ..ServeArgs::default() });
        prop_assert!(resolved.is_ok(), "refused {text:?}: {resolved:?}");
        check_accepted(resolved, &path)?;
    });
}

#[test]
fn arbitrary_flags_and_file() {
    let (_dir, path) = config_path();
    proptest!(fuzz_config(), |(args in flags(), text in option::of(toml_file()))| {
        let args = match text {
            Some(text) => {
                std::fs::write(&path, text).expect("write the config file");
                ServeArgs { config: Some(path.clone()), ..args }
            }
            None => args,
        };
        check_accepted(ServeConfig::resolve(&args), &path)?;
    });
}
