//! The FUSE side: each kernel request becomes one call on the [`Volume`] under its lock, and
//! every failure becomes an errno reply (never a panic: a panic here would hang the node that
//! is writing through the mount).
//!
//! Two choices keep the kernel from hiding the volume's state: attributes and entries are
//! cached for zero seconds, and every file is opened with `FOPEN_DIRECT_IO`, so no page cache
//! can serve pre-cut bytes after a cut (nor absorb writes the volume never saw).

use std::ffi::OsStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, LockOwner, OpenFlags,
    RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs,
    ReplyWrite, Request, TimeOrNow, WriteFlags,
};

use crate::volume::{Attributes, Kind, Volume};

/// Nothing is cached by the kernel: after a cut, every lookup and stat asks the volume again.
const TTL: Duration = Duration::ZERO;
/// What `statfs` reports: a 1 TiB disk of 4 KiB blocks, mostly free (fjall only checks it is
/// not full).
const BLOCK_BYTES: u32 = 4_096;
const BLOCKS_TOTAL: u64 = 1 << 28;
const FILES_TOTAL: u64 = 1 << 24;
const NAME_BYTES_MAX: u32 = 255;

/// The filesystem FUSE drives; the volume is shared with the [`crate::PowerCutMount`] that cuts it.
#[derive(Debug)]
pub(crate) struct PowerCutFs {
    pub(crate) volume: Arc<Mutex<Volume>>,
    /// Locked after `volume` when both are needed, never before.
    pub(crate) held: Arc<Mutex<HeldSyncs>>,
}

/// Syncs the cut is waiting for: with `armed`, a file sync that has something to make durable
/// is not answered (its caller stays blocked in fsync) until the cut fails it. A cut then
/// strikes in the middle of a sync, with its bytes written and not durable, instead of at
/// whatever moment the harness happens to act (Pharos syncs so promptly that a cut at a random
/// moment mostly finds nothing unsynced).
#[derive(Debug, Default)]
pub(crate) struct HeldSyncs {
    pub(crate) armed: bool,
    pub(crate) replies: Vec<ReplyEmpty>,
}

pub(crate) fn lock_held(held: &Mutex<HeldSyncs>) -> MutexGuard<'_, HeldSyncs> {
    held.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The volume, even if a thread panicked holding it (the state is still consistent: every
/// method validates before it mutates).
pub(crate) fn lock(volume: &Mutex<Volume>) -> MutexGuard<'_, Volume> {
    volume.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn file_attr(attributes: &Attributes) -> FileAttr {
    FileAttr {
        ino: INodeNo(attributes.inode),
        size: attributes.size,
        blocks: attributes.size.div_ceil(512),
        atime: attributes.mtime,
        mtime: attributes.mtime,
        ctime: attributes.ctime,
        crtime: attributes.ctime,
        kind: file_type(attributes.kind),
        perm: attributes.perm,
        nlink: attributes.nlink,
        uid: 0,
        gid: 0,
        rdev: 0,
        blksize: BLOCK_BYTES,
        flags: 0,
    }
}

fn file_type(kind: Kind) -> FileType {
    match kind {
        Kind::File => FileType::RegularFile,
        Kind::Directory => FileType::Directory,
    }
}

fn reply_entry(reply: ReplyEntry, result: Result<Attributes, Errno>) {
    match result {
        Ok(attributes) => reply.entry(&TTL, &file_attr(&attributes), Generation(0)),
        Err(errno) => reply.error(errno),
    }
}

fn reply_empty(reply: ReplyEmpty, result: Result<(), Errno>) {
    match result {
        Ok(()) => reply.ok(),
        Err(errno) => reply.error(errno),
    }
}

/// Permission bits of a `mode` after the `umask`.
fn perm_of(mode: u32, umask: u32) -> u16 {
    ((mode & !umask) & 0o7777) as u16
}

impl PowerCutFs {
    fn volume(&self) -> MutexGuard<'_, Volume> {
        lock(&self.volume)
    }
}

impl Filesystem for PowerCutFs {
    fn lookup(&self, _request: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        reply_entry(reply, self.volume().lookup(parent.0, name));
    }

