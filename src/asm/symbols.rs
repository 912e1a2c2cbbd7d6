//! The symbol table shared by all sections, and the two ways of evaluating expressions:
//! early (while reading, to size fields like GNU as) and late (with addresses).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use super::error::Pos;
use super::expr::{eval, Env, EvalErr, Expr, Lin, Term};

/// A `.set`/`.equ`/`=` definition.
#[derive(Debug, Clone)]
pub struct SetDef {
    /// Statement sequence number of the definition.
    pub seq: u32,
    pub expr: Expr,
    /// The linear form when it was read, if everything in it was known then.
    pub early: Option<Lin>,
    pub sec: usize,
    /// Index of the definition's marker item (its address is `.` for the expression).
    pub item: usize,
    pub pos: Pos,
    /// How deeply `expr` nests ([`Expr::height`]).
    pub height: usize,
}

#[derive(Debug, Clone)]
pub enum SymDef {
    None,
    Label {
        sec: usize,
        frag: u32,
        off: u64,
        pos: Pos,
    },
    Set(Vec<SetDef>),
}

#[derive(Debug, Clone)]
pub struct Sym {
    pub name: String,
    pub def: SymDef,
    pub weak: bool,
    /// Internal names of numeric local labels (`1:`) are not reported.
    pub hidden: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Symbols {
    map: HashMap<String, u32>,
    pub list: Vec<Sym>,
    /// First use of each symbol, in order.
    pub uses: Vec<(u32, Pos)>,
    used: Vec<bool>,
}

impl Symbols {
    pub fn id(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.map.get(name) {
            return i;
        }
        let i = self.list.len() as u32;
        self.map.insert(name.to_string(), i);
        self.list.push(Sym {
            name: name.to_string(),
            def: SymDef::None,
            weak: false,
            hidden: name.contains('\u{2}'),
        });
        self.used.push(false);
        i
    }

    pub fn get(&self, name: &str) -> Option<u32> {
        self.map.get(name).copied()
    }

    pub fn sym(&self, id: u32) -> &Sym {
        &self.list[id as usize]
    }

    pub fn sym_mut(&mut self, id: u32) -> &mut Sym {
        &mut self.list[id as usize]
    }

    /// Record uses of the symbols in `e` (for the externals list).
    pub fn note_uses(&mut self, e: &Expr, pos: Pos) {
        let mut names = Vec::new();
        e.symbols(&mut |n, c| names.push((n.to_string(), c)));
        for (n, c) in names {
            let id = self.id(&n);
            if !self.used[id as usize] {
                self.used[id as usize] = true;
                self.uses.push((id, pos.at_col(c)));
            }
        }
    }

    /// The definition of a `.set` symbol seen by a statement with sequence `seq`: the last
    /// one before it, else (a forward reference) the last one overall.
    pub fn set_def(defs: &[SetDef], seq: u32) -> Option<&SetDef> {
        defs.iter().rev().find(|d| d.seq < seq).or(defs.last())
    }

    /// Names a user might have meant (labels and constants), for suggestions.
    pub fn defined_names(&self) -> Vec<&str> {
        self.list
            .iter()
            .filter(|s| !s.hidden && !matches!(s.def, SymDef::None))
            .map(|s| super::parse::shown_name(&s.name))
            .collect()
    }
}

/// Early evaluation: labels defined so far, constants defined so far; label differences
/// only within one frag (as GNU as: a frag ends at each relaxable jump and alignment).
pub struct EarlyEnv<'a> {
    pub syms: &'a Symbols,
    pub sec: usize,
    pub frag: u32,
    pub off: u64,
}

impl Env for EarlyEnv<'_> {
    fn symbol(&self, name: &str, _col: usize) -> Result<Lin, EvalErr> {
        let Some(id) = self.syms.get(name) else {
            return Err(EvalErr::Unknown);
        };
        match &self.syms.sym(id).def {
            SymDef::Label { .. } => Ok(Lin::term(Term::Label(id))),
            SymDef::Set(defs) => defs
                .last()
                .and_then(|d| d.early.clone())
                .ok_or(EvalErr::Unknown),
            SymDef::None => Err(EvalErr::Unknown),
        }
    }

    fn fold(&self, lin: &Lin, _col: usize) -> Result<i64, EvalErr> {
        let mut groups: Vec<((usize, u32), i64)> = Vec::new();
        let mut k = lin.k;
        for &(t, c) in &lin.terms {
            let (key, off) = match t {
                Term::Dot => ((self.sec, self.frag), self.off),
                Term::Label(id) => match &self.syms.sym(id).def {
                    SymDef::Label { sec, frag, off, .. } => ((*sec, *frag), *off),
                    _ => return Err(EvalErr::Unknown),
                },
                Term::Ext(_) => return Err(EvalErr::Unknown),
            };
            k = k.wrapping_add(c.wrapping_mul(off as i64));
            match groups.iter_mut().find(|g| g.0 == key) {
                Some(g) => g.1 = g.1.wrapping_add(c),
                None => groups.push((key, c)),
            }
        }
        if groups.iter().all(|g| g.1 == 0) {
            Ok(k)
        } else {
            Err(EvalErr::Unknown)
        }
    }
}

