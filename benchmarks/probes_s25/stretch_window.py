"""How much librosa's time stretch damages short speech clips, by its STFT window: Whisper's
decoder alone (top-1 of the cut-digit dev set) on copies stretched with librosa's default window
(2048 samples: 128 ms at 16 kHz, sized for music) and with a speech-sized one (512: 32 ms).

    python benchmarks/probes_s25/stretch_window.py exp/cut_base
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "probes_s23"))
from cut_dev import load_cut_dev  # noqa: E402

from features.augment import time_stretch  # noqa: E402

run = sys.argv[1] if len(sys.argv) > 1 else "exp/cut_base"
dev = load_cut_dev(run)
print("as recorded", dev.top1(np.stack([d.numpy() for d in dev.decoded])), "of", len(dev.truth), flush=True)
recognizer = dev.recognizers["5"]
for rate, n_fft in [(0.9, 512), (1.15, 512), (1.15, 2048), (1.0, 2048), (1.0, 512)]:
    clips = [time_stretch(a, rate, window=n_fft) for a in dev.audios]
    decoded = np.stack([d.numpy() for d in recognizer.decoder_scores(clips)])
    print(f"rate {rate} n_fft {n_fft}", dev.top1(decoded), "of", len(dev.truth), flush=True)
