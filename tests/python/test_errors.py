"""Corrupted, truncated and foreign modules raise CorruptModule with a clear
message; a missing file raises the OSError subclass naming the path."""

import json
import shutil
import struct

import pytest

import dfabake


def database_offset(wasm: bytes) -> int:
    at = wasm.find(b"DFABAKE\0")
    assert at > 0
    return at


@pytest.fixture
def good(examples, tmp_path):
    path = tmp_path / "matcher.wasm"
    shutil.copy(examples.module, path)
    return path


def load_both(path, data):
    """Matcher.open on a file holding `data`, and Matcher.from_bytes(data)."""
    path.write_bytes(data)
    errors = []
    for load in (lambda: dfabake.Matcher.open(path), lambda: dfabake.Matcher.from_bytes(data)):
        with pytest.raises(dfabake.CorruptModule) as e:
            load()
        errors.append(str(e.value))
    return errors


def test_exception_hierarchy():
    assert issubclass(dfabake.CorruptModule, dfabake.DfabakeError)
    assert issubclass(dfabake.DfabakeError, Exception)
    assert dfabake.CorruptModule.__module__ == "dfabake"


def test_a_flipped_byte_in_the_database_fails_the_checksum(good):
    wasm = bytearray(good.read_bytes())
    at = database_offset(wasm)
    for where in (at + 200, at + len(wasm[at:]) // 2, len(wasm) - 10):
        bad = bytearray(wasm)
        bad[where] ^= 0x40
        for msg in load_both(good, bytes(bad)):
            assert "checksum mismatch" in msg and "corrupted module" in msg, msg
    # The file path is named.
    good.write_bytes(bytes(bad))
    with pytest.raises(dfabake.CorruptModule, match=str(good)):
        dfabake.Matcher.open(good)


def test_truncated_modules(good):
    wasm = good.read_bytes()
    at = database_offset(wasm)
    for cut in (0, 3, 8, 100, at - 1, at + 4, at + 63, at + 64, at + 500, len(wasm) - 1):
        for msg in load_both(good, wasm[:cut]):
            assert any(w in msg for w in ("truncated", "not a valid wasm module", "runs past the end",
                                          "unexpected end", "missing \\0asm")), (cut, msg)


def test_header_fields(good):
    wasm = good.read_bytes()
    at = database_offset(wasm)
    bad = bytearray(wasm)
    struct.pack_into("<I", bad, at + 8, 99)  # format version
    for msg in load_both(good, bytes(bad)):
        assert "format version 99 is not supported" in msg, msg
    bad = bytearray(wasm)
    bad[at:at + 8] = b"NOTADFA\0"
    for msg in load_both(good, bytes(bad)):
        assert "not a valid wasm module" in msg or "bad magic" in msg, msg


def test_not_a_module(tmp_path):
    for data in (b"", b"hello world", json.dumps({"rules": []}).encode(), b"\0asm\1\0\0\0"):
        for msg in load_both(tmp_path / "x.wasm", data):
            assert "dfabake build" in msg, msg


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        dfabake.Matcher.open(tmp_path / "nope.wasm")
    assert str(tmp_path / "nope.wasm") in str(e.value)
    # A directory means its matcher.wasm.
    with pytest.raises(FileNotFoundError, match="matcher.wasm"):
        dfabake.Matcher.open(tmp_path)


def test_a_directory_is_its_matcher_wasm(examples):
    m = dfabake.Matcher.open(examples.module.parent)
    assert m.path == str(examples.module)
    assert len(m) == len(examples.rules)


def test_verify_false_skips_the_check_but_answers(examples):
    m = dfabake.Matcher.open(examples.module, verify=False)
    assert not m.verified
    assert dfabake.Matcher.open(examples.module).verified
    assert m.first(b"Googlebot/2.1").id == 1


def test_wrong_input_types(examples):
    m = dfabake.Matcher.open(examples.module)
    for bad in (None, 3, ["x"], memoryview(b"x")):
        with pytest.raises(TypeError, match="str, bytes or bytearray"):
            m.is_match(bad)
        with pytest.raises(TypeError):
            m.matches_many([b"ok", bad])
    with pytest.raises(TypeError, match="bytes-like"):
        dfabake.Matcher.from_bytes("a str")
    with pytest.raises(TypeError):
        m.matches_many(5)
