//! The viewer's gdb server through its update function alone (no terminal, no gdb):
//! packets from a socket pair go in as `Msg::Gdb`, and the model follows: a step, a
//! `continue` run chunk by chunk (`Msg::GdbRun`) and stopped by Ctrl-C or by a viewer
//! key, a register write, a step in the viewer seen by the client, and a client that
//! leaves.

mod common;

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use ringstep::gdb::listen::{Conn, GdbInput};
use ringstep::tui::gdblink::GdbLink;
use ringstep::tui::{update, Action, Keymap, Model, Msg, Options};

use common::gdb::packet;

/// A model of `lesson` with a client attached over a socket pair.
struct Rig {
    m: Model,
    client: TcpStream,
    got: Vec<u8>,
}

impl Rig {
    fn new(lesson: &str) -> Rig {
        let l = ringstep::lesson::load_shipped(lesson)
            .expect("a shipped lesson")
            .expect("it loads");
        let m = Model::new(l, &Options::default(), Keymap::shipped()).expect("a model");
        Rig::attach(m)
    }

    fn attach(mut m: Model) -> Rig {
        update(&mut m, Msg::Resize(120, 40));
        m.gdb = Some(GdbLink::new("127.0.0.1:0".into(), false));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        client
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("a timeout");
        let (server, _) = listener.accept().expect("accept");
        let conn = Conn(Arc::new(server));
        let peer = "test".to_string();
        update(&mut m, Msg::Gdb(GdbInput::Attached { id: 1, conn, peer }));
        Rig {
            m,
            client,
            got: Vec::new(),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        let bytes = bytes.to_vec();
        update(&mut self.m, Msg::Gdb(GdbInput::Data { id: 1, bytes }));
    }

    fn reply(&mut self) -> String {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(text) = common::gdb::take_packet(&mut self.got) {
                return text;
            }
            let n = self.client.read(&mut buf).expect("a reply");
            assert!(n > 0, "the connection closed");
            self.got.extend_from_slice(&buf[..n]);
        }
    }

    fn engine_pos(&self) -> usize {
        self.m.run.played.engine.history_len()
    }
}

/// A reply with gdb's run-length encoding (`X*N`: X repeated N - 29 more times) spelled out.
fn unrle(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '*' {
            let n = chars.next().map_or(0, |n| n as usize - 29);
            let last = out.chars().last().unwrap_or('0');
            out.extend(std::iter::repeat_n(last, n));
        } else {
            out.push(c);
        }
    }
    out
}

fn is_sigint(stop: &str) -> bool {
    stop.starts_with("T02") || stop == "S02"
}

#[test]
fn the_model_follows_gdbs_steps_and_continue() {
    let mut r = Rig::new("sysenter");
    assert_eq!(r.m.gdb_status(false).as_deref(), Some("gdb: attached"));
    r.send(&packet("vCont;s"));
    let stop = r.reply();
    assert!(stop.starts_with("T05") || stop == "S05", "{stop}");
    assert_eq!((r.m.pos, r.engine_pos()), (1, 1));
    // Continue: nothing runs until the event loop sends GdbRun; the model follows each
    // chunk; Ctrl-C stops it.
    r.send(&packet("vCont;c"));
    assert!(r.m.gdb_running());
    update(&mut r.m, Msg::GdbRun);
    assert!(r.m.pos > 1, "the first chunk moved the viewer");
    r.send(b"\x03");
    let stop = r.reply();
    assert!(!r.m.gdb_running());
    // The lesson's run ends (its end address) before a chunk is done, or Ctrl-C came.
    assert!(
        is_sigint(&stop) || stop.starts_with("T05") || stop == "S05",
        "{stop}"
    );
    assert_eq!(r.m.pos, r.engine_pos());
    // Back to the start with a monitor command, then a viewer key while attached.
    let goto: String = "goto 0".bytes().map(|b| format!("{b:02x}")).collect();
    r.send(&packet(&format!("qRcmd,{goto}")));
    while r.reply() != "OK" {}
    assert_eq!(r.m.pos, 0);
    update(&mut r.m, Msg::Action(Action::StepForward));
    assert_eq!(r.engine_pos(), 1);
    // A register write: a `set reg` edit, shown at once.
    r.send(&packet("g"));
    let regs = unrle(&r.reply());
    assert!(regs.len() > 8, "{regs}");
    r.send(&packet(&format!("G78560000{}", &regs[8..])));
    assert_eq!(r.reply(), "OK");
    assert_eq!(
        r.m.snap
            .regs
            .iter()
            .find(|x| x.name == "eax")
            .map(|x| x.value),
        Some(0x5678)
    );
    // The client leaves: the machine stays.
    update(&mut r.m, Msg::Gdb(GdbInput::Closed { id: 1 }));
    assert_eq!(r.m.gdb_status(false).as_deref(), Some("gdb: listening"));
    assert_eq!(r.m.pos, 1);
}

#[test]
fn a_viewer_key_stops_gdbs_continue_past_the_recorded_run() {
    // `jmp .` for ever: the recorded run ends at its step limit, gdb goes on past it.
    let args = ringstep::tui::RunArgs {
        bytes: Some("eb fe".into()),
        ..Default::default()
    };
    let m = ringstep::tui::start(&args).expect("a model");
    let mut r = Rig::attach(m);
    let end = r.m.run.last_state();
    r.send(&packet("vCont;c"));
    for _ in 0..3 {
        update(&mut r.m, Msg::GdbRun);
    }
    assert!(r.m.gdb_running());
    assert!(r.m.pos > end, "the run grew past {end} to {}", r.m.pos);
    assert_eq!(r.m.run.last_state(), r.m.pos);
    let there = r.m.pos;
    // A key in the viewer: gdb's run stops first (SIGINT), then the key acts.
    update(&mut r.m, Msg::Action(Action::StepBack));
    let stop = r.reply();
    assert!(is_sigint(&stop), "{stop}");
    assert!(!r.m.gdb_running());
    assert_eq!(r.m.pos, there - 1);
    assert_eq!(r.engine_pos(), there - 1);
}
