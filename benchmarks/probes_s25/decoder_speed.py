"""Whisper's decoder on slowed copies of each clip. Whisper tiny.en writes nothing for a third of
nicolas's fastest digits; the chain's test-time speed copies (probes_s23/speeds_cut.py) changed
the chain's scores only. This keeps the chain's shipped scores (probes_s24/phase.py's saved
first phase, which hold chain + decoder at weight 1) and swaps the decoder's score of each clip
for its score of a time-stretched copy, or the mean over copies. Top-1 of the cut-digit dev set.

    python benchmarks/probes_s24/phase.py exp/cut_base          # writes exp/cut_base/phase_scores_{0,5}.npy
    python benchmarks/probes_s25/decoder_speed.py exp/cut_base
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "probes_s23"))
from cut_dev import load_cut_dev  # noqa: E402

from features.augment import time_stretch  # noqa: E402

RATES = (1.0, 0.9, 0.8, 0.7)  # below 1: slower

run = sys.argv[1] if len(sys.argv) > 1 else "exp/cut_base"
dev = load_cut_dev(run)
decoded = {1.0: np.stack([d.numpy() for d in dev.decoded])}
recognizer = dev.recognizers["5"]
for rate in RATES[1:]:
    clips = [time_stretch(a, rate) for a in dev.audios]
    decoded[rate] = np.stack([d.numpy() for d in recognizer.decoder_scores(clips)])
    print("decoder alone at rate", rate, dev.top1(decoded[rate]), "of", len(dev.truth), flush=True)
print("decoder alone at rate 1.0", dev.top1(decoded[1.0]), flush=True)
np.save(f"{run}/decoder_rates.npy", np.stack([decoded[r] for r in RATES]))
for name in dev.recognizers:
    shipped = np.load(f"{run}/phase_scores_{name}.npy")[0]
    chain = shipped - decoded[1.0]
    for combo in [(1.0,), (0.9,), (0.8,), (0.7,), (1.0, 0.9), (1.0, 0.8), (1.0, 0.9, 0.8), RATES]:
        scores = chain + np.mean([decoded[r] for r in combo], axis=0)
        print(name, "decoder at", combo, dev.top1(scores), "of", len(dev.truth), flush=True)
