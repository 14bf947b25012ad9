//! Golden fixtures (dev-only): files holding the bytes an encoder wrote, checked both ways
//! forever after. A fixture must decode to the value its case builds, and that value must encode
//! to exactly the fixture's bytes, so a re-tagged field or a renumbered code fails even when
//! every round trip still passes.
//!
//! Fixtures are never rewritten: they are the bytes an older release wrote. A case without a
//! fixture fails, unless `PHAROS_WRITE_FIXTURES=1` is set, which writes the missing files (and
//! only those) from the values the cases build.

use std::collections::BTreeSet;
use std::fmt::{Debug, Display};
use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

/// Set to `1` to write the fixtures of new cases (existing files are never rewritten).
pub const WRITE_FIXTURES_VARIABLE: &str = "PHAROS_WRITE_FIXTURES";

/// `every_variant!(Enum { "case" => Variant, "other" => Variant { field: value }, ... })`: the
/// cases as `Vec<(String, Enum)>`, checked by a `match` over `Enum` with one arm per case and no
/// wildcard arm, so a variant without a case does not compile. Variants whose cases are listed
/// elsewhere (nested enums with lists of their own) are named after `elsewhere:`.
#[macro_export]
macro_rules! every_variant {
    (
        $enum:ident {
            $($case:literal => $variant:ident $({ $($named:tt)* })? $(( $($positional:tt)* ))?),+ $(,)?
        }
        $(elsewhere: $($other:ident),+)?
    ) => {{
        #[allow(unreachable_patterns, reason = "a variant may have several cases")]
        fn has_a_case(value: &$enum) {
            match value {
                $($enum::$variant { .. } => {})+
                $($($enum::$other { .. } => {})+)?
            }
        }
        let cases: Vec<(String, $enum)> =
            vec![$(($case.to_string(), $enum::$variant $({ $($named)* })? $(( $($positional)* ))?)),+];
        cases.iter().for_each(|(_, value)| has_a_case(value));
        cases
    }};
}

/// One persisted format: the directory of its fixtures and how values are written and read.
#[derive(Debug)]
pub struct Format<T, E> {
    pub directory: &'static str,
    pub encode: fn(&T) -> Vec<u8>,
    pub decode: fn(&[u8]) -> Result<T, E>,
}

/// A crate's fixtures: `<root>/<format directory>/<case>.bin`.
#[derive(Debug, Clone, Copy)]
pub struct Fixtures {
    pub root: &'static str,
}

impl Fixtures {
    pub fn path<T, E>(&self, format: &Format<T, E>, case: &str) -> PathBuf {
        Path::new(self.root).join(format.directory).join(format!("{case}.bin"))
    }

    pub fn paths<T, E>(&self, format: &Format<T, E>, cases: &[(String, T)]) -> Vec<PathBuf> {
        cases.iter().map(|(case, _)| self.path(format, case)).collect()
    }

    /// Checks every case against its fixture, both directions, and names every case that does
    /// not match (a missing fixture is written first when asked to).
    pub fn check<T: PartialEq + Debug, E: Display>(&self, format: &Format<T, E>, cases: &[(String, T)]) -> Vec<String> {
        let mut names = BTreeSet::new();
        for (case, _) in cases {
            assert!(names.insert(case), "{}: two cases are named {case}", format.directory);
        }
        let write_missing = std::env::var_os(WRITE_FIXTURES_VARIABLE).is_some_and(|value| value == "1");
        let mut failures = Vec::new();
        for (case, value) in cases {
            let name = format!("{}/{case}", format.directory);
            let path = self.path(format, case);
            let encoded = (format.encode)(value);
            let fixture = match fs::read(&path) {
                Ok(bytes) => bytes,
                Err(error) if error.kind() == ErrorKind::NotFound && write_missing => {
                    write_new_fixture(&path, &encoded);
                    encoded.clone()
                }
                Err(error) if error.kind() == ErrorKind::NotFound => {
                    failures.push(format!(
                        "{name}: no fixture; a new case writes its own with {WRITE_FIXTURES_VARIABLE}=1"
                    ));
                    continue;
                }
                Err(error) => panic!("cannot read {}: {error}", path.display()),
            };
            match (format.decode)(&fixture) {
                Ok(decoded) if decoded == *value => {}
                Ok(decoded) => {
                    failures.push(format!("{name}: the fixture decodes to {decoded:?}, the case is {value:?}"))
                }
                Err(error) => failures.push(format!("{name}: the fixture no longer decodes: {error}")),
            }
            if encoded != fixture {
                failures.push(format!(
                    "{name}: the case encodes to {}, the fixture holds {}",
                    hex(&encoded),
                    hex(&fixture)
                ));
            }
        }
        failures
    }

    /// Fails naming every file under the root that is not in `expected`: a fixture without a
    /// case would silently stop being checked.
    pub fn assert_every_file_is_checked(&self, expected: impl IntoIterator<Item = PathBuf>) {
        let expected: BTreeSet<PathBuf> = expected.into_iter().collect();
        let mut unchecked = Vec::new();
        let directories = fs::read_dir(self.root).unwrap_or_else(|error| panic!("{}: {error}", self.root));
        for directory in directories {
            let directory = directory.expect("a readable directory entry").path();
            for file in fs::read_dir(&directory).unwrap_or_else(|error| panic!("{}: {error}", directory.display())) {
                let file = file.expect("a readable directory entry").path();
                if !expected.contains(&file) {
                    unchecked.push(file.display().to_string());
                }
            }
        }
        assert!(unchecked.is_empty(), "fixtures no case checks (restore their cases):\n{}", unchecked.join("\n"));
    }
}

/// Fails naming every case that does not match its fixture.
pub fn assert_pinned(failures: Vec<Vec<String>>) {
    let failures = failures.concat();
    assert!(
        failures.is_empty(),
        "{} fixtures do not match: a persisted format changed (fix the code, never a fixture):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Writes a fixture that does not exist yet; an existing file is never opened for writing.
fn write_new_fixture(path: &Path, bytes: &[u8]) {
    let directory = path.parent().expect("a fixture path has a directory");
    fs::create_dir_all(directory).unwrap_or_else(|error| panic!("cannot create {}: {error}", directory.display()));
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .unwrap_or_else(|error| panic!("cannot create {}: {error}", path.display()));
    file.write_all(bytes).unwrap_or_else(|error| panic!("cannot write {}: {error}", path.display()));
    eprintln!("wrote the new fixture {}", path.display());
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
