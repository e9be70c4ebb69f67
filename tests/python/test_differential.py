"""The package answers exactly as `dfabake-host match` (the baked module run
by wasmtime) in all three modes, for bytes and str inputs; offsets of str
inputs are in characters, checked against the host's byte offsets and, on
rules Python's `re` reads the same way, against `re` itself."""

import re

import pytest

import dfabake

SETS = ["examples", "unicode", "payloads", "crawler", "synth", "uap"]


def as_json(m):
    """A FirstMatch as the host's JSON object."""
    return {"id": m.id, "start": m.start, "end": m.end, "payload": m.payload,
            "captures": [list(c) if c is not None else None for c in m.captures]}


def char_offset(data: bytes, at: int) -> int:
    return len(data[:at].decode("utf-8"))


@pytest.fixture(scope="module", params=SETS)
def rs(request, rulesets):
    return rulesets[request.param]


@pytest.fixture(scope="module")
def matcher(rs):
    return dfabake.Matcher.open(rs.module)


def test_loads_the_rules_in_order(rs, matcher):
    assert len(matcher) == len(rs.rules)
    assert matcher.rules == [r["id"] for r in rs.rules]
    assert matcher.in_place, "a module baked by this dfabake is read in place from the mapping"


def test_all_mode_bytes(rs, matcher):
    for data, want in zip(rs.corpus, rs.host["all"], strict=True):
        got = [{"id": m.id, "payload": m.payload} for m in matcher.matches(data)]
        assert got == want, data


def test_all_mode_str(rs, matcher):
    by_bytes = dict(zip(rs.corpus, rs.host["all"]))
    for text, data in rs.texts:
        got = [{"id": m.id, "payload": m.payload} for m in matcher.matches(text)]
        assert got == by_bytes[data], text


def test_any_mode(rs, matcher):
    """`any` names some matching rule: the host's pick must be in our set."""
    hits = 0
    for data, want, every in zip(rs.corpus, rs.host["any"], rs.host["all"], strict=True):
        assert matcher.is_match(data) == bool(want), data
        if want:
            hits += 1
            assert want[0]["id"] in [m["id"] for m in every]
        try:
            assert matcher.is_match(data.decode("utf-8")) == bool(want)
        except UnicodeDecodeError:
            pass
    assert hits > 0


def test_first_mode_bytes(rs, matcher):
    for data, want in zip(rs.corpus, rs.host["first"], strict=True):
        got = matcher.first(data)
        assert ([as_json(got)] if got else []) == want, data


def test_first_mode_str_offsets_in_characters(rs, matcher):
    by_bytes = dict(zip(rs.corpus, rs.host["first"]))
    non_ascii = 0
    for text, data in rs.texts:
        want = by_bytes[data]
        got = matcher.first(text)
        if not want:
            assert got is None, text
            continue
        (w,) = want
        non_ascii += not text.isascii()
        assert got.id == w["id"] and got.payload == w["payload"], text
        assert (got.start, got.end) == (char_offset(data, w["start"]), char_offset(data, w["end"])), text
        assert got.captures == tuple(
            None if c is None else (char_offset(data, c[0]), char_offset(data, c[1])) for c in w["captures"]
        ), text
        assert text[got.start:got.end] == data[w["start"]:w["end"]].decode("utf-8")
    if rs.name in ("examples", "unicode"):
        assert non_ascii >= 20, f"only {non_ascii} non-ASCII inputs matched"


def test_matches_many_is_matches_of_each(rs, matcher):
    inputs = rs.corpus[:500] + [t for t, _ in rs.texts[:500]]
    assert matcher.matches_many(inputs) == [matcher.matches(s) for s in inputs]
    assert matcher.matches_many(iter(inputs[:3])) == [matcher.matches(s) for s in inputs[:3]]
    assert matcher.matches_many([]) == []


RE_FLAGS = {"i": re.I, "m": re.M, "s": re.S, "x": re.X}


@pytest.mark.parametrize("name", ["examples", "unicode"])
def test_non_ascii_offsets_equal_python_re(rulesets, name):
    """On rules Python's `re` reads as the regex crate does, `first` on a str
    gives what `re.search` gives for the first rule (in order) that matches:
    same rule, span and groups, in characters."""
    rs = rulesets[name]
    m = dfabake.Matcher.open(rs.module)
    compiled = []
    for r in rs.rules:
        flags = 0
        for c in r.get("flags", ""):
            flags |= RE_FLAGS[c]
        compiled.append((r["id"], re.compile(r["pattern"], flags)))
    checked = 0
    for text, _ in rs.texts:
        if text.isascii():
            continue
        want = None
        for rid, rx in compiled:
            found = rx.search(text)
            if found:
                want = (rid, found.span(), tuple(found.span(g) if found.group(g) is not None else None
                                                 for g in range(rx.groups + 1)))
                break
        got = m.first(text)
        assert (None if got is None else (got.id, got.span(), got.captures)) == want, text
        checked += want is not None
    assert checked >= 50, f"only {checked} non-ASCII inputs matched a rule"
