"""Fixtures of the dfabake Python package's tests.

Every rule set is baked with the real `dfabake build` and answered with the
real `dfabake-host match` (wasmtime) in all three modes: the answers the
package must give. Binaries come from DFABAKE_BIN_DIR (default
target/release); run through tests/python/run.sh, which builds them.
"""

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
BIN = Path(os.environ.get("DFABAKE_BIN_DIR", ROOT / "target" / "release"))
os.environ.setdefault("XDG_CACHE_HOME", str(ROOT / "target" / "test-cache"))

# Rules whose meaning Python's `re` shares with the regex crate's on the
# corpus (no \w or \s, whose Unicode sets differ at the edges): non-ASCII
# offsets in characters are checked against `re` on them.
UNICODE_RULES = [
    {"id": "yandex", "pattern": r"(Яндекс|YandexBot)(?:/(\d+))?", "flags": "i", "payload": {"owner": "Yandex"}},
    {"id": "jp", "pattern": r"(日本)(語)+", "payload": ["ja", 1]},
    {"id": "naive", "pattern": r"na(ï|i)ve([^ ]*)", "payload": None},
    {"id": "uber", "pattern": r"über-(crawler|spider)", "flags": "i"},
    {"id": "emoji", "pattern": r"(.)🙂(.?)", "payload": "smile"},
    {"id": "accents", "pattern": r"[äöüßï]+", "payload": 3.5},
    {"id": 7, "pattern": r"([^ /]+)/(\d+)\.(\d+)", "payload": {"kind": "versioned"}},
    {"id": 8, "pattern": r"(crawler|spider)(s)?", "flags": "i", "payload": {"kind": "crawler"}},
    {"id": 9, "pattern": r"^(.)(.)", "flags": "s"},
]

# Payloads of every JSON shape, parsed natively: compared with json.loads of
# the host's answers.
PAYLOAD_RULES = [
    {"id": 1, "pattern": "p01", "payload": {"a": [1, 2.5, -0.0, 1e-07, 1e300, True, False, None], "b": {"c": "d"}}},
    {"id": "s\"q\\u", "pattern": "p02", "payload": "quote \" backslash \\ slash / ctrl \u0001 tab \t nl \n"},
    {"id": -3, "pattern": "p03", "payload": 12345678901234567890},
    {"id": 4, "pattern": "p04", "payload": -9223372036854775808},
    {"id": 5, "pattern": "p05", "payload": "Straße 🙂 日本 \u2028"},
    {"id": 6, "pattern": "p06", "payload": [[[[]]], {}, "", {"": {"x": []}}]},
    {"id": 7, "pattern": "p07", "payload": 0},
    {"id": 8, "pattern": "p08", "payload": 1.0},
    {"id": 9, "pattern": "p09", "payload": {"k": 1, "K": 2, "ключ": -1.5e-300}},
]


def run(*args, **kw):
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, **kw)


def gen_corpus(n=2000):
    """tests/npm/gen-corpus.mjs: user agents, tools, non-ASCII text, invalid UTF-8."""
    out = run("node", ROOT / "tests" / "npm" / "gen-corpus.mjs", n).stdout
    return [line for line in out.split(b"\n")[:-1]]


def crawler_json():
    for p in [
        ROOT / "tests" / "npm" / "node_modules" / "crawler-user-agents" / "crawler-user-agents.json",
        ROOT / "target" / "bench-data" / "package" / "crawler-user-agents.json",
    ]:
        if p.is_file():
            return p
    return None


@dataclass
class RuleSet:
    name: str
    rules: list
    module: Path
    corpus: list
    host: dict = field(default_factory=dict)  # mode -> [matches list per input]

    @property
    def texts(self):
        """The corpus inputs that are valid UTF-8, as str, with their bytes."""
        out = []
        for b in self.corpus:
            try:
                out.append((b.decode("utf-8"), b))
            except UnicodeDecodeError:
                pass
        return out


