"""Whisper's decoder on slowed copies of each clip. Whisper tiny.en writes nothing for a third of
nicolas's fastest digits; the chain's test-time speed copies (probes_s23/speeds_cut.py) changed
the chain's scores only. This keeps the chain's shipped scores and swaps the decoder's score of
each clip for its score of a time-stretched copy, or the mean over copies. Top-1 of the
cut-digit dev set, and how many answers each choice turns right and wrong against the shipped.

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
for name, scorer in dev.recognizers.items():
    shipped = dev.scores(scorer)  # chain + decoder (weight 1) as asr commands scores
    chain = shipped - decoded[1.0]
    right = shipped.argmax(1) == dev.truth
    for combo in [(1.0,), (0.9,), (0.8,), (0.7,), (1.0, 0.9), (1.0, 0.8), (1.0, 0.9, 0.8), RATES]:
        now_right = (chain + np.mean([decoded[r] for r in combo], axis=0)).argmax(1) == dev.truth
        print(name, "decoder at", combo, int(now_right.sum()), "of", len(dev.truth),
              f"(turned right {int((now_right & ~right).sum())}, wrong {int((right & ~now_right).sum())})", flush=True)
