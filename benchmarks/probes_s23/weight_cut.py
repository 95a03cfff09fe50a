"""The decoder's weight on the cut-digit dev set: top-1 of chain + w x decoder, zero-shot and
k = 5, from the scores prior_cut.py saved (taken at w = 1) and the decoder's own scores."""
import json

import numpy as np
import torch

from asr.commands import CommandRecognizer
from features.audio import load_audio

torch.set_num_threads(2)
split = json.load(open("exp/cut_base/splits.json"))
adapted = CommandRecognizer.load("exp/cut_base/model")
assert adapted.config.decoder_weight == 1.0
commands = adapted.config.commands
rows = split["test"]
truth = np.array([commands.index(r["text"]) for r in rows])
decoded = np.stack([d.numpy() for d in adapted.decoder_scores([load_audio(r["audio"]) for r in rows])])
saved = json.load(open("exp/cut_base/prior_scores.json"))
print("decoder alone", int((decoded.argmax(1) == truth).sum()), "of", len(rows))
for k in ("0", "5"):
    chain = np.array(saved[k]) - decoded
    print(k, {w: int(((chain + w * decoded).argmax(1) == truth).sum()) for w in (0, 0.25, 0.5, 1, 1.5, 2, 3)})
