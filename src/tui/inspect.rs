//! What the inspector panes show: moved to `debug::inspect` (below the viewer), so that
//! the gdb server's `monitor` commands print the same decoding. Re-exported here for the
//! panes.

pub use crate::debug::inspect::*;