impl EarlyEnv<'_> {
    /// The value if it is an absolute constant now.
    pub fn value(&self, e: &Expr) -> Result<Option<i64>, (usize, String)> {
        match eval(e, self) {
            Ok(l) => match l.as_const() {
                Some(k) => Ok(Some(k)),
                None => match self.fold(&l, 0) {
                    Ok(k) => Ok(Some(k)),
                    Err(_) => Ok(None),
                },
            },
            Err(EvalErr::Unknown) => Ok(None),
            Err(EvalErr::Error(c, m)) => Err((c, m)),
        }
    }
}

/// How late evaluation treats symbols defined nowhere.
pub enum Externals<'a> {
    /// During layout: an error (sizes must not depend on them).
    Forbidden,
    /// During encoding: ask the caller.
    Resolve(&'a dyn Fn(&str) -> Option<u64>),
    /// Keep them as terms (for classification).
    Keep,
}

/// The most levels of `.set` symbols, operators and parentheses one value may be
/// evaluated through (each symbol counts one level plus the depth of its expression).
pub const MAX_SET_LEVELS: usize = 512;

/// The `.set` symbols being evaluated, outermost first: for cycles and the depth limit.
#[derive(Debug, Default)]
pub struct SetStack {
    ids: RefCell<Vec<u32>>,
    /// The same ids, to find a cycle without walking the stack.
    on_stack: RefCell<rustc_hash::FxHashSet<u32>>,
    /// Levels in use (see [`MAX_SET_LEVELS`]).
    levels: Cell<usize>,
    /// A cycle or the limit was reported: outer symbols pass the message on unchanged.
    reported: Cell<bool>,
}

impl SetStack {
    /// Why `id` cannot be evaluated here, if it is already being evaluated or the chain
    /// is too deep; otherwise enter it.
    fn enter(&self, syms: &Symbols, id: u32, d: &SetDef) -> Result<(), String> {
        let shown = |id: u32| super::parse::shown_name(&syms.sym(id).name).to_string();
        let mut ids = self.ids.borrow_mut();
        if !self.on_stack.borrow_mut().insert(id) {
            let at = ids.iter().position(|&i| i == id).unwrap_or(0);
            let through: Vec<String> = ids[at + 1..]
                .iter()
                .map(|&i| format!("`{}`", shown(i)))
                .collect();
            let via = match through.is_empty() {
                true => String::new(),
                false => format!(" through {}", through.join(", ")),
            };
            self.reported.set(true);
            return Err(format!(
                "`{}` is defined in terms of itself{via} (its definition is on line {})",
                shown(id),
                d.pos.line
            ));
        }
        let levels = self.levels.get() + 1 + d.height;
        if levels > MAX_SET_LEVELS {
            self.on_stack.borrow_mut().remove(&id);
            self.reported.set(true);
            return Err(format!(
                "the value of `{}` nests too deeply (more than {MAX_SET_LEVELS} levels of symbols defined by other symbols, operators and parentheses)",
                shown(ids.first().copied().unwrap_or(id))
            ));
        }
        self.levels.set(levels);
        ids.push(id);
        Ok(())
    }

    fn leave(&self, d: &SetDef) {
        if let Some(id) = self.ids.borrow_mut().pop() {
            self.on_stack.borrow_mut().remove(&id);
        }
        self.levels.set(self.levels.get() - 1 - d.height);
    }

    /// Whether an error from inside should be passed on unchanged; clears the mark once
    /// the outermost symbol is left.
    fn pass_on(&self) -> bool {
        let reported = self.reported.get();
        if self.ids.borrow().is_empty() {
            self.reported.set(false);
        }
        reported
    }
}

/// Late evaluation with addresses.
pub struct LateEnv<'a> {
    pub syms: &'a Symbols,
    /// Address of each label by symbol id (0 if not a label).
    pub label_addr: &'a [u64],
    /// Address of every item, by section and item index (for `.` in `.set` values).
    pub item_addr: &'a [Vec<u64>],
    pub dot: u64,
    pub seq: u32,
    pub ext: &'a Externals<'a>,
    pub depth: &'a SetStack,
    /// Names the caller knows, for suggestions on unresolved externals.
    pub known: &'a [&'a str],
}

