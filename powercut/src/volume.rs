//! The volume: the filesystem as processes see it (in memory) and as a power cut would leave
//! it (the durable state, mirrored in the backing directory). No FUSE here: every request is a
//! method that returns an errno, so the semantics are unit-tested without a mount.
//!
//! What is durable, and when:
//! - a file's bytes and length: at `fsync`/`fdatasync` of that file (the pages written since
//!   its last sync are copied, nothing else);
//! - a directory's entries (create, mkdir, unlink, rmdir, rename in or out of it): at `fsync`
//!   of that directory. A new file whose directory was never synced is gone after a cut, even
//!   if its own data was synced; a rename whose directories were not synced is undone (or, if
//!   only one of the two was synced, the file is in both or in neither, as a strict disk may).
//! - a new entry made durable before its file's data: the file comes back empty (or with the
//!   data of its last sync).
//!
//! Not modelled: torn or reordered writes within what was not synced (a cut drops all of it,
//! never a part), timestamps, ownership, hard links and symlinks (refused), xattrs, and the
//! kernel's own writeback (nothing becomes durable without a sync).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use fuser::Errno;

use crate::file_data::{FileData, PAGE_BYTES};

/// The inode FUSE calls the root.
pub(crate) const ROOT_INODE: u64 = 1;
/// Longest name in a directory, as on ext4.
const NAME_BYTES_MAX: usize = 255;
/// Paths a cut report names as rolled back, at most (the count is exact).
const REPORTED_PATHS_MAX: usize = 20;

/// What a cut threw away.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CutReport {
    /// Bytes written since their file's last sync (counted per write request, so a page written
    /// twice counts twice).
    pub dropped_write_bytes: u64,
    /// Write requests since their file's last sync.
    pub dropped_writes: u64,
    /// Files that had unsynced writes.
    pub files_with_unsynced_writes: u64,
    /// Paths that named a different inode (or none, or one that is gone) before the cut than
    /// after it: creations, renames and removals whose directory was not synced.
    pub paths_rolled_back: u64,
    /// Some of those paths, relative to the mount.
    pub paths_rolled_back_sample: Vec<PathBuf>,
    /// File syncs that were held (`PowerCutMount::hold_syncs`) and never completed: the cut
    /// struck while they were in flight, and they failed with EIO.
    pub syncs_interrupted: u64,
}

/// Counters since the volume was mounted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub write_bytes: u64,
    pub writes: u64,
    pub file_syncs: u64,
    pub directory_syncs: u64,
    pub cuts: u64,
    /// Bytes written and not yet synced, right now.
    pub unsynced_write_bytes: u64,
    /// Bytes of file pages held in memory (current state only).
    pub resident_bytes: u64,
}

/// What a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    Directory,
}

/// The attributes FUSE needs of an inode.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attributes {
    pub(crate) inode: u64,
    pub(crate) kind: Kind,
    pub(crate) size: u64,
    pub(crate) perm: u16,
    pub(crate) nlink: u32,
    pub(crate) mtime: SystemTime,
    pub(crate) ctime: SystemTime,
}

#[derive(Debug)]
enum Content {
    File {
        data: FileData,
        /// Pages changed since the last sync of this file.
        dirty_pages: BTreeSet<u64>,
        unsynced_write_bytes: u64,
        unsynced_writes: u64,
    },
    Directory {
        entries: BTreeMap<OsString, u64>,
        /// For `..`; the root is its own parent.
        parent: u64,
    },
}

/// An inode as processes see it.
#[derive(Debug)]
struct Node {
    content: Content,
    perm: u16,
    mtime: SystemTime,
    ctime: SystemTime,
    /// Directory entries naming it. One, as there are no hard links, except after a cut that
    /// left a rename half durable (the file in both directories). The root counts one.
    links: u32,
    /// Open file handles: an unlinked file lives until the last is released.
    open_handles: u32,
}

impl Node {
    fn kind(&self) -> Kind {
        match self.content {
            Content::File { .. } => Kind::File,
            Content::Directory { .. } => Kind::Directory,
        }
    }
}

#[derive(Debug, Clone)]
enum DurableContent {
    File(FileData),
    Directory(BTreeMap<OsString, u64>),
}

/// An inode as the last syncs left it on the simulated disk.
#[derive(Debug, Clone)]
struct DurableNode {
    content: DurableContent,
    perm: u16,
}

