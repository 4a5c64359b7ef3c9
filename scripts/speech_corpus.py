#!/usr/bin/env python3
"""Assembles a long recording from real speech: LibriVox and "cards" clips from Debian's
pocketsphinx-testdata, shuffled (fixed seed), separated by 0.4-1.6 s of silence, in whole
passes over the clips until at least SECONDS long. Writes DIR/speech.wav (16 kHz mono s16) and DIR/ref.txt (one
reference line per clip). Used by scripts/eval-asr and scripts/bench-pipeline.

    speech_corpus.py DIR SECONDS
"""
import random
import re
import sys
import wave

D = "/usr/share/pocketsphinx/test/data"


def clips():
    out = []
    for line in open(f"{D}/librivox/transcription"):
        m = re.match(r"<s> (.*) </s> \((.*)\)", line.strip())
        out.append((f"{D}/librivox/{m.group(2)}.wav", m.group(1)))
    for line in open(f"{D}/cards/cards.transcription"):
        m = re.match(r"<s> (.*?)\s*</s> \((.*)\)", line.strip())
        out.append((f"{D}/cards/{m.group(2)}.wav", m.group(1)))
    return out


def main(work, seconds):
    pool = clips()
    pcm = {}
    for path, _ in pool:
        with wave.open(path) as w:
            assert w.getframerate() == 16000 and w.getnchannels() == 1 and w.getsampwidth() == 2, path
            pcm[path] = w.readframes(w.getnframes())
    rng = random.Random(7)
    out, ref, total = bytearray(), [], 0.0
    while total < seconds:
        order = pool[:]
        rng.shuffle(order)
        for path, text in order:
            gap = int(16000 * rng.uniform(0.4, 1.6)) * 2
            out += b"\0" * gap + pcm[path]
            ref.append(text)
            total = len(out) / 32000
    with wave.open(f"{work}/speech.wav", "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(bytes(out))
    open(f"{work}/ref.txt", "w").write("\n".join(ref) + "\n")
    print(f"recording: {total:.1f} s, {len(ref)} utterances", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
