//! A test filesystem that loses what was not synced: power loss, for real (Jepsen's LazyFS is
//! the model). `kill -9` leaves the page cache intact, so it never tests an fsync that is
//! missing; a [`PowerCutMount`] does. It is a FUSE filesystem whose files live in memory; a
//! file's bytes reach the backing directory only when the file is fsynced, and a directory's
//! entries (create, rename, unlink) only when the directory is fsynced. [`PowerCutMount::cut`]
//! then throws away everything else at once, so what remains — in memory and in the backing
//! directory alike — is exactly what was synced (`volume.rs` says precisely what is modelled
//! and what is not).
//!
//! It is for tests only, on throwaway data: it must never hold data anyone needs (everything
//! lives in memory until synced, and a cut destroys it by design), never panic on a request
//! (every failure is an errno, or the writer hangs on the mount), and never be left mounted
//! (dropping a mount unmounts it, lazily if busy).

mod file_data;
mod fuse;
mod mount;
mod volume;

pub use mount::{MountError, PowerCutMount, RESIDENT_BYTES_MAX};
pub use volume::{CutReport, Stats, Volume};