/// One mounted power-cut filesystem.
#[derive(Debug)]
pub struct Volume {
    /// Holds the durable state: after every sync it equals the durable tree reachable from the
    /// root, so after a cut (and after the process dies) it is exactly what was synced.
    backing: PathBuf,
    /// The current state, which every request reads and writes. Owned here only.
    nodes: HashMap<u64, Node>,
    /// The durable state, by inode. Holds unreachable inodes too while they are alive in the
    /// current state (a file synced before its name): a later directory sync may reach them.
    durable: HashMap<u64, DurableNode>,
    /// Backing-dir path (relative; the root is empty) → the inode whose durable state is
    /// written there, so a directory sync rewrites only what changed.
    on_disk: BTreeMap<PathBuf, u64>,
    /// Open file handle → inode. Cleared by a cut: handles from before it are stale.
    handles: HashMap<u64, u64>,
    next_inode: u64,
    next_handle: u64,
    /// Writes are refused with ENOSPC past this many resident bytes (the current state).
    resident_bytes_max: u64,
    resident_bytes: u64,
    stats: Stats,
}

fn io_errno(error: &io::Error) -> Errno {
    error.raw_os_error().map_or(Errno::EIO, Errno::from_i32)
}

impl Volume {
    /// Loads the backing directory (created if missing) as both the current and the durable
    /// state: what is on the disk at mount time survived every earlier cut.
    pub fn load(backing: &Path, resident_bytes_max: u64) -> io::Result<Volume> {
        std::fs::create_dir_all(backing)?;
        let now = SystemTime::now();
        let mut volume = Volume {
            backing: backing.to_path_buf(),
            nodes: HashMap::new(),
            durable: HashMap::new(),
            on_disk: BTreeMap::new(),
            handles: HashMap::new(),
            next_inode: ROOT_INODE + 1,
            next_handle: 1,
            resident_bytes_max,
            resident_bytes: 0,
            stats: Stats::default(),
        };
        let root = Node {
            content: Content::Directory { entries: BTreeMap::new(), parent: ROOT_INODE },
            perm: 0o755,
            mtime: now,
            ctime: now,
            links: 1,
            open_handles: 0,
        };
        volume.nodes.insert(ROOT_INODE, root);
        volume.load_directory(PathBuf::new(), ROOT_INODE)?;
        volume.rebuild_durable_from_current();
        Ok(volume)
    }

    fn load_directory(&mut self, relative: PathBuf, inode: u64) -> io::Result<()> {
        self.on_disk.insert(relative.clone(), inode);
        for entry in std::fs::read_dir(self.backing.join(&relative))? {
            let entry = entry?;
            let file_type = entry.file_type()?;
            let name = entry.file_name();
            let child_relative = relative.join(&name);
            let now = SystemTime::now();
            let child = self.next_inode;
            let content = if file_type.is_dir() {
                Content::Directory { entries: BTreeMap::new(), parent: inode }
            } else if file_type.is_file() {
                let bytes = std::fs::read(entry.path())?;
                let mut data = FileData::default();
                let mut touched = BTreeSet::new();
                for (index, chunk) in bytes.chunks(PAGE_BYTES as usize).enumerate() {
                    // All-zero pages stay holes: a preallocated journal costs nothing.
                    if chunk.iter().any(|&byte| byte != 0) {
                        data.write(index as u64 * PAGE_BYTES, chunk, &mut touched);
                    }
                }
                data.truncate(bytes.len() as u64, &mut touched);
                self.resident_bytes += data.resident_bytes();
                Content::File { data, dirty_pages: BTreeSet::new(), unsynced_write_bytes: 0, unsynced_writes: 0 }
            } else {
                tracing::warn!(path = %entry.path().display(), "not a file or directory: left out of the volume");
                continue;
            };
            self.next_inode += 1;
            let perm = std::os::unix::fs::PermissionsExt::mode(&entry.metadata()?.permissions()) as u16 & 0o7777;
            let node = Node { content, perm, mtime: now, ctime: now, links: 1, open_handles: 0 };
            self.nodes.insert(child, node);
            if let Some(Node { content: Content::Directory { entries, .. }, .. }) = self.nodes.get_mut(&inode) {
                entries.insert(name, child);
            }
            if file_type.is_dir() {
                self.load_directory(child_relative, child)?;
            } else {
                self.on_disk.insert(child_relative, child);
            }
        }
        Ok(())
    }

