#!/usr/bin/env python3
"""Word error rate with a Whisper-style English normaliser (a small subset of
openai-whisper's EnglishTextNormalizer: case, punctuation, hyphens, fillers, common
spelling variants, and number words to digits, applied to both sides).

    wer.py REFERENCE_FILE HYPOTHESIS_FILE   -> prints {"wer": ..., "words": ..., ...}
"""
import json
import re
import sys

UNITS = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
ORD = {"first": 1, "second": 2, "third": 3, "fifth": 5, "eighth": 8, "ninth": 9, "twelfth": 12}
SPELL = {"mr": "mister", "mrs": "missus", "dr": "doctor", "ok": "okay"}
FILLERS = {"hmm", "mm", "mhm", "mmm", "uh", "um"}


def numbers(words):
    out, i = [], 0
    while i < len(words):
        w = words[i]
        n = None
        if w in UNITS:
            n = UNITS.index(w)
        elif w in TENS:
            n = TENS.index(w) * 10
            if i + 1 < len(words) and words[i + 1] in UNITS[1:10]:
                n += UNITS.index(words[i + 1])
                i += 1
        elif w.endswith("th") and w[:-2] in UNITS:
            n = UNITS.index(w[:-2])
        elif w.endswith("teenth") and w[:-2] in UNITS:
            n = UNITS.index(w[:-2])
        elif w in ORD:
            n = ORD[w]
        out.append(str(n) if n is not None else w)
        i += 1
    return out


def normalise(text):
    t = text.lower()
    t = re.sub(r"\[[^\]]*\]|\([^)]*\)|<[^>]*>", " ", t)
    t = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", t)
    t = t.replace("-", " ")
    t = re.sub(r"[^\w\s']", " ", t)
    t = re.sub(r"'(?!\w)|(?<!\w)'", " ", t)
    words = [SPELL.get(w, w) for w in t.split() if w not in FILLERS]
    return numbers(words)


def wer(ref, hyp):
    r, h = normalise(ref), normalise(hyp)
    d = list(range(len(h) + 1))
    for i in range(1, len(r) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(h) + 1):
            cur = min(d[j] + 1, d[j - 1] + 1, prev + (r[i - 1] != h[j - 1]))
            prev, d[j] = d[j], cur
    return d[len(h)] / max(len(r), 1), len(r), d[len(h)]


if __name__ == "__main__":
    ref = open(sys.argv[1]).read()
    hyp = open(sys.argv[2]).read()
    w, n, e = wer(ref, hyp)
    print(json.dumps({"wer": round(w * 100, 2), "ref_words": n, "errors": e}))
