"""What the stretch window does to a tone's onset and what it costs: pre-echo 15-60 ms ahead of
a 0.1-s tone's onset (dB under the tone) and milliseconds per FSDD clip, windows 512 and 2048;
with --adapt, seconds of the FSDD recipe's k = 5 adaptation (its seed-0 shots) with each window.

    python benchmarks/probes_s25/stretch_cost.py                               # 1 min
    python benchmarks/probes_s25/stretch_cost.py --adapt exp/fsdd_s25_seed0    # + 6 min here
"""
import argparse
import json
import time

import numpy as np

import asr.commands as commands
from asr.model import ASRModel
from features.audio import load_audio
from features.augment import time_stretch

WINDOWS = (512, 2048)
parser = argparse.ArgumentParser()
parser.add_argument("--adapt", metavar="RUN", help="a recipes.commands --shots ...5 run: adapt to its k = 5 shots")
args = parser.parse_args()

t = np.arange(1600) / 16_000
silence = np.zeros(3200, np.float32)
burst = np.concatenate([silence, np.sin(2 * np.pi * 1000 * t).astype(np.float32), silence])
level = lambda x: 10 * np.log10(np.mean(x ** 2) + 1e-20)  # noqa: E731
for window in WINDOWS:
    for rate in (0.9, 1.15):
        y, onset = time_stretch(burst, rate, window), 0.2 / rate * 16_000
        ahead, inside = y[int(onset - 960):int(onset - 240)], y[int(onset + 480):int(onset + 1600 / rate - 480)]
        print(f"window {window} rate {rate}: pre-echo {level(ahead) - level(inside):.0f} dB", flush=True)

clip = load_audio("../shared/data/fsdd/audio/george/6_george_3.flac")
for window in WINDOWS:
    started = time.perf_counter()
    for _ in range(300):
        time_stretch(clip, 0.9, window)
    print(f"window {window}: {(time.perf_counter() - started) / 300 * 1000:.1f} ms a clip", flush=True)

if args.adapt:
    splits = json.load(open(f"{args.adapt}/splits.json"))
    shots = splits["shots"]["5"]
    audios = [load_audio(s["audio"]) for s in shots]
    labels = [splits["commands"].index(s["text"]) for s in shots]
    encoder = None
    for window in WINDOWS * 2:
        commands.time_stretch = lambda a, rate, w=window: time_stretch(a, rate, w)  # what adaptation calls
        model = ASRModel.load("default", encoder)
        encoder = model.encoder
        recognizer = commands.CommandRecognizer(model, commands.CommandConfig(splits["commands"]))
        started = time.perf_counter()
        summary = commands.adapt_recognizer(recognizer, audios, labels)
        print(f"window {window}: adapted in {time.perf_counter() - started:.1f} s, threshold {summary['threshold']:.4f}",
              flush=True)
