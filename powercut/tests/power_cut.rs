//! The power-cut filesystem through a real FUSE mount: what was synced survives a cut, and
//! nothing else does. Needs /dev/fuse and root (the mount syscall); without them every test
//! fails, loudly, rather than passing without having tested anything.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use pharos_powercut::PowerCutMount;

/// A test that takes longer has hung on the mount (a bug in the filesystem).
const TEST_TIMEOUT_MS: u64 = 60_000;

/// Runs `body` with a fresh mount over a fresh backing dir, bounded in time; the mount goes
/// away when the body ends, passes or fails.
fn with_mount(body: impl FnOnce(&PowerCutMount, &Path) + Send + 'static) {
    let root = tempfile::tempdir().expect("temp dir");
    let backing = root.path().join("backing");
    let mountpoint = root.path().join("mnt");
    let (done, finished) = mpsc::channel();
    let watched_mountpoint = mountpoint.clone();
    let worker = std::thread::spawn(move || {
        let mount = PowerCutMount::mount(&backing, &mountpoint).expect("mounting the power-cut filesystem");
        body(&mount, &backing);
        mount.unmount().expect("unmounting");
        let _ = done.send(());
    });
    match finished.recv_timeout(Duration::from_millis(TEST_TIMEOUT_MS)) {
        Ok(()) => worker.join().expect("test thread"),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The body panicked; the mount was dropped (unmounted) while unwinding.
            if let Err(panic) = worker.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            let _ = std::process::Command::new("umount").arg("-l").arg(&watched_mountpoint).status();
            panic!("the test hung for {TEST_TIMEOUT_MS} ms on the mount");
        }
    }
}

fn sync_dir(path: &Path) {
    File::open(path).and_then(|dir| dir.sync_all()).expect("fsync of a directory");
}

#[test]
fn a_cut_drops_unsynced_writes_and_keeps_synced_ones() {
    with_mount(|mount, backing| {
        let path = mount.mountpoint().join("journal");
        let mut file = File::create(&path).expect("create");
        file.write_all(b"synced").expect("write");
        file.sync_data().expect("fdatasync");
        sync_dir(mount.mountpoint());
        file.write_all(b" and lost").expect("write");
        assert_eq!(std::fs::read(&path).expect("read"), b"synced and lost", "reads see unsynced writes");
        drop(file);
        let report = mount.cut();
        assert_eq!((report.dropped_write_bytes, report.dropped_writes), (9, 1));
        assert_eq!(std::fs::read(&path).expect("read after the cut"), b"synced");
        assert_eq!(std::fs::read(backing.join("journal")).expect("backing file"), b"synced");
    });
}

#[test]
fn a_file_whose_directory_was_never_synced_is_gone_after_a_cut() {
    with_mount(|mount, backing| {
        std::fs::create_dir(mount.mountpoint().join("keyspace")).expect("mkdir");
        sync_dir(mount.mountpoint());
        let path = mount.mountpoint().join("keyspace").join("segment");
        let mut file = File::create(&path).expect("create");
        file.write_all(&[7u8; 10_000]).expect("write");
        file.sync_all().expect("fsync");
        drop(file);
        let report = mount.cut();
        assert_eq!(report.dropped_write_bytes, 0, "the data was synced");
        assert!(report.paths_rolled_back >= 1, "{report:?}");
        assert!(!path.exists(), "the entry was never synced");
        assert!(mount.mountpoint().join("keyspace").is_dir(), "the directory itself was");
        assert!(!backing.join("keyspace").join("segment").exists());

        // Synced both ways now: it survives, with its data.
        let mut file = File::create(&path).expect("create");
        file.write_all(&[8u8; 10_000]).expect("write");
        file.sync_all().expect("fsync");
        sync_dir(&mount.mountpoint().join("keyspace"));
        drop(file);
        mount.cut();
        assert_eq!(std::fs::read(&path).expect("read"), vec![8u8; 10_000]);
        assert_eq!(std::fs::read(backing.join("keyspace").join("segment")).expect("backing"), vec![8u8; 10_000]);
    });
}

#[test]
fn renames_unlinks_and_truncations_roll_back_unless_synced() {
    with_mount(|mount, _backing| {
        let root = mount.mountpoint();
        for name in ["a", "b"] {
            let mut file = File::create(root.join(name)).expect("create");
            file.write_all(name.as_bytes()).expect("write");
            file.sync_all().expect("fsync");
        }
        sync_dir(root);
        std::fs::rename(root.join("a"), root.join("c")).expect("rename");
        std::fs::remove_file(root.join("b")).expect("unlink");
        OpenOptions::new().write(true).open(root.join("c")).and_then(|file| file.set_len(0)).expect("truncate");
        mount.cut();
        assert_eq!(std::fs::read(root.join("a")).expect("a is back"), b"a");
        assert_eq!(std::fs::read(root.join("b")).expect("b is back"), b"b");
        assert!(!root.join("c").exists());

        std::fs::rename(root.join("a"), root.join("c")).expect("rename");
        sync_dir(root);
        mount.cut();
        assert!(!root.join("a").exists());
        assert_eq!(std::fs::read(root.join("c")).expect("c"), b"a");
    });
}

#[test]
fn a_preallocated_file_stays_sparse_and_remounts_with_what_was_synced() {
    let root = tempfile::tempdir().expect("temp dir");
    let backing = root.path().join("backing");
    let mountpoint = root.path().join("mnt");
    {
        let mount = PowerCutMount::mount(&backing, &mountpoint).expect("mount");
        let mut file = File::create(mountpoint.join("journal")).expect("create");
        file.set_len(64 << 20).expect("preallocate 64 MiB");
        file.write_all(b"entry").expect("write");
        file.sync_all().expect("fsync");
        sync_dir(&mountpoint);
        assert!(mount.stats().resident_bytes <= 4_096, "{:?}", mount.stats());
        file.write_all(b"unsynced").expect("write");
        drop(file);
        // Dropped without a clean unmount, as when the test process dies: the backing dir
        // keeps what was synced.
    }
    let mount = PowerCutMount::mount(&backing, &mountpoint).expect("remount");
    let bytes = std::fs::read(mountpoint.join("journal")).expect("read");
    assert_eq!(bytes.len(), 64 << 20);
    assert_eq!(&bytes[..13], b"entry\0\0\0\0\0\0\0\0");
    mount.unmount().expect("unmount");
}

#[test]
fn a_cut_can_strike_in_the_middle_of_a_held_sync() {
    with_mount(|mount, backing| {
        let path = mount.mountpoint().join("log");
        let mut file = File::create(&path).expect("create");
        file.write_all(b"durable").expect("write");
        file.sync_all().expect("fsync");
        sync_dir(mount.mountpoint());
        mount.hold_syncs();
        let writer = std::thread::spawn(move || {
            file.write_all(b" in flight").expect("write");
            file.sync_all()
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while mount.held_syncs() == 0 {
            assert!(std::time::Instant::now() < deadline, "the sync was never held");
            std::thread::sleep(Duration::from_millis(10));
        }
        let report = mount.cut();
        assert_eq!((report.syncs_interrupted, report.dropped_write_bytes), (1, 10));
        let synced = writer.join().expect("writer thread");
        assert!(synced.is_err(), "a sync the cut interrupted must fail, not succeed");
        assert_eq!(std::fs::read(&path).expect("read"), b"durable");
        assert_eq!(std::fs::read(backing.join("log")).expect("backing"), b"durable");
    });
}
