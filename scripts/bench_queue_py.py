#!/usr/bin/env python3
"""Consumer-throughput benchmark for Python SQLite job queues.

Counterpart of the Rust `jobq-bench` binary; driven by `scripts/bench-queue`.
Needs huey==3.5.4 and litequeue==0.9 (the driver installs them in a venv).

    bench_queue_py.py --system huey|litequeue --db PATH --jobs N --consumers C

Semantics (kept comparable to the Rust side):
  * setup (untimed): a fresh database receives N jobs with payload {"n": i};
  * timed: C consumer *processes* (multiprocessing, 'spawn') open their own
    connection, set the pragmas, then wait on a barrier.  The clock starts
    when the parent passes the barrier together with them and stops when the
    last consumer has reported that it found the queue empty.  Each consumer
    loops: take one job -> no-op -> acknowledge it;
  * durability: WAL + synchronous=FULL on every consumer connection, i.e.
    every committed take/ack is fsynced.  The values actually in effect are
    read back from each consumer connection and reported;
  * correctness: the per-consumer counts must sum to N and the payload n
    values must be exactly {0..N-1} (each job consumed exactly once), and the
    database must hold no pending job afterwards; otherwise exit 1.

The last stdout line is one JSON object:
  {"system":..,"consumers":C,"jobs":N,"seconds":..,"jobs_per_s":..,
   "journal_mode":..,"synchronous":..,...}
"""

import argparse
import json
import multiprocessing as mp
import os
import queue
import sqlite3
import sys
import time

SYNC_NAMES = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
HUEY_NAME = "debrief-bench"
LITEQUEUE_TABLE = "bench"
BARRIER_TIMEOUT_S = 120


def read_pragmas(conn):
    journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
    sync = conn.execute("PRAGMA synchronous").fetchone()[0]
    return str(journal).lower(), SYNC_NAMES.get(sync, str(sync))


# --------------------------------------------------------------------------
# Huey (SqliteHuey, huey 3.5.4)
#
# Defaults in huey/storage.py SqliteStorage: journal_mode='wal', fsync=None
# (synchronous left at the SQLite build default -- FULL for Debian's
# libsqlite3, but not guaranteed elsewhere), isolation_level=None with
# explicit 'begin exclusive' for writes, busy timeout 5 s.  We pass
# fsync=True, which makes it run 'pragma synchronous=2' (FULL) on every
# connection, and journal_mode='wal' explicitly.
#
# Per-task work mirrors huey.consumer.Worker.loop: `huey.dequeue()` followed
# by `huey.execute(task)`.  dequeue() = a quick read check plus a
# BEGIN EXCLUSIVE select+DELETE commit (this is Huey's "take"; the job is gone
# from then on -- Huey has no lease/ack).  execute() peeks the revocation keys
# (read), runs the task, pops the revoke key (an exclusive txn that normally
# writes nothing) and, since results=True is Huey's default and our task
# returns a value, does put_result() -- an INSERT OR REPLACE commit into the
# kv table.  That second durable commit stands in for the "ack" that our
# queue (and litequeue) perform, so each job costs two fsynced commits in all
# three systems.  --huey-no-result makes the task return None, so Huey skips
# put_result (one durable commit per job; Huey's cheapest path).
# --------------------------------------------------------------------------

def make_huey(db, fsync, store_result):
    from huey import SqliteHuey

    huey = SqliteHuey(HUEY_NAME, filename=db, journal_mode="wal", fsync=fsync,
                      results=True)
    consumed = []

    def noop(n):
        consumed.append(n)
        return n if store_result else None

    # Huey registers tasks as "<func.__module__>.<name>"; with 'spawn' the
    # children import this file as __mp_main__ rather than __main__, so pin it.
    noop.__module__ = "debrief_bench"
    return huey, huey.task(name="bench_noop")(noop), consumed


def huey_setup(db, jobs):
    # Enqueue with synchronous=OFF: setup is untimed and Huey commits each
    # enqueue separately.  The consumers reopen with synchronous=FULL.
    huey, noop, _ = make_huey(db, fsync=False, store_result=False)
    for i in range(jobs):
        noop(i)
    conn = huey.storage.conn
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pending = huey.pending_count()
    huey.storage.close()
    return pending


