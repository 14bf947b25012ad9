//! The one bounded wait every test uses: poll until a check yields a value, or fail saying
//! what was awaited, for how long, and what the last look showed.

use std::future::Future;
use std::time::{Duration, Instant};

/// How often [`until`] looks again.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// An error after which waiting longer cannot help (the process being waited for exited):
/// [`until`] returns it at once instead of at its timeout.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Hopeless(pub String);

/// Polls `check` every [`POLL_INTERVAL`] until it returns `Ok(Some(value))`, for at most
/// `timeout`. `Ok(None)` and `Err` mean "not yet", and the last of them is in the timeout's
/// error; an `Err` holding [`Hopeless`] ends the wait at once.
pub async fn until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let started = Instant::now();
    loop {
        let last = match check().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => "not yet".to_string(),
            Err(error) if error.downcast_ref::<Hopeless>().is_some() => {
                return Err(error.context(format!("gave up waiting for {what} after {:.1?}", started.elapsed())));
            }
            Err(error) => format!("{error:#}"),
        };
        if started.elapsed() >= timeout {
            anyhow::bail!("timed out after {:.1?} waiting for {what}; last observation: {last}", started.elapsed());
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
