#!/usr/bin/env python3
"""Diarization error rate (DER) of a hypothesis RTTM against a reference RTTM.

    der.py REFERENCE.rttm HYPOTHESIS.rttm [--collar 0.25] [--json]
    der.py --self-test

Scored on a 10 ms frame grid (a segment [start, start+dur) covers the frames whose centre
lies inside it; several segments of one speaker are a union). Per frame, with nref / nhyp
the number of reference / hypothesis speakers active and ncorrect the number of mapped
(ref, hyp) pairs active together:
    total      += nref                       (overlapped speech counts once per speaker)
    missed     += max(0, nref - nhyp)
    false alarm += max(0, nhyp - nref)
    confusion  += min(nref, nhyp) - ncorrect
    DER = (missed + false alarm + confusion) / total
as NIST md-eval and pyannote.metrics define it (overlap scored). The reference-to-hypothesis
speaker mapping is one-to-one and maximises the total co-active time (Hungarian algorithm).

Collar: md-eval / dscore convention: frames within +-COLLAR seconds of any reference segment
boundary (start or end) are not scored. pyannote.metrics' `collar` is the total width
instead, so pyannote collar=0.5 equals --collar 0.25 here. --collar 0 scores every frame.
The file id (2nd RTTM field) and channel are ignored; all lines are one recording.

Also reported: the mapping, and "split" per reference speaker = how many hypothesis
speakers cover >= 10% of its (scored) time, e.g. one voice given two labels shows 2.
With --json the last line is one JSON object: der, missed, false_alarm and confusion as
fractions of the total reference speech (they sum to der), their *_s seconds, total_s,
ref_speakers, hyp_speakers, split_speakers (reference speakers with split >= 2), collar,
mapping. --self-test runs built-in checks and exits 1 if one fails.
"""
import argparse
import itertools
import json
import random
import sys

STEP = 0.01  # seconds per frame


def parse_rttm(path_or_lines):
    lines = open(path_or_lines).read().splitlines() if isinstance(path_or_lines, str) else path_or_lines
    segs = []
    for n, line in enumerate(lines, 1):
        f = line.split()
        if not f or f[0] != "SPEAKER":
            continue
        if len(f) < 8:
            raise ValueError(f"{path_or_lines}:{n}: bad RTTM line: {line!r}")
        start, dur = float(f[3]), float(f[4])
        if dur > 0:
            segs.append((start, start + dur, f[7]))
    return segs


def frames(t):
    return int(round(t / STEP))


def activity(segs, n):
    """{speaker: bytearray of n frames, 1 where active}."""
    act = {}
    for s, e, spk in segs:
        a = act.setdefault(spk, bytearray(n))
        lo, hi = max(0, frames(s)), min(n, frames(e))
        if hi > lo:
            a[lo:hi] = b"\x01" * (hi - lo)
    return act