    fn getattr(&self, _request: &Request, inode: INodeNo, _handle: Option<FileHandle>, reply: ReplyAttr) {
        match self.volume().attributes(inode.0) {
            Ok(attributes) => reply.attr(&TTL, &file_attr(&attributes)),
            Err(errno) => reply.error(errno),
        }
    }

    fn setattr(
        &self,
        _request: &Request,
        inode: INodeNo,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _handle: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let mut volume = self.volume();
        let result = (|| {
            if let Some(size) = size {
                volume.set_len(inode.0, size)?;
            }
            if let Some(mode) = mode {
                volume.set_perm(inode.0, perm_of(mode, 0))?;
            }
            match mtime {
                Some(TimeOrNow::SpecificTime(time)) => volume.set_mtime(inode.0, time)?,
                Some(TimeOrNow::Now) => volume.set_mtime(inode.0, SystemTime::now())?,
                None => {}
            }
            volume.attributes(inode.0)
        })();
        match result {
            Ok(attributes) => reply.attr(&TTL, &file_attr(&attributes)),
            Err(errno) => reply.error(errno),
        }
    }

    fn mknod(
        &self,
        _request: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        // Regular files only: nothing Pharos does needs a device, fifo or socket here.
        if mode & libc::S_IFMT != libc::S_IFREG {
            reply.error(Errno::EPERM);
            return;
        }
        reply_entry(reply, self.volume().create_file(parent.0, name, perm_of(mode, umask)));
    }

    fn mkdir(&self, _request: &Request, parent: INodeNo, name: &OsStr, mode: u32, umask: u32, reply: ReplyEntry) {
        reply_entry(reply, self.volume().make_directory(parent.0, name, perm_of(mode, umask)));
    }

    fn unlink(&self, _request: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        reply_empty(reply, self.volume().unlink(parent.0, name));
    }

    fn rmdir(&self, _request: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        reply_empty(reply, self.volume().remove_directory(parent.0, name));
    }

    fn rename(
        &self,
        _request: &Request,
        parent: INodeNo,
        name: &OsStr,
        new_parent: INodeNo,
        new_name: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        if flags.contains(RenameFlags::RENAME_EXCHANGE) {
            reply.error(Errno::EINVAL);
            return;
        }
        let no_replace = flags.contains(RenameFlags::RENAME_NOREPLACE);
        reply_empty(reply, self.volume().rename(parent.0, name, new_parent.0, new_name, no_replace));
    }

    fn open(&self, _request: &Request, inode: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let mut volume = self.volume();
        let result = (|| {
            if volume.attributes(inode.0)?.kind == Kind::Directory && flags.0 & libc::O_ACCMODE != libc::O_RDONLY {
                return Err(Errno::EISDIR);
            }
            // The kernel truncates with a setattr unless asked to pass O_TRUNC; honour it either way.
            if flags.0 & libc::O_TRUNC != 0 && flags.0 & libc::O_ACCMODE != libc::O_RDONLY {
                volume.set_len(inode.0, 0)?;
            }
            volume.open(inode.0)
        })();
        match result {
            Ok(handle) => reply.opened(FileHandle(handle), FopenFlags::FOPEN_DIRECT_IO),
            Err(errno) => reply.error(errno),
        }
    }

    fn create(
        &self,
        _request: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let mut volume = self.volume();
        let result = (|| {
            let attributes = match volume.lookup(parent.0, name) {
                Ok(_) if flags & libc::O_EXCL != 0 => return Err(Errno::EEXIST),
                Ok(existing) if existing.kind == Kind::Directory => return Err(Errno::EISDIR),
                Ok(existing) => {
                    if flags & libc::O_TRUNC != 0 {
                        volume.set_len(existing.inode, 0)?;
                    }
                    volume.attributes(existing.inode)?
                }
                Err(_) => volume.create_file(parent.0, name, perm_of(mode, umask))?,
            };
            let handle = volume.open(attributes.inode)?;
            Ok((attributes, handle))
        })();
        match result {
            Ok((attributes, handle)) => reply.created(
                &TTL,
                &file_attr(&attributes),
                Generation(0),
                FileHandle(handle),
                FopenFlags::FOPEN_DIRECT_IO,
            ),
            Err(errno) => reply.error(errno),
        }
    }