def write_jsonl(path, rules):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rules), encoding="utf-8")


def host_answers(module, mode, corpus):
    stdin = b"".join(line + b"\n" for line in corpus)
    out = run(BIN / "dfabake-host", "match", "--module", module, "--mode", mode, "-", input=stdin).stdout
    lines = out.decode("utf-8").split("\n")[:-1]  # not splitlines(): U+2028 may occur
    assert len(lines) == len(corpus), f"host answered {len(lines)} of {len(corpus)} inputs"
    return [json.loads(line)["matches"] for line in lines]


def make_ruleset(tmp, name):
    base = gen_corpus()
    if name == "examples":
        rules_path = ROOT / "examples" / "rules.jsonl"
        extra = (ROOT / "examples" / "inputs.txt").read_bytes().split(b"\n")
    elif name == "unicode":
        rules_path = tmp / "unicode.jsonl"
        write_jsonl(rules_path, UNICODE_RULES)
        extra = [s.encode() for s in ["Яндекс/12 日本語語 naïve-ä", "ЯНДЕКС über-SPIDERS 🙂x", "x🙂", "ß/1.2 crawlers"]]
    elif name == "payloads":
        rules_path = tmp / "payloads.jsonl"
        write_jsonl(rules_path, PAYLOAD_RULES)
        extra = [b"p01", b"p02 p03", b"p01 p02 p03 p04 p05 p06 p07 p08 p09", b"p09p08"]
    elif name == "crawler":
        src = crawler_json()
        if src is None:
            pytest.skip("crawler-user-agents not found (npm ci --prefix tests/npm)")
        lst = json.loads(src.read_text(encoding="utf-8"))
        rules_path = tmp / "crawler.jsonl"
        write_jsonl(rules_path, [{"id": i + 1, "pattern": r["pattern"], "payload": {"url": r.get("url")}}
                                 for i, r in enumerate(lst)])
        extra = [s.encode() for r in lst for s in r.get("instances", []) if "\n" not in s and "\r" not in s]
    elif name in ("synth", "uap"):
        rules_path, inputs_path = tmp / f"{name}.jsonl", tmp / f"{name}.txt"
        args = ["--rules", 2000, "--seed", 11] if name == "synth" else ["--rules", 600, "--seed", 5, "--profile", "uap"]
        run(BIN / "dfabake-synth", *args, "--inputs", 1500, "--out-rules", rules_path, "--out-inputs", inputs_path)
        extra = inputs_path.read_bytes().split(b"\n")
    else:
        raise ValueError(name)
    corpus = [line.removesuffix(b"\r") for line in extra if b"\n" not in line] + base
    out = tmp / f"out-{name}"
    run(BIN / "dfabake", "build", "--patterns", rules_path, "--out", out, "--quiet")
    rules = [json.loads(line) for line in rules_path.read_text(encoding="utf-8").split("\n") if line.strip()]
    rs = RuleSet(name, rules, out / "matcher.wasm", corpus)
    for mode in ("any", "all", "first"):
        rs.host[mode] = host_answers(rs.module, mode, corpus)
    return rs


_CACHE = {}


@pytest.fixture(scope="session")
def rulesets(tmp_path_factory):
    """name -> RuleSet, baked and answered by the host on first use."""

    class Lazy:
        def __getitem__(self, name):
            if name not in _CACHE:
                _CACHE[name] = make_ruleset(tmp_path_factory.mktemp(name), name)
            return _CACHE[name]

    return Lazy()


@pytest.fixture(scope="session")
def examples(rulesets):
    return rulesets["examples"]


@pytest.fixture
def report():
    """Lines for the run's summary (tests/python/run.sh prints them)."""
    path = os.environ.get("DFABAKE_PY_REPORT")

    def write(line):
        if path:
            with open(path, "a", encoding="utf-8") as f:
                f.write(line + "\n")
        print(line)

    return write
