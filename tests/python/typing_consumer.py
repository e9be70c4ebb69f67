"""Checked by mypy --strict against the package's stubs (test_typing.py)."""

import dfabake
from dfabake import FirstMatch, Match, Matcher


def classify(m: Matcher, ua: str | bytes) -> str:
    f: FirstMatch | None = m.first(ua)
    if f is None:
        return "unknown"
    start: int = f.start
    groups: tuple[tuple[int, int] | None, ...] = f.captures
    return f"{f.id}@{start}:{f.end} {len(groups)} {f.payload!r}"


def main() -> None:
    try:
        m = Matcher.open("out/matcher.wasm")
    except dfabake.CorruptModule as e:
        raise SystemExit(str(e))
    hits: list[Match] = m.matches(b"curl/8.0")
    ids: list[int | str] = [x.id for x in hits]
    many: list[list[Match]] = m.matches_many(["a", b"b"])
    ok: bool = m.is_match("x")
    n: int = len(m)
    digest: str = m.sha256
    print(classify(m, "Googlebot/2.1"), ids, many, ok, n, digest, m.rules, m.in_place)
    Matcher.from_bytes(b"...", verify=False)
