//! Measuring helpers shared by the bench binaries.
#![deny(missing_docs)]

use std::time::Instant;

/// The median of `xs` (the upper one for an even count).
pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    xs[xs.len() / 2]
}

/// Median over `rounds` of the mean time per input, in nanoseconds.
pub fn per_input(rounds: usize, inputs: &[Vec<u8>], mut f: impl FnMut(&[u8])) -> f64 {
    median(
        (0..rounds)
            .map(|_| {
                let t = Instant::now();
                for i in inputs {
                    f(i);
                }
                t.elapsed().as_nanos() as f64 / inputs.len() as f64
            })
            .collect(),
    )
}

/// The gzip size the manifest reports (one definition, so that the figures
/// in BENCHMARKS.md and a build's manifest agree).
pub use dfabake::manifest::gzip_len;
