#!/usr/bin/env python3
"""Python side by side (issue 14): the dfabake package against what a Python
server does today, on the same rules and inputs, in one run.

    bench.py --set NAME RULES.jsonl INPUTS.txt MODULE.wasm [--set ...]
             [--starts N] [--starts-slow N] [--rounds N] [--re-inputs N]
             [--work DIR] [--json OUT] [--md OUT]

For each set (dfabake JSON Lines rules, one input a line, the module `dfabake
build` baked from the rules):

1. **Start: import -> first answer**, in fresh processes (median of --starts;
   --starts-slow for `re`, whose compile takes seconds on big sets): the time
   from before the engine's `import` to the first input's answer, measured
   inside the child, and the child's whole wall time (interpreter start
   included), measured by the parent. Engines:
   - `dfabake`: `Matcher.open(module)` (verified) then `first`; and
     `dfabake verify=False` (a module trusted, e.g. verified at deploy);
   - `re list`: read the rules (JSON Lines), `re.compile` each, then the
     first rule (in order) whose `search` matches: what a server compiling at
     start does;
   - `re joined`: one `re.compile` of `(?:p1)|(?:p2)|...` (flags scoped), then
     `search`: answers *whether* some rule matches (and where), not which;
   - `re2.Set` (PyPI google-re2): `SearchSet`, `Add` each, `Compile`, `Match`
     (ids of matching rules; first = the lowest);
   - `hyperscan` (PyPI): `loadb` of the database serialized in the parent
     (compile time reported apart), `Scratch`, `scan` (ids; first = lowest).
2. **Per call** on the inputs (median over --rounds of the mean per input,
   GC off): `is_match`, `matches` (every matching rule, priority order),
   `first` (highest-priority rule; with span for dfabake and re, id only for
   re2.Set and hyperscan, which do not report it). dfabake on str and on
   bytes inputs, and `matches_many` (one call for all inputs); `re list` and
   `re joined` on the first --re-inputs inputs only (they take milliseconds
   an input on big sets).
   `matches_total` (sum over inputs of `matches` lengths) shows whether the
   engines agree on the rules they all accept.

Patterns an engine rejects are left out of that engine's runs and counted
(`rejected`). Writes a Markdown table (--md) and all figures as JSON (--json).
"""

import sys
import time

T0 = time.perf_counter()  # a child's clock starts before any import

# ---------------------------------------------------------------- children
# Each child prints one JSON line: {"ms": import->first answer, "answer": ...}.


def child(engine, rules_path, inputs_path, module, work):
    first_input = open(inputs_path, "rb").readline().rstrip(b"\n")
    if engine in ("dfabake", "dfabake-unverified"):
        t = time.perf_counter()
        import dfabake
        m = dfabake.Matcher.open(module, verify=engine == "dfabake")
        f = m.first(first_input.decode("utf-8"))
        answer = None if f is None else [f.id, f.start, f.end]
    elif engine in ("re-list", "re-joined"):
        t = time.perf_counter()
        import json
        import re
        rules = [json.loads(line) for line in open(rules_path, encoding="utf-8") if line.strip()]
        text = first_input.decode("utf-8")
        if engine == "re-list":
            compiled = []
            for r in rules:
                try:
                    compiled.append((r["id"], re.compile(r["pattern"], re_flags(re, r.get("flags") or ""))))
                except re.error:
                    pass
            answer = next(([rid, *m.span()] for rid, rx in compiled if (m := rx.search(text))), None)
        else:
            parts = []
            for r in rules:
                p = scoped(r["pattern"], r.get("flags") or "")
                try:
                    re.compile(p)
                    parts.append(p)
                except re.error:
                    pass
            m = re.compile("|".join(parts)).search(text)
            answer = None if m is None else list(m.span())
    elif engine == "re2":
        t = time.perf_counter()
        import json
        import re2
        rules = [json.loads(line) for line in open(rules_path, encoding="utf-8") if line.strip()]
        s = re2.Set.SearchSet(re2_options(re2))
        ids = []
        for r in rules:
            try:
                s.Add(re2_pattern(r))
                ids.append(r["id"])
            except re2.error:
                pass
        s.Compile()
        hits = s.Match(first_input)
        answer = None if not hits else ids[min(hits)]
    elif engine == "hyperscan":
        t = time.perf_counter()
        import hyperscan
        db = hyperscan.loadb(open(f"{work}/hyperscan.db", "rb").read(), hyperscan.HS_MODE_BLOCK)
        db.scratch = hyperscan.Scratch(db)
        hits = []
        db.scan(first_input, match_event_handler=lambda i, a, b, c, ctx: hits.append(i))
        answer = None if not hits else min(hits)
    else:
        raise SystemExit(f"unknown engine {engine}")
    done = time.perf_counter()
    import json
    print(json.dumps({"ms": (done - t) * 1e3, "since_start_ms": (done - T0) * 1e3, "answer": answer}))


