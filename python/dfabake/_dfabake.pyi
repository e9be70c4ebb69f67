"""Type stubs of the native module (see the package docstring)."""

import os
from collections.abc import Iterable
from typing import Any, ClassVar, final

__all__ = ["CorruptModule", "DfabakeError", "FORMAT_VERSION", "FirstMatch", "Match", "Matcher", "_json_to_python"]

_Input = str | bytes | bytearray
"""What the matchers take: str (offsets in characters) or bytes (offsets in bytes)."""

FORMAT_VERSION: int
"""The database format version this build reads."""

class DfabakeError(Exception):
    """Base class of every error the dfabake package raises."""

class CorruptModule(DfabakeError):
    """The module is truncated, corrupted (failed verification), not a wasm
    module, an unbaked template, or of a format version this build cannot read."""

@final
class Match:
    """A rule that matched: its id and payload (None when the rule has none)."""

    __match_args__: ClassVar[tuple[str, str]]
    @property
    def id(self) -> int | str: ...
    @property
    def payload(self) -> Any:
        """The rule's payload (JSON as Python objects; shared between answers: treat it as read-only)."""
    def __new__(cls, id: int | str, payload: Any) -> Match: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class FirstMatch:
    """The highest-priority matching rule, with its leftmost-first span and groups."""

    __match_args__: ClassVar[tuple[str, str, str, str, str]]
    @property
    def id(self) -> int | str: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def payload(self) -> Any: ...
    @property
    def captures(self) -> tuple[tuple[int, int] | None, ...]:
        """``captures[i]`` is group i as ``(start, end)``, or None; group 0 is the whole match."""
    def __new__(
        cls,
        id: int | str,
        start: int,
        end: int,
        payload: Any,
        captures: tuple[tuple[int, int] | None, ...],
    ) -> FirstMatch: ...
    def span(self) -> tuple[int, int]: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Matcher:
    """Rules baked by ``dfabake build``, read natively from ``DIR/matcher.wasm``."""

    @staticmethod
    def open(path: str | os.PathLike[str], verify: bool = True) -> Matcher:
        """Memory-maps ``path`` (a matcher.wasm, or the directory holding one).

        ``verify`` checks the database's checksum, structure, exact programs,
        ids and payloads now, and each DFA before its first search; pass
        False only for a module you trust.
        Raises OSError (FileNotFoundError, ...) or CorruptModule."""
    @staticmethod
    def from_bytes(data: bytes | bytearray | memoryview, verify: bool = True) -> Matcher:
        """A matcher over a matcher.wasm's contents. Raises CorruptModule."""
    def is_match(self, s: _Input, /) -> bool:
        """Whether any rule matches anywhere in ``s``."""
    def matches(self, s: _Input, /) -> list[Match]:
        """Every rule matching anywhere in ``s``, each once, in priority order."""
    def first(self, s: _Input, /) -> FirstMatch | None:
        """The highest-priority rule matching ``s``, with span and captures, or None."""
    def matches_many(self, inputs: Iterable[_Input], /) -> list[list[Match]]:
        """``matches`` of each input, with one release of the GIL."""
    def __len__(self) -> int: ...
    @property
    def rules(self) -> list[int | str]:
        """The rule ids, in priority order."""
    @property
    def sha256(self) -> str:
        """SHA-256 of the module file (hex), as in manifest.json."""
    @property
    def checksum(self) -> str:
        """The database checksum (XXH3-64, hex)."""
    @property
    def path(self) -> str | None: ...
    @property
    def verified(self) -> bool: ...
    @property
    def in_place(self) -> bool:
        """Whether the database is read in place from the mapped file (no copy)."""

def _json_to_python(text: str) -> Any:
    """The package's JSON reader for ids and payloads (for its tests)."""
