"""Grid-search the beam decoder's LM weight and word score on a dev set; write MODEL/beam.json.

    python benchmarks/tune_beam.py MODEL_DIR DEV_MANIFEST [--write]

Posteriors are computed once; each grid point only re-runs the beam search. Utterances must
fit one encoder window (30 s), as dev utterances do. Choose on a dev
set, never on a test set: the chosen settings are then used for every test set.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from dataclasses import replace
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from asr.decoding import BeamConfig  # noqa: E402
from asr.model import ASRModel, model_dir  # noqa: E402
from asr.packing import encode_utterances  # noqa: E402
from asr.scoring import score  # noqa: E402
from asr.transcribe import BEAM_FILE, Transcriber  # noqa: E402
from features.audio import load_audio  # noqa: E402
from features.manifest import read_corpus  # noqa: E402

LM_WEIGHTS = (0.5, 1.0, 1.5, 2.0, 3.0)
WORD_SCORES = (-1.0, 0.0, 1.0, 2.0, 3.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("dev", nargs="+", help="dev manifests or folders")
    parser.add_argument("--write", action="store_true", help="save the best settings as MODEL/beam.json")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    folder = model_dir(args.model)
    model = ASRModel.load(folder)
    utts = [u for spec in args.dev for u in read_corpus(spec) if u.text]
    with torch.inference_mode():  # the encoder and chain run once; only the search is repeated
        log_probs = model.posteriors(encode_utterances(model.encoder, [load_audio(u.audio) for u in utts]))
    rows = []
    for lm_weight, word_score in itertools.product(LM_WEIGHTS, WORD_SCORES):
        config = replace(BeamConfig(), lm_weight=lm_weight, word_score=word_score)
        transcriber = Transcriber(model, "beam", str(folder), beam=config)
        hyps = [transcriber.recognize(lp)[0] for lp in log_probs]
        wer = score([u.text for u in utts], hyps)["wer"]
        rows.append({"lm_weight": lm_weight, "word_score": word_score, "wer": wer})
        print(f"lm_weight {lm_weight:4.1f}  word_score {word_score:5.1f}  WER {100 * wer:6.2f}%", flush=True)
    best = min(rows, key=lambda r: (r["wer"], abs(r["lm_weight"] - 1.0), abs(r["word_score"])))
    print(f"best: lm_weight {best['lm_weight']}, word_score {best['word_score']}: WER {100 * best['wer']:.2f}% "
          f"on {len(utts)} dev utterances")
    if args.write:
        settings = {"lm_weight": best["lm_weight"], "word_score": best["word_score"],
                    "tuned_on": [str(spec) for spec in args.dev], "dev_wer": round(best["wer"], 4),
                    "dev_utterances": len(utts)}
        (folder / BEAM_FILE).write_text(json.dumps(settings, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
