//! [`Slots`]: values by `u32` slot number, in fixed-size chunks, with freed slots reused.
//!
//! Chunks rather than one `Vec`: a `Vec` grows by doubling, so right after growing half of it
//! is unused (up to half a record per vehicle), and the growth copies every record while the
//! live index's write lock is held (tens of milliseconds at a million vehicles). A chunk is
//! allocated at its final size and never moves: the slack is at most one chunk, and growing
//! copies only the chunk table, one pointer-sized entry per [`CHUNK`] slots.

use std::ops::Range;

/// Slots per chunk: 1024 live-index records are 56 KiB, small next to any real fleet and
/// large enough that the chunk table stays tiny.
const CHUNK_BITS: u32 = 10;
pub(crate) const CHUNK: usize = 1 << CHUNK_BITS;
const MASK: u32 = (1 << CHUNK_BITS) - 1;

#[derive(Debug)]
pub(crate) struct Slots<T> {
    chunks: Vec<Vec<Option<T>>>,
    /// Emptied slots, reused before new ones are handed out.
    free: Vec<u32>,
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Slots {
            chunks: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T> Slots<T> {
    pub(crate) fn get(&self, slot: u32) -> Option<&T> {
        self.chunks
            .get((slot >> CHUNK_BITS) as usize)?
            .get((slot & MASK) as usize)?
            .as_ref()
    }

    pub(crate) fn get_mut(&mut self, slot: u32) -> Option<&mut T> {
        self.chunks
            .get_mut((slot >> CHUNK_BITS) as usize)?
            .get_mut((slot & MASK) as usize)?
            .as_mut()
    }

    /// Stores `value` in a free slot (a reused one first) and returns its number.
    pub(crate) fn insert(&mut self, value: T) -> u32 {
        if let Some(slot) = self.free.pop() {
            let cell = &mut self.chunks[(slot >> CHUNK_BITS) as usize][(slot & MASK) as usize];
            debug_assert!(cell.is_none(), "free slot {slot} is occupied");
            *cell = Some(value);
            return slot;
        }
        if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
            assert!(
                self.chunks.len() < 1 << (32 - CHUNK_BITS),
                "fewer than 2^32 slots"
            );
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        let index = self.chunks.len() - 1;
        let chunk = &mut self.chunks[index];
        chunk.push(Some(value));
        ((index as u32) << CHUNK_BITS) | (chunk.len() - 1) as u32
    }

    /// Empties a slot, returning what it held; the slot is reused by a later insert.
    pub(crate) fn take(&mut self, slot: u32) -> Option<T> {
        let value = self
            .chunks
            .get_mut((slot >> CHUNK_BITS) as usize)?
            .get_mut((slot & MASK) as usize)?
            .take()?;
        self.free.push(slot);
        Some(value)
    }

    /// Every occupied slot and its value, in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &T)> + '_ {
        self.chunks.iter().enumerate().flat_map(|(c, chunk)| {
            chunk.iter().enumerate().filter_map(move |(i, v)| {
                v.as_ref()
                    .map(|v| (((c as u32) << CHUNK_BITS) | i as u32, v))
            })
        })
    }

    /// The occupied slots among `range`, in slot order.
    pub(crate) fn range(&self, range: Range<u32>) -> impl Iterator<Item = (u32, &T)> + '_ {
        (range.start..range.end.min(self.end()))
            .filter_map(|slot| self.get(slot).map(|v| (slot, v)))
    }

    /// One past the highest slot number handed out.
    pub(crate) fn end(&self) -> u32 {
        match self.chunks.last() {
            None => 0,
            Some(last) => (((self.chunks.len() - 1) * CHUNK) + last.len()) as u32,
        }
    }

    /// [`iter`](Self::iter), mutably.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (u32, &mut T)> + '_ {
        self.chunks.iter_mut().enumerate().flat_map(|(c, chunk)| {
            chunk.iter_mut().enumerate().filter_map(move |(i, v)| {
                v.as_mut()
                    .map(|v| (((c as u32) << CHUNK_BITS) | i as u32, v))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_span_chunks_and_are_reused() {
        let mut s = Slots::default();
        let n = CHUNK as u32 * 2 + 5;
        for i in 0..n {
            assert_eq!(s.insert(i), i);
        }
        assert_eq!(s.get(CHUNK as u32), Some(&(CHUNK as u32)));
        assert_eq!(s.get(n), None);
        assert_eq!(s.take(3), Some(3));
        assert_eq!(s.take(3), None);
        assert_eq!(s.get(3), None);
        *s.get_mut(4).unwrap() += 100;
        assert_eq!(s.insert(7), 3, "the freed slot first");
        assert_eq!(s.insert(8), n);
        assert_eq!(s.end(), n + 1);
        let all: Vec<(u32, u32)> = s.iter().map(|(k, &v)| (k, v)).collect();
        assert_eq!(all.len(), n as usize + 1);
        assert_eq!(&all[2..5], [(2, 2), (3, 7), (4, 104)]);
        assert!(all.iter().all(|&(k, _)| s.get(k).is_some()));
        let some: Vec<u32> = s.range(1..6).map(|(k, _)| k).collect();
        assert_eq!(some, [1, 2, 3, 4, 5]);
        assert_eq!(s.range(n..u32::MAX).count(), 1);
        for (_, v) in s.iter_mut() {
            *v = 0;
        }
        assert!(s.iter().all(|(_, &v)| v == 0));
    }

    #[test]
    fn chunks_are_allocated_at_their_final_size() {
        let mut s = Slots::default();
        for i in 0..CHUNK * 3 / 2 {
            s.insert(i);
        }
        assert!(s.chunks.iter().all(|c| c.capacity() == CHUNK));
    }
}
