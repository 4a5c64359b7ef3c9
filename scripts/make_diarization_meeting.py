#!/usr/bin/env python3
"""Builds a synthetic multi-speaker meeting from real recorded voices, for diarization tests.

    make_diarization_meeting.py --out DIR [--minutes 11] [--speakers 3|4] [--seed 7]
                                [--overlap-share 0.05]

Voices: Debian's asterisk-core-sounds-{en,it,fr,ru}-wav (1.6.1). Each language is one
professional voice, so one language = one speaker: S1 = en (Allison, female), S2 = it
(Carlo, male), S3 = fr (June, fr_CA, female), S4 = ru (IvrvoiceRU, female). Only the
top-level prompts of /usr/share/asterisk/sounds/<lang>/ lasting 1-8 s are used (not the
digits/letters/phonetic/silence subfolders, nor the beep/tone files). Each prompt is
converted once by sox to 16 kHz mono s16, its leading/trailing silence trimmed, and its
speech level normalised (RMS ~ -21 dBFS) so no speaker is louder than the others.

A turn (2-30 s) is one speaker's prompts joined with 0.2-0.6 s pauses; turns are separated
by 0.3-1.5 s of silence, or, often enough that about --overlap-share of the speech time is
overlapped, the next turn starts 0.5-1.5 s before the previous one ends (samples are summed
and clipped to int16). The next speaker is never the current one and is drawn with weight
growing with the time since that speaker last spoke, so everybody comes back regularly. A
prompt is used again only after all of that speaker's prompts were used (3 uses at most).
Everything is deterministic for a given --seed.

Writes, in DIR:
  meeting.wav      16 kHz mono s16le, all speakers
  meeting-2ch.wav  16 kHz stereo s16le: channel 0 ("microphone") = S1 only,
                   channel 1 ("system audio") = all the other speakers
  reference.rttm   one SPEAKER line per turn (the turn's internal pauses included)
  truth.json       {"speakers", "duration_s", "turns": [{"speaker","start","end"}], "overlap_s", ...}
and prints a one-line JSON summary. Exits 1 if some speaker appears in fewer than 6
distinct minutes (or in fewer minutes than the meeting has, when it is shorter).
"""
import argparse
import array
import glob
import json
import math
import os
import random
import subprocess
import sys
import wave

SR = 16000
ROOT = "/usr/share/asterisk/sounds"
LANGS = ["en", "it", "fr", "ru"]
SKIP = ("beep", "2tone")          # non-speech files among the top-level prompts
TARGET_RMS = 3000.0               # speech RMS after normalisation (~ -21 dBFS)
MAX_USES = 3


def load_prompt(path):
    """16 kHz mono s16 samples of one prompt: trimmed and level-normalised (None if too short)."""
    raw = subprocess.run(["sox", "-R", "-D", path, "-t", "raw", "-r", str(SR), "-c", "1",
                          "-b", "16", "-e", "signed-integer", "-"],
                         check=True, capture_output=True).stdout
    a = array.array("h", raw)
    if sys.byteorder == "big":
        a.byteswap()
    hop = SR // 100                                    # 10 ms frames
    rms = [math.sqrt(sum(x * x for x in a[i:i + hop]) / hop) for i in range(0, len(a) - hop + 1, hop)]
    if not rms:
        return None
    thr = max(150.0, 0.05 * max(rms))
    active = [i for i, r in enumerate(rms) if r > thr]
    if not active:
        return None
    lo, hi = max(0, active[0] - 2) * hop, min(len(a), (active[-1] + 3) * hop)
    a = a[lo:hi]
    if len(a) < 0.8 * SR:
        return None
    speech = [r for r in rms[active[0]:active[-1] + 1] if r > thr]
    level = math.sqrt(sum(r * r for r in speech) / len(speech))
    peak = max(abs(min(a)), abs(max(a))) or 1
    g = min(TARGET_RMS / level, 30000.0 / peak)
    return array.array("h", (int(round(x * g)) for x in a))


