"""Seconds of adaptation's training steps (`train_adapters`, 100 steps) with the frozen part of
the chain (input block, phone link) in train mode (dropout drawn, as shipped) and in eval mode
(the probe of session 27, not adopted), alternated, on the encoded k = 5 shots of a recipe run
(its splits.json).

    python benchmarks/probes_s27/frozen_eval_cost.py ../probe/exp/fsdd_s27_eval ../probe/exp/kw3_s27   # 4 min
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
for run in sys.argv[1:]:
    splits = json.load(open(f"{run}/splits.json"))
    shots = splits["shots"]["5"]
    labels = [splits["commands"].index(s["text"]) for s in shots]
    frames = encode_utterances(model.encoder, [load_audio(s["audio"]) for s in shots])
    recognizer = commands.CommandRecognizer(model, commands.CommandConfig(splits["commands"]))
    targets = commands.training_targets(recognizer, frames, labels)
    for attempt in range(3):
        for frozen_mode in ("train", "eval"):
            fresh = ASRModel.load("default", model.encoder)
            if frozen_mode == "eval":  # the probe: after train(), the frozen part back in eval mode
                chain, shipped_train = fresh.chain, fresh.chain.train

                def train(mode: bool = True):
                    shipped_train(mode)
                    if mode:
                        chain.input.eval()
                        for link in chain.links[:-1]:
                            link.eval()
                    return chain
                chain.train = train
            started = time.perf_counter()
            commands.train_adapters(fresh, frames, targets, commands.AdaptConfig())
            print(f"{run}: frozen part in {frozen_mode} mode: {time.perf_counter() - started:.1f} s", flush=True)