impl Env for LateEnv<'_> {
    fn symbol(&self, name: &str, col: usize) -> Result<Lin, EvalErr> {
        let Some(id) = self.syms.get(name) else {
            return Err(EvalErr::Error(col, format!("undefined symbol `{name}`")));
        };
        match &self.syms.sym(id).def {
            SymDef::Label { .. } => Ok(Lin::term(Term::Label(id))),
            SymDef::None => match self.ext {
                Externals::Resolve(f) => match f(name) {
                    Some(v) => Ok(Lin::constant(v as i64)),
                    None => Err(EvalErr::Error(col, self.undefined(name))),
                },
                Externals::Forbidden => Err(EvalErr::Error(
                    col,
                    format!("`{name}` is not defined in the code, so its value is not known when the code is laid out"),
                )),
                Externals::Keep => Ok(Lin::term(Term::Ext(id))),
            },
            SymDef::Set(defs) => self.set_value(id, name, col, defs),
        }
    }

    fn fold(&self, lin: &Lin, col: usize) -> Result<i64, EvalErr> {
        let mut k = lin.k;
        for &(t, c) in &lin.terms {
            let v = match t {
                Term::Dot => self.dot,
                Term::Label(id) => self.label_addr.get(id as usize).copied().unwrap_or(0),
                Term::Ext(id) => {
                    let name = &self.syms.sym(id).name;
                    match self.ext {
                        Externals::Resolve(f) => match f(name) {
                            Some(v) => v,
                            None => return Err(EvalErr::Error(col, self.undefined(name))),
                        },
                        _ => {
                            return Err(EvalErr::Error(
                                col,
                                format!("`{name}` is not defined in the code, so its value is not known when the code is laid out"),
                            ))
                        }
                    }
                }
            };
            k = k.wrapping_add(c.wrapping_mul(v as i64));
        }
        Ok(k)
    }
}

impl LateEnv<'_> {
    /// The value of a `.set` symbol (kept apart from `symbol`: this recurses).
    fn set_value(&self, id: u32, name: &str, col: usize, defs: &[SetDef]) -> Result<Lin, EvalErr> {
        let Some(d) = Symbols::set_def(defs, self.seq) else {
            return Err(EvalErr::Error(col, format!("undefined symbol `{name}`")));
        };
        self.depth
            .enter(self.syms, id, d)
            .map_err(|m| EvalErr::Error(col, m))?;
        let dot = self
            .item_addr
            .get(d.sec)
            .and_then(|v| v.get(d.item))
            .copied()
            .unwrap_or(0);
        let r = eval(
            &d.expr,
            &LateEnv {
                dot,
                seq: d.seq,
                ..*self
            },
        );
        self.depth.leave(d);
        let mut l = match r {
            Ok(l) => l,
            Err(EvalErr::Error(_, m)) if self.depth.pass_on() => {
                return Err(EvalErr::Error(col, m))
            }
            Err(EvalErr::Error(_, m)) => {
                let shown = super::parse::shown_name(name);
                return Err(EvalErr::Error(
                    col,
                    format!("in the value of `{shown}`: {m}"),
                ));
            }
            Err(e) => return Err(e),
        };
        // `.` inside a .set means the place of the .set.
        if let Some(p) = l.terms.iter().position(|t| t.0 == Term::Dot) {
            let c = l.terms.remove(p).1;
            l.k = l.k.wrapping_add(c.wrapping_mul(dot as i64));
        }
        Ok(l)
    }

    pub fn undefined(&self, name: &str) -> String {
        let mut names = self.syms.defined_names();
        names.extend(self.known.iter().copied());
        let near = super::error::nearest(name, names, 3);
        format!(
            "undefined symbol `{name}`{}",
            super::error::did_you_mean(&near)
        )
    }

    /// The numeric value.
    pub fn value(&self, e: &Expr) -> Result<i64, (usize, String)> {
        let l = eval(e, self).map_err(to_err)?;
        match l.as_const() {
            Some(k) => Ok(k),
            None => self.fold(&l, 0).map_err(to_err),
        }
    }

    /// The linear form with labels, `.` and externals kept as terms.
    pub fn lin(&self, e: &Expr) -> Result<Lin, (usize, String)> {
        eval(e, self).map_err(to_err)
    }
}

fn to_err(e: EvalErr) -> (usize, String) {
    match e {
        EvalErr::Error(c, m) => (c, m),
        EvalErr::Unknown => (0, "value not known".into()),
    }
}
