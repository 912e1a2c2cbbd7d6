//! An asciicast v2 recording (the format asciinema's player and `asciinema play` read):
//! a header line, a JSON object with `version` 2 and the terminal's `width` and
//! `height`, then one event line `[time, "o", data]` per frame, `data` being what the
//! terminal receives. The header also gives the duration and the colour theme of the
//! SVG export. The first frame clears the screen and draws everything; each later
//! frame sends only the cells that changed. No time stamp is written, so the same lesson
//! and settings give the same bytes.

use serde_json::json;

use super::buffer_to_ansi::redraw;
use super::svg::{ANSI16, DEFAULT_BG, DEFAULT_FG};
use super::Frame;

/// The recording of `frames`, `delay_ms` milliseconds apart, as asciicast v2 text.
pub fn cast(frames: &[Frame], title: &str, delay_ms: u64) -> Result<String, String> {
    let Some(first) = frames.first() else {
        return Err("nothing to record: the lesson has no frame".into());
    };
    let area = first.buffer.area;
    let header = json!({
        "version": 2,
        "width": area.width,
        "height": area.height,
        "duration": (frames.len().saturating_sub(1) as u64).saturating_mul(delay_ms) as f64 / 1000.0,
        "title": title,
        "env": { "TERM": "xterm-256color" },
        // The colours of the SVG and HTML exports, so every export looks the same.
        "theme": { "fg": DEFAULT_FG, "bg": DEFAULT_BG, "palette": ANSI16.join(":") },
    });
    let mut out = header.to_string();
    out.push('\n');
    let mut prev = None;
    for (i, f) in frames.iter().enumerate() {
        let data = redraw(prev, &f.buffer)?;
        // Whole milliseconds, so every time prints the same way on every machine.
        let ms = (i as u64).saturating_mul(delay_ms);
        let time = ms as f64 / 1000.0;
        out.push_str(&json!([time, "o", data]).to_string());
        out.push('\n');
        prev = Some(&f.buffer);
    }
    Ok(out)
}
