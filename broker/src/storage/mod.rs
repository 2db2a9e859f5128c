//! On-disk storage: a segment log per topic partition and a cursor log per
//! subscription. Both use the same framed record: `[len u32][crc32c u32][body]`.

pub mod cursor;
pub mod record;
pub mod segment;
pub mod writer;
