#!/usr/bin/env python3
"""Issue 11, criterion 2: process start -> first answer, side by side.

  startup.py HOST MODULE CACHE_DIR RULES INPUT [RUNS]

Prints two medians in ms (RUNS fresh processes each, default 7):
  * `dfabake-host match --mode first` on MODULE with a warm native-code
    cache (CACHE_DIR, warmed first by `dfabake-host compile`, then left to
    settle for 3 s and loaded once, as any restart after a deploy finds
    it: a code file written less than 2–3 s ago (whole seconds) is hashed on every load, an
    older one once, see host/src/cache.rs);
  * a fresh `python3` that compiles RULES (JSON Lines, flags i/m/s/x) with
    `re`, one pattern per rule, and answers INPUT with the first rule that
    matches: what a server loading the same rules pays at start.
Wall time of the whole process, measured from here (perf_counter around
the child). Rules `re` cannot compile are skipped and counted on stderr.
"""
import json
import statistics
import subprocess
import sys
import time

RE_CHILD = r"""
import json, re, sys
flags = {"i": re.I, "m": re.M, "s": re.S, "x": re.X}
compiled, bad = [], 0
for line in open(sys.argv[1], encoding="utf-8"):
    r = json.loads(line)
    f = 0
    for c in r.get("flags") or "":
        f |= flags.get(c, 0)
    try:
        compiled.append((r["id"], re.compile(r["pattern"], f)))
    except (re.error, OverflowError, RecursionError):
        bad += 1
text = sys.argv[2]
print(next((rid for rid, rx in compiled if rx.search(text)), None))
print(bad, file=sys.stderr)
"""


def median_ms(cmd, runs):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main():
    host, module, cache, rules, text = sys.argv[1:6]
    runs = int(sys.argv[6]) if len(sys.argv) > 6 else 7
    subprocess.run([host, "compile", "--module", module, "--cache-dir", cache],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(3.1)
    median_ms([host, "match", "--module", module, "--cache-dir", cache,
               "--mode", "first", text], 1)
    ours = median_ms([host, "match", "--module", module, "--cache-dir", cache,
                      "--mode", "first", text], runs)
    bad = subprocess.run([sys.executable, "-c", RE_CHILD, rules, text],
                         check=True, capture_output=True, text=True).stderr.strip()
    if bad != "0":
        print(f"re skipped {bad} rules it cannot compile", file=sys.stderr)
    theirs = median_ms([sys.executable, "-c", RE_CHILD, rules, text], runs)
    print(f"{ours:.1f} {theirs:.1f}")


if __name__ == "__main__":
    main()
