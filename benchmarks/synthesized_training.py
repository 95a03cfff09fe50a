"""Does synthesized speech of LibriSpeech text help the general model? (issue 5)

The general model (`recipes.general`) heard 29 minutes of LibriSpeech and spells what it has not
heard by ear. LibriSpeech's train-clean-100 text (22,758 sentences) is here without its audio;
espeak-ng can speak it. This fine-tunes a trained model twice, with the same steps, learning
rate and seed, and scores both:
  real       on its own training set again (speed copies 0.9 / 1.1, as `recipes.general`)
  real+tts   the same, plus N sentences of the LM text, each spoken by a random espeak-ng voice
             (`features.synth.random_voice`; no speed copies: the voices' rates already vary)
so that the difference is the synthesized speech, not the extra training. Both start from
MODEL, keep its lexicon and LM, and are scored on DATA's dev.jsonl and test_*.jsonl.

    python benchmarks/synthesized_training.py --model exp/general/model --data exp/general/data \\
        --sentences 4000 --steps 1200 --lr 1e-3 --out exp/tts_bench

Writes OUT/results.json (per arm: the training summary and WER/CER per set and decoder), the
synthesized audio and its manifest (OUT/tts/), and each arm's model (OUT/<arm>/model).
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
from pathlib import Path

import torch

from asr.lm import LM_FILE, WORDS_FILE
from asr.model import ASRModel, write_json_atomically
from features.augment import speed_copies
from features.librispeech import read_lm_text
from features.manifest import read_corpus, write_manifest
from features.synth import synthesize_corpus
from recipes.common import score_sets
from training.supervised import SupervisedConfig, train_supervised
from training.trainer import TrainConfig

REPO = Path(__file__).resolve().parents[1]
LM_TEXT = REPO.parent / "shared" / "data" / "librispeech" / "lm-text" / "train-clean-100.txt"


def sentences(lm_text: Path, count: int, rng: random.Random, min_words: int = 5, max_words: int = 35) -> list[str]:
    """`count` sentences of the LM text in a seeded order, of 5-35 words (a window Whisper's
    encoder sees whole, and long enough to be more than a phrase)."""
    texts = read_lm_text(lm_text)
    rng.shuffle(texts)
    return [t for t in texts if min_words <= len(t.split()) <= max_words][:count]


def fine_tune(model_dir: Path, train, dev, out: Path, args: argparse.Namespace) -> dict:
    model = ASRModel.load(model_dir)
    config = SupervisedConfig(links=model.chain.link_names(), train=TrainConfig(
        max_steps=args.steps, lr=args.lr, warmup_steps=100, eval_every=250, checkpoint_every=250,
        max_batch_frames=3000, threads=args.threads, seed=args.seed, progress=False))
    summary = train_supervised(train, dev, out, config, init=model)
    for name in (WORDS_FILE, LM_FILE):  # the same decoding lexicon and LM as the model it started from
        if (model_dir / name).exists():
            shutil.copyfile(model_dir / name, out / "model" / name)
    return {k: summary[k] for k in ("train_utterances", "steps", "best_step", "dev_wer", "train_seconds")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="exp/general/model", help="a trained model folder to start from")
    parser.add_argument("--data", default="exp/general/data",
                        help="its recipe's data folder: train.jsonl, dev.jsonl, test_*.jsonl")
    parser.add_argument("--lm-text", default=str(LM_TEXT), help="LibriSpeech-format text: ID TEXT a line")
    parser.add_argument("--sentences", type=int, default=4000)
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--tests", default=None,
                        help="comma-separated test sets of DATA to score (test_<name>.jsonl; default: all)")
    parser.add_argument("--arms", default="real,real+tts")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1, help="draws the sentences and their voices")
    parser.add_argument("--out", default="exp/tts_bench")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model_dir, data, out = Path(args.model), Path(args.data), Path(args.out)

    real = speed_copies(read_corpus(data / "train.jsonl"), [0.9, 1.1])
    dev = read_corpus(data / "dev.jsonl")
    names = args.tests.split(",") if args.tests else [p.stem.removeprefix("test_") for p in sorted(data.glob("test_*.jsonl"))]
    tests = {name: read_corpus(data / f"test_{name}.jsonl") for name in names}
    rng = random.Random(args.seed)
    synthesized = synthesize_corpus(sentences(Path(args.lm_text), args.sentences, rng), out / "tts", rng)
    write_manifest(synthesized, out / "tts" / "manifest.jsonl")

    given = sys.argv[1:] if argv is None else argv
    results = {"command": " ".join(["python benchmarks/synthesized_training.py", *given]), "model": str(model_dir),
               "sentences": len(synthesized), "arms": {}}
    for arm in args.arms.split(","):
        train = real + (synthesized if arm == "real+tts" else [])
        summary = fine_tune(model_dir, train, dev, out / arm, args)
        scores = score_sets(out / arm / "model", {"dev": dev, **tests}, out / arm)
        results["arms"][arm] = {"training": summary, "scores": scores}
        write_json_atomically(out / "results.json", results)
    print(json.dumps({arm: {name: round(100 * s["wer"], 2) for name, s in r["scores"].items()}
                      for arm, r in results["arms"].items()}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