    /// Makes the durable state equal the current one (at load, where both are the disk).
    fn rebuild_durable_from_current(&mut self) {
        self.durable = self
            .nodes
            .iter()
            .map(|(&inode, node)| {
                let content = match &node.content {
                    Content::File { data, .. } => DurableContent::File(data.clone()),
                    Content::Directory { entries, .. } => DurableContent::Directory(entries.clone()),
                };
                (inode, DurableNode { content, perm: node.perm })
            })
            .collect();
    }

    pub fn stats(&self) -> Stats {
        let unsynced_write_bytes = self
            .nodes
            .values()
            .map(|node| match node.content {
                Content::File { unsynced_write_bytes, .. } => unsynced_write_bytes,
                Content::Directory { .. } => 0,
            })
            .sum();
        Stats { unsynced_write_bytes, resident_bytes: self.resident_bytes, ..self.stats }
    }

    fn node(&self, inode: u64) -> Result<&Node, Errno> {
        self.nodes.get(&inode).ok_or(Errno::ENOENT)
    }

    fn entries(&self, inode: u64) -> Result<&BTreeMap<OsString, u64>, Errno> {
        match &self.node(inode)?.content {
            Content::Directory { entries, .. } => Ok(entries),
            Content::File { .. } => Err(Errno::ENOTDIR),
        }
    }

    fn entries_mut(&mut self, inode: u64) -> Result<&mut BTreeMap<OsString, u64>, Errno> {
        match &mut self.nodes.get_mut(&inode).ok_or(Errno::ENOENT)?.content {
            Content::Directory { entries, .. } => Ok(entries),
            Content::File { .. } => Err(Errno::ENOTDIR),
        }
    }

    pub(crate) fn attributes(&self, inode: u64) -> Result<Attributes, Errno> {
        let node = self.node(inode)?;
        let (size, nlink) = match &node.content {
            Content::File { data, .. } => (data.len, node.links),
            Content::Directory { entries, .. } => (entries.len() as u64, 2),
        };
        Ok(Attributes { inode, kind: node.kind(), size, perm: node.perm, nlink, mtime: node.mtime, ctime: node.ctime })
    }

    pub(crate) fn lookup(&self, parent: u64, name: &OsStr) -> Result<Attributes, Errno> {
        let child = *self.entries(parent)?.get(name).ok_or(Errno::ENOENT)?;
        self.attributes(child)
    }

    fn check_new_name(&self, parent: u64, name: &OsStr) -> Result<(), Errno> {
        if name.len() > NAME_BYTES_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        if name.is_empty() || name == "." || name == ".." || name.as_encoded_bytes().contains(&b'/') {
            return Err(Errno::EINVAL);
        }
        if self.entries(parent)?.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        Ok(())
    }

    fn add_child(&mut self, parent: u64, name: &OsStr, content: Content, perm: u16) -> Result<Attributes, Errno> {
        self.check_new_name(parent, name)?;
        let inode = self.next_inode;
        self.next_inode += 1;
        let now = SystemTime::now();
        self.nodes
            .insert(inode, Node { content, perm: perm & 0o7777, mtime: now, ctime: now, links: 1, open_handles: 0 });
        self.entries_mut(parent)?.insert(name.to_os_string(), inode);
        self.touch_directory(parent);
        self.attributes(inode)
    }

    fn touch_directory(&mut self, inode: u64) {
        if let Some(node) = self.nodes.get_mut(&inode) {
            let now = SystemTime::now();
            node.mtime = now;
            node.ctime = now;
        }
    }

    pub(crate) fn create_file(&mut self, parent: u64, name: &OsStr, perm: u16) -> Result<Attributes, Errno> {
        let content = Content::File {
            data: FileData::default(),
            dirty_pages: BTreeSet::new(),
            unsynced_write_bytes: 0,
            unsynced_writes: 0,
        };
        self.add_child(parent, name, content, perm)
    }

    pub(crate) fn make_directory(&mut self, parent: u64, name: &OsStr, perm: u16) -> Result<Attributes, Errno> {
        self.add_child(parent, name, Content::Directory { entries: BTreeMap::new(), parent }, perm)
    }

    /// Drops an inode that no entry names and no handle holds.
    fn collect(&mut self, inode: u64) {
        let unused = self.nodes.get(&inode).is_some_and(|node| node.links == 0 && node.open_handles == 0);
        // Removed whatever its kind; only a file gives back resident bytes.
        if unused
            && let Some(node) = self.nodes.remove(&inode)
            && let Content::File { data, .. } = &node.content
        {
            self.resident_bytes = self.resident_bytes.saturating_sub(data.resident_bytes());
        }
    }

