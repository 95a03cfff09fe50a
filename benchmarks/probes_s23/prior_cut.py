"""Whisper's prior over the digits (its decoder's score on 0.5 s of silence), subtracted from the
scores of the cut-digit dev set (benchmarks/cut_digits.py), zero-shot and with the k = 5 model of
`recipes.commands --data exp/cut_digits ... --out exp/cut_base`. Top-1 per lambda."""
import json

import numpy as np

from cut_dev import load_cut_dev

dev = load_cut_dev()
prior = np.array(dev.recognizers["5"].decoder_scores([np.zeros(8000, np.float32)])[0])
prior -= prior.mean()
print("prior", dict(zip(dev.commands, np.round(prior, 2))))
out = {"prior": prior.tolist()}
for name, recognizer in dev.recognizers.items():
    scores = dev.scores(recognizer)
    out[name] = scores.tolist()
    print(name, {lam: dev.top1(scores - lam * prior) for lam in (0, 0.25, 0.5, 1.0)}, "of", len(dev.truth), flush=True)
json.dump(out, open("exp/cut_base/prior_scores.json", "w"))
