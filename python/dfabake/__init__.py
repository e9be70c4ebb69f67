"""Regex rules baked by ``dfabake build``, answered natively.

>>> import dfabake
>>> m = dfabake.Matcher.open("out/matcher.wasm")   # doctest: +SKIP
>>> m.first("Mozilla/5.0 (compatible; Googlebot/2.1)")  # doctest: +SKIP
FirstMatch(id=1, start=25, end=38, payload={'kind': 'search', 'owner': 'Google'}, captures=((25, 38), (35, 36), (37, 38)))

``Matcher.open(path)`` memory-maps ``DIR/matcher.wasm`` (the file ``dfabake
build`` writes) and verifies it; ``Matcher.from_bytes(data)`` reads one from
memory. Inputs are ``str`` (offsets in characters, as :mod:`re`) or ``bytes``
(offsets in bytes). A ``Matcher`` is safe to share between threads (searches
release the GIL) and across ``fork()``: load it before forking and every
worker shares its pages.
"""

from ._dfabake import (
    FORMAT_VERSION as FORMAT_VERSION,
    CorruptModule as CorruptModule,
    DfabakeError as DfabakeError,
    FirstMatch as FirstMatch,
    Match as Match,
    Matcher as Matcher,
)

__all__ = ["Matcher", "Match", "FirstMatch", "DfabakeError", "CorruptModule", "FORMAT_VERSION"]
