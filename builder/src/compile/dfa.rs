//! Building one DFA from the HIRs of a chunk of units.

use dfabake_matcher::format::DfaKind;
use regex_automata::dfa::{dense, StartKind};
use regex_automata::nfa::thompson;
use regex_automata::MatchKind;
use regex_syntax::hir::Hir;

use super::Config;

/// What a rule's DFA is built from: a HIR (never printed and re-parsed: the
/// printed form of a rewritten HIR is not always faithful), whether the DFA
/// is searched anchored ([`Plan::Anchored`]: anchored start states only) or
/// unanchored, and a text of both, which keys the shard cache.
#[derive(Clone, Debug)]
pub(super) struct DfaSource {
    pub(super) hir: Hir,
    pub(super) anchored: bool,
    pub(super) key: String,
}

impl DfaSource {
    pub(super) fn new(hir: Hir, anchored: bool) -> DfaSource {
        let key = if anchored {
            format!("anchored {hir:?}")
        } else {
            format!("{hir:?}")
        };
        DfaSource { hir, anchored, key }
    }
}

/// Why a DFA was not built.
#[derive(Debug)]
pub(super) enum DfaError {
    /// Over `--max-dfa-bytes`.
    SizeLimit,
    Other(String),
}

fn dfa_error(e: dense::BuildError) -> DfaError {
    if e.is_size_limit_exceeded() {
        DfaError::SizeLimit
    } else {
        DfaError::Other(e.to_string())
    }
}

pub(super) fn build_dfa(
    hirs: &[&Hir],
    anchored: bool,
    limit: usize,
    cfg: &Config,
) -> Result<(DfaKind, Vec<u8>), DfaError> {
    let nfa = thompson::Compiler::new()
        .configure(
            thompson::Config::new()
                .utf8(false)
                .which_captures(thompson::WhichCaptures::None),
        )
        .build_many_from_hir(hirs)
        .map_err(|e| DfaError::Other(e.to_string()))?;
    let dfa = dense::Builder::new()
        .configure(
            dense::Config::new()
                .match_kind(MatchKind::All)
                // An anchored DFA lacks the unanchored `.*?` prefix: fewer
                // states, and a search stops where the match can no longer
                // start at the literal.
                .start_kind(if anchored {
                    StartKind::Anchored
                } else {
                    StartKind::Unanchored
                })
                .unicode_word_boundary(true)
                .dfa_size_limit(Some(limit))
                .determinize_size_limit(Some(limit)),
        )
        .build_from_nfa(&nfa)
        .map_err(dfa_error)?;
    let kind = match (cfg.dfa_kind, cfg.sparse_above) {
        (DfaKind::Dense, Some(limit)) if dfa.write_to_len() > limit => DfaKind::Sparse,
        (DfaKind::Exact, _) => unreachable!("no DFA is built for exact-only shards"),
        (kind, _) => kind,
    };
    Ok(match kind {
        DfaKind::Dense => {
            let mut buf = vec![0; dfa.write_to_len()];
            dfa.write_to_little_endian(&mut buf)
                .expect("buffer sized by write_to_len");
            (kind, buf)
        }
        DfaKind::Exact => unreachable!("chosen above"),
        DfaKind::Sparse => {
            let sparse = dfa.to_sparse().map_err(dfa_error)?;
            let mut buf = vec![0; sparse.write_to_len()];
            sparse
                .write_to_little_endian(&mut buf)
                .expect("buffer sized by write_to_len");
            (kind, buf)
        }
    })
}