    fn unlink_entry(&mut self, parent: u64, name: &OsStr) -> Result<(), Errno> {
        let child = self.entries_mut(parent)?.remove(name).ok_or(Errno::ENOENT)?;
        self.touch_directory(parent);
        if let Some(node) = self.nodes.get_mut(&child) {
            node.links = node.links.saturating_sub(1);
            node.ctime = SystemTime::now();
        }
        self.collect(child);
        Ok(())
    }

    pub(crate) fn unlink(&mut self, parent: u64, name: &OsStr) -> Result<(), Errno> {
        if self.lookup(parent, name)?.kind == Kind::Directory {
            return Err(Errno::EISDIR);
        }
        self.unlink_entry(parent, name)
    }

    pub(crate) fn remove_directory(&mut self, parent: u64, name: &OsStr) -> Result<(), Errno> {
        let child = self.lookup(parent, name)?;
        if child.kind != Kind::Directory {
            return Err(Errno::ENOTDIR);
        }
        if !self.entries(child.inode)?.is_empty() {
            return Err(Errno::ENOTEMPTY);
        }
        self.unlink_entry(parent, name)
    }

    pub(crate) fn rename(
        &mut self,
        parent: u64,
        name: &OsStr,
        new_parent: u64,
        new_name: &OsStr,
        no_replace: bool,
    ) -> Result<(), Errno> {
        let source = self.lookup(parent, name)?;
        self.entries(new_parent)?;
        if new_name.len() > NAME_BYTES_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        if source.kind == Kind::Directory {
            // A directory cannot move into itself or below itself.
            let mut ancestor = new_parent;
            loop {
                if ancestor == source.inode {
                    return Err(Errno::EINVAL);
                }
                match self.node(ancestor)?.content {
                    Content::Directory { parent, .. } if ancestor != ROOT_INODE => ancestor = parent,
                    _ => break,
                }
            }
        }
        if let Some(&target) = self.entries(new_parent)?.get(new_name) {
            if target == source.inode {
                return Ok(());
            }
            if no_replace {
                return Err(Errno::EEXIST);
            }
            let target_kind = self.node(target)?.kind();
            match (source.kind, target_kind) {
                (Kind::Directory, Kind::File) => return Err(Errno::ENOTDIR),
                (Kind::File, Kind::Directory) => return Err(Errno::EISDIR),
                (Kind::Directory, Kind::Directory) if !self.entries(target)?.is_empty() => {
                    return Err(Errno::ENOTEMPTY);
                }
                _ => {}
            }
            self.unlink_entry(new_parent, new_name)?;
        }
        self.entries_mut(parent)?.remove(name);
        self.entries_mut(new_parent)?.insert(new_name.to_os_string(), source.inode);
        self.touch_directory(parent);
        self.touch_directory(new_parent);
        if let Some(node) = self.nodes.get_mut(&source.inode) {
            node.ctime = SystemTime::now();
            if let Content::Directory { parent, .. } = &mut node.content {
                *parent = new_parent;
            }
        }
        Ok(())
    }

    /// A new handle on an inode (file or directory).
    pub(crate) fn open(&mut self, inode: u64) -> Result<u64, Errno> {
        let node = self.nodes.get_mut(&inode).ok_or(Errno::ENOENT)?;
        node.open_handles += 1;
        let handle = self.next_handle;
        self.next_handle += 1;
        self.handles.insert(handle, inode);
        Ok(handle)
    }

    /// Releases a handle; one from before a cut is already gone, which is fine.
    pub(crate) fn release(&mut self, handle: u64) {
        if let Some(inode) = self.handles.remove(&handle) {
            if let Some(node) = self.nodes.get_mut(&inode) {
                node.open_handles = node.open_handles.saturating_sub(1);
            }
            self.collect(inode);
        }
    }

    fn file_mut(&mut self, inode: u64) -> Result<&mut Node, Errno> {
        let node = self.nodes.get_mut(&inode).ok_or(Errno::ENOENT)?;
        match node.content {
            Content::File { .. } => Ok(node),
            Content::Directory { .. } => Err(Errno::EISDIR),
        }
    }

