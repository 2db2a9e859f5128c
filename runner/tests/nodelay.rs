//! The runner's broker connections set `TCP_NODELAY` (pulsar-rs patched in vendor/pulsar):
//! with Nagle on, a small frame waits for the broker's delayed ACK of the one before, which
//! Apache Pulsar does not hurry (runner/README.md, "On Apache Pulsar").

mod common;

use std::net::SocketAddr;
use std::os::fd::RawFd;

use common::*;

/// The peer of socket `fd`, if it is a connected IPv4 TCP socket.
fn peer(fd: RawFd) -> Option<SocketAddr> {
    let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: getpeername writes at most `len` bytes into `addr`.
    let rc = unsafe { libc::getpeername(fd, (&raw mut addr).cast(), &mut len) };
    (rc == 0 && addr.sin_family == libc::AF_INET as libc::sa_family_t).then(|| {
        SocketAddr::from((
            u32::from_be(addr.sin_addr.s_addr).to_be_bytes(),
            u16::from_be(addr.sin_port),
        ))
    })
}

fn nodelay(fd: RawFd) -> bool {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes one c_int.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&raw mut v).cast(),
            &mut len,
        )
    };
    rc == 0 && v != 0
}

/// This process's sockets connected to `to`, each with its `TCP_NODELAY`.
fn sockets_to(to: SocketAddr) -> Vec<(RawFd, bool)> {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<RawFd>().ok())
        .filter(|fd| peer(*fd) == Some(to))
        .map(|fd| (fd, nodelay(fd)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_connections_set_tcp_nodelay() {
    for t in targets().await {
        let url = t.service_url();
        let addr: SocketAddr = url
            .trim_start_matches("pulsar://")
            .parse()
            .expect("pulsar://ip:port");
        let spec = format!(
            r#"{{"kind":"Function","objectName":"nd","input":{{"topics":["{}"]}},
                "output":{{"topic":"{}"}},"builtin":{{"name":"identity"}}}}"#,
            topic("nd-in"),
            topic("nd-out")
        );
        let runner = start(&url, &spec, 0, 1).await;
        let m = runner.metrics.clone();
        until("subscribed", || m.subscribed.get() == 1).await;
        let socks = sockets_to(addr);
        assert!(!socks.is_empty(), "{}: no connection to {addr}", t.name());
        assert!(
            socks.iter().all(|(_, on)| *on),
            "{}: sockets without TCP_NODELAY: {socks:?}",
            t.name()
        );
        stop(runner).await;
    }
}
