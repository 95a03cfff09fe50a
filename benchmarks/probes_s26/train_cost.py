"""Where adaptation's training steps go, on a recipe run's k = 5 shots: `train_adapters` on one
torch thread against two inside the whole adaptation (alternated, twice each), then torch's
profiler over 10 steps (the ops taking the most CPU time).

    python benchmarks/probes_s26/train_cost.py exp/kw3_s25     # 6 min here
"""
import json
import sys
import time

import torch

import asr.commands as commands
from asr.model import ASRModel
from asr.packing import encode_utterances
from features.audio import load_audio

run = sys.argv[1] if len(sys.argv) > 1 else "exp/kw3_s25"
splits = json.load(open(f"{run}/splits.json"))
shots = splits["shots"]["5"]
audios = [load_audio(s["audio"]) for s in shots]
labels = [splits["commands"].index(s["text"]) for s in shots]
train_adapters = commands.train_adapters


def on_threads(threads: int):
    def timed(*args, **kwargs):
        before, started = torch.get_num_threads(), time.perf_counter()
        torch.set_num_threads(threads)
        try:
            return train_adapters(*args, **kwargs)
        finally:
            print(f"  train_adapters on {threads} thread(s): {time.perf_counter() - started:.1f} s", flush=True)
            torch.set_num_threads(before)
    return timed


encoder = None
for threads in (1, 2, 1, 2):
    commands.train_adapters = on_threads(threads)
    model = ASRModel.load("default", encoder)
    encoder = model.encoder
    recognizer = commands.CommandRecognizer(model, commands.CommandConfig(splits["commands"]))
    summary = commands.adapt_recognizer(recognizer, audios, labels)
    print(f"adapted in {summary['adapt_seconds']:.1f} s, threshold {summary['threshold']:.4f}", flush=True)
commands.train_adapters = train_adapters

torch.set_num_threads(2)
model = ASRModel.load("default", encoder)
recognizer = commands.CommandRecognizer(model, commands.CommandConfig(splits["commands"]))
frames = encode_utterances(model.encoder, audios)
targets = commands.training_targets(recognizer, frames, labels)
with torch.profiler.profile() as profile:
    commands.train_adapters(model, frames, targets, commands.AdaptConfig(steps=10))
print(profile.key_averages().table(sort_by="self_cpu_time_total", row_limit=8))