def re_flags(re, flags):
    f = 0
    for c in flags:
        f |= {"i": re.I, "m": re.M, "s": re.S, "x": re.X}[c]
    return f


def scoped(pattern, flags):
    # Flags scoped to the alternative; `x` patterns end with a newline so
    # that a trailing comment cannot swallow the closing parenthesis.
    if "x" in flags:
        pattern += "\n"
    return f"(?{flags}:{pattern})" if flags else f"(?:{pattern})"


def re2_options(re2):
    o = re2.Options()
    o.log_errors = False
    o.max_mem = 1 << 30
    return o


def re2_pattern(r):
    flags = r.get("flags") or ""
    if "x" in flags:
        raise __import__("re2").error("RE2 has no verbose mode")
    return f"(?{flags}){r['pattern']}" if flags else r["pattern"]


# ------------------------------------------------------------------ parent


def main():
    import argparse
    import gc
    import json
    import os
    import re
    import statistics
    import subprocess

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", nargs=4, action="append", required=True, metavar=("NAME", "RULES", "INPUTS", "MODULE"))
    ap.add_argument("--starts", type=int, default=9, help="fresh processes per engine (median)")
    ap.add_argument("--starts-slow", type=int, default=3, help="fresh processes for re on sets of 5,000+ rules")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--re-inputs", type=int, default=200, help="inputs for the per-call `re list` loop")
    ap.add_argument("--work", default="target/python-bench")
    ap.add_argument("--json", dest="json_out")
    ap.add_argument("--md", dest="md_out")
    args = ap.parse_args()

    import dfabake
    import hyperscan as hs
    import re2

    results = {"python": sys.version.split()[0], "sets": []}
    for name, rules_path, inputs_path, module in args.set:
        work = os.path.join(args.work, name)
        os.makedirs(work, exist_ok=True)
        rules = [json.loads(line) for line in open(rules_path, encoding="utf-8") if line.strip()]
        raw = [line for line in open(inputs_path, "rb").read().split(b"\n") if line]
        if not raw[0]:
            raise SystemExit("the first input line is empty")
        texts = [b.decode("utf-8") for b in raw]
        print(f"== {name}: {len(rules)} rules, {len(raw)} inputs", file=sys.stderr)
        res = {"set": name, "rules": len(rules), "inputs": len(raw), "module_bytes": os.path.getsize(module),
               "engines": {}}

        # Engines in this process, warm, for the per-call figures.
        m = dfabake.Matcher.open(module)
        re_list, re_rejected = [], []
        for i, r in enumerate(rules):
            try:
                re_list.append((i, re.compile(r["pattern"], re_flags(re, r.get("flags") or ""))))
            except re.error as e:
                re_rejected.append({"id": r["id"], "error": str(e)})
        joined = re.compile("|".join(scoped(rules[i]["pattern"], rules[i].get("flags") or "") for i, _ in re_list))
        rset = re2.Set.SearchSet(re2_options(re2))
        re2_ids, re2_rejected = [], []
        for i, r in enumerate(rules):
            try:
                rset.Add(re2_pattern(r))
                re2_ids.append(i)
            except re2.error as e:
                re2_rejected.append({"id": r["id"], "error": str(e)})
        rset.Compile()
        hs_db, hs_info = hyperscan_db(hs, rules, raw, work)

        def hs_scan(data):
            out = []
            hs_db.scan(data, match_event_handler=lambda i, a, b, c, ctx: out.append(i))
            return out

        def hs_any(data):
            hit = []

            def stop(i, a, b, c, ctx):
                hit.append(i)
                return True  # stop scanning

            try:
                hs_db.scan(data, match_event_handler=stop)
            except hs.ScanTerminated:
                pass
            return bool(hit)

        def re_first(s):
            for i, rx in re_list:
                found = rx.search(s)
                if found:
                    return i, found.span()
            return None

        def re2_matches(s):
            return sorted(re2_ids[k] for k in rset.Match(s) or ())

        few = texts[: args.re_inputs]
        calls = {
            "dfabake (str)": (texts, m.is_match, lambda s: m.matches(s), m.first),
            "dfabake (bytes)": (raw, m.is_match, lambda s: m.matches(s), m.first),
            "re list": (few, lambda s: any(rx.search(s) for _, rx in re_list),
                        lambda s: [i for i, rx in re_list if rx.search(s)], re_first),
            "re joined": (few, lambda s: joined.search(s) is not None, None, None),
            "re2.Set": (raw, lambda s: rset.Match(s) is not None, re2_matches,
                        lambda s: min(re2_matches(s), default=None)),
            "hyperscan": (raw, hs_any, lambda s: sorted(hs_scan(s)), lambda s: min(hs_scan(s), default=None)),
        }
        for engine, (inputs, is_match, matches, first) in calls.items():
            e = {"per_call_inputs": len(inputs)}
            for mode, fn in (("is_match", is_match), ("matches", matches), ("first", first)):
                if fn is not None:
                    e[f"{mode}_us"] = per_call_us(gc, statistics, fn, inputs, args.rounds)
            if matches is not None:
                e["matches_total"] = sum(len(matches(s)) for s in inputs)
                e["matches_total_first_200"] = sum(len(matches(s)) for s in inputs[:200])
            res["engines"][engine] = e
            print(f"   {engine}: {e}", file=sys.stderr)
        res["engines"]["dfabake (str)"]["matches_many_us"] = per_call_us(
            gc, statistics, lambda _: m.matches_many(texts), [None], args.rounds * 3) / len(texts)
        res["engines"]["re list"]["rejected"] = re_rejected
        res["engines"]["re joined"]["rejected"] = re_rejected
        res["engines"]["re2.Set"]["rejected"] = re2_rejected
        res["engines"]["hyperscan"].update(hs_info)

        # Fresh processes: import -> first answer.
        slow = len(rules) >= 5000
        for engine, label in (("dfabake", "dfabake (str)"), ("dfabake-unverified", "dfabake verify=False"),
                              ("re-list", "re list"), ("re-joined", "re joined"), ("re2", "re2.Set"),
                              ("hyperscan", "hyperscan")):
            n = args.starts_slow if slow and engine.startswith("re-") else args.starts
            ms, wall, answers = [], [], set()
            for _ in range(n):
                t = time.perf_counter()
                out = subprocess.run([sys.executable, __file__, "--child", engine, rules_path, inputs_path,
                                      module, work], check=True, capture_output=True, text=True).stdout
                wall.append((time.perf_counter() - t) * 1e3)
                got = json.loads(out)
                ms.append(got["ms"])
                answers.add(json.dumps(got["answer"]))
            e = res["engines"].setdefault(label, {})
            first = json.loads(answers.pop()) if len(answers) == 1 else sorted(answers)
            if engine == "hyperscan" and isinstance(first, int):
                first = rules[first]["id"]  # hyperscan reports the rule's index
            e.update({"start_ms": statistics.median(ms), "start_wall_ms": statistics.median(wall), "starts": n,
                      "first_answer": first})
            print(f"   start {label}: {e['start_ms']:.1f} ms (process {e['start_wall_ms']:.0f} ms)", file=sys.stderr)
        results["sets"].append(res)

    md = markdown(results)
    print(md)
    if args.md_out:
        open(args.md_out, "w").write(md)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(results, f, indent=1)


