//! The round trip of one `stepi` over loopback: a client sends gdb's single-step packet
//! to an in-process `ringstep gdbserver` and reads the stop reply (target: under 1 ms).
//! Steps alternate with reverse steps (`bs`) so the machine stays inside the lesson.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

use criterion::{criterion_group, criterion_main, Criterion};

fn packet(text: &str) -> Vec<u8> {
    let sum = text.bytes().fold(0u8, |a, b| a.wrapping_add(b));
    format!("${text}#{sum:02x}").into_bytes()
}

/// Send `p` and read until the reply packet's checksum has arrived.
fn round_trip(s: &mut TcpStream, p: &[u8], buf: &mut Vec<u8>) {
    s.write_all(p).expect("send");
    buf.clear();
    let mut chunk = [0u8; 512];
    loop {
        let n = s.read(&mut chunk).expect("read");
        assert!(n > 0, "the server closed the connection");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(h) = buf.iter().rposition(|&b| b == b'#') {
            if buf.len() >= h + 3 && buf.contains(&b'$') {
                return;
            }
        }
    }
}

fn stepi(c: &mut Criterion) {
    let lesson = ringstep::lesson::find::find("sysenter").expect("the sysenter lesson");
    let scenario = lesson.scenes[0].scenario.clone();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("an address").port();
    std::thread::spawn(move || ringstep::gdb::serve_on(listener, &scenario, &mut std::io::sink()));
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_nodelay(true).expect("nodelay");
    let mut buf = Vec::new();
    round_trip(&mut s, &packet("QStartNoAckMode"), &mut buf);
    let (step, back) = (packet("s"), packet("bs"));
    let mut forward = true;
    c.bench_function("gdb stepi round trip (loopback)", |b| {
        b.iter(|| {
            round_trip(&mut s, if forward { &step } else { &back }, &mut buf);
            forward = !forward;
        })
    });
}

criterion_group!(benches, stepi);
criterion_main!(benches);