    fn read(
        &self,
        _request: &Request,
        inode: INodeNo,
        _handle: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match self.volume().read(inode.0, offset, u64::from(size)) {
            Ok(bytes) => reply.data(&bytes),
            Err(errno) => reply.error(errno),
        }
    }

    fn write(
        &self,
        _request: &Request,
        inode: INodeNo,
        _handle: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let append = flags.0 & libc::O_APPEND != 0;
        match self.volume().write(inode.0, offset, data, append) {
            Ok(written) => reply.written(written),
            Err(errno) => reply.error(errno),
        }
    }

    fn flush(&self, _request: &Request, _inode: INodeNo, _handle: FileHandle, _owner: LockOwner, reply: ReplyEmpty) {
        // close() is not a sync: nothing becomes durable here.
        reply.ok();
    }

    fn release(
        &self,
        _request: &Request,
        _inode: INodeNo,
        handle: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.volume().release(handle.0);
        reply.ok();
    }

    fn fsync(&self, _request: &Request, inode: INodeNo, _handle: FileHandle, _datasync: bool, reply: ReplyEmpty) {
        let mut volume = self.volume();
        if volume.has_unsynced_writes(inode.0) {
            let mut held = lock_held(&self.held);
            if held.armed {
                held.replies.push(reply);
                return;
            }
        }
        reply_empty(reply, volume.sync_file(inode.0));
    }

    fn opendir(&self, _request: &Request, inode: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let mut volume = self.volume();
        let result = volume.list(inode.0).and_then(|_| volume.open(inode.0));
        match result {
            Ok(handle) => reply.opened(FileHandle(handle), FopenFlags::empty()),
            Err(errno) => reply.error(errno),
        }
    }

    fn readdir(&self, _request: &Request, inode: INodeNo, _handle: FileHandle, offset: u64, mut reply: ReplyDirectory) {
        let listing = match self.volume().list(inode.0) {
            Ok(listing) => listing,
            Err(errno) => {
                reply.error(errno);
                return;
            }
        };
        // Offsets are positions in the name-ordered listing; an entry added or removed between
        // two calls may be seen twice or missed, as readdir allows.
        for (index, (child, kind, name)) in listing.into_iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(child), index as u64 + 1, file_type(kind), name) {
                break;
            }
        }
        reply.ok();
    }

    fn releasedir(
        &self,
        _request: &Request,
        _inode: INodeNo,
        handle: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.volume().release(handle.0);
        reply.ok();
    }

    fn fsyncdir(&self, _request: &Request, inode: INodeNo, _handle: FileHandle, _datasync: bool, reply: ReplyEmpty) {
        reply_empty(reply, self.volume().sync_directory(inode.0));
    }

    fn statfs(&self, _request: &Request, _inode: INodeNo, reply: ReplyStatfs) {
        let stats = self.volume().stats();
        let used_blocks = stats.resident_bytes / u64::from(BLOCK_BYTES);
        let free_blocks = BLOCKS_TOTAL.saturating_sub(used_blocks);
        reply.statfs(
            BLOCKS_TOTAL,
            free_blocks,
            free_blocks,
            FILES_TOTAL,
            FILES_TOTAL,
            BLOCK_BYTES,
            NAME_BYTES_MAX,
            BLOCK_BYTES,
        );
    }

    fn access(&self, _request: &Request, inode: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        // Root is the only user of these mounts: existence is the only check.
        reply_empty(reply, self.volume().attributes(inode.0).map(|_| ()));
    }

    fn fallocate(
        &self,
        _request: &Request,
        inode: INodeNo,
        _handle: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        // Plain allocation only: it grows the file like a write of zeros would.
        if mode != 0 {
            reply.error(Errno::EOPNOTSUPP);
            return;
        }
        let mut volume = self.volume();
        let result = (|| {
            let end = offset.checked_add(length).ok_or(Errno::EFBIG)?;
            if end > volume.attributes(inode.0)?.size {
                volume.set_len(inode.0, end)?;
            }
            Ok(())
        })();
        reply_empty(reply, result);
    }
}
