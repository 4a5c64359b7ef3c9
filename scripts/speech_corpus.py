#!/usr/bin/env python3
"""Assembles a long recording from real, distinct speech: the LibriVox and "cards" clips of
Debian's pocketsphinx-testdata (three voices) and, when given, the recorded prompts of
Debian's asterisk-core-sounds-en (one more voice; fetched by scripts/fetch-speech), shuffled
with a fixed seed and separated by 0.4-1.6 s of silence. Every clip is used once before any
is used again: repeated text would let a decoder that carries earlier text as its prompt
copy its own earlier answer, which measures the repetition rather than the recogniser.
Writes DIR/speech.wav (16 kHz mono s16) and DIR/ref.txt (one reference line per clip).
Used by scripts/eval-asr and scripts/bench-pipeline.

    speech_corpus.py DIR SECONDS [ASTERISK_DIR]
"""
import random
import re
import sys
import wave

D = "/usr/share/pocketsphinx/test/data"
# Misspellings in asterisk-core-sounds-en 1.6.1's transcript file (the recordings say the
# real word).
TYPOS = {"represenatives": "representatives", "umute": "unmute", "Un-indentified": "Unidentified", "witheld": "withheld"}


def pocketsphinx():
    out = []
    for line in open(f"{D}/librivox/transcription"):
        m = re.match(r"<s> (.*) </s> \((.*)\)", line.strip())
        out.append((f"{D}/librivox/{m.group(2)}.wav", m.group(1)))
    for line in open(f"{D}/cards/cards.transcription"):
        m = re.match(r"<s> (.*?)\s*</s> \((.*)\)", line.strip())
        out.append((f"{D}/cards/{m.group(2)}.wav", m.group(1)))
    return out


def asterisk(root):
    """Prompts of four words or more whose transcript is plain words (no sound notes
    such as "[ascending tones]", no key symbols)."""
    out = []
    for line in open(f"{root}/transcripts.txt", encoding="utf-8", errors="replace"):
        if line.startswith(";") or ":" not in line:
            continue
        name, text = (s.strip() for s in line.split(":", 1))
        if re.search(r"[\[\]()*#<>/]", text) or len(text.split()) < 4:
            continue
        try:
            open(f"{root}/clips/{name}.wav", "rb").close()
        except OSError:
            continue
        text = " ".join(TYPOS.get(w, w) for w in text.split(" "))
        out.append((f"{root}/clips/{name}.wav", text))
    return out


def main(work, seconds, asterisk_dir=None):
    pool = pocketsphinx() + (asterisk(asterisk_dir) if asterisk_dir else [])
    pcm = {}
    for path, _ in pool:
        with wave.open(path) as w:
            assert w.getframerate() == 16000 and w.getnchannels() == 1 and w.getsampwidth() == 2, path
            pcm[path] = w.readframes(w.getnframes())
    rng = random.Random(7)
    out, ref, total, passes = bytearray(), [], 0.0, 0
    while total < seconds:
        order = pool[:]
        rng.shuffle(order)
        passes += 1
        for path, text in order:
            gap = int(16000 * rng.uniform(0.4, 1.6)) * 2
            out += b"\0" * gap + pcm[path]
            ref.append(text)
            total = len(out) / 32000
            if total >= seconds:
                break
    with wave.open(f"{work}/speech.wav", "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(bytes(out))
    open(f"{work}/ref.txt", "w").write("\n".join(ref) + "\n")
    distinct = len(set(ref))
    print(f"recording: {total:.1f} s, {len(ref)} utterances ({distinct} distinct, {len(pool)} available)", file=sys.stderr)
    if passes > 1:
        print("warning: clips repeat; give more speech (scripts/fetch-speech) for a fair measurement", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None)
