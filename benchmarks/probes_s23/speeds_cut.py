"""Test-time speed copies on the cut-digit dev set: the chain's scores of each recording averaged
over copies at several speeds (librosa time stretch), plus the decoder's score of the recording
as is. Top-1 of 667, zero-shot and k = 5 (exp/cut_base, as prior_cut.py)."""
import numpy as np

from cut_dev import load_cut_dev
from features.augment import time_stretch

dev = load_cut_dev()
for name, recognizer in dev.recognizers.items():
    by_speed = {}
    for speed in (1.0, 0.9, 1.1):
        clips = dev.audios if speed == 1.0 else [time_stretch(a, speed) for a in dev.audios]
        by_speed[speed] = dev.scores(recognizer, clips)
        print(name, speed, dev.top1(by_speed[speed]), flush=True)
    for combo in [(1.0, 0.9), (1.0, 1.1), (1.0, 0.9, 1.1)]:
        print(name, combo, dev.top1(np.mean([by_speed[s] for s in combo], axis=0)), "of", len(dev.truth), flush=True)
