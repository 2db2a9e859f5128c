//! The runner's input from a child process: the exec runtime's frames.

use fmesh_runner::runtime::frame;

/// Frames as the runner reads them from a child: each frame read is written back and
/// read again to the same frame, and reading stops at the first refused one.
pub fn exec_frame(data: &[u8]) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut input = data;
        while let Ok(f) = frame::read(&mut input).await {
            let mut again = Vec::new();
            frame::write(&mut again, f.kind, &f.header, &f.body)
                .await
                .expect("a frame read writes back");
            let back = frame::read(&mut again.as_slice())
                .await
                .expect("a written frame reads");
            assert_eq!(back, f, "a frame changed on its way back");
        }
    });
}
