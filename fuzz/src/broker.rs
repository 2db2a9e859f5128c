//! The broker's input paths: the frame decoder a connection runs, and the segment and
//! cursor files recovery reads.

use bytes::BytesMut;
use tokio_util::codec::Decoder;

use fmesh_broker::codec::{FrameCodec, parse_metadata};
use fmesh_broker::storage::{cursor, segment};

/// The frame decoder as a connection drives it: frames until one is incomplete or
/// refused; every decoded frame consumes input.
pub fn frame_decoder(data: &[u8]) {
    let mut codec = FrameCodec::new(64 * 1024);
    let mut buf = BytesMut::from(data);
    loop {
        let before = buf.len();
        match codec.decode(&mut buf) {
            Ok(Some(frame)) => {
                assert!(buf.len() < before, "a decoded frame consumed no input");
                if let Some(payload) = frame.payload.filter(|_| frame.checksum_ok) {
                    assert!(
                        parse_metadata(&payload).is_ok(),
                        "decoded payload without metadata"
                    );
                }
            }
            Ok(None) | Err(_) => break,
        }
    }
}

/// A segment file as recovery finds it: the log opens, every indexed entry reads back,
/// the writer continues after the last one, and a second recovery keeps the same entries.
pub fn segment_file(data: &[u8]) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join(format!("{:020}.seg", 0)), data).expect("write segment");
    let kept = |dir: &std::path::Path| {
        let (log, w) = segment::open(dir, 1 << 20, 1 << 20, |_, _| {}).expect("log opens");
        assert_eq!(
            log.end_entry(),
            w.next_entry(),
            "writer continues after the log"
        );
        let ids: Vec<u64> = (log.first_entry()..log.end_entry())
            .filter(|id| log.info(*id).is_some())
            .collect();
        for id in &ids {
            assert!(log.read(*id).is_ok(), "indexed entry {id} does not read");
        }
        (ids, log.end_entry())
    };
    let first = kept(dir.path());
    assert_eq!(kept(dir.path()), first, "a second recovery changed the log");
}

/// A cursor file as recovery finds it: it recovers, and the file it rewrites recovers to
/// the same position.
pub fn cursor_file(data: &[u8]) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(cursor::cursor_path(dir.path(), "s"), data).expect("write cursor");
    let first = cursor::load_all(dir.path()).expect("cursors recover");
    let again = cursor::load_all(dir.path()).expect("cursors recover twice");
    let marks = |v: &[(String, cursor::CursorState, usize)]| {
        v.iter()
            .map(|(s, c, _)| (s.clone(), c.mark_delete))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        marks(&again),
        marks(&first),
        "a second recovery moved the cursor"
    );
}
