"""Whisper's prior over the digits (its decoder's score on 0.5 s of silence), subtracted from the
scores of the cut-digit dev set (benchmarks/cut_digits.py), zero-shot and with the k = 5 model of
`recipes.commands --data exp/cut_digits ... --out exp/cut_base`. Top-1 per lambda."""
import json

import numpy as np
import torch

from asr.commands import CommandConfig, CommandRecognizer
from asr.model import ASRModel
from features.audio import load_audio

torch.set_num_threads(2)
split = json.load(open("exp/cut_base/splits.json"))
adapted = CommandRecognizer.load("exp/cut_base/model")
commands = adapted.config.commands
zero_shot = CommandRecognizer(ASRModel.load("default", adapted.model.encoder), CommandConfig(commands))
rows = split["test"]
truth = np.array([commands.index(r["text"]) for r in rows])
audios = [load_audio(r["audio"]) for r in rows]
decoded = adapted.decoder_scores(audios)
prior = np.array(adapted.decoder_scores([np.zeros(8000, np.float32)])[0])
prior -= prior.mean()
print("prior", dict(zip(commands, np.round(prior, 2))))
out = {"prior": prior.tolist()}
for name, recognizer in [("0", zero_shot), ("5", adapted)]:
    scores = np.stack([s.numpy() for s in recognizer.score_frames(recognizer.encode(audios), decoded=decoded)])
    out[name] = scores.tolist()
    print(name, {lam: int(((scores - lam * prior).argmax(1) == truth).sum()) for lam in (0, 0.25, 0.5, 1.0)},
          "of", len(rows), flush=True)
json.dump(out, open("exp/cut_base/prior_scores.json", "w"))