def per_call_us(gc, statistics, fn, inputs, rounds):
    for s in inputs[:50]:
        fn(s)  # warm: lazily built engines, caches
    means = []
    gc.disable()
    try:
        for _ in range(rounds):
            t = time.perf_counter_ns()
            for s in inputs:
                fn(s)
            means.append((time.perf_counter_ns() - t) / len(inputs) / 1e3)
    finally:
        gc.enable()
    return statistics.median(means)


def hyperscan_db(hs, rules, raw, work):
    """Compiles the rules once (SINGLEMATCH, flags as in benches/hyperscan),
    serializes the database to WORK/hyperscan.db and returns it loaded back."""
    import os

    utf8 = not (all(r["pattern"].isascii() for r in rules) and all(b.isascii() for b in raw))
    extra = (hs.HS_FLAG_UTF8 | hs.HS_FLAG_UCP) if utf8 else 0
    exprs, flags, ids = [], [], []
    for i, r in enumerate(rules):
        fl = r.get("flags") or ""
        expr = f"(?x){r['pattern']}\n" if "x" in fl else r["pattern"]
        bits = hs.HS_FLAG_SINGLEMATCH | extra
        for c in fl:
            bits |= {"i": hs.HS_FLAG_CASELESS, "m": hs.HS_FLAG_MULTILINE, "s": hs.HS_FLAG_DOTALL}.get(c, 0)
        exprs.append(expr.encode())
        flags.append(bits)
        ids.append(i)
    rejected = []
    t = time.perf_counter()
    try:
        db = hs.Database(mode=hs.HS_MODE_BLOCK)
        db.compile(expressions=exprs, ids=ids, flags=flags)
    except hs.error:
        # Find the rejected patterns one by one, as benches/hyperscan does.
        keep = []
        for k in range(len(exprs)):
            one = hs.Database(mode=hs.HS_MODE_BLOCK)
            try:
                one.compile(expressions=[exprs[k]], ids=[k], flags=[flags[k]])
                keep.append(k)
            except hs.error:
                try:
                    one.compile(expressions=[exprs[k]], ids=[k], flags=[flags[k] | hs.HS_FLAG_ALLOWEMPTY])
                    flags[k] |= hs.HS_FLAG_ALLOWEMPTY
                    keep.append(k)
                except hs.error as e:
                    rejected.append({"id": rules[k]["id"], "error": str(e)})
        db = hs.Database(mode=hs.HS_MODE_BLOCK)
        db.compile(expressions=[exprs[k] for k in keep], ids=keep, flags=[flags[k] for k in keep])
    compile_s = time.perf_counter() - t
    blob = hs.dumpb(db)
    with open(os.path.join(work, "hyperscan.db"), "wb") as f:
        f.write(blob)
    loaded = hs.loadb(blob, hs.HS_MODE_BLOCK)
    loaded.scratch = hs.Scratch(loaded)
    return loaded, {"compile_s": compile_s, "db_bytes": len(blob), "utf8": utf8, "rejected": rejected}