class Voice:
    def __init__(self, name, lang, rng):
        self.name, self.lang, self.rng = name, lang, rng
        self.dir = os.path.realpath(os.path.join(ROOT, lang))
        files = []
        for f in sorted(glob.glob(os.path.join(self.dir, "*.wav"))):
            if any(s in os.path.basename(f) for s in SKIP):
                continue
            with wave.open(f) as w:
                if 1.0 <= w.getnframes() / w.getframerate() <= 8.0:
                    files.append(f)
        if not files:
            sys.exit(f"no prompts under {self.dir}: apt-get install asterisk-core-sounds-{lang}-wav")
        self.files, self.queue, self.uses, self.cache = files, [], {}, {}
        self.last_end = None

    def next_prompt(self):
        """(path, samples) of the next prompt; peek only - call take() to consume it."""
        while True:
            if not self.queue:
                q = [f for f in self.files if self.uses.get(f, 0) < MAX_USES and self.cache.get(f, 1) is not None]
                if not q:
                    sys.exit(f"{self.name} ({self.lang}): ran out of prompts; ask for fewer --minutes")
                self.rng.shuffle(q)
                self.queue = q
            f = self.queue[0]
            if f not in self.cache:
                self.cache[f] = load_prompt(f)
            if self.cache[f] is not None:
                return f, self.cache[f]
            self.queue.pop(0)

    def take(self):
        f = self.queue.pop(0)
        self.uses[f] = self.uses.get(f, 0) + 1


def mix(dst, off, src):
    """dst[off:off+len(src)] += src (dst is an array('i'), grown as needed)."""
    end = off + len(src)
    if end > len(dst):
        dst.extend(array.array("i", bytes(4 * (end - len(dst)))))
    dst[off:end] = array.array("i", map(int.__add__, dst[off:end], src))


def to_int16(a, n):
    a = a + array.array("i", bytes(4 * (n - len(a))))
    if a and (max(a) > 32767 or min(a) < -32768):
        return array.array("h", (32767 if x > 32767 else -32768 if x < -32768 else x for x in a)), True
    return array.array("h", a), False


