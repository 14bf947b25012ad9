//! File contents as sparse pages: a 64 MiB preallocated fjall journal costs only the pages that
//! were written, and a sync copies only the pages a write touched.

use std::collections::{BTreeMap, BTreeSet};

/// Granularity of sparse storage and of dirty tracking.
pub(crate) const PAGE_BYTES: u64 = 4_096;

/// The bytes of one file: `len` bytes, of which pages absent from `pages` read as zeros.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FileData {
    pub(crate) len: u64,
    /// Page index → exactly `PAGE_BYTES` bytes. Bytes past `len` in the last page are zero
    /// (truncation zeroes them), so growing the file again reads zeros there.
    pub(crate) pages: BTreeMap<u64, Box<[u8]>>,
}

impl FileData {
    /// Up to `size` bytes from `offset`, fewer at the end of the file.
    pub(crate) fn read(&self, offset: u64, size: u64) -> Vec<u8> {
        let end = self.len.min(offset.saturating_add(size));
        if offset >= end {
            return Vec::new();
        }
        let mut out = vec![0u8; (end - offset) as usize];
        let first_page = offset / PAGE_BYTES;
        let last_page = (end - 1) / PAGE_BYTES;
        for (&index, page) in self.pages.range(first_page..=last_page) {
            let page_start = index * PAGE_BYTES;
            let from = offset.max(page_start);
            let to = end.min(page_start + PAGE_BYTES);
            let source = &page[(from - page_start) as usize..(to - page_start) as usize];
            out[(from - offset) as usize..(to - offset) as usize].copy_from_slice(source);
        }
        out
    }

    /// Writes `data` at `offset`, growing the file if needed; adds the touched pages to `dirty`.
    pub(crate) fn write(&mut self, offset: u64, data: &[u8], dirty: &mut BTreeSet<u64>) {
        let mut position = offset;
        let mut rest = data;
        while !rest.is_empty() {
            let index = position / PAGE_BYTES;
            let within = (position % PAGE_BYTES) as usize;
            let take = rest.len().min(PAGE_BYTES as usize - within);
            let page = self.pages.entry(index).or_insert_with(|| vec![0u8; PAGE_BYTES as usize].into_boxed_slice());
            page[within..within + take].copy_from_slice(&rest[..take]);
            dirty.insert(index);
            position += take as u64;
            rest = &rest[take..];
        }
        self.len = self.len.max(offset.saturating_add(data.len() as u64));
    }

    /// Sets the length; pages past it are dropped and the tail of the last page zeroed, so that
    /// growing again reads zeros. The page holding the new end is marked dirty.
    pub(crate) fn truncate(&mut self, len: u64, dirty: &mut BTreeSet<u64>) {
        if len < self.len {
            let keep_pages = len.div_ceil(PAGE_BYTES);
            let dropped: Vec<u64> = self.pages.range(keep_pages..).map(|(&index, _)| index).collect();
            for index in dropped {
                self.pages.remove(&index);
                dirty.insert(index);
            }
            let within = (len % PAGE_BYTES) as usize;
            if within != 0
                && let Some(page) = self.pages.get_mut(&(len / PAGE_BYTES))
            {
                page[within..].fill(0);
                dirty.insert(len / PAGE_BYTES);
            }
        }
        self.len = len;
    }

    /// Bytes held in memory (written pages), for statistics.
    pub(crate) fn resident_bytes(&self) -> u64 {
        self.pages.len() as u64 * PAGE_BYTES
    }

    /// Makes this copy equal to `current` on the pages in `dirty` and in length (the sync of
    /// a file: only what was touched since the last sync is copied).
    pub(crate) fn absorb(&mut self, current: &FileData, dirty: &BTreeSet<u64>) {
        for &index in dirty {
            match current.pages.get(&index) {
                Some(page) => {
                    self.pages.insert(index, page.clone());
                }
                None => {
                    self.pages.remove(&index);
                }
            }
        }
        self.len = current.len;
        // Pages past the end can linger when the file shrank before its pages were ever
        // dirtied here (a durable copy loaded from disk); they must not come back on growth.
        let keep_pages = self.len.div_ceil(PAGE_BYTES);
        let stale: Vec<u64> = self.pages.range(keep_pages..).map(|(&index, _)| index).collect();
        for index in stale {
            self.pages.remove(&index);
        }
        let within = (self.len % PAGE_BYTES) as usize;
        if within != 0
            && let Some(page) = self.pages.get_mut(&(self.len / PAGE_BYTES))
        {
            page[within..].fill(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_writes_across_pages_and_zeros_in_holes() {
        let mut data = FileData::default();
        let mut dirty = BTreeSet::new();
        data.write(4_090, b"0123456789", &mut dirty);
        assert_eq!(dirty, BTreeSet::from([0, 1]));
        assert_eq!(data.len, 4_100);
        assert_eq!(data.read(4_088, 100), b"\0\x000123456789".to_vec());
        data.write(3 * PAGE_BYTES, b"x", &mut dirty);
        assert_eq!(data.read(2 * PAGE_BYTES, 2), vec![0, 0]);
        assert_eq!(data.pages.len(), 3);
    }

    #[test]
    fn truncation_zeroes_the_tail_so_growth_reads_zeros() {
        let mut data = FileData::default();
        let mut dirty = BTreeSet::new();
        data.write(0, &[7u8; 5_000], &mut dirty);
        data.truncate(10, &mut dirty);
        data.truncate(5_000, &mut dirty);
        assert_eq!(data.read(8, 4), vec![7, 7, 0, 0]);
        assert_eq!(data.read(4_999, 1), vec![0]);
    }

    #[test]
    fn absorb_copies_only_dirty_pages() {
        let mut current = FileData::default();
        let mut dirty = BTreeSet::new();
        current.write(0, &[1u8; 8_192], &mut dirty);
        let mut durable = FileData::default();
        durable.absorb(&current, &dirty);
        assert_eq!(durable, current);
        let mut second = BTreeSet::new();
        current.write(0, &[2u8; 10], &mut second);
        current.write(4_096, &[3u8; 10], &mut BTreeSet::new());
        durable.absorb(&current, &second);
        assert_eq!(durable.read(0, 1), vec![2]);
        assert_eq!(durable.read(4_096, 1), vec![1], "an undirtied page keeps its synced bytes");
    }
}
