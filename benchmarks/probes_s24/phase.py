"""The phase of the chain's frames at scoring. The chain stacks encoder frames in pairs (50 -> 25
Hz), so a 0.15-s "six" is four chain frames, and which encoder frames are paired is an accident
of where the clip starts. This scores each recording at both pairings (its encoder frames as
they are, and without the first one), and at both again with 10 ms of silence before the clip
(another mel framing, re-encoded), and prints top-1 for each phase and for their scores averaged.

    python benchmarks/probes_s24/phase.py exp/cut_base        # any recipes.commands run with a saved model
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "probes_s23"))
from cut_dev import load_cut_dev  # noqa: E402

SHIFT_SAMPLES = 160  # 10 ms at 16 kHz: half an encoder frame

dev = load_cut_dev(sys.argv[1] if len(sys.argv) > 1 else "exp/cut_base")
for name, recognizer in dev.recognizers.items():
    phases = {}
    for shift in (0, SHIFT_SAMPLES):
        clips = dev.audios if not shift else [np.concatenate([np.zeros(shift, a.dtype), a]) for a in dev.audios]
        frames = recognizer.encode(clips)
        for drop in (0, 1):
            phases[(shift, drop)] = dev.score_frames(recognizer, [f[drop:] for f in frames])
            print(name, f"shift {shift} drop {drop}", dev.top1(phases[(shift, drop)]), "of", len(dev.truth), flush=True)
    for combo in [((0, 0), (0, 1)), ((0, 0), (SHIFT_SAMPLES, 0)), tuple(phases)]:
        print(name, "mean of", combo, dev.top1(np.mean([phases[p] for p in combo], axis=0)), "of", len(dev.truth),
              flush=True)
