"""Test-time speed copies on the cut-digit dev set: the chain's scores of each recording averaged
over copies at several speeds (librosa time stretch), plus the decoder's score of the recording
as is. Top-1 of 667, zero-shot and k = 5 (exp/cut_base, as prior_cut.py)."""
import json

import numpy as np
import torch

from asr.commands import CommandConfig, CommandRecognizer
from asr.model import ASRModel
from features.audio import load_audio
from features.augment import time_stretch

torch.set_num_threads(2)
split = json.load(open("exp/cut_base/splits.json"))
adapted = CommandRecognizer.load("exp/cut_base/model")
commands = adapted.config.commands
zero_shot = CommandRecognizer(ASRModel.load("default", adapted.model.encoder), CommandConfig(commands))
rows = split["test"]
truth = np.array([commands.index(r["text"]) for r in rows])
audios = [load_audio(r["audio"]) for r in rows]
decoded = adapted.decoder_scores(audios)
for name, recognizer in [("0", zero_shot), ("5", adapted)]:
    by_speed = {}
    for speed in (1.0, 0.9, 1.1):
        clips = audios if speed == 1.0 else [time_stretch(a, speed) for a in audios]
        by_speed[speed] = np.stack([s.numpy() for s in recognizer.score_frames(recognizer.encode(clips), decoded=decoded)])
        print(name, speed, int((by_speed[speed].argmax(1) == truth).sum()), flush=True)
    for combo in [(1.0, 0.9), (1.0, 1.1), (1.0, 0.9, 1.1)]:
        mean = np.mean([by_speed[s] for s in combo], axis=0)
        print(name, combo, int((mean.argmax(1) == truth).sum()), "of", len(rows), flush=True)
