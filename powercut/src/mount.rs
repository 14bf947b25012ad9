//! A mounted power-cut filesystem: mount it, cut its power, unmount it (always, even when the
//! test using it fails: a FUSE mount left behind breaks the next run at that path).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use fuser::{Config, MountOption};

use crate::fuse::{HeldSyncs, PowerCutFs, lock, lock_held};
use crate::volume::{CutReport, Stats, Volume};

/// The device FUSE needs; without it no mount can work, and a test must say so, not pass.
const FUSE_DEVICE: &str = "/dev/fuse";
/// Memory the current state of one volume may hold in written pages before writes fail with
/// ENOSPC (a runaway writer must not take the machine down with it).
pub const RESIDENT_BYTES_MAX: u64 = 4 << 30;
/// `errno` of a FUSE mount whose server is gone ("Transport endpoint is not connected").
const ENOTCONN: i32 = 107;

#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("{FUSE_DEVICE} is missing: FUSE cannot be mounted on this machine, so a power cut cannot be simulated")]
    NoFuseDevice,
    #[error("cannot load the backing directory {path}: {source}")]
    Backing { path: PathBuf, source: std::io::Error },
    #[error("cannot mount FUSE at {path}: {source}")]
    Mount { path: PathBuf, source: std::io::Error },
    #[error("cannot unmount {path}: {source}")]
    Unmount { path: PathBuf, source: std::io::Error },
    #[error("cannot sync the volume before unmounting: errno {0}")]
    Sync(i32),
}

/// One mount: the kernel sends its requests to a background thread that owns the filesystem;
/// this handle shares the volume with it to cut power and read counters.
#[derive(Debug)]
pub struct PowerCutMount {
    mountpoint: PathBuf,
    backing: PathBuf,
    volume: Arc<Mutex<Volume>>,
    held: Arc<Mutex<HeldSyncs>>,
    /// `None` once unmounted.
    session: Option<fuser::BackgroundSession>,
}

impl PowerCutMount {
    /// Mounts a volume holding `backing` (created if missing) at `mountpoint` (created if
    /// missing; a stale FUSE mount left there by a crashed run is detached first).
    pub fn mount(backing: &Path, mountpoint: &Path) -> Result<PowerCutMount, MountError> {
        if !Path::new(FUSE_DEVICE).exists() {
            return Err(MountError::NoFuseDevice);
        }
        let mount_error = |source| MountError::Mount { path: mountpoint.to_path_buf(), source };
        if let Err(error) = std::fs::metadata(mountpoint)
            && error.raw_os_error() == Some(ENOTCONN)
        {
            detach(mountpoint);
        }
        std::fs::create_dir_all(mountpoint).map_err(mount_error)?;
        let volume = Volume::load(backing, RESIDENT_BYTES_MAX)
            .map_err(|source| MountError::Backing { path: backing.to_path_buf(), source })?;
        let volume = Arc::new(Mutex::new(volume));
        let mut config = Config::default();
        config.mount_options =
            vec![MountOption::FSName("pharos-powercut".to_string()), MountOption::Subtype("powercut".to_string())];
        let held = Arc::new(Mutex::new(HeldSyncs::default()));
        let filesystem = PowerCutFs { volume: Arc::clone(&volume), held: Arc::clone(&held) };
        let session = fuser::spawn_mount(filesystem, mountpoint, &config).map_err(mount_error)?;
        tracing::info!(mountpoint = %mountpoint.display(), backing = %backing.display(), "power-cut filesystem mounted");
        Ok(PowerCutMount {
            mountpoint: mountpoint.to_path_buf(),
            backing: backing.to_path_buf(),
            volume,
            held,
            session: Some(session),
        })
    }

    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    pub fn backing(&self) -> &Path {
        &self.backing
    }

    /// From now on, a file sync with something to make durable is held unanswered (its caller
    /// blocks in fsync) until the cut, which fails it: the way to cut power in the middle of a
    /// sync rather than between two.
    pub fn hold_syncs(&self) {
        lock_held(&self.held).armed = true;
    }

    /// Stops holding syncs and fails those held with EIO (without a cut: for a plain kill,
    /// whose process cannot exit while its sync is held). Returns how many there were.
    pub fn release_held_syncs(&self) -> usize {
        let replies = {
            let mut held = lock_held(&self.held);
            held.armed = false;
            std::mem::take(&mut held.replies)
        };
        let count = replies.len();
        for reply in replies {
            reply.error(fuser::Errno::EIO);
        }
        count
    }

    /// File syncs held so far (see [`PowerCutMount::hold_syncs`]).
    pub fn held_syncs(&self) -> usize {
        lock_held(&self.held).replies.len()
    }

    /// Cuts the power: every write and directory change not synced is dropped, at once, and
    /// every held sync fails with EIO (it never completed). Kill the processes writing here
    /// first: one still running would see its files change under it.
    ///
    /// Send the kill first and wait for the exit after: the kernel lets a killed process exit
    /// only once every request the filesystem already read is answered, held syncs included.
    pub fn cut(&self) -> CutReport {
        let mut report = lock(&self.volume).cut();
        report.syncs_interrupted = self.release_held_syncs() as u64;
        tracing::info!(mountpoint = %self.mountpoint.display(), ?report, "power cut");
        report
    }

    pub fn stats(&self) -> Stats {
        lock(&self.volume).stats()
    }

    /// A clean unmount: everything is synced first (as the kernel writes back before a real
    /// unmount), then the mount goes away.
    pub fn unmount(mut self) -> Result<(), MountError> {
        lock(&self.volume).sync_everything().map_err(|errno| MountError::Sync(errno.code()))?;
        self.detach_session()
    }

    /// Unmounts without syncing (what dropping does): the backing directory keeps exactly what
    /// was synced, as after a cut.
    fn detach_session(&mut self) -> Result<(), MountError> {
        let Some(session) = self.session.take() else { return Ok(()) };
        // A held sync left unanswered would keep its caller (and the unmount) waiting.
        self.release_held_syncs();
        match session.umount_and_join() {
            Ok(()) => Ok(()),
            Err(source) => {
                // Busy (a process still has a file open): detach lazily, so the path is free
                // for the next run; the kernel ends the session when the last file closes.
                detach(&self.mountpoint);
                Err(MountError::Unmount { path: self.mountpoint.clone(), source })
            }
        }
    }
}

impl Drop for PowerCutMount {
    fn drop(&mut self) {
        if let Err(error) = self.detach_session() {
            tracing::warn!("{error} (detached lazily instead)");
        }
    }
}

/// `umount -l`: detaches a mount even while busy or after its server died.
fn detach(mountpoint: &Path) {
    match Command::new("umount").arg("-l").arg(mountpoint).status() {
        Ok(status) if status.success() => {}
        Ok(status) => tracing::warn!(mountpoint = %mountpoint.display(), %status, "umount -l failed"),
        Err(error) => tracing::warn!(mountpoint = %mountpoint.display(), %error, "cannot run umount -l"),
    }
}
