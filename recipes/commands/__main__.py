"""Voice-command recipe: zero-shot and k-shot accuracy on speakers not enrolled, false accepts.

    python -m recipes.commands --data ../shared/data/fsdd --base exp/an4/model --shots 1,3,5 --out exp/fsdd

The corpus's distinct texts are the commands. Speakers are split into enrollment and test
(`--enroll-speakers`, default: the first half by name; by file where the manifest names no
speakers, as in `keywords`); k recordings per command are drawn from
the enrollment speakers, the base chain is adapted to them, and every test-speaker recording is
recognised. Out-of-grammar speech (AN4 test, minus utterances that are themselves a command)
measures false acceptance at the threshold each model learned from its own enrollment data.
Writes OUT/results.json and, for the largest k, the command model OUT/model.
"""
from __future__ import annotations

import argparse
import logging
import random
import zlib
from pathlib import Path

import numpy as np
import torch

from asr.commands import NONE, AdaptConfig, CommandConfig, CommandRecognizer, adapt_recognizer
from asr.encoder import load_encoder
from asr.model import ASRModel, write_json_atomically
from asr.text import normalize_text
from features.audio import load_audio
from features.manifest import Utterance, read_corpus
from training.cache import encode_corpus
from training.supervised import default_cache_dir


def split_speakers(utterances: list[Utterance], enroll: list[str] | None) -> tuple[list[str], list[str]]:
    speakers = sorted({str(u.speaker) for u in utterances})
    chosen = enroll or speakers[:len(speakers) // 2]
    return sorted(chosen), [s for s in speakers if s not in chosen]


def split(corpus: list[Utterance], enroll_speakers: list[str] | None
          ) -> tuple[list[Utterance], list[Utterance], list[str], list[str]]:
    """Enrollment and test utterances by speaker; by file (a hash of the id) where no speakers are named."""
    if all(u.speaker is None for u in corpus):
        by_file = [zlib.crc32(u.id.encode()) % 2 == 0 for u in corpus]
        return ([u for u, e in zip(corpus, by_file) if e], [u for u, e in zip(corpus, by_file) if not e], [], [])
    enroll_names, test_names = split_speakers(corpus, enroll_speakers)
    return ([u for u in corpus if u.speaker in enroll_names], [u for u in corpus if u.speaker in test_names],
            enroll_names, test_names)


def draw_shots(utterances: list[Utterance], commands: list[str], k: int, seed: int) -> list[Utterance]:
    """k recordings per command, drawn at random from the given (enrollment) utterances."""
    rng = random.Random(seed)
    shots = []
    for command in commands:
        pool = [u for u in utterances if u.text == command]
        shots.extend(rng.sample(pool, k))
    return shots


def evaluate(recognizer: CommandRecognizer, frames: list[torch.Tensor], truths: list[str],
             negative_frames: list[torch.Tensor]) -> dict:
    results = recognizer.recognize_frames(frames)
    negatives = recognizer.recognize_frames(negative_frames)
    return {
        "accuracy": float(np.mean([r.command == t for r, t in zip(results, truths)])),
        "top1_accuracy": float(np.mean([r.best == t for r, t in zip(results, truths)])),  # no rejection
        "rejected": float(np.mean([r.command == NONE for r in results])),
        "false_accept": float(np.mean([r.command != NONE for r in negatives])),
        "threshold": round(recognizer.config.threshold, 4),
        "temperature": recognizer.config.temperature,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recipes.commands", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/fsdd", help="corpus folder with manifest.jsonl")
    parser.add_argument("--base", default="exp/an4/model", help="base chain model folder")
    parser.add_argument("--shots", default="1,3,5")
    parser.add_argument("--out", default="exp/fsdd")
    parser.add_argument("--negatives", default=None,
                        help="out-of-grammar corpus (default: DATA/../an4/test/manifest.jsonl)")
    parser.add_argument("--enroll-speakers", default=None, help="comma-separated; default: first half")
    parser.add_argument("--max-test", type=int, default=0, help="score at most this many test recordings (0: all)")
    parser.add_argument("--steps", type=int, default=AdaptConfig.steps)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    torch.set_num_threads(args.threads)

    data = Path(args.data)
    corpus = [u for u in read_corpus(data / "manifest.jsonl") if u.text]
    commands = list(dict.fromkeys(u.text for u in corpus))
    enroll, test, enroll_speakers, test_speakers = split(
        corpus, args.enroll_speakers.split(",") if args.enroll_speakers else None)
    if args.max_test and len(test) > args.max_test:
        test = random.Random(args.seed).sample(test, args.max_test)
    command_texts = {normalize_text(c) for c in commands}
    negatives = [u for u in read_corpus(args.negatives or data.parent / "an4" / "test" / "manifest.jsonl")
                 if normalize_text(u.text or "") not in command_texts]

    encoder = load_encoder(ASRModel.load(args.base).config.encoder)
    cache = default_cache_dir()
    test_encoded = encode_corpus(test, encoder, cache, progress=True)
    negative_encoded = encode_corpus(negatives, encoder, cache, progress=True)
    truths = [u.text for u in test_encoded.utterances]

    results: dict = {"commands": commands, "enroll_speakers": enroll_speakers, "test_speakers": test_speakers,
                     "n_test": len(truths), "n_negatives": len(negative_encoded.frames),
                     "accuracy": {}, "false_accepts": {}, "runs": {}}
    base = CommandRecognizer(ASRModel.load(args.base, encoder), CommandConfig(commands))
    runs = {"0": evaluate(base, test_encoded.frames, truths, negative_encoded.frames)}
    print(f"k=0 {runs['0']}", flush=True)
    config = AdaptConfig(steps=args.steps, threads=args.threads, seed=args.seed)
    recognizer = base
    for k in [int(s) for s in args.shots.split(",")]:
        shots = draw_shots(enroll, commands, k, args.seed + k)
        audios = [load_audio(u.audio) for u in shots]
        recognizer = CommandRecognizer(ASRModel.load(args.base, encoder), CommandConfig(commands))
        summary = adapt_recognizer(recognizer, audios, [commands.index(u.text) for u in shots], config)
        runs[str(k)] = {**evaluate(recognizer, test_encoded.frames, truths, negative_encoded.frames), **summary}
        print(f"k={k} {runs[str(k)]}", flush=True)
    recognizer.save(Path(args.out) / "model")

    largest = max(runs, key=int)
    results["runs"] = runs
    results["accuracy"] = {k: round(run["accuracy"], 4) for k, run in runs.items()}
    results["false_accepts"] = {k: round(run["false_accept"], 4) for k, run in runs.items()}
    results["false_accept"] = runs[largest]["false_accept"]
    results["threshold"] = runs[largest]["threshold"]
    results["adapt_seconds"] = runs[largest].get("adapt_seconds", 0.0)
    results["trainable_params"] = runs[largest].get("trainable_params", 0)
    write_json_atomically(Path(args.out) / "results.json", results)
    print(f"accuracy {results['accuracy']}  false accepts {results['false_accepts']}  "
          f"adapt {results['adapt_seconds']} s  -> {Path(args.out) / 'results.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
