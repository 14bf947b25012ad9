//! What a run leaves behind: its [`Report`] (facts and violations) and its fault timeline.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::workload::lock;

/// The outcome of one run.
#[derive(Debug)]
pub struct Report {
    pub scenario: String,
    pub seed: u64,
    pub problems: Vec<String>,
    /// Counts and timings, one line each.
    pub facts: Vec<String>,
    pub elapsed: Duration,
    /// The run directory, when kept.
    pub kept: Option<PathBuf>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn render(&self) -> String {
        let mut text = format!(
            "scenario {} seed {}: {} in {:.1}s\n",
            self.scenario,
            self.seed,
            if self.passed() { "PASS" } else { "FAIL" },
            self.elapsed.as_secs_f64()
        );
        for fact in &self.facts {
            let _ = writeln!(text, "  {fact}");
        }
        for problem in &self.problems {
            let _ = writeln!(text, "  VIOLATION: {problem}");
        }
        if let Some(path) = &self.kept {
            let _ = writeln!(text, "  history, fault timeline, node logs and data dirs kept in {}", path.display());
        }
        text
    }
}

/// The fault timeline, with times since the run started.
#[derive(Debug, Clone)]
pub(super) struct Timeline {
    pub(super) started: Instant,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Timeline {
    pub(super) fn new(started: Instant) -> Timeline {
        Timeline { started, lines: Arc::new(Mutex::new(Vec::new())) }
    }

    pub(super) fn note(&self, what: impl Into<String>) {
        let line = format!("[{:>8.3}s] {}", self.started.elapsed().as_secs_f64(), what.into());
        tracing::info!("{line}");
        lock(&self.lines).push(line);
    }

    pub(super) fn text(&self) -> String {
        lock(&self.lines).join("\n") + "\n"
    }
}
