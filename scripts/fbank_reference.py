#!/usr/bin/env python3
"""Writes the reference for debrief-openvino's Kaldi filter-bank front end (WeSpeaker's).

    python3 -m venv /tmp/kvenv && /tmp/kvenv/bin/pip install kaldi-native-fbank==1.23.0 numpy
    /tmp/kvenv/bin/python scripts/fbank_reference.py SPEECH.wav crates/openvino/tests/data/fbank-reference.json

Takes 1.0 s of 16 kHz mono 16-bit speech (from 0.5 s into the file), computes its 80-band
log filter bank with kaldi-native-fbank (Kaldi's own algorithm, reimplemented by k2-fsa)
set as WeSpeaker sets torchaudio's kaldi.fbank: Hamming window, no dither, 25/10 ms frames,
snip_edges, 20 Hz to Nyquist, power spectrum, samples in the int16 range. Writes the input
samples and the expected frames (rounded to 1e-4) as JSON.
"""
import json
import sys
import wave

import kaldi_native_fbank as knf
import numpy as np

src, out = sys.argv[1:3]
with wave.open(src) as w:
    assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2), src
    pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
pcm = pcm[8000:8000 + 16000]
opts = knf.FbankOptions()
opts.frame_opts.dither = 0.0
opts.frame_opts.window_type = "hamming"
opts.frame_opts.snip_edges = True
opts.frame_opts.samp_freq = 16000
opts.mel_opts.num_bins = 80
opts.mel_opts.low_freq = 20.0
opts.mel_opts.high_freq = 0.0
opts.use_energy = False
fb = knf.OnlineFbank(opts)
fb.accept_waveform(16000, pcm.astype(np.float32).tolist())
fb.input_finished()
frames = [[round(float(x), 4) for x in fb.get_frame(i)] for i in range(fb.num_frames_ready)]
json.dump({"source": src, "kaldi_native_fbank": "1.23.0", "samples": pcm.tolist(), "frames": frames},
          open(out, "w"), separators=(",", ":"))
print(f"{len(frames)} frames of {len(frames[0])} bands from {len(pcm)} samples -> {out}", file=sys.stderr)
