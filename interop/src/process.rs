//! Child processes that die with their handle, and loopback ports nobody else was given.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::Context;

/// A process this harness started. Dropping the handle kills it (SIGKILL) and reaps it, so a
/// failing test never leaves a broker or a node running.
#[derive(Debug)]
pub struct ChildProcess {
    /// What the process is, for messages ("pharos node 2", "broker broker-a").
    pub name: String,
    /// Where its stdout and stderr go.
    pub log_path: PathBuf,
    /// `None` once killed. Behind a lock so that checking for an exit needs no `&mut`.
    child: Mutex<Option<Child>>,
}

impl ChildProcess {
    /// Starts `command` with stdin closed and both output streams appended to `log_path`.
    pub fn spawn(name: &str, mut command: Command, log_path: &Path) -> anyhow::Result<ChildProcess> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)
            .with_context(|| format!("open the log of {name} at {}", log_path.display()))?;
        let log_err = log.try_clone().with_context(|| format!("duplicate the log of {name}"))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .with_context(|| format!("start {name} ({:?})", command.get_program()))?;
        Ok(ChildProcess { name: name.to_string(), log_path: log_path.to_path_buf(), child: Mutex::new(Some(child)) })
    }

    fn child(&self) -> MutexGuard<'_, Option<Child>> {
        self.child.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn pid(&self) -> Option<u32> {
        self.child().as_ref().map(Child::id)
    }

    /// `Some(status)` once the process has exited (whoever ended it).
    pub fn exit_status(&self) -> Option<String> {
        match self.child().as_mut().map(Child::try_wait) {
            Some(Ok(Some(status))) => Some(status.to_string()),
            Some(Ok(None)) => None,
            Some(Err(error)) => Some(format!("unknown ({error})")),
            None => Some("killed by the harness".to_string()),
        }
    }

    /// SIGKILL and reap.
    pub fn kill(&self) {
        if let Some(mut child) = self.child().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The log so far (empty if unreadable), for assertions and failure messages.
    pub fn log(&self) -> String {
        std::fs::read(&self.log_path).map(|bytes| String::from_utf8_lossy(&bytes).into_owned()).unwrap_or_default()
    }

    /// What a failure message should show of the log: its warnings and errors (the last
    /// [`EXCERPT_LINES_MAX`]), then its last few lines, without terminal colour codes.
    pub fn log_excerpt(&self) -> String {
        excerpt(&self.log())
    }
}

/// Lines of a log a failure message shows at most.
pub const EXCERPT_LINES_MAX: usize = 25;
const EXCERPT_TAIL_LINES: usize = 5;

/// The warnings, errors and last lines of a log (see [`ChildProcess::log_excerpt`]).
pub fn excerpt(log: &str) -> String {
    let lines: Vec<String> = log.lines().map(strip_colour_codes).collect();
    let tail_start = lines.len().saturating_sub(EXCERPT_TAIL_LINES);
    let notable: Vec<&String> = lines[..tail_start]
        .iter()
        .filter(|line| line.contains(" WARN ") || line.contains(" ERROR ") || line.contains("panicked"))
        // A fresh broker warns about every config file it has not written yet.
        .filter(|line| !line.contains("file not exist") && !line.contains("load bak config file"))
        .collect();
    let mut shown: Vec<&String> =
        notable[notable.len().saturating_sub(EXCERPT_LINES_MAX - EXCERPT_TAIL_LINES)..].to_vec();
    shown.extend(&lines[tail_start..]);
    shown.iter().map(|line| format!("    {line}")).collect::<Vec<_>>().join("\n")
}

/// Removes ANSI escape sequences (`ESC [ ... letter`).
fn strip_colour_codes(line: &str) -> String {
    let mut plain = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(character) = chars.next() {
        if character == '\u{1b}' {
            for code in chars.by_ref() {
                if code.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(character);
        }
    }
    plain
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Listen ports are drawn below Linux's ephemeral range (32768–60999): a port the kernel hands
/// out for `:0` may be reused as the source port of an outgoing connection before the process
/// binds it; ports below that range never are (the same choice as chaos-tests/src/cluster.rs).
const LISTEN_PORT_MIN: u16 = 20_000;
const LISTEN_PORT_MAX: u16 = 32_000;
const LISTEN_PORT_ATTEMPTS_MAX: u32 = 500;

/// Ports this process handed out already: two children must never be given the same one.
static GIVEN_PORTS: Mutex<Vec<u16>> = Mutex::new(Vec::new());

/// A run of `count` consecutive loopback ports, all free now and never handed out before by
/// this process. (The broker needs its port and the one two below it, its "fast" port.)
pub fn free_port_run(count: u16) -> anyhow::Result<u16> {
    let seed = u64::from(std::process::id())
        ^ std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |since| since.as_nanos() as u64);
    let mut state = seed;
    for _ in 0..LISTEN_PORT_ATTEMPTS_MAX {
        // SplitMix64: good enough to spread draws; no dependency for it.
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut mixed = state;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        mixed ^= mixed >> 31;
        let span = u64::from(LISTEN_PORT_MAX - LISTEN_PORT_MIN - count);
        let first = LISTEN_PORT_MIN + (mixed % span) as u16;
        let ports: Vec<u16> = (first..first + count).collect();
        let mut given = GIVEN_PORTS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let all_free =
            ports.iter().all(|port| !given.contains(port) && TcpListener::bind(("127.0.0.1", *port)).is_ok());
        if all_free {
            given.extend(&ports);
            return Ok(first);
        }
    }
    anyhow::bail!(
        "no run of {count} free loopback ports in {LISTEN_PORT_MIN}..{LISTEN_PORT_MAX} after {LISTEN_PORT_ATTEMPTS_MAX} draws"
    )
}

/// One free loopback port.
pub fn free_port() -> anyhow::Result<u16> {
    free_port_run(1)
}

/// Runs a short command (the `pharos` CLI) to completion within `timeout`; its stdout on exit
/// status 0, else an error with both streams.
pub async fn run_bounded(mut command: tokio::process::Command, timeout: Duration) -> anyhow::Result<String> {
    let started = Instant::now();
    let description = format!("{:?}", command.as_std());
    command.kill_on_drop(true).stdin(Stdio::null());
    let output = tokio::time::timeout(timeout, command.output())
        .await
        .map_err(|_| anyhow::anyhow!("{description} did not finish within {timeout:?}"))?
        .with_context(|| format!("run {description}"))?;
    anyhow::ensure!(
        output.status.success(),
        "{description} failed ({}) after {:?}\nstdout: {}\nstderr: {}",
        output.status,
        started.elapsed(),
        String::from_utf8_lossy(&output.stdout).trim(),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
