"""The decoder's weight on the cut-digit dev set: top-1 of chain + w x decoder, zero-shot and
k = 5, from the scores prior_cut.py saved (taken at w = 1) and the decoder's own scores."""
import json

import numpy as np

from cut_dev import load_cut_dev

dev = load_cut_dev()
assert dev.recognizers["5"].config.decoder_weight == 1.0
decoded = np.stack([d.numpy() for d in dev.decoded])
saved = json.load(open("exp/cut_base/prior_scores.json"))
print("decoder alone", dev.top1(decoded), "of", len(dev.truth))
for k in ("0", "5"):
    chain = np.array(saved[k]) - decoded
    print(k, {w: dev.top1(chain + w * decoded) for w in (0, 0.25, 0.5, 1, 1.5, 2, 3)})
