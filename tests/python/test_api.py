"""The Python-facing API: attributes, result objects, input kinds."""

import hashlib
import json
import pickle

import pytest

import dfabake
from dfabake import FirstMatch, Match

GOOGLE = {"kind": "search", "owner": "Google"}


@pytest.fixture(scope="module")
def m(rulesets):
    return dfabake.Matcher.open(rulesets["examples"].module)


def test_the_installed_package_is_tested():
    assert "site-packages" in dfabake.__file__, dfabake.__file__
    assert dfabake.__all__ == ["Matcher", "Match", "FirstMatch", "DfabakeError", "CorruptModule", "FORMAT_VERSION"]


def test_attributes(m, examples):
    manifest = json.loads((examples.module.parent / "manifest.json").read_text())
    assert len(m) == 7
    assert m.rules == [1, 2, 3, 4, 5, "headless", 7]
    assert m.sha256 == hashlib.sha256(examples.module.read_bytes()).hexdigest()
    assert m.sha256 == manifest["module"]["sha256"]
    assert m.path == str(examples.module)
    assert m.verified and m.in_place
    assert m.checksum in manifest["database"]["checksum"]
    assert repr(m).startswith("<dfabake.Matcher ") and "7 rules" in repr(m)
    assert isinstance(dfabake.FORMAT_VERSION, int)


def test_from_bytes_equals_open(m, examples):
    data = examples.module.read_bytes()
    for src in (data, bytearray(data), memoryview(data)):
        b = dfabake.Matcher.from_bytes(src)
        assert b.path is None and b.sha256 == m.sha256 and b.rules == m.rules
        for s in examples.corpus[:300]:
            assert b.first(s) == m.first(s) and b.matches(s) == m.matches(s)


def test_first_result(m):
    f = m.first("Mozilla/5.0 (compatible; Googlebot/2.1)")
    assert isinstance(f, FirstMatch)
    assert (f.id, f.start, f.end, f.payload) == (1, 25, 38, GOOGLE)
    assert f.captures == ((25, 38), (35, 36), (37, 38))
    assert f.span() == (25, 38)
    assert f == FirstMatch(1, 25, 38, GOOGLE, ((25, 38), (35, 36), (37, 38)))
    assert f != FirstMatch(1, 25, 39, GOOGLE, ((25, 38), (35, 36), (37, 38)))
    assert hash(f) == hash(m.first("Mozilla/5.0 (compatible; Googlebot/2.1)"))
    assert repr(f) == ("FirstMatch(id=1, start=25, end=38, payload={'kind': 'search', 'owner': 'Google'}, "
                       "captures=((25, 38), (35, 36), (37, 38)))")
    match f:
        case FirstMatch(id=1, start=s, payload={"owner": owner}):
            assert (s, owner) == (25, "Google")
        case _:
            pytest.fail("FirstMatch did not match its class pattern")
    # A group that did not take part is None.
    assert m.first("Mozilla/5.0 (x").captures == ((0, 14), (13, 14))
    assert m.first("nothing here") is None


def test_matches_result(m):
    got = m.matches("Mozilla/5.0 (compatible; Googlebot/2.1) PhantomJS")
    assert got == [Match(1, GOOGLE), Match(5, {"kind": "browser"}), Match("headless", {"kind": "headless"})]
    assert [x.id for x in got] == [1, 5, "headless"]
    assert len({*got}) == 3
    match got[0]:
        case Match(rid, payload):
            assert rid == 1 and payload == GOOGLE
    assert m.matches("") == [] and m.matches(b"") == []
    # Payloads are parsed once and shared between answers.
    assert m.matches("bingbot")[0].payload is m.matches("BINGBOT")[0].payload


def test_str_and_bytes_offsets(m):
    text = "Яндекс curl/8.1 — googlebot/2.10"
    data = text.encode()
    fs, fb = m.first(text), m.first(data)
    assert fs.id == fb.id == 1
    assert text[fs.start:fs.end] == "googlebot/2.10"
    assert data[fb.start:fb.end] == b"googlebot/2.10"
    assert [text[a:b] for a, b in fs.captures] == ["googlebot/2.10", "2", "10"]
    # bytes-likes other than bytes: bytearray.
    assert m.first(bytearray(data)) == fb


def test_invalid_utf8_and_surrogates(m):
    assert [x.id for x in m.matches(b"\xff\xfe crawler \xc3(")] == [4]
    # A str with a lone surrogate cannot be UTF-8: it is matched as its
    # surrogatepass encoding, offsets still in characters.
    s = "\ud800 crawler"
    f = m.first(s)
    assert f.id == 4 and s[f.start:f.end] == "crawler"


def test_no_pickle_of_a_matcher(m):
    # Load the module in each process instead (it is milliseconds).
    with pytest.raises(TypeError):
        pickle.dumps(m)


def test_matcher_new_is_cheap_and_pool_bounded(rulesets):
    """Many matchers over one module, all answering (exercises the pool)."""
    rs = rulesets["uap"]
    ms = [dfabake.Matcher.open(rs.module) for _ in range(5)]
    want = ms[0].matches_many(rs.corpus[:200])
    for x in ms[1:]:
        assert x.matches_many(rs.corpus[:200]) == want


def test_payload_json_reader_equals_json_loads():
    """Ids and payloads are read natively (no `import json` before the first
    answer): the reader gives what json.loads gives, on random documents."""
    import math
    import random

    from dfabake._dfabake import _json_to_python as read

    rnd = random.Random(7)
    strings = ["", "a", "Straße", "🙂", "\u2028", "\"\\/\b\f\n\r\t", "\x00\x1f", "日本語", "\ud83d\ude42"[0:0]]

    def doc(depth=0):
        k = rnd.randrange(9 if depth < 4 else 6)
        if k == 0:
            return rnd.choice([None, True, False])
        if k == 1:
            return rnd.choice([0, -1, 2**63 - 1, -(2**63), 2**64 + 5, -(10**30), rnd.randrange(-10**6, 10**6)])
        if k == 2:
            return rnd.choice([0.0, -0.0, 1.5, 1e-300, 1e300, 5e-324, 0.1, rnd.random() * 10 ** rnd.randrange(-20, 20)])
        if k in (3, 4, 5):
            return rnd.choice(strings) + "".join(chr(rnd.choice([rnd.randrange(32, 127), rnd.randrange(0xA0, 0x3000),
                                                                  rnd.randrange(0x10000, 0x10FFFF)]))
                                                 for _ in range(rnd.randrange(4)))
        if k in (6, 7):
            return [doc(depth + 1) for _ in range(rnd.randrange(4))]
        return {rnd.choice(strings) + str(i): doc(depth + 1) for i in range(rnd.randrange(4))}

    for i in range(3000):
        d = doc()
        for text in (json.dumps(d), json.dumps(d, ensure_ascii=False), json.dumps(d, indent=1)):
            got, want = read(text), json.loads(text)
            assert repr(got) == repr(want), text
    for text in ("1E400", "-1e400", "-0", "1.0", "[1,2 ]", " {\"a\" : 1 } ", "\"\\ud83d\\ude42\"", "123456789012345678901234567890"):
        got, want = read(text), json.loads(text)
        assert repr(got) == repr(want) or (isinstance(got, float) and math.isinf(got) and got == want), text
    for bad in ("", "[", "{\"a\"}", "[1,]", "tru", "\"abc", "\"\\x\"", "1 2", "\"\\ud800\"", "[" * 600 + "]" * 600, "-", "--1"):
        with pytest.raises(ValueError):
            read(bad)
