#!/usr/bin/env python3
"""Hyperscan baseline for BENCHMARKS (issue 6), measured with its serialized
database loaded.

    bench.py RULES INPUTS [--rounds N] [--json OUT] [--utf8 auto|on|off] [--check-re N]

RULES is a dfabake JSONL rules file ({"id": .., "pattern": .., "flags": "imsx"})
or a crawler-user-agents.json (a list of objects with `pattern` and
`instances`; rule ids 1..N in file order). INPUTS is a file with one input a
line (empty lines skipped) or `-` for the `instances` of a crawler json.

All patterns go into one block-mode database with HS_FLAG_SINGLEMATCH (each
matching rule reported once: dfabake's `all` mode) plus CASELESS / MULTILINE /
DOTALL from the rule's flags (`x` becomes an inline `(?x)` and a newline).
Hyperscan's id for a rule is its index in file order, which is dfabake's
priority order. Patterns Hyperscan rejects are found by compiling each one
alone first; they are listed with Hyperscan's error and left out. The database
is serialized, loaded back, and only the loaded copy is measured. See
README.md beside this file.
"""

import argparse
import gc
import gzip
import json
import re
import resource
import statistics
import sys
import time

import hyperscan as hs

HS_FLAGS = {"i": hs.HS_FLAG_CASELESS, "m": hs.HS_FLAG_MULTILINE, "s": hs.HS_FLAG_DOTALL}
NEVER = rb"\xff\xfe\xfd\xfc"  # bytes that never occur in UTF-8 text