def write_wav(path, samples, channels):
    if sys.byteorder == "big":
        samples = array.array("h", samples)
        samples.byteswap()
    with wave.open(path, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(samples.tobytes())


def union_len(intervals):
    total, cur_s, cur_e = 0.0, None, None
    for s, e in sorted(intervals):
        if cur_e is None or s > cur_e:
            if cur_e is not None:
                total += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    return total + ((cur_e - cur_s) if cur_e is not None else 0.0)


def overlap_len(turns):
    """Seconds during which at least two turns are active."""
    ev = sorted([(t["start"], 1) for t in turns] + [(t["end"], -1) for t in turns])
    total, depth, prev = 0.0, 0, 0.0
    for t, d in ev:
        if depth >= 2:
            total += t - prev
        depth, prev = depth + d, t
    return total


def max_absence(turns, name, duration):
    """Longest stretch (s) without that speaker, meeting edges included."""
    mine = [(tr["start"], tr["end"]) for tr in turns if tr["speaker"] == name]
    edges = [0.0] + [x for se in mine for x in se] + [duration]
    return round(max(edges[i + 1] - edges[i] for i in range(0, len(edges), 2)), 3)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=11.0)
    ap.add_argument("--speakers", type=int, default=3, choices=(2, 3, 4))
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--overlap-share", type=float, default=0.05)
    ap.add_argument("--min-minutes", type=int, default=6,
                    help="each speaker must speak in at least this many distinct minutes (capped at the length)")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    voices = [Voice(f"S{i + 1}", lang, random.Random(f"{args.seed}-{lang}"))
              for i, lang in enumerate(LANGS[:args.speakers])]
    target = args.minutes * 60.0

    mono, chans = array.array("i"), [array.array("i"), array.array("i")]
    turns, t, cur, speech_s, overlap_s = [], 0.5, None, 0.0, 0.0
    while t < target:
        others = [v for v in voices if v is not cur]
        weights = [((t - v.last_end) if v.last_end is not None else t + 60.0) + 1.0 for v in others]
        v = rng.choices(others, weights)[0]
        # start: after a silence, or overlapping the previous turn's tail
        if turns:
            prev = turns[-1]
            room = prev["end"] - max(prev["start"], turns[-2]["end"] if len(turns) > 1 else 0.0) - 0.5
            if overlap_s < args.overlap_share * (speech_s + 10.0) and room >= 0.5:
                t = prev["end"] - min(rng.uniform(0.5, 1.5), room)
            else:
                t = prev["end"] + rng.uniform(0.3, 1.5)
        want, pos, used = rng.uniform(2.0, 30.0), 0, []
        start = int(round(t * SR))
        while pos / SR < want:
            f, a = v.next_prompt()
            gap = int(round(rng.uniform(0.2, 0.6) * SR)) if used else 0
            if used and (pos + gap + len(a)) / SR > 30.0:
                break
            v.take()
            used.append(os.path.basename(f))
            mix(mono, start + pos + gap, a)
            mix(chans[0 if v is voices[0] else 1], start + pos + gap, a)
            pos += gap + len(a)
        end = t + pos / SR
        if turns and t < turns[-1]["end"]:
            overlap_s += turns[-1]["end"] - t
        turns.append({"speaker": v.name, "start": round(t, 3), "end": round(end, 3), "prompts": used})
        speech_s += end - t
        v.last_end, cur, t = end, v, end

    duration = round(turns[-1]["end"] + 0.5, 3)
    n = int(round(duration * SR))
    mono16, clip_m = to_int16(mono, n)
    ch0, clip0 = to_int16(chans[0], n)
    ch1, clip1 = to_int16(chans[1], n)
    stereo = array.array("h", bytes(4 * n))
    stereo[0::2], stereo[1::2] = ch0, ch1
    os.makedirs(args.out, exist_ok=True)
    write_wav(os.path.join(args.out, "meeting.wav"), mono16, 1)
    write_wav(os.path.join(args.out, "meeting-2ch.wav"), stereo, 2)
    with open(os.path.join(args.out, "reference.rttm"), "w") as f:
        for tr in turns:
            f.write(f"SPEAKER meeting 1 {tr['start']:.3f} {tr['end'] - tr['start']:.3f} <NA> <NA> {tr['speaker']} <NA> <NA>\n")

    ov = overlap_len(turns)
    union = union_len([(tr["start"], tr["end"]) for tr in turns])
    minutes = {v.name: len({m for tr in turns if tr["speaker"] == v.name
                            for m in range(int(tr["start"] // 60), int(math.ceil(tr["end"] / 60)))})
               for v in voices}
    sources = {v.name: {"lang": v.lang, "dir": v.dir, "distinct_prompts": len(v.uses),
                        "prompt_uses": sum(v.uses.values()), "max_uses": max(v.uses.values(), default=0),
                        "turns": sum(tr["speaker"] == v.name for tr in turns),
                        "speech_s": round(sum(tr["end"] - tr["start"] for tr in turns if tr["speaker"] == v.name), 3),
                        "minutes_present": minutes[v.name], "max_absence_s": max_absence(turns, v.name, duration)}
               for v in voices}
    truth = {"speakers": len(voices), "duration_s": duration, "sample_rate": SR,
             "overlap_s": round(ov, 3), "speech_s": round(speech_s, 3), "speech_union_s": round(union, 3),
             "overlap_share": round(ov / union, 4), "seed": args.seed,
             "channels": {"0": voices[0].name, "1": [v.name for v in voices[1:]]},
             "sources": sources, "turns": turns}
    with open(os.path.join(args.out, "truth.json"), "w") as f:
        json.dump(truth, f, indent=1)
    need = min(args.min_minutes, int(math.ceil(duration / 60)))
    short = [s for s, m in minutes.items() if m < need]
    summary = {k: truth[k] for k in ("speakers", "duration_s", "overlap_s", "speech_union_s", "overlap_share")}
    summary.update(turns=len(turns), clipped=clip_m or clip0 or clip1, out=os.path.abspath(args.out),
                   per_speaker={s: {k: d[k] for k in ("lang", "turns", "speech_s", "distinct_prompts",
                                                       "max_uses", "minutes_present", "max_absence_s")}
                                for s, d in sources.items()})
    print(json.dumps(summary))
    if short:
        sys.exit(f"speakers {short} appear in fewer than {need} distinct minutes; try another --seed")


if __name__ == "__main__":
    main()
