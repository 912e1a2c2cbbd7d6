//! `[paging]`: the page tables a scenario's machine runs on. By default the builder
//! makes them from the regions (one address space, its top-level table at CR3); more
//! address spaces (another process, the user half of page-table isolation) are listed
//! under `[[paging.spaces]]`; `build = false` keeps tables the scenario writes itself.

use std::collections::HashSet;

use super::{Builder, Res};
use crate::machine::cpu;
use crate::machine::pagebuild::{self, Plan, Space};
use crate::machine::paging::PHYS_MASK;

impl Builder<'_> {
    pub(super) fn paging(&mut self) -> Res<()> {
        if self.m.cpu.cr0 & cpu::CR0_PG == 0 {
            return Ok(());
        }
        let layers = self.layers;
        let sec = layers
            .iter()
            .rev()
            .find_map(|l| l.doc.paging.as_ref().map(|p| (l, p.get_ref(), p.span())));
        let mut plan = Plan::default();
        let mut root_given = None;
        let mut exclusive: HashSet<String> = HashSet::new();
        let mut spaces = Vec::new();
        if let Some((l, p, _)) = &sec {
            let l = *l;
            if p.build == Some(false) {
                return Ok(());
            }
            plan.pool = p.tables.as_ref().map(|n| self.num(l, n, 52)).transpose()?;
            plan.clear_accessed = p.clear_accessed.unwrap_or(false);
            root_given = p.root.as_ref().map(|n| self.num(l, n, 52)).transpose()?;
            for s in &p.spaces {
                let root = self.num(l, &s.cr3, 52)?;
                let mut names = Vec::new();
                if s.kernel.unwrap_or(false) {
                    let kernel = self.m.mem.regions().iter().filter(|r| !r.perm.user);
                    names.extend(kernel.map(|r| r.name.clone()));
                }
                let listed = s.regions.iter().map(|n| (n, true));
                for (n, own) in listed.chain(s.shared.iter().map(|n| (n, false))) {
                    if self.m.mem.region_named(n.get_ref()).is_none() {
                        let msg = format!("no region named `{}`", n.get_ref());
                        return Err(l.err(n.span(), msg));
                    }
                    if !names.contains(n.get_ref()) {
                        names.push(n.get_ref().clone());
                    }
                    if own && s.exclusive.unwrap_or(false) {
                        exclusive.insert(n.get_ref().clone());
                    }
                }
                spaces.push(Space {
                    root,
                    regions: names,
                });
            }
        }
        let cr3 = root_given.unwrap_or(self.m.cpu.cr3);
        let mut root = cr3 & PHYS_MASK;
        if self.m.cpu.cr4 & cpu::CR4_PAE != 0 && self.mode == super::Mode::Protected32 {
            root = cr3 & 0xffff_ffe0;
        }
        if root == 0 {
            root = self.m.mem.free_phys(0x10_0000, 0x1000, 0x1000);
            self.m.cpu.cr3 = root;
        }
        let main = self
            .m
            .mem
            .regions()
            .iter()
            .filter(|r| !exclusive.contains(&r.name))
            .map(|r| r.name.clone())
            .collect();
        spaces.insert(
            0,
            Space {
                root,
                regions: main,
            },
        );
        plan.spaces = spaces;
        let built = pagebuild::build(&mut self.m, &plan).map_err(|e| match sec {
            Some((l, _, span)) => l.err(span, e),
            None => self.first_layer_err(&e),
        })?;
        plan.built = Some((built.pool.start, built.pool.end));
        self.m.layout = Some(plan);
        Ok(())
    }
}
