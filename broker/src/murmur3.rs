//! Murmur3 (x86, 32-bit): the hash Pulsar uses for Key_Shared key ranges.

/// Key_Shared hash range size.
pub const HASH_RANGE: u32 = 65536;

/// Murmur3_32 of `data` with `seed`.
pub fn murmur3_32(data: &[u8], seed: u32) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mut h = seed;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let rem = chunks.remainder();
    if !rem.is_empty() {
        let mut k = 0u32;
        for (i, b) in rem.iter().enumerate() {
            k |= u32::from(*b) << (8 * i);
        }
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
    }
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

/// Pulsar's hash of a topic name for Failover: Murmur3_32 of its UTF-8 bytes, sign bit cleared.
pub fn failover_topic_hash(topic: &str) -> u32 {
    murmur3_32(topic.as_bytes(), 0) & 0x7fff_ffff
}

/// Points each consumer has on the Failover ring (Pulsar's `CONSUMER_CONSISTENT_HASH_REPLICAS`).
const FAILOVER_REPLICAS: u32 = 100;

/// The index in `names` (consumers sorted by priority then name, best priority only) of the
/// active Failover consumer of a non-partitioned topic whose hash is `topic_hash`: each consumer
/// `i` owns the points `murmur3(name + j)` for `j` in `0..100` (a later consumer wins a
/// collision), and the topic goes to the first point at or after its hash, wrapping around.
pub fn failover_ring_index(names: &[&str], topic_hash: u32) -> usize {
    let mut ring = std::collections::BTreeMap::new();
    for (i, name) in names.iter().enumerate() {
        for j in 0..FAILOVER_REPLICAS {
            let point = murmur3_32(format!("{name}{j}").as_bytes(), 0) & 0x7fff_ffff;
            ring.insert(point, i);
        }
    }
    ring.range(topic_hash..)
        .next()
        .or_else(|| ring.iter().next())
        .map_or(0, |(_, i)| *i)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected answers from the same ring in tests/py/scenarios.py, whose `failover` scenario
    /// holds it against Apache Pulsar 4.2.4 (both consumers end up active there).
    #[test]
    fn failover_ring_picks_the_consumer_pulsar_picks() {
        let cases = [
            ("persistent://public/default/fo-0", 1, 2),
            ("persistent://public/default/fo-1", 0, 1),
            ("persistent://public/default/fo-4", 1, 0),
            ("persistent://public/default/fo-5", 0, 0),
        ];
        for (topic, of_two, of_three) in cases {
            let h = failover_topic_hash(topic);
            assert_eq!(failover_ring_index(&["a", "b"], h), of_two, "{topic}");
            assert_eq!(
                failover_ring_index(&["c1", "c2", "c3"], h),
                of_three,
                "{topic}"
            );
        }
        assert_eq!(
            failover_topic_hash("persistent://public/default/fo-0"),
            1_746_610_633
        );
    }

    #[test]
    fn known_vectors() {
        assert_eq!(murmur3_32(b"", 0), 0);
        assert_eq!(murmur3_32(b"hello", 0), 0x248b_fa47);
        assert_eq!(
            murmur3_32(b"The quick brown fox jumps over the lazy dog", 0),
            0x2e4f_f723
        );
    }
}
