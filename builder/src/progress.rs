//! How far a build has come, told to whoever runs it: the library draws
//! nothing itself (the `dfabake` binary shows a bar on a terminal).

/// Receives a build's progress. Every method has a do-nothing default, and
/// calls may come from several compile threads at once.
pub trait Progress: Sync {
    /// A new step begins (`checking rules`, `compiling DFAs`), with how many
    /// units of work it has when that is known.
    fn step(&self, name: &str, total: Option<u64>) {
        let _ = (name, total);
    }

    /// The current step got `more` units of work (a shard split in two).
    fn add_total(&self, more: u64) {
        let _ = more;
    }

    /// `done` more units of the current step are finished.
    fn advance(&self, done: u64) {
        let _ = done;
    }
}

/// Reports nothing: what [`crate::build::build`] and
/// [`crate::compile::compile`] use.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Progress for Silent {}
