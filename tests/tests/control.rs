//! The control socket is bounded: an oversized request line is refused with an error, a
//! connection that sends nothing is closed after the read timeout, and beyond the connection
//! cap the connection idle longest makes room — while a legitimate client is answered
//! throughout.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use csx_node::api::{Request, Response};
use csx_node::control::{ControlClient, ControlLimits, ControlServer, MAX_REQUEST_BYTES};
use csx_node::home::Home;
use csx_tests::federation::{Federation, review};

/// Serves the control socket of `home` with `limits` until the returned task is aborted.
fn serve(fed: &Federation, home: &Home, limits: ControlLimits) -> tokio::task::JoinHandle<()> {
    let server = ControlServer::bind_with(home, limits).expect("binds");
    let api = fed.node(0).api().clone();
    tokio::spawn(async move { server.serve(api).await })
}

/// A legitimate client's `csx status`.
async fn status(home: &Home) {
    let client = ControlClient::connect(home).expect("reachable").expect("a daemon runs");
    let reply =
        tokio::task::spawn_blocking(move || client.call(&Request::Status, Duration::from_secs(30))).await.expect("ran");
    assert!(matches!(reply, Ok(Response::Status(_))), "the daemon answers a legitimate client: {reply:?}");
}

/// What the daemon sends on `stream` before closing it (blocking, with a deadline).
async fn reply_of(mut stream: UnixStream, wait: Duration) -> String {
    tokio::task::spawn_blocking(move || {
        stream.set_read_timeout(Some(wait)).expect("timeout");
        let mut text = String::new();
        let _ = stream.read_to_string(&mut text);
        text
    })
    .await
    .expect("ran")
}

fn still_open(stream: &mut UnixStream) -> bool {
    stream.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
    let mut byte = [0u8; 1];
    matches!(stream.read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_idle_and_excess_connections_are_cut_and_the_daemon_keeps_answering() {
    let mut fed = Federation::new(1);
    fed.start(0).await;
    let home = fed.members[0].home.clone();
    let socket: PathBuf = csx_node::control::socket_path(&home);
    let limits = ControlLimits {
        max_request_bytes: 64 * 1024,
        read_timeout: Duration::from_secs(1),
        write_timeout: Duration::from_secs(5),
        max_connections: 4,
    };
    let task = serve(&fed, &home, limits);
    status(&home).await;

    // An oversized line: refused with an error naming the limit.
    let big = UnixStream::connect(&socket).expect("connects");
    let writer = {
        let mut w = big.try_clone().expect("clone");
        std::thread::spawn(move || {
            let _ = w.write_all(&vec![b'x'; 200 * 1024]);
            let _ = w.write_all(b"\n");
        })
    };
    big.set_write_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let reply = reply_of(big, Duration::from_secs(10)).await;
    let _ = writer.join();
    assert!(reply.contains("request too large") && reply.contains("65536"), "{reply}");
    status(&home).await;

    // A connection that sends nothing is closed after the read timeout, with a word why.
    let idle = UnixStream::connect(&socket).expect("connects");
    let start = Instant::now();
    let reply = reply_of(idle, Duration::from_secs(20)).await;
    let waited = start.elapsed();
    assert!(reply.contains("no complete request within 1s"), "{reply}");
    assert!(waited >= Duration::from_millis(900) && waited < Duration::from_secs(10), "closed after {waited:?}");
    status(&home).await;

    // The cap, with a read timeout long enough that only the cap closes connections.
    task.abort();
    let _ = task.await;
    let task = serve(&fed, &home, ControlLimits { read_timeout: Duration::from_secs(60), ..limits });
    let mut idle: Vec<UnixStream> = Vec::new();
    for _ in 0..4 {
        idle.push(UnixStream::connect(&socket).expect("connects"));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Full of idle connections: a legitimate client still gets in, the oldest makes room.
    status(&home).await;
    for _ in 0..10 {
        idle.push(UnixStream::connect(&socket).expect("connects"));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    status(&home).await;
    // Of the fourteen idle connections, at most four are open (the newest among them); every
    // other one was closed with a word why.
    let open: Vec<bool> = idle.iter_mut().map(still_open).collect();
    assert!(open.iter().filter(|o| **o).count() <= 4, "{open:?}");
    assert!(open[13], "the newest idle connection is open: {open:?}");
    for (i, s) in idle.into_iter().enumerate().filter(|(i, _)| !open[*i]) {
        let reply = reply_of(s, Duration::from_secs(10)).await;
        assert!(reply.contains("the control socket is full"), "connection {i}: {reply}");
    }
    status(&home).await;

    // A client-side check keeps an oversized import from being sent at all.
    let client = ControlClient::connect(&home).expect("reachable").expect("a daemon runs");
    let bodies: Vec<_> = (0..(MAX_REQUEST_BYTES / 500) as u32).map(review).collect();
    let err = client.call(&Request::Publish { bodies }, Duration::from_secs(5)).expect_err("refused");
    assert!(err.message.contains("over the daemon's limit of 16 MiB"), "{}", err.message);
    task.abort();
    fed.stop_all().await;
}
