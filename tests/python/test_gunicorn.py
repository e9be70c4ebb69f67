"""A real prefork server: gunicorn, 4 sync workers, --preload (the rules are
loaded once in the master, before it forks), ua_app.py classifying the
User-Agent header with `Matcher.first`. Driven over 127.0.0.1 with a
bounded load; every answer is checked against `dfabake-host match --mode
first`; each process's memory is reported (RSS, PSS, and the module's
mapping: its pages are shared by the master and every worker)."""

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKERS = 4
REQUESTS = 2000
CLIENTS = 4
TIME_CAP = 180  # seconds for the whole load


def proc_kb(pid, fname, keys):
    out = {}
    for line in Path(f"/proc/{pid}/{fname}").read_text().splitlines():
        k, _, v = line.partition(":")
        if k in keys:
            out[k] = int(v.split()[0])
    return out


def mapping_kb(pid, path):
    """Rss and Pss (kB) of the mappings of `path` in process `pid`."""
    rss = pss = 0
    inside = False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if head and re.fullmatch(r"[0-9a-f]+-[0-9a-f]+", head[0]):
            inside = line.endswith(" " + str(path))
        elif inside and head[0] == "Rss:":
            rss += int(head[1])
        elif inside and head[0] == "Pss:":
            pss += int(head[1])
    return rss, pss


def children(pid):
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(d.name))
    return sorted(out)


def header_ok(v: bytes) -> bool:
    """A value a client can send unchanged: no control bytes, no whitespace
    at the ends (servers strip it)."""
    return bool(v) and v == v.strip(b" \t") and all(b >= 0x20 and b != 0x7F for b in v)


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_gunicorn_prefork_classifies_user_agents(rulesets, tmp_path, report):
    rs = rulesets["uap"]
    expected = {d: w for d, w in zip(rs.corpus, rs.host["first"]) if header_ok(d)}
    inputs = list(expected)
    assert len(inputs) > 1000 and any(not d.isascii() for d in inputs)
    log = tmp_path / "gunicorn.log"
    env = dict(os.environ, DFABAKE_UA_MODULE=str(rs.module))
    master = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--preload", "--workers", str(WORKERS), "--worker-class", "sync",
         "--bind", "127.0.0.1:0", "--chdir", str(HERE), "--no-control-socket", "--error-logfile", str(log),
         "--graceful-timeout", "10", "ua_app:app"],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        def listening():
            if master.poll() is not None:
                raise AssertionError(f"gunicorn exited {master.returncode}:\n{log.read_text()}")
            text = log.read_text() if log.exists() else ""
            found = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", text)
            return found and text.count("Booting worker") >= WORKERS and int(found.group(1))

        port = wait_for(listening, 60, "gunicorn to listen with 4 workers")

        def get(ua):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                conn.putrequest("GET", "/classify", skip_accept_encoding=True)
                if ua is not None:
                    conn.putheader("User-Agent", ua)
                conn.endheaders()
                resp = conn.getresponse()
                return resp.status, resp.read()
            finally:
                conn.close()

        status, body = get(None)
        health = json.loads(body)
        assert status == 200 and health["first"] is None

        results, errors = [], []
        lock = threading.Lock()
        deadline = time.monotonic() + TIME_CAP

        def client(k):
            for i in range(k, REQUESTS, CLIENTS):
                if time.monotonic() > deadline:
                    errors.append("time cap reached")
                    return
                ua = inputs[i % len(inputs)]
                try:
                    status, body = get(ua)
                except OSError as e:
                    errors.append(f"request {i}: {e!r}")
                    continue
                with lock:
                    results.append((ua, status, body))

        t0 = time.monotonic()
        threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(TIME_CAP + 60)
        took = time.monotonic() - t0
        assert not errors, errors[:5]
        assert len(results) == REQUESTS

        served_by = {}
        wrong = []
        for ua, status, body in results:
            answer = json.loads(body)
            assert status == 200, body
            assert answer["loaded_in"] == master.pid, "the rules were loaded in the master (--preload)"
            served_by[answer["pid"]] = served_by.get(answer["pid"], 0) + 1
            want = expected[ua]
            if ([answer["first"]] if answer["first"] else []) != want:
                wrong.append((ua, answer["first"], want))
        assert not wrong, wrong[:5]

        workers = children(master.pid)
        assert len(workers) == WORKERS, workers
        assert set(served_by) <= set(workers)
        report(f"gunicorn --preload, {WORKERS} sync workers: {REQUESTS} requests from {CLIENTS} client threads "
               f"in {took:.1f} s ({REQUESTS / took:.0f}/s), all {REQUESTS} answers equal dfabake-host's; "
               f"module {rs.module.stat().st_size / 1e6:.1f} MB, {len(rs.rules)} rules")
        for pid in [master.pid] + workers:
            st = proc_kb(pid, "status", {"VmRSS", "RssAnon", "RssFile"})
            roll = proc_kb(pid, "smaps_rollup", {"Pss", "Pss_Anon", "Pss_File"})
            m_rss, m_pss = mapping_kb(pid, rs.module)
            role = "master" if pid == master.pid else f"worker ({served_by.get(pid, 0)} requests)"
            report(f"  pid {pid} {role}: VmRSS {st['VmRSS'] / 1024:.1f} MiB (anon {st['RssAnon'] / 1024:.1f}, "
                   f"file {st['RssFile'] / 1024:.1f}), Pss {roll['Pss'] / 1024:.1f} MiB "
                   f"(anon {roll['Pss_Anon'] / 1024:.1f}, file {roll['Pss_File'] / 1024:.1f}); "
                   f"matcher.wasm mapping: Rss {m_rss / 1024:.1f} MiB, Pss {m_pss / 1024:.1f} MiB")
            if pid != master.pid and m_rss > 0:
                # Every page a worker touched is also mapped by the master,
                # which verified the whole database through the same mapping.
                assert m_pss <= 0.6 * m_rss, (pid, m_rss, m_pss)
        assert mapping_kb(master.pid, rs.module)[0] > 0, "the master maps the module"
    finally:
        if master.poll() is None:
            master.send_signal(signal.SIGTERM)
            try:
                master.wait(30)
            except subprocess.TimeoutExpired:
                master.kill()
                master.wait()
    assert master.returncode == 0, log.read_text()[-3000:]
    assert "Shutting down: Master" in log.read_text()