def load(rules_path, inputs_arg):
    """Returns ([(id, pattern, flags)], [input bytes])."""
    if rules_path.endswith(".json"):
        with open(rules_path, encoding="utf-8") as f:
            lst = json.load(f)
        rules = [(i + 1, r["pattern"], "") for i, r in enumerate(lst)]
        crawler_inputs = [s.encode() for r in lst for s in r.get("instances", [])]
    else:
        rules = []
        with open(rules_path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    r = json.loads(line)
                    rules.append((r["id"], r["pattern"], r.get("flags") or ""))
        crawler_inputs = None
    if inputs_arg == "-":
        if crawler_inputs is None:
            sys.exit("INPUTS `-` needs a crawler-user-agents.json as RULES")
        inputs = crawler_inputs
    else:
        with open(inputs_arg, "rb") as f:
            inputs = [l for l in f.read().split(b"\n") if l]
    return rules, inputs


def hs_expr(pattern, flags):
    # As dfabake does: a newline ends a trailing `#` comment of verbose mode.
    expr = f"(?x){pattern}\n" if "x" in flags else pattern
    bits = hs.HS_FLAG_SINGLEMATCH
    for c in flags:
        bits |= HS_FLAGS.get(c, 0)
    return expr.encode(), bits


def compile_db(exprs, ids, flags):
    db = hs.Database(mode=hs.HS_MODE_BLOCK)
    db.compile(expressions=exprs, ids=ids, flags=flags)
    return db


def collect(rid, _from, _to, _flags, out):
    out.append(rid)


def scan_all(db, data):
    out = []
    db.scan(data, match_event_handler=collect, context=out)
    return out


def scan_first(db, data):
    # Hyperscan reports matches in order of end offset, not of id, so the
    # lowest matching id is only known after the whole scan.
    out = []
    db.scan(data, match_event_handler=collect, context=out)
    return min(out) if out else None


def per_input_ns(rounds, inputs, fn, db):
    """Median over rounds of the mean time per input, in ns (GC off while timing)."""
    means = []
    gc.disable()
    try:
        for _ in range(rounds):
            t = time.perf_counter_ns()
            for data in inputs:
                fn(db, data)
            means.append((time.perf_counter_ns() - t) / len(inputs))
    finally:
        gc.enable()
    return statistics.median(means)


def check_with_re(rules, kept, inputs, n, got):
    """Compares Hyperscan's `all` sets with Python's `re` (bytes patterns, so
    ASCII classes as in Hyperscan's byte mode) on the first n inputs."""
    compiled = []
    for idx in kept:
        _, pattern, flags = rules[idx]
        f = 0
        for c in flags:
            f |= {"i": re.I, "m": re.M, "s": re.S, "x": re.X}.get(c, 0)
        try:
            compiled.append((idx, re.compile(pattern.encode(), f)))
        except re.error:
            pass  # syntax Python's re lacks: not compared
    diffs = []
    for k, data in enumerate(inputs[:n]):
        want = {idx for idx, r in compiled if r.search(data)}
        have = set(got[k]) & {idx for idx, _ in compiled}
        if want != have:
            diffs.append({"input": data.decode(errors="replace"),
                          "only_re": sorted(rules[i][0] for i in want - have),
                          "only_hs": sorted(rules[i][0] for i in have - want)})
    return {"inputs": min(n, len(inputs)), "patterns_compared": len(compiled),
            "mismatching_inputs": len(diffs), "examples": diffs[:5]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("rules")
    ap.add_argument("inputs")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", dest="json_out")
    ap.add_argument("--utf8", choices=["auto", "on", "off"], default="auto",
                    help="add HS_FLAG_UTF8|HS_FLAG_UCP (auto: only when a pattern or an input is not ASCII)")
    ap.add_argument("--check-re", type=int, default=0, metavar="N",
                    help="compare the `all` sets with Python's re on the first N inputs")
    args = ap.parse_args()

    rules, inputs = load(args.rules, args.inputs)
    if not rules or not inputs:
        sys.exit("no rules or no inputs")
    utf8 = args.utf8 == "on" or (args.utf8 == "auto" and not (
        all(p.isascii() for _, p, _ in rules) and all(d.isascii() for d in inputs)))
    extra = (hs.HS_FLAG_UTF8 | hs.HS_FLAG_UCP) if utf8 else 0

    # Which patterns does Hyperscan take? One at a time, to name each rejected one.
    kept, rejected, allow_empty, exprs, flags = [], [], [], [], []
    for idx, (rid, pattern, fl) in enumerate(rules):
        expr, bits = hs_expr(pattern, fl)
        bits |= extra
        try:
            compile_db([expr], [idx], [bits])
        except hs.error as e:
            try:  # `a*` matches every input for the regex crate and dfabake too
                compile_db([expr], [idx], [bits | hs.HS_FLAG_ALLOWEMPTY])
                bits |= hs.HS_FLAG_ALLOWEMPTY
                allow_empty.append(rid)
            except hs.error:
                rejected.append({"id": rid, "pattern": pattern, "error": str(e)})
                continue
        kept.append(idx)
        exprs.append(expr)
        flags.append(bits)
    rss_before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    t = time.perf_counter()
    db = compile_db(exprs, kept, flags)
    compile_seconds = time.perf_counter() - t
    max_rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    blob = hs.dumpb(db)
    db_gzip = len(gzip.compress(blob, 9))
    info = db.info().decode()
    del db
    loadb_us, scratch_us = [], []
    for _ in range(20):
        t = time.perf_counter_ns()
        loaded = hs.loadb(blob, hs.HS_MODE_BLOCK)
        t1 = time.perf_counter_ns()
        loaded.scratch = hs.Scratch(loaded)  # a loaded database scans only with scratch
        t2 = time.perf_counter_ns()
        loadb_us.append((t1 - t) / 1e3)
        scratch_us.append((t2 - t1) / 1e3)
    loadb_us, scratch_us = statistics.median(loadb_us), statistics.median(scratch_us)

    never = compile_db([NEVER], [0], [hs.HS_FLAG_SINGLEMATCH])
    never = hs.loadb(hs.dumpb(never), hs.HS_MODE_BLOCK)
    never.scratch = hs.Scratch(never)

    got = [scan_all(loaded, d) for d in inputs]
    assert all(len(g) == len(set(g)) for g in got), "SINGLEMATCH reported an id twice"
    matches_total = sum(map(len, got))
    inputs_matched = sum(1 for g in got if g)

    floor_ns = per_input_ns(args.rounds, inputs, scan_all, never)
    all_ns = per_input_ns(args.rounds, inputs, scan_all, loaded)
    first_ns = per_input_ns(args.rounds, inputs, scan_first, loaded)

    result = {
        "rules": len(rules),
        "compiled": len(kept),
        "rejected": rejected,
        "allow_empty": allow_empty,
        "compile_seconds": round(compile_seconds, 4),
        "db_bytes": len(blob),
        "db_gzip_bytes": db_gzip,
        "load_us": round(loadb_us + scratch_us, 2),
        "loadb_us": round(loadb_us, 2),
        "scratch_us": round(scratch_us, 2),
        "all_ns": round(all_ns, 1),
        "first_ns": round(first_ns, 1),
        "floor_ns": round(floor_ns, 1),
        "inputs": len(inputs),
        "inputs_matched": inputs_matched,
        "matches_total": matches_total,
        "max_rss_kb": max_rss_kb,
        "rss_before_compile_kb": rss_before_kb,
        "rounds": args.rounds,
        "utf8_ucp": utf8,
        "hyperscan": hs.__version__,
        "hs_info": info,
        "python": sys.version.split()[0],
    }
    if args.check_re:
        result["re_check"] = check_with_re(rules, kept, inputs, args.check_re, got)

    us = lambda ns: f"{ns / 1000:.2f} µs"
    print(f"Hyperscan {hs.__version__} ({info}), Python {result['python']}")
    print(f"{args.rules}: {len(rules)} rules, {len(inputs)} inputs, utf8/ucp {'on' if utf8 else 'off'}")
    print(f"  rejected by Hyperscan: {len(rejected)}")
    for r in rejected[:10]:
        print(f"    id {r['id']}: {r['pattern']!r}: {r['error']}")
    if len(rejected) > 10:
        print(f"    ... {len(rejected) - 10} more (all in --json)")
    if allow_empty:
        print(f"  compiled with HS_FLAG_ALLOWEMPTY (they match the empty string): {len(allow_empty)}, ids {allow_empty[:10]}")
    print(f"  compile ({len(kept)} patterns, one database): {compile_seconds:.3f} s")
    print(f"  serialized database: {len(blob)} bytes, gzip -9 {db_gzip} bytes")
    print(f"  load: {result['load_us']:.1f} µs (loadb {loadb_us:.1f} + scratch {scratch_us:.1f}, median of 20)")
    print(f"  peak RSS after compile: {max_rss_kb} kB (before compile: {rss_before_kb} kB)")
    print(f"  per input, median of {args.rounds} rounds, Python call included:")
    print(f"    all   {us(all_ns)}")
    print(f"    first {us(first_ns)} (full scan, then min id)")
    print(f"    floor {us(floor_ns)} (same loop, database of one never-matching pattern)")
    print(f"  matches (all): {matches_total} over {inputs_matched}/{len(inputs)} inputs")
    if args.check_re:
        c = result["re_check"]
        print(f"  re check: {c['mismatching_inputs']} of {c['inputs']} inputs differ "
              f"({c['patterns_compared']} patterns compared)")
        for d in c["examples"]:
            print(f"    {d}")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