def huey_consumer(db, store_result, barrier, results):
    try:
        huey, _, consumed = make_huey(db, fsync=True, store_result=store_result)
        pragmas = read_pragmas(huey.storage.conn)  # opens the connection
        barrier.wait(BARRIER_TIMEOUT_S)
        while True:
            task = huey.dequeue()
            if task is None:
                break
            huey.execute(task)
        end = time.perf_counter()
        huey.storage.close()
        results.put({"ok": True, "pragmas": pragmas, "ns": consumed,
                     "end": end})
    except BaseException as exc:  # report instead of hanging the parent
        barrier.abort()
        results.put({"ok": False, "error": "%s: %s" % (type(exc).__name__, exc)})


def huey_check(db, jobs, store_result):
    huey, _, _ = make_huey(db, fsync=False, store_result=store_result)
    errors = []
    pending = huey.pending_count()
    if pending:
        errors.append("%d tasks still pending in huey" % pending)
    if store_result:
        stored = huey.result_count()
        if stored != jobs:
            errors.append("expected %d stored results, found %d" % (jobs, stored))
    huey.storage.close()
    return errors


# --------------------------------------------------------------------------
# litequeue 0.9
#
# Defaults in litequeue.py LiteQueue.__init__: sqlite3.connect(...,
# isolation_level=None) (autocommit), then PRAGMA journal_mode=WAL,
# temp_store=MEMORY, synchronous=NORMAL (!), cache_size.  So out of the box
# commits are not fsynced (WAL + NORMAL only syncs at checkpoints).  We run
# PRAGMA synchronous=FULL on q.conn right after construction.
# pop() (sqlite >= 3.35) = BEGIN IMMEDIATE; UPDATE .. SET status=LOCKED ..
# RETURNING *; COMMIT.  done(id) = autocommit UPDATE .. SET status=DONE.
# Rows are never deleted (prune() exists but is not part of the per-job path).
# --------------------------------------------------------------------------

def make_litequeue(db):
    from litequeue import LiteQueue

    q = LiteQueue(db, queue_name=LITEQUEUE_TABLE)
    q.conn.execute("PRAGMA synchronous = FULL")
    return q


def litequeue_setup(db, jobs):
    q = make_litequeue(db)
    # One transaction for the whole (untimed) setup; put() is autocommit.
    with q.transaction(mode="IMMEDIATE"):
        for i in range(jobs):
            q.put(json.dumps({"n": i}))
    q.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pending = q.qsize()
    q.close()
    return pending


def litequeue_consumer(db, _store_result, barrier, results):
    try:
        q = make_litequeue(db)
        pragmas = read_pragmas(q.conn)
        consumed = []
        barrier.wait(BARRIER_TIMEOUT_S)
        while True:
            msg = q.pop()
            if msg is None:
                break
            consumed.append(json.loads(msg.data)["n"])  # the no-op "job"
            q.done(msg.message_id)
        end = time.perf_counter()
        q.close()
        results.put({"ok": True, "pragmas": pragmas, "ns": consumed,
                     "end": end})
    except BaseException as exc:
        barrier.abort()
        results.put({"ok": False, "error": "%s: %s" % (type(exc).__name__, exc)})


def litequeue_check(db, jobs, _store_result):
    conn = sqlite3.connect(db)
    errors = []
    rows = dict(conn.execute(
        "SELECT status, COUNT(*) FROM [%s] GROUP BY status" % LITEQUEUE_TABLE))
    conn.close()
    done = rows.pop(2, 0)  # MessageStatus.DONE
    if done != jobs:
        errors.append("expected %d DONE messages, found %d" % (jobs, done))
    if rows:
        errors.append("messages left in other states: %r" % rows)
    return errors


