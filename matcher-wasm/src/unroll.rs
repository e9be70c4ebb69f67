//! Byte loops four bytes an iteration.
//!
//! A wasm host that can interrupt a call (wasmtime with epoch interruption,
//! as `dfabake-host` compiles every module) checks the epoch at every loop
//! back-edge: a load, a compare and a branch, and the spills and reloads of
//! the values live across them. For a loop whose body is one table lookup a
//! byte, that is as much as the body; unrolled by four, a quarter of it
//! (callgrind, interruptible: crawler `all` 5,609 → 4,637 instructions an
//! input with the prefilter scan unrolled).

use core::ops::ControlFlow;

/// Calls `f` with each byte of `bytes` in order until it breaks.
#[inline(always)]
pub(crate) fn each_byte<B>(
    bytes: &[u8],
    mut f: impl FnMut(u8) -> ControlFlow<B>,
) -> ControlFlow<B> {
    let mut chunks = bytes.chunks_exact(4);
    for chunk in &mut chunks {
        for &byte in chunk {
            f(byte)?;
        }
    }
    for &byte in chunks.remainder() {
        f(byte)?;
    }
    ControlFlow::Continue(())
}

/// Calls `f` with each byte of `bytes` from the last to the first until it
/// breaks.
#[inline(always)]
pub(crate) fn each_byte_rev<B>(
    bytes: &[u8],
    mut f: impl FnMut(u8) -> ControlFlow<B>,
) -> ControlFlow<B> {
    let mut chunks = bytes.rchunks_exact(4);
    for chunk in &mut chunks {
        for &byte in chunk.iter().rev() {
            f(byte)?;
        }
    }
    for &byte in chunks.remainder().iter().rev() {
        f(byte)?;
    }
    ControlFlow::Continue(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn every_byte_once_in_order_and_breaks_stop() {
        let bytes: Vec<u8> = (0..23).collect();
        for n in 0..=bytes.len() {
            let (mut fwd, mut rev) = (Vec::new(), Vec::new());
            let _ = each_byte::<()>(&bytes[..n], |b| {
                fwd.push(b);
                ControlFlow::Continue(())
            });
            let _ = each_byte_rev::<()>(&bytes[..n], |b| {
                rev.push(b);
                ControlFlow::Continue(())
            });
            assert_eq!(fwd, bytes[..n]);
            rev.reverse();
            assert_eq!(rev, bytes[..n]);
            let mut seen = 0;
            let stop = each_byte(&bytes[..n], |b| {
                seen += 1;
                if b == 5 {
                    ControlFlow::Break(b)
                } else {
                    ControlFlow::Continue(())
                }
            });
            assert_eq!(
                stop,
                if n > 5 {
                    ControlFlow::Break(5)
                } else {
                    ControlFlow::Continue(())
                }
            );
            assert_eq!(seen, n.min(6));
        }
    }
}