def hungarian(w):
    """Assignment maximising sum w[i][j] for a rectangular matrix; returns {i: j}."""
    nr, nc = len(w), len(w[0]) if w else 0
    n = max(nr, nc)
    if n == 0:
        return {}
    big = max((x for row in w for x in row), default=0)
    cost = [[(big - w[i][j]) if i < nr and j < nc else big for j in range(n)] for i in range(n)]
    INF = float("inf")
    u, v, p, way = [0.0] * (n + 1), [0.0] * (n + 1), [0] * (n + 1), [0] * (n + 1)
    for i in range(1, n + 1):            # e-maxx formulation, 1-based, p[j] = row of column j
        p[0], j0 = i, 0
        minv, used = [INF] * (n + 1), [False] * (n + 1)
        while True:
            used[j0] = True
            i0, delta, j1 = p[j0], INF, 0
            for j in range(1, n + 1):
                if not used[j]:
                    cur = cost[i0 - 1][j - 1] - u[i0] - v[j]
                    if cur < minv[j]:
                        minv[j], way[j] = cur, j0
                    if minv[j] < delta:
                        delta, j1 = minv[j], j
            for j in range(n + 1):
                if used[j]:
                    u[p[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
    return {p[j] - 1: j - 1 for j in range(1, n + 1) if p[j] - 1 < nr and j - 1 < nc}


def score(ref, hyp, collar=0.25):
    n = frames(max([e for _, e, _ in ref + hyp] + [0.0]) + 2 * collar) + 1
    ra, ha = activity(ref, n), activity(hyp, n)
    mask = bytearray(b"\x01" * n)
    if collar > 0:
        c = frames(collar)
        for s, e, _ in ref:
            for b in (frames(s), frames(e)):
                lo, hi = max(0, b - c), min(n, b + c)
                mask[lo:hi] = bytes(hi - lo)
    rs, hs = sorted(ra), sorted(ha)
    rv = [bytes(x & m for x, m in zip(ra[r], mask)) for r in rs]
    hv = [bytes(x & m for x, m in zip(ha[h], mask)) for h in hs]
    nref, nhyp = [0] * n, [0] * n
    for a in rv:
        nref = list(map(int.__add__, nref, a))
    for a in hv:
        nhyp = list(map(int.__add__, nhyp, a))
    total = sum(nref)
    missed = sum(max(0, r - h) for r, h in zip(nref, nhyp))
    fa = sum(max(0, h - r) for r, h in zip(nref, nhyp))
    both = sum(min(r, h) for r, h in zip(nref, nhyp))
    ov = [[sum(map(int.__and__, a, b)) for b in hv] for a in rv]
    assign = {i: j for i, j in hungarian(ov).items() if ov[i][j] > 0}
    correct = sum(ov[i][j] for i, j in assign.items())
    conf = both - correct
    reftime = [sum(a) for a in rv]
    split = {rs[i]: sum(1 for j in range(len(hs)) if reftime[i] and ov[i][j] >= 0.1 * reftime[i])
             for i in range(len(rs))}
    s = lambda k: round(k * STEP, 3)
    return {"der": round((missed + fa + conf) / total, 6) if total else (0.0 if not fa else None),
            "missed": round(missed / total, 6) if total else 0.0,
            "false_alarm": round(fa / total, 6) if total else 0.0,
            "confusion": round(conf / total, 6) if total else 0.0,
            "total_s": s(total), "missed_s": s(missed), "false_alarm_s": s(fa), "confusion_s": s(conf),
            "ref_speakers": len(rs), "hyp_speakers": len(hs),
            "split_speakers": sum(1 for v in split.values() if v >= 2), "collar": collar,
            "mapping": {rs[i]: hs[j] for i, j in sorted(assign.items())},
            "split": split, "ref_time_s": {rs[i]: s(reftime[i]) for i in range(len(rs))},
            "overlap_s": {rs[i]: {hs[j]: s(ov[i][j]) for j in range(len(hs)) if ov[i][j]} for i in range(len(rs))}}


def report(r):
    pct = lambda k: "     n/a" if r[k] is None else f"{100 * r[k]:6.2f} %"
    print(f"reference speech   {r['total_s']:10.2f} s   (collar +-{r['collar']} s)")
    print(f"missed speech      {r['missed_s']:10.2f} s   {pct('missed')}")
    print(f"false alarm        {r['false_alarm_s']:10.2f} s   {pct('false_alarm')}")
    print(f"speaker confusion  {r['confusion_s']:10.2f} s   {pct('confusion')}")
    print(f"DER                              {pct('der')}")
    print(f"speakers: reference {r['ref_speakers']}, hypothesis {r['hyp_speakers']}, "
          f"split reference speakers {r['split_speakers']}")
    print(f"{'ref':<12} {'time s':>9} {'mapped to':<12} {'overlap s':>9} {'split':>5}  hypothesis labels (s)")
    for spk, t in r["ref_time_s"].items():
        h = r["mapping"].get(spk, "-")
        labels = ", ".join(f"{k}:{v:.1f}" for k, v in sorted(r["overlap_s"][spk].items(), key=lambda kv: -kv[1]))
        print(f"{spk:<12} {t:9.2f} {h:<12} {r['overlap_s'][spk].get(h, 0.0):9.2f} {r['split'][spk]:5d}  {labels}")
    unmapped = sorted(set(hyp for hyp in r.get("hyp_labels", [])) - set(r["mapping"].values()))
    if unmapped:
        print("unmapped hypothesis labels: " + ", ".join(unmapped))


def self_test():
    L = lambda *segs: [f"SPEAKER f 1 {s:.3f} {d:.3f} <NA> <NA> {k} <NA> <NA>" for s, d, k in segs]
    ref = parse_rttm(L((0, 10, "A"), (10, 10, "B"), (20, 5, "A")))
    ok = True

    def check(name, got, want, tol=1e-6):
        nonlocal ok
        good = abs(got - want) <= tol
        ok &= good
        print(f"{'ok  ' if good else 'FAIL'} {name}: {got} (want {want})")

    check("identical", score(ref, ref, 0)["der"], 0.0)
    check("identical, collar", score(ref, ref, 0.25)["der"], 0.0)
    check("swapped labels", score(ref, parse_rttm(L((0, 10, "x"), (10, 10, "y"), (20, 5, "x"))), 0)["der"], 0.0)
    eq = parse_rttm(L((0, 10, "A"), (10, 10, "B")))
    check("one label on 2 equal speakers", score(eq, parse_rttm(L((0, 20, "z"))), 0)["der"], 0.5)
    r = score(eq, parse_rttm(L((0, 10, "p"), (10, 5, "q"))), 0)
    check("missed 5 s of 20", r["missed"], 0.25)
    check("missed only", r["der"], 0.25)
    r = score(eq, parse_rttm(L((0, 10, "p"), (10, 10, "q"), (25, 4, "q"))), 0)
    check("false alarm 4 s of 20", r["false_alarm"], 0.2)
    ov = parse_rttm(L((0, 10, "A"), (5, 10, "B")))  # 5 s overlap: total 20 s
    r = score(ov, parse_rttm(L((0, 15, "h"))), 0)
    check("overlap counts twice: total", r["total_s"], 20.0)
    check("overlap, one label: missed 5/20", r["missed"], 0.25)
    check("overlap, one label: confusion 5/20", r["confusion"], 0.25)
    r = score(eq, parse_rttm(L((0, 10.2, "p"), (10.2, 9.8, "q"))), 0.25)
    check("boundary shift inside collar", r["der"], 0.0)
    check("split detected", score(eq, parse_rttm(L((0, 5, "p"), (5, 5, "r"), (10, 10, "q"))), 0)["split_speakers"], 1)
    rng = random.Random(1)
    for k in range(200):
        nr, nc = rng.randint(1, 5), rng.randint(1, 5)
        w = [[rng.randint(0, 9) for _ in range(nc)] for _ in range(nr)]
        best = max(sum(w[i][j] for i, j in zip(rows, cols))
                   for rows in itertools.permutations(range(nr), min(nr, nc))
                   for cols in itertools.permutations(range(nc), min(nr, nc)))
        got = sum(w[i][j] for i, j in hungarian(w).items())
        if got != best:
            ok = False
            print(f"FAIL hungarian on {w}: {got} != {best}")
            break
    else:
        print("ok   hungarian == exhaustive search on 200 random matrices")
    print("self-test passed" if ok else "self-test FAILED")
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("reference", nargs="?")
    ap.add_argument("hypothesis", nargs="?")
    ap.add_argument("--collar", type=float, default=0.25)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--self-test", action="store_true")
    a = ap.parse_args()
    if a.self_test:
        sys.exit(self_test())
    if not (a.reference and a.hypothesis):
        ap.error("REFERENCE and HYPOTHESIS are required")
    ref, hyp = parse_rttm(a.reference), parse_rttm(a.hypothesis)
    r = score(ref, hyp, a.collar)
    r["hyp_labels"] = sorted({k for _, _, k in hyp})
    report(r)
    if a.json:
        keys = ("der", "missed", "false_alarm", "confusion", "ref_speakers", "hyp_speakers", "split_speakers",
                "collar", "total_s", "missed_s", "false_alarm_s", "confusion_s", "mapping")
        print(json.dumps({k: r[k] for k in keys}))


if __name__ == "__main__":
    main()