SYSTEMS = {
    "huey": (huey_setup, huey_consumer, huey_check),
    "litequeue": (litequeue_setup, litequeue_consumer, litequeue_check),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--system", required=True, choices=sorted(SYSTEMS))
    ap.add_argument("--db", required=True, help="database file (must not exist)")
    ap.add_argument("--jobs", type=int, default=5000)
    ap.add_argument("--consumers", type=int, default=1)
    ap.add_argument("--huey-no-result", action="store_true",
                    help="huey task returns None: no put_result per task")
    args = ap.parse_args()
    if args.jobs < 1 or args.consumers < 1:
        ap.error("--jobs and --consumers must be >= 1")
    for suffix in ("", "-wal", "-shm", "-journal"):
        if os.path.exists(args.db + suffix):
            ap.error("%s already exists; the benchmark needs a fresh database"
                     % (args.db + suffix))

    setup, consumer, check = SYSTEMS[args.system]
    store_result = not args.huey_no_result

    t = time.perf_counter()
    pending = setup(args.db, args.jobs)
    if pending != args.jobs:
        print("error: setup enqueued %d jobs, expected %d" % (pending, args.jobs),
              file=sys.stderr)
        return 1
    print("%s: enqueued %d jobs in %.2fs" % (args.system, args.jobs,
                                             time.perf_counter() - t),
          file=sys.stderr)

    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(args.consumers + 1)
    results = ctx.Queue()
    procs = [ctx.Process(target=consumer,
                         args=(args.db, store_result, barrier, results))
             for _ in range(args.consumers)]
    for p in procs:
        p.start()
    try:
        barrier.wait(BARRIER_TIMEOUT_S)
    except Exception:
        pass  # a consumer failed during startup; its error is in `results`
    start = time.perf_counter()
    reports = []
    while len(reports) < len(procs):
        try:
            reports.append(results.get(timeout=1))
        except queue.Empty:
            if not any(p.is_alive() for p in procs) and results.empty():
                break  # a consumer died without reporting
    stop = time.perf_counter()
    for p in procs:
        p.join()

    errors = [r["error"] for r in reports if not r["ok"]]
    if len(reports) < len(procs):
        errors.append("%d consumer(s) died without reporting"
                      % (len(procs) - len(reports)))
    errors += ["consumer exited with code %s" % p.exitcode
               for p in procs if p.exitcode != 0]
    if errors:
        for e in errors:
            print("error: %s" % e, file=sys.stderr)
        return 1

    # Wall clock from release to the last consumer reporting; the consumers'
    # own end stamps (same CLOCK_MONOTONIC) exclude the result transfer.
    seconds = max(r["end"] for r in reports) - start
    per_consumer = [len(r["ns"]) for r in reports]
    all_ns = [n for r in reports for n in r["ns"]]
    if sum(per_consumer) != args.jobs:
        errors.append("consumed %d jobs, expected %d" % (sum(per_consumer), args.jobs))
    if len(set(all_ns)) != len(all_ns):
        errors.append("%d jobs consumed more than once"
                      % (len(all_ns) - len(set(all_ns))))
    if set(all_ns) != set(range(args.jobs)):
        errors.append("consumed payloads are not exactly 0..%d" % (args.jobs - 1))
    errors += check(args.db, args.jobs, store_result)
    if errors:
        for e in errors:
            print("error: %s" % e, file=sys.stderr)
        return 1

    journal = sorted({r["pragmas"][0] for r in reports})
    sync = sorted({r["pragmas"][1] for r in reports})
    out = {
        "system": args.system,
        "consumers": args.consumers,
        "jobs": args.jobs,
        "seconds": round(seconds, 4),
        "jobs_per_s": round(args.jobs / seconds, 1),
        "journal_mode": journal[0] if len(journal) == 1 else journal,
        "synchronous": sync[0] if len(sync) == 1 else sync,
        "per_consumer": per_consumer,
        "wall_seconds": round(stop - start, 4),
        "sqlite_version": sqlite3.sqlite_version,
    }
    if args.system == "huey":
        out["huey_store_result"] = store_result
    print("%s: %d consumers, %d jobs in %.3fs = %.1f jobs/s (%s, synchronous=%s)"
          % (args.system, args.consumers, args.jobs, seconds, args.jobs / seconds,
             out["journal_mode"], out["synchronous"]), file=sys.stderr)
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
