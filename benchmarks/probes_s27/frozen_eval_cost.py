"""Seconds of adaptation's training steps (`train_adapters`, 100 steps) with the frozen part of
the chain in train mode (dropout drawn, as before session 27) and in eval mode (as shipped),
alternated, on the encoded k = 5 shots of a recipe run (its splits.json).

    python benchmarks/probes_s27/frozen_eval_cost.py exp/fsdd_s27_eval exp/kw3_s27
"""
import json
import sys
import time

import torch

import asr.commands as commands
from asr.model import ASRModel
from asr.packing import encode_utterances
from features.audio import load_audio

torch.set_num_threads(2)
model = ASRModel.load("default")
base_state = {k: v.clone() for k, v in model.chain.state_dict().items()}
for run in sys.argv[1:]:
    splits = json.load(open(f"{run}/splits.json"))
    shots = splits["shots"]["5"]
    labels = [splits["commands"].index(s["text"]) for s in shots]
    frames = encode_utterances(model.encoder, [load_audio(s["audio"]) for s in shots])
    recognizer = commands.CommandRecognizer(model, commands.CommandConfig(splits["commands"]))
    targets = commands.training_targets(recognizer, frames, labels)
    real_eval = torch.nn.Module.eval
    for attempt in range(3):
        for frozen_mode in ("train", "eval"):
            fresh = ASRModel.load("default", model.encoder)
            if frozen_mode == "train":  # as before: eval() of the frozen parts is a no-op, the chain's own at the end is not
                torch.nn.Module.eval = lambda self: real_eval(self) if self is fresh.chain else self
            started = time.perf_counter()
            try:
                commands.train_adapters(fresh, frames, targets, commands.AdaptConfig())
            finally:
                torch.nn.Module.eval = real_eval
            print(f"{run}: frozen part in {frozen_mode} mode: {time.perf_counter() - started:.1f} s", flush=True)
