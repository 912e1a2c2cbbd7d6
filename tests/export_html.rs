//! `ringstep export --format html`: one self-contained page that references nothing
//! outside itself, is the same for the same inputs, and works in a real browser: headless
//! Chromium, driven over the DevTools protocol, shows the first frame, a real mouse click
//! on "next" shows the second, and the page loads nothing but itself.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

fn run(args: &[&str]) -> Output {
    common::run_ringstep(args)
}

fn tmp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("export_html");
    std::fs::create_dir_all(&dir).expect("temporary directory");
    dir.join(name)
}

fn export(lesson: &str, lang: &str, out: &Path) {
    let o = run(&[
        "export",
        lesson,
        "--format",
        "html",
        "-o",
        out.to_str().unwrap(),
        "--lang",
        lang,
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn lesson_tables_become_html_tables() {
    let out = tmp("int80.html");
    export("int80", "en", &out);
    let page = std::fs::read_to_string(&out).unwrap();
    assert!(
        page.contains("<thead><tr><th>address</th><th>word</th></tr></thead>"),
        "the int80 table of the words the CPU pushed"
    );
    assert!(page.contains("<td>ESP+16</td><td>old SS (<code>0x7b</code>)</td>"));
    assert!(!page.contains("| address |") && !page.contains("|---|"));
}

#[test]
fn the_page_is_self_contained_and_deterministic() {
    let (a, b) = (tmp("a.html"), tmp("b.html"));
    export("sysenter", "en", &a);
    export("sysenter", "en", &b);
    let page = std::fs::read_to_string(&a).unwrap();
    assert_eq!(
        page.as_bytes(),
        std::fs::read(&b).unwrap(),
        "two exports differ"
    );
    for needle in [
        "http:", "https:", "src=", "href=", "url(", "@import", "<link", "<iframe",
    ] {
        assert!(!page.contains(needle), "the page refers outside: {needle}");
    }
    // 58 frames: the start and after each of the 57 instructions; only the first shown.
    assert_eq!(page.matches("<section class=\"frame\"").count(), 58);
    assert_eq!(page.matches("<svg class=\"screen\"").count(), 58);
    assert_eq!(page.matches(" hidden>").count(), 57);
    assert!(page.contains("<span id=\"counter\">1 / 58</span>"));
    // The narrative before sysenter, and its question with the choices.
    assert!(page.contains("<strong>Question:</strong>"), "question");
    assert!(
        page.contains("<li>TSS.ESP0, as with <code>int $0x80</code>"),
        "choices"
    );
    assert!(page.contains("<code>sysenter_entry</code>"), "inline code");
    let de = tmp("de.html");
    export("sysenter", "de", &de);
    let de = std::fs::read_to_string(de).unwrap();
    assert!(de.contains("<html lang=\"de\">") && de.contains("weiter"));
}

/// Headless Chromium on the DevTools protocol over a pipe (`--remote-debugging-pipe`:
/// the browser reads NUL-terminated JSON commands on descriptor 3 and answers on 4).
struct Browser {
    child: Child,
    input: ChildStdin,
    output: Receiver<Value>,
    next_id: u64,
    /// Events received while waiting for answers.
    events: Vec<Value>,
    session: Option<String>,
}

/// How long chromium may take to answer one command or send one event: generous, for a
/// loaded CI machine (2 cores shared with builds).
const TIMEOUT: Duration = common::proc::GENEROUS;

impl Browser {
    fn start(profile: &Path) -> Browser {
        let _ = std::fs::remove_dir_all(profile);
        // The shell gives the browser our pipes as descriptors 3 and 4.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(concat!(
                "exec chromium --headless --no-sandbox --disable-gpu --no-first-run ",
                "--no-default-browser-check --disable-extensions --disable-sync ",
                "--remote-debugging-pipe --user-data-dir=\"$0\" about:blank ",
                "3<&0 4>&1 0</dev/null 1>/dev/null"
            ))
            .arg(profile)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromium starts");
        let input = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            loop {
                let mut msg = Vec::new();
                match r.read_until(0, &mut msg) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        msg.pop();
                        if let Ok(v) = serde_json::from_slice::<Value>(&msg) {
                            if tx.send(v).is_err() {
                                return;
                            }
                        }
                    }
                }
            }
        });
        Browser {
            child,
            input,
            output: rx,
            next_id: 1,
            events: Vec::new(),
            session: None,
        }
    }

    /// The next message; `waiting` names what it is waited for, in the failure message.
    fn recv(&mut self, deadline: Instant, waiting: &str) -> Value {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.output.recv_timeout(left) {
            Ok(v) => v,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!(
                "chromium: no {waiting} within {} s (deadline exceeded)",
                TIMEOUT.as_secs()
            ),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                panic!("chromium: closed its pipe while we waited for {waiting}")
            }
        }
    }

    /// Send a command (to the attached page, once there is one) and wait for its answer.
    fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = &self.session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = msg.to_string().into_bytes();
        bytes.push(0);
        self.input.write_all(&bytes).expect("writing to chromium");
        self.input.flush().unwrap();
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let v = self.recv(deadline, &format!("answer to {method}"));
            if v.get("id") == Some(&json!(id)) {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
            self.events.push(v);
        }
    }

    fn wait_event(&mut self, method: &str) {
        if let Some(i) = self.events.iter().position(|e| e["method"] == method) {
            self.events.remove(i);
            return;
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let v = self.recv(deadline, &format!("event {method}"));
            if v["method"] == method {
                return;
            }
            self.events.push(v);
        }
    }

    fn eval(&mut self, expr: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({ "expression": expr, "returnByValue": true }),
        );
        assert!(r.get("exceptionDetails").is_none(), "{expr}: {r}");
        r["result"]["value"].clone()
    }

    /// A real mouse click (press and release) in the middle of the element `id`.
    fn click(&mut self, id: &str) {
        let rect = self.eval(&format!(
            "(() => {{ const r = document.getElementById('{id}').getBoundingClientRect(); \
             return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
        ));
        let (x, y) = (rect[0].as_f64().unwrap(), rect[1].as_f64().unwrap());
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({ "type": kind, "x": x, "y": y, "button": "left", "clickCount": 1 }),
            );
        }
    }

    /// What the page shows now: the visible frame's id, its heading, the counter.
    fn shown(&mut self) -> (String, String, String) {
        let v = self.eval(
            "(() => { const f = [...document.querySelectorAll('section.frame')] \
             .filter(s => !s.hidden); \
             return [f.length === 1 ? f[0].id : 'frames shown: ' + f.length, \
             f[0].querySelector('h2').textContent, \
             document.getElementById('counter').textContent]; })()",
        );
        let s = |i: usize| v[i].as_str().unwrap_or_default().to_string();
        (s(0), s(1), s(2))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn chromium_shows_the_first_frame_and_next_advances() {
    if !common::require_tool("chromium") {
        return;
    }
    let page = tmp("sysenter.html");
    export("sysenter", "en", &page);
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    let mut b = Browser::start(&tmp("chromium-profile"));
    let target = b.call("Target.createTarget", json!({ "url": "about:blank" }));
    let attached = b.call(
        "Target.attachToTarget",
        json!({ "targetId": target["targetId"], "flatten": true }),
    );
    b.session = attached["sessionId"].as_str().map(str::to_string);
    b.call("Network.enable", json!({}));
    b.call("Page.enable", json!({}));
    b.call("Page.navigate", json!({ "url": url }));
    b.wait_event("Page.loadEventFired");

    let (id, heading, counter) = b.shown();
    assert_eq!(id, "frame-1");
    assert!(heading.contains("step 0/57"), "{heading}");
    assert_eq!(counter, "1 / 58");
    let first = b.eval("document.querySelector('#frame-1 svg').textContent");
    let first = first.as_str().unwrap();
    assert!(first.contains("__kernel_vsyscall and sysenter"), "{first}");
    assert!(first.contains("step 0/57"), "{first}");
    assert_eq!(
        b.eval("document.getElementById('prev').disabled"),
        json!(true)
    );

    b.click("next");
    let (id, heading, counter) = b.shown();
    assert_eq!(id, "frame-2", "the next button advances");
    assert!(heading.contains("step 1/57"), "{heading}");
    assert_eq!(counter, "2 / 58");
    b.click("next");
    assert_eq!(b.shown().0, "frame-3");
    b.click("prev");
    assert_eq!(b.shown().0, "frame-2", "the previous button goes back");

    // Nothing but the page itself was requested.
    let requests: Vec<String> = b
        .events
        .iter()
        .filter(|e| e["method"] == "Network.requestWillBeSent")
        .map(|e| {
            e["params"]["request"]["url"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(requests, vec![url]);
}