    /// Whether a file has writes (or a length change) its last sync did not cover.
    pub(crate) fn has_unsynced_writes(&self, inode: u64) -> bool {
        matches!(self.nodes.get(&inode), Some(Node { content: Content::File { unsynced_writes, .. }, .. }) if *unsynced_writes > 0)
    }

    pub(crate) fn read(&self, inode: u64, offset: u64, size: u64) -> Result<Vec<u8>, Errno> {
        match &self.node(inode)?.content {
            Content::File { data, .. } => Ok(data.read(offset, size)),
            Content::Directory { .. } => Err(Errno::EISDIR),
        }
    }

    /// Writes at `offset` (at the end with `append`); returns the bytes written.
    pub(crate) fn write(&mut self, inode: u64, offset: u64, bytes: &[u8], append: bool) -> Result<u32, Errno> {
        let written = u32::try_from(bytes.len()).map_err(|_| Errno::EINVAL)?;
        let resident_bytes = self.resident_bytes;
        let resident_bytes_max = self.resident_bytes_max;
        let node = self.file_mut(inode)?;
        let Content::File { data, dirty_pages, unsynced_write_bytes, unsynced_writes } = &mut node.content else {
            return Err(Errno::EISDIR);
        };
        let offset = if append { data.len } else { offset };
        offset.checked_add(bytes.len() as u64).ok_or(Errno::EFBIG)?;
        let before = data.resident_bytes();
        // Bounded before writing: at most one page per PAGE_BYTES written, plus one.
        if resident_bytes + bytes.len() as u64 + 2 * PAGE_BYTES > resident_bytes_max {
            return Err(Errno::ENOSPC);
        }
        data.write(offset, bytes, dirty_pages);
        *unsynced_write_bytes += bytes.len() as u64;
        *unsynced_writes += 1;
        let after = data.resident_bytes();
        let now = SystemTime::now();
        node.mtime = now;
        node.ctime = now;
        self.resident_bytes = self.resident_bytes + after - before;
        self.stats.write_bytes += bytes.len() as u64;
        self.stats.writes += 1;
        Ok(written)
    }

    pub(crate) fn set_len(&mut self, inode: u64, len: u64) -> Result<(), Errno> {
        let node = self.file_mut(inode)?;
        let Content::File { data, dirty_pages, unsynced_writes, .. } = &mut node.content else {
            return Err(Errno::EISDIR);
        };
        let before = data.resident_bytes();
        if len != data.len {
            data.truncate(len, dirty_pages);
            // A length change is a write: the cut drops it too.
            *unsynced_writes += 1;
        }
        let after = data.resident_bytes();
        let now = SystemTime::now();
        node.mtime = now;
        node.ctime = now;
        self.resident_bytes = (self.resident_bytes + after).saturating_sub(before);
        Ok(())
    }

    pub(crate) fn set_perm(&mut self, inode: u64, perm: u16) -> Result<(), Errno> {
        let node = self.nodes.get_mut(&inode).ok_or(Errno::ENOENT)?;
        node.perm = perm & 0o7777;
        node.ctime = SystemTime::now();
        Ok(())
    }

    pub(crate) fn set_mtime(&mut self, inode: u64, mtime: SystemTime) -> Result<(), Errno> {
        let node = self.nodes.get_mut(&inode).ok_or(Errno::ENOENT)?;
        node.mtime = mtime;
        Ok(())
    }

    /// `.`, `..` and the entries, in name order.
    pub(crate) fn list(&self, inode: u64) -> Result<Vec<(u64, Kind, OsString)>, Errno> {
        let Content::Directory { entries, parent } = &self.node(inode)?.content else {
            return Err(Errno::ENOTDIR);
        };
        let mut listing = vec![(inode, Kind::Directory, OsString::from(".")), (*parent, Kind::Directory, "..".into())];
        for (name, &child) in entries {
            let kind = self.node(child).map_or(Kind::File, Node::kind);
            listing.push((child, kind, name.clone()));
        }
        Ok(listing)
    }