def markdown(results):
    rows = ["dfabake (str)", "dfabake (bytes)", "dfabake verify=False", "re list", "re joined", "re2.Set", "hyperscan"]
    out = [f"Python {results['python']}.", ""]
    for res in results["sets"]:
        e = res["engines"]
        out.append(f"**{res['set']}**: {res['rules']:,} rules, {res['inputs']:,} inputs, module "
                   f"{res['module_bytes'] / 1e6:.1f} MB; hyperscan compile {e['hyperscan']['compile_s']:.2f} s, "
                   f"database {e['hyperscan']['db_bytes'] / 1e6:.1f} MB")
        out.append("")
        out.append("| engine | import → first answer | process wall | `is_match` | `matches` | `first` | "
                   "matches_total | rejected |")
        out.append("|---|---|---|---|---|---|---|---|")
        base = e.get("re list", {}).get("start_ms")
        for row in rows:
            x = e.get(row)
            if not x:
                continue
            start = f"{x['start_ms']:.1f} ms" if "start_ms" in x else ""
            if "start_ms" in x and base and not row.startswith("re "):
                start += f" ({base / x['start_ms']:.0f}× sooner than re list)"
            wall = f"{x['start_wall_ms']:.0f} ms" if "start_wall_ms" in x else ""
            us = [f"{x[k]:.2f} µs" if k in x else "" for k in ("is_match_us", "matches_us", "first_us")]
            if row.startswith("re ") and "per_call_inputs" in x:
                us = [u + f" ({x['per_call_inputs']} inputs)" if u else u for u in us]
            if row in ("re2.Set", "hyperscan") and us[2]:
                us[2] += " (id only)"
            total = ""
            if "matches_total" in x:
                total = f"{x['matches_total']:,}" if x["per_call_inputs"] == res["inputs"] else \
                    f"{x['matches_total']:,} on {x['per_call_inputs']}"
            rejected = len(x.get("rejected", [])) if "rejected" in x else ""
            out.append(f"| {row} | {start} | {wall} | {us[0]} | {us[1]} | {us[2]} | {total} | {rejected} |")
        if "matches_many_us" in e["dfabake (str)"]:
            out.append("")
            out.append(f"`matches_many` (one call, all inputs): {e['dfabake (str)']['matches_many_us']:.2f} µs an input.")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:7])
    else:
        main()
