#!/usr/bin/env python3
"""Reads a meeting script aloud: one espeak-ng voice per speaker, into a 16 kHz mono FLAC.

Usage: speak_meeting.py SCRIPT.txt FACTS.json OUT.flac

SCRIPT.txt has one "Speaker: words" line per turn; FACTS.json's "voices" maps each speaker
to an espeak-ng voice (e.g. "en-gb+f4"). Turns are separated by 0.8 s of silence. Also
writes OUT.turns.json (start, end and speaker of every turn, in seconds), the truth a
speaker check can use. Needs espeak-ng, sox and ffmpeg (scripts/setup installs them).
"""
import json
import os
import subprocess
import sys
import tempfile
import wave

RATE = 16000
PAUSE_S = 0.8


def main() -> None:
    script, facts, out = sys.argv[1:4]
    voices = json.load(open(facts)).get("voices") or {}
    turns = []
    for n, line in enumerate(open(script).read().splitlines(), 1):
        if not line.strip():
            continue
        who, sep, text = line.partition(":")
        if not sep or who not in voices:
            sys.exit(f"{script}:{n}: expected 'Speaker: words' with the speaker in {facts}'s voices, got {line!r}")
        turns.append((who, text.strip()))
    with tempfile.TemporaryDirectory() as work:
        parts, truth, t = [], [], 0.0
        silence = os.path.join(work, "pause.wav")
        subprocess.run(["sox", "-n", "-r", str(RATE), "-c", "1", "-b", "16", silence, "trim", "0", str(PAUSE_S)],
                       check=True)
        for i, (who, text) in enumerate(turns):
            raw, part = os.path.join(work, f"raw{i}.wav"), os.path.join(work, f"p{i}.wav")
            subprocess.run(["espeak-ng", "-v", voices[who], "-s", "150", "-w", raw, text], check=True)
            subprocess.run(["sox", raw, "-r", str(RATE), "-c", "1", "-b", "16", part], check=True)
            with wave.open(part) as w:
                dur = w.getnframes() / RATE
            truth.append({"start": round(t, 3), "end": round(t + dur, 3), "speaker": who})
            parts += [part, silence]
            t += dur + PAUSE_S
        joined = os.path.join(work, "meeting.wav")
        subprocess.run(["sox", *parts, joined], check=True)
        tmp = out + ".partial.flac"
        subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", joined, "-c:a", "flac", tmp],
                       check=True)
        os.replace(tmp, out)
    with open(out + ".turns.json", "w") as f:
        json.dump(truth, f, indent=0)
    print(f"{out}: {t:.1f} s, {len(turns)} turns, {len(voices)} voices")


if __name__ == "__main__":
    main()
