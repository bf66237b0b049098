//! Maps keyed by job name, with a hasher made for short keys: the names taken while the
//! job files are read, and every job by name for a tick's lookups.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A map keyed by job names (or anything else hashed as a few bytes).
pub type ByName<K, V> = HashMap<K, V, BuildHasherDefault<NameHasher>>;

/// The job names taken so far, each with where its table is: the index of its file in
/// the job files, and its line.
pub(super) type Seen = ByName<String, (usize, usize)>;

/// A hasher for job names, several times cheaper than the default SipHash on short
/// keys (the FxHash of rustc: a rotate, a xor and a multiply per 8 bytes). Names come
/// from the operator's own files, so there is nobody to pick keys that collide.
#[derive(Default)]
pub struct NameHasher(u64);

impl NameHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for NameHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(c);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        // The multiplies mix upwards only: the low bits, which pick a map's bucket,
        // would hardly differ between "job 1" and "job 2". A last fold of the high half
        // into the low and one more multiply spread every bit.
        let h = (self.0 ^ (self.0 >> 32)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        h ^ (h >> 29)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::hash::{BuildHasher, BuildHasherDefault};

    use super::{NameHasher, Seen};

    #[test]
    fn names_that_differ_anywhere_hash_apart_and_the_map_finds_each() {
        let hash = |s: &str| BuildHasherDefault::<NameHasher>::default().hash_one(s);
        let mut names: Vec<String> = (0..10_000).map(|i| format!("job {i}")).collect();
        // A byte past the first eight, the last of a full word, the length alone.
        names.extend(
            [
                "web front page 1",
                "web front page 2",
                "abcdefgh",
                "abcdefgi",
            ]
            .map(String::from),
        );
        names.extend(["", "a", "aa", "aaaaaaaa", "aaaaaaaaa"].map(String::from));
        let hashes: HashSet<u64> = names.iter().map(|n| hash(n)).collect();
        assert_eq!(hashes.len(), names.len());
        // The low bits choose a map's bucket, the top seven its tag: both spread as
        // random ones would (10,000 keys in 16,384 buckets fill some 7,500 of them).
        let buckets: HashSet<u64> = hashes.iter().map(|h| h & 0x3fff).collect();
        assert!(buckets.len() > 6_500, "{} buckets", buckets.len());
        let tags: HashSet<u64> = hashes.iter().map(|h| h >> 57).collect();
        assert_eq!(tags.len(), 128);
        let mut seen = Seen::default();
        for (i, n) in names.iter().enumerate() {
            assert_eq!(seen.insert(n.clone(), (0, i)), None, "{n:?}");
        }
        for (i, n) in names.iter().enumerate() {
            assert_eq!(seen.get(n), Some(&(0, i)));
        }
        assert_eq!(seen.get("job 10000"), None);
    }
}