    /// `fsync`/`fdatasync` of a file: its bytes and length become durable (a directory's
    /// entries, for a directory).
    pub(crate) fn sync_file(&mut self, inode: u64) -> Result<(), Errno> {
        let node = self.nodes.get_mut(&inode).ok_or(Errno::ENOENT)?;
        let perm = node.perm;
        let Content::File { data, dirty_pages, unsynced_write_bytes, unsynced_writes } = &mut node.content else {
            return self.sync_directory(inode);
        };
        let durable = self
            .durable
            .entry(inode)
            .or_insert_with(|| DurableNode { content: DurableContent::File(FileData::default()), perm });
        durable.perm = perm;
        let DurableContent::File(durable_data) = &mut durable.content else {
            // An inode never changes kind; a directory here would be a bug in this volume.
            return Err(Errno::EIO);
        };
        durable_data.absorb(data, dirty_pages);
        let dirty = std::mem::take(dirty_pages);
        *unsynced_write_bytes = 0;
        *unsynced_writes = 0;
        self.stats.file_syncs += 1;
        let paths: Vec<PathBuf> =
            self.on_disk.iter().filter(|&(_, &on)| on == inode).map(|(path, _)| path.clone()).collect();
        let Some(DurableNode { content: DurableContent::File(durable_data), .. }) = self.durable.get(&inode) else {
            return Err(Errno::EIO);
        };
        for path in paths {
            write_pages(&self.backing.join(path), durable_data, &dirty).map_err(|error| io_errno(&error))?;
        }
        Ok(())
    }

    /// `fsync` of a directory: its entries become durable, as they are now.
    pub(crate) fn sync_directory(&mut self, inode: u64) -> Result<(), Errno> {
        let node = self.node(inode)?;
        let perm = node.perm;
        let Content::Directory { entries, .. } = &node.content else {
            return self.sync_file(inode);
        };
        let entries = entries.clone();
        for &child in entries.values() {
            if self.durable.contains_key(&child) {
                continue;
            }
            // Named on disk before anything of it was synced: an empty file or directory.
            let child_node = self.node(child)?;
            let content = match child_node.kind() {
                Kind::File => DurableContent::File(FileData::default()),
                Kind::Directory => DurableContent::Directory(BTreeMap::new()),
            };
            self.durable.insert(child, DurableNode { content, perm: child_node.perm });
        }
        self.durable.insert(inode, DurableNode { content: DurableContent::Directory(entries), perm });
        self.stats.directory_syncs += 1;
        let paths: Vec<PathBuf> =
            self.on_disk.iter().filter(|&(_, &on)| on == inode).map(|(path, _)| path.clone()).collect();
        for path in paths {
            self.reconcile(&path, inode).map_err(|error| io_errno(&error))?;
        }
        self.collect_durable();
        Ok(())
    }

    /// Makes the backing directory at `relative` hold exactly the durable entries of `inode`.
    fn reconcile(&mut self, relative: &Path, inode: u64) -> io::Result<()> {
        let Some(DurableNode { content: DurableContent::Directory(entries), .. }) = self.durable.get(&inode) else {
            return Ok(());
        };
        let entries = entries.clone();
        for entry in std::fs::read_dir(self.backing.join(relative))? {
            let name = entry?.file_name();
            if !entries.contains_key(&name) {
                self.remove_on_disk(&relative.join(&name))?;
            }
        }
        for (name, child) in entries {
            let child_relative = relative.join(&name);
            if self.on_disk.get(&child_relative) == Some(&child) {
                continue;
            }
            self.remove_on_disk(&child_relative)?;
            self.materialize(&child_relative, child)?;
        }
        Ok(())
    }

