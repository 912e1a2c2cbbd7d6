//! One self-contained HTML page for a lesson: every frame as inline SVG, the narrative
//! text of each frame beside it, and previous/next buttons (also the arrow keys) run by a
//! few lines of inline script. No external file, font or script is referenced, so the page
//! works offline; without script it still shows the first frame.

use std::fmt::Write as _;

use quick_xml::escape::escape;

use super::markdown_html::markdown_html;
use super::svg::svg;
use super::{frame_label, Frame, Narrative};
use crate::lesson::{Lang, Lesson};

struct Words {
    previous: &'static str,
    next: &'static str,
    scene: &'static str,
    step: &'static str,
    question: &'static str,
    keys: &'static str,
}

fn words(lang: Lang) -> Words {
    match lang {
        Lang::En => Words {
            previous: "previous",
            next: "next",
            scene: "Scene",
            step: "step",
            question: "Question",
            keys: "Left and right arrow keys step too.",
        },
        Lang::De => Words {
            previous: "zurück",
            next: "weiter",
            scene: "Szene",
            step: "Schritt",
            question: "Frage",
            keys: "Die Pfeiltasten links und rechts blättern auch.",
        },
    }
}

fn narrative_html(n: &Narrative, w: &Words) -> String {
    let mut o = markdown_html(&n.text);
    if let Some((prompt, choices)) = &n.question {
        let _ = write!(
            o,
            "<div class=\"question\"><p><strong>{}:</strong></p>{}",
            w.question,
            markdown_html(prompt)
        );
        if !choices.is_empty() {
            o.push_str("<ol>");
            for c in choices {
                let p = markdown_html(c);
                let p = p
                    .trim_end()
                    .trim_start_matches("<p>")
                    .trim_end_matches("</p>");
                let _ = write!(o, "<li>{p}</li>");
            }
            o.push_str("</ol>");
        }
        o.push_str("</div>\n");
    }
    o
}

const STYLE: &str =
    "body{margin:0;padding:1em;background:#111;color:#ddd;font-family:system-ui,sans-serif}
header h1{font-size:1.3em;margin:0 0 .3em}header p{margin:0 0 .8em;color:#aaa}
nav{display:flex;gap:.8em;align-items:center;margin-bottom:.8em}
button{font-size:1em;padding:.3em 1em}
.frame{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}
.frame[hidden]{display:none}
.screen{max-width:100%;height:auto;border:1px solid #444}
.text{flex:1 1 22em;max-width:44em;line-height:1.45}
.text h2{font-size:1.05em;margin:0 0 .5em;color:#9cdcfe}
code{font-family:monospace;color:#9cdcfe}
pre{background:#1b1b1b;padding:.5em;overflow-x:auto}
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #555;padding:.2em .6em;text-align:left}
a{color:#9cdcfe}blockquote{border-left:3px solid #555;margin-left:0;padding-left:.8em}
.question{border-left:3px solid #e5e510;padding-left:.8em}
footer{margin-top:1em;color:#888;font-size:.9em}";

const SCRIPT: &str = "(function(){
var frames=document.querySelectorAll('section.frame');
var prev=document.getElementById('prev'),next=document.getElementById('next');
var counter=document.getElementById('counter');
var at=0;
function show(i){
if(i<0||i>=frames.length)return;
frames[at].hidden=true;at=i;frames[at].hidden=false;
counter.textContent=(at+1)+' / '+frames.length;
prev.disabled=at===0;next.disabled=at===frames.length-1;
}
prev.addEventListener('click',function(){show(at-1);});
next.addEventListener('click',function(){show(at+1);});
document.addEventListener('keydown',function(e){
if(e.key==='ArrowRight'){show(at+1);e.preventDefault();}
else if(e.key==='ArrowLeft'){show(at-1);e.preventDefault();}
});
show(0);
})();";

/// The page for `frames` of `lesson`, in `lang`.
pub fn html(lesson: &Lesson, lang: Lang, frames: &[Frame]) -> String {
    let w = words(lang);
    let title = lesson.title.get(lang);
    let mut o = String::new();
    let _ = writeln!(o, "<!DOCTYPE html>");
    let _ = writeln!(o, "<html lang=\"{}\">", lang.code());
    let _ = writeln!(
        o,
        "<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    );
    let _ = writeln!(o, "<title>ringstep: {}</title>", escape(title));
    let _ = writeln!(o, "<style>\n{STYLE}\n</style>\n</head>\n<body>");
    let _ = writeln!(
        o,
        "<header><h1>{}</h1>{}</header>",
        escape(title),
        markdown_html(lesson.summary.get(lang))
    );
    let _ = writeln!(
        o,
        "<nav><button id=\"prev\" type=\"button\" disabled>&#9664; {}</button><span id=\"counter\">1 / {}</span><button id=\"next\" type=\"button\"{}>{} &#9654;</button></nav>",
        w.previous,
        frames.len(),
        if frames.len() < 2 { " disabled" } else { "" },
        w.next
    );
    let _ = writeln!(o, "<main>");
    for (i, f) in frames.iter().enumerate() {
        let label = frame_label(&lesson.id, f);
        let _ = writeln!(
            o,
            "<section class=\"frame\" id=\"frame-{}\" data-scene=\"{}\" data-step=\"{}\"{}>",
            i + 1,
            f.scene + 1,
            f.step,
            if i == 0 { "" } else { " hidden" }
        );
        // Inline SVG in HTML needs no namespace declaration; the class scales it.
        let image = svg(&f.buffer, &label).replacen(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" ",
            "<svg class=\"screen\" ",
            1,
        );
        o.push_str(&image);
        let _ = writeln!(
            o,
            "<div class=\"text\"><h2>{} {}/{}: {} · {} {}/{}</h2>",
            w.scene,
            f.scene + 1,
            f.scenes,
            escape(f.scene_title.as_str()),
            w.step,
            f.step,
            f.last_step
        );
        if let Some(n) = &f.narrative {
            o.push_str(&narrative_html(n, &w));
        }
        let _ = writeln!(o, "</div>\n</section>");
    }
    let _ = writeln!(o, "</main>");
    let _ = writeln!(
        o,
        "<footer>{} Drawn by ringstep {} at {}x{}.</footer>",
        w.keys,
        env!("CARGO_PKG_VERSION"),
        frames.first().map_or(0, |f| f.buffer.area.width),
        frames.first().map_or(0, |f| f.buffer.area.height),
    );
    let _ = writeln!(o, "<script>\n{SCRIPT}\n</script>\n</body>\n</html>");
    o
}
