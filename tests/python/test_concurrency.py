"""One Matcher shared by many threads, and across fork()."""

import os
import pickle
import select
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import dfabake


def answers(m, inputs):
    return [(m.is_match(s), m.matches(s), m.first(s)) for s in inputs]


@pytest.fixture(scope="module")
def uap(rulesets):
    rs = rulesets["uap"]
    return rs, dfabake.Matcher.open(rs.module)


def test_threads_hammering_one_matcher(uap):
    rs, m = uap
    inputs = rs.corpus[:600] + [t for t, _ in rs.texts[:600]]
    want = answers(m, inputs)
    chunks = [inputs[i::16] for i in range(16)]

    def work(k):
        # Each task runs its slice several times, interleaving all modes.
        out = None
        for _ in range(3):
            out = answers(m, chunks[k])
            assert m.matches_many(chunks[k]) == [a[1] for a in out]
        return out

    with ThreadPoolExecutor(max_workers=8) as ex:
        results = list(ex.map(work, range(16)))
    for k, got in enumerate(results):
        assert got == want[k::16]


def test_more_threads_than_pooled_matchers(uap):
    """40 threads at once (the pool keeps 32): extra matchers are made and dropped."""
    rs, m = uap
    inputs = rs.corpus[:100]
    want = [m.first(s) for s in inputs]
    barrier = threading.Barrier(40)
    errors = []

    def work():
        barrier.wait()
        for _ in range(3):
            if [m.first(s) for s in inputs] != want:
                errors.append("mismatch")

    threads = [threading.Thread(target=work) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and not any(t.is_alive() for t in threads)


def test_the_gil_is_released_while_matching(uap):
    """While one thread runs a long batch, another runs Python code."""
    rs, m = uap
    big = [("x" * 200_000 + " Mozilla/5.0 " + "y" * 200_000)] * 200
    done = threading.Event()
    took = []

    def batch():
        t = time.perf_counter()
        m.matches_many(big)
        took.append(time.perf_counter() - t)
        done.set()

    t = threading.Thread(target=batch)
    ticks = 0
    t.start()
    # Python's switch interval is 5 ms: a thread holding the GIL for the
    # whole batch would leave this loop a handful of ticks at most.
    while not done.is_set():
        ticks += 1
        time.sleep(0.0005)
    t.join()
    assert took[0] > 0.05, f"batch too short to tell ({took[0]:.3f} s)"
    assert ticks >= took[0] / 0.005, f"{ticks} ticks during a {took[0]:.3f} s batch: GIL held?"


def wait_child(pid, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail(f"child {pid} did not finish within {timeout} s (deadlocked after fork?)")


def test_fork_child_answers(uap):
    rs, m = uap
    inputs = rs.corpus[:800]
    want = answers(m, inputs)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: answer with the inherited matcher, report, exit
        try:
            os.close(r)
            data = pickle.dumps(answers(m, inputs) == want)
            os.write(w, data)
        finally:
            os._exit(0)
    os.close(w)
    chunks = []
    while True:
        ready, _, _ = select.select([r], [], [], 60)
        assert ready, "no answer from the child in 60 s"
        chunk = os.read(r, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(r)
    assert wait_child(pid, 30) == 0
    assert pickle.loads(b"".join(chunks)) is True


def test_fork_while_threads_search(uap):
    """fork() while other threads are inside searches: no child deadlocks and
    every child answers right (the pool has no lock a dead thread could hold)."""
    rs, m = uap
    inputs = rs.corpus[:50]
    want = [m.first(s) for s in inputs]
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            for s in inputs:
                m.first(s)
                m.matches(s)

    threads = [threading.Thread(target=spin) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for _ in range(25):
            pid = os.fork()
            if pid == 0:
                code = 0 if [m.first(s) for s in inputs] == want else 1
                os._exit(code)
            assert wait_child(pid, 30) == 0
    finally:
        stop.set()
        for t in threads:
            t.join()


def test_a_large_input_does_not_leave_pooled_caches_large(examples):
    """Each thread's search of a 20 MB input full of literal occurrences grows
    its cache's lists; they shrink back when the search ends, so idle pooled
    caches do not keep ~60 MB each (499 MB of RSS over 8 threads before)."""

    def rss_mb():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS"):
                    return int(line.split()[1]) // 1024

    m = dfabake.Matcher.open(examples.module)
    assert m.is_match("curl/8")
    before = rss_mb()
    big = b"curl/" * 4_000_000
    barrier = threading.Barrier(8)
    found = []

    def work():
        barrier.wait()
        found.append(m.matches(big))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert found == [m.matches(b"curl/" * 100)] * 8
    del big
    grew = rss_mb() - before
    assert grew < 100, f"RSS grew by {grew} MB after the searches ended"