    fn remove_on_disk(&mut self, relative: &Path) -> io::Result<()> {
        let path = self.backing.join(relative);
        let removed = match std::fs::symlink_metadata(&path) {
            Ok(metadata) if metadata.is_dir() => std::fs::remove_dir_all(&path),
            Ok(_) => std::fs::remove_file(&path),
            Err(error) => Err(error),
        };
        match removed {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
        let below: Vec<PathBuf> = self.on_disk.keys().filter(|key| key.starts_with(relative)).cloned().collect();
        for key in below {
            self.on_disk.remove(&key);
        }
        Ok(())
    }

    /// Writes the durable state of `inode` (a whole subtree for a directory) at `relative`.
    fn materialize(&mut self, relative: &Path, inode: u64) -> io::Result<()> {
        let Some(durable) = self.durable.get(&inode) else {
            return Ok(());
        };
        let path = self.backing.join(relative);
        match durable.content.clone() {
            DurableContent::File(data) => {
                std::fs::File::create(&path)?;
                let every_page: BTreeSet<u64> = data.pages.keys().copied().collect();
                write_pages(&path, &data, &every_page)?;
            }
            DurableContent::Directory(entries) => {
                std::fs::create_dir(&path)?;
                for (name, child) in entries {
                    self.materialize(&relative.join(name), child)?;
                }
            }
        }
        self.on_disk.insert(relative.to_path_buf(), inode);
        Ok(())
    }

    /// Inodes reachable from the root through durable entries, with their paths.
    fn durable_paths(&self) -> BTreeMap<PathBuf, u64> {
        let mut paths = BTreeMap::new();
        let mut pending = vec![(PathBuf::new(), ROOT_INODE)];
        while let Some((path, inode)) = pending.pop() {
            if let Some(DurableNode { content: DurableContent::Directory(entries), .. }) = self.durable.get(&inode) {
                for (name, &child) in entries {
                    if self.durable.contains_key(&child) {
                        pending.push((path.join(name), child));
                    }
                }
            }
            paths.insert(path, inode);
        }
        paths
    }

    fn current_paths(&self) -> BTreeMap<PathBuf, u64> {
        let mut paths = BTreeMap::new();
        let mut pending = vec![(PathBuf::new(), ROOT_INODE)];
        while let Some((path, inode)) = pending.pop() {
            if let Some(Node { content: Content::Directory { entries, .. }, .. }) = self.nodes.get(&inode) {
                for (name, &child) in entries {
                    pending.push((path.join(name), child));
                }
            }
            paths.insert(path, inode);
        }
        paths
    }

    /// Forgets durable inodes that no durable path reaches and no live inode can make reachable.
    fn collect_durable(&mut self) {
        let reachable: BTreeSet<u64> = self.durable_paths().into_values().collect();
        self.durable.retain(|inode, _| reachable.contains(inode) || self.nodes.contains_key(inode));
    }

    /// The power cut: everything not synced is gone, and the current state becomes the durable
    /// one. Handles from before are stale. The backing directory already holds the durable
    /// state, so it is not touched.
    pub fn cut(&mut self) -> CutReport {
        let mut report = CutReport::default();
        for node in self.nodes.values() {
            if let Content::File { unsynced_write_bytes, unsynced_writes, .. } = node.content
                && unsynced_writes > 0
            {
                report.dropped_write_bytes += unsynced_write_bytes;
                report.dropped_writes += unsynced_writes;
                report.files_with_unsynced_writes += 1;
            }
        }
        let before = self.current_paths();
        let after = self.durable_paths();
        let changed: BTreeSet<&PathBuf> = before
            .iter()
            .filter(|(path, inode)| after.get(*path) != Some(inode))
            .chain(after.iter().filter(|(path, inode)| before.get(*path) != Some(inode)))
            .map(|(path, _)| path)
            .collect();
        report.paths_rolled_back = changed.len() as u64;
        report.paths_rolled_back_sample = changed.into_iter().take(REPORTED_PATHS_MAX).cloned().collect();

        let now = SystemTime::now();
        let mut nodes = HashMap::new();
        let mut resident_bytes = 0;
        let parents: HashMap<u64, u64> = self
            .durable
            .iter()
            .filter_map(|(&inode, node)| match &node.content {
                DurableContent::Directory(entries) => Some(entries.values().map(move |&child| (child, inode))),
                DurableContent::File(_) => None,
            })
            .flatten()
            .collect();
        // An inode two durable paths reach (a rename synced in one directory only) has two links.
        let mut links: BTreeMap<u64, u32> = BTreeMap::new();
        for &inode in after.values() {
            *links.entry(inode).or_default() += 1;
        }
        for (&inode, &link_count) in &links {
            let Some(durable) = self.durable.get(&inode) else { continue };
            let content = match &durable.content {
                DurableContent::File(data) => {
                    resident_bytes += data.resident_bytes();
                    Content::File {
                        data: data.clone(),
                        dirty_pages: BTreeSet::new(),
                        unsynced_write_bytes: 0,
                        unsynced_writes: 0,
                    }
                }
                DurableContent::Directory(entries) => Content::Directory {
                    entries: entries
                        .iter()
                        .filter(|&(_, child)| self.durable.contains_key(child))
                        .map(|(name, &child)| (name.clone(), child))
                        .collect(),
                    parent: if inode == ROOT_INODE {
                        ROOT_INODE
                    } else {
                        parents.get(&inode).copied().unwrap_or(ROOT_INODE)
                    },
                },
            };
            nodes.insert(
                inode,
                Node { content, perm: durable.perm, mtime: now, ctime: now, links: link_count, open_handles: 0 },
            );
        }
        self.nodes = nodes;
        self.handles.clear();
        self.resident_bytes = resident_bytes;
        self.collect_durable();
        self.stats.cuts += 1;
        report
    }

    /// Syncs every file and directory (a clean unmount: the kernel writes everything back).
    pub fn sync_everything(&mut self) -> Result<(), Errno> {
        let paths = self.current_paths();
        // Directories from the root down, so each is on disk before its entries are written.
        for &inode in paths.values() {
            if self.node(inode)?.kind() == Kind::Directory {
                self.sync_directory(inode)?;
            }
        }
        let files: Vec<u64> =
            self.nodes.iter().filter(|(_, node)| node.kind() == Kind::File).map(|(&inode, _)| inode).collect();
        for inode in files {
            self.sync_file(inode)?;
        }
        Ok(())
    }
}

/// Writes the given pages of `data` (trimmed to its length) into the file at `path` and sets
/// its length.
fn write_pages(path: &Path, data: &FileData, pages: &BTreeSet<u64>) -> io::Result<()> {
    let file = std::fs::OpenOptions::new().write(true).create(true).truncate(false).open(path)?;
    file.set_len(data.len)?;
    for &index in pages {
        let start = index * PAGE_BYTES;
        if start >= data.len {
            continue;
        }
        let bytes = data.read(start, PAGE_BYTES);
        file.write_all_at(&bytes, start)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volume() -> (tempfile::TempDir, Volume) {
        let backing = tempfile::tempdir().expect("temp dir");
        let volume = Volume::load(backing.path(), 1 << 30).expect("load");
        (backing, volume)
    }

    fn name(text: &str) -> &OsStr {
        OsStr::new(text)
    }

    #[test]
    fn a_rename_synced_in_one_directory_only_leaves_the_file_in_both_and_each_name_works() {
        let (_backing, mut volume) = volume();
        let a = volume.make_directory(ROOT_INODE, name("a"), 0o755).expect("mkdir a").inode;
        let b = volume.make_directory(ROOT_INODE, name("b"), 0o755).expect("mkdir b").inode;
        let file = volume.create_file(a, name("f"), 0o644).expect("create").inode;
        volume.write(file, 0, b"data", false).expect("write");
        volume.sync_file(file).expect("fsync f");
        for directory in [a, b, ROOT_INODE] {
            volume.sync_directory(directory).expect("fsync dir");
        }
        volume.rename(a, name("f"), b, name("g"), false).expect("rename");
        volume.sync_directory(b).expect("fsync b");
        let report = volume.cut();
        assert_eq!(report.paths_rolled_back, 1, "{report:?}");
        assert_eq!(volume.lookup(a, name("f")).expect("still in a").nlink, 2);
        volume.unlink(a, name("f")).expect("unlink the old name");
        assert_eq!(volume.read(volume.lookup(b, name("g")).expect("in b").inode, 0, 10).expect("read"), b"data");
    }

    #[test]
    fn a_cut_keeps_an_unlinked_file_only_if_the_unlink_was_not_synced() {
        let (backing, mut volume) = volume();
        let file = volume.create_file(ROOT_INODE, name("f"), 0o644).expect("create").inode;
        volume.sync_directory(ROOT_INODE).expect("fsync root");
        assert!(backing.path().join("f").exists());
        volume.unlink(ROOT_INODE, name("f")).expect("unlink");
        volume.cut();
        assert_eq!(volume.lookup(ROOT_INODE, name("f")).expect("back after the cut").inode, file);
        volume.unlink(ROOT_INODE, name("f")).expect("unlink");
        volume.sync_directory(ROOT_INODE).expect("fsync root");
        assert!(!backing.path().join("f").exists());
        volume.cut();
        assert_eq!(volume.lookup(ROOT_INODE, name("f")).map(|found| found.inode), Err(Errno::ENOENT));
    }

    #[test]
    fn writes_past_the_memory_limit_fail_with_no_space() {
        let backing = tempfile::tempdir().expect("temp dir");
        let mut volume = Volume::load(backing.path(), 4 * PAGE_BYTES).expect("load");
        let file = volume.create_file(ROOT_INODE, name("f"), 0o644).expect("create").inode;
        assert_eq!(volume.write(file, 0, &[1u8; 4_096], false), Ok(4_096));
        assert_eq!(volume.write(file, 4_096, &[1u8; 8_192], false), Err(Errno::ENOSPC));
    }
}
