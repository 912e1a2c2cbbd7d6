//! The network side of a gdb server that lives inside another program (the viewer's
//! `--gdb PORT`): a thread accepts clients and a thread per client reads its bytes,
//! and both only hand what happened to the program (`GdbInput`, through `Notify`). The
//! machine stays with the program, which answers through `live::Live`; these threads
//! never touch it, the terminal or anything else, and they end with the process.
//!
//! One client at a time: a second one is sent `BUSY_TEXT` and closed at once.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use super::{packet, BUSY_TEXT};

/// The largest read from a client at once.
const READ_BYTES: usize = 4096;

/// Where the threads send what happened; false when nobody listens any more (the
/// thread then ends).
pub type Notify = Arc<dyn Fn(GdbInput) -> bool + Send + Sync>;

/// A client's connection, shared between its reading thread and the program.
#[derive(Clone, Debug)]
pub struct Conn(pub Arc<TcpStream>);

impl PartialEq for Conn {
    fn eq(&self, other: &Conn) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Conn {}

/// What the network threads tell the program. `id` tells one client from the next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GdbInput {
    /// A client connected (and is now the one client).
    Attached { id: u64, conn: Conn, peer: String },
    /// Bytes it sent.
    Data { id: u64, bytes: Vec<u8> },
    /// Its connection closed (it detached, was killed, or went away).
    Closed { id: u64 },
    /// A second client was refused while one was attached.
    Refused { peer: String },
}

/// Bind `addr` (e.g. 127.0.0.1:1234).
pub fn bind(addr: &str) -> Result<TcpListener, String> {
    TcpListener::bind(addr).map_err(|e| format!("cannot serve gdb on {addr}: {e}"))
}

/// Accept clients on `listener` from now on, on a thread of its own.
pub fn spawn(listener: TcpListener, notify: Notify) {
    let busy = Arc::new(AtomicBool::new(false));
    thread::spawn(move || accept(listener, busy, notify));
}

fn peer_of(s: &TcpStream) -> String {
    s.peer_addr()
        .map_or("a client".to_string(), |a| a.to_string())
}

fn accept(listener: TcpListener, busy: Arc<AtomicBool>, notify: Notify) {
    let mut id = 0u64;
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let peer = peer_of(&stream);
        if busy.swap(true, Ordering::SeqCst) {
            let _ = stream.write_all(&packet(BUSY_TEXT));
            let _ = stream.flush();
            let _ = stream.shutdown(Shutdown::Both);
            if !notify(GdbInput::Refused { peer }) {
                return;
            }
            continue;
        }
        let Ok(reading) = stream.try_clone() else {
            busy.store(false, Ordering::SeqCst);
            continue;
        };
        id += 1;
        let conn = Conn(Arc::new(stream));
        if !notify(GdbInput::Attached { id, conn, peer }) {
            return;
        }
        let (n, b) = (Arc::clone(&notify), Arc::clone(&busy));
        thread::spawn(move || read_client(reading, id, n, b));
    }
}

/// Hand the client's bytes on until its connection closes; then the next client may
/// come.
fn read_client(mut s: TcpStream, id: u64, notify: Notify, busy: Arc<AtomicBool>) {
    let mut buf = [0u8; READ_BYTES];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if !notify(GdbInput::Data {
                    id,
                    bytes: buf[..n].to_vec(),
                }) {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    // Told before the next client may come, so that the program hears of the close
    // first.
    notify(GdbInput::Closed { id });
    busy.store(false, Ordering::SeqCst);
}
