"""Probe (session 28): does the base chain read words said alone better after hearing some?

The default model (`recipes.general`) trained on whole sentences only, and a voice command is one
short word, nicolas's fast and cut tight. This cuts every word of the model's own training
sentences (AN4 train, speechocean762 train; not LibriSpeech, whose words are rarely commands) out
of its sentence: each sentence is force-aligned on the default model's char posteriors
(asr.alignment.align_words) and each word cut with a pad drawn from 0-PAD s either side. Then
it fine-tunes the shipped model once per arm, from the same start, same steps and seed:
  real            the recipe's training set again (speed copies 0.9 / 1.1): the control
  real+crops      the same plus the crops (and their speed copies)
  real+fastcrops  the same, the crops also 1.25 and 1.4 times as fast
The train/dev split is `recipes.general`'s (same arguments, same seed). benchmarks/RESULTS.md,
"Words cut from sentences in the base chain's training", has the figures and the runs.

    python benchmarks/probes_s28/word_crops.py --out exp/s28 --steps 1000 --arms real+crops,real
    python benchmarks/probes_s28/word_crops.py --out exp/s28 --steps 1000 --arms real+fastcrops

Writes OUT/crops/ (WAVs + manifest.jsonl), OUT/<arm>/model (with the default model's lexicon,
LM and command thresholds) and OUT/results.json (each arm's training summary).
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
from pathlib import Path

import soundfile as sf
import torch
from tqdm import tqdm

from asr.alignment import align_words
from asr.lm import LM_FILE, WORDS_FILE
from asr.model import ASRModel, model_dir, write_json_atomically
from asr.text import normalize_text
from features.audio import SAMPLE_RATE, load_audio
from features.augment import speed_copies
from features.manifest import Utterance, read_corpus, write_manifest
from recipes.general.__main__ import SHARED, general_arguments
from recipes.librispeech.__main__ import build_parser, build_sets
from training.cache import encode_corpus
from training.supervised import SupervisedConfig, default_cache_dir, train_supervised
from training.trainer import TrainConfig


def cut_words(sentences: list[Utterance], model: ASRModel, out: Path, pad: float, rng: random.Random) -> list[Utterance]:
    (out / "audio").mkdir(parents=True, exist_ok=True)
    corpus = encode_corpus(sentences, model.encoder, default_cache_dir())
    vocab = model.output_vocabulary
    frame_seconds = model.config.chain.stack / model.encoder.frame_rate
    crops = []
    with torch.no_grad():
        posteriors = model.posteriors([frames.float() for frames in corpus.frames])
    for utt, log_probs in tqdm(list(zip(corpus.utterances, posteriors)), desc="align + cut", unit="utt"):
        words = align_words(log_probs, normalize_text(utt.text), vocab, frame_seconds)
        if not words:
            continue
        audio = load_audio(utt.audio)
        for index, word in enumerate(words):
            first = max(0, int((word.start - rng.uniform(0, pad)) * SAMPLE_RATE))
            last = min(len(audio), int((word.end + rng.uniform(0, pad)) * SAMPLE_RATE))
            if last - first < 0.08 * SAMPLE_RATE:
                continue
            crop_id = f"crop_{utt.id}_{index}"
            path = out / "audio" / f"{crop_id}.wav"
            sf.write(path, audio[first:last], SAMPLE_RATE)
            crops.append(Utterance(crop_id, str(path.resolve()), word.word.upper(), utt.speaker,
                                   round((last - first) / SAMPLE_RATE, 3)))
    write_manifest(crops, out / "manifest.jsonl")
    return crops


def training_set(arm: str, train: list[Utterance], crops: list[Utterance]) -> tuple[list[Utterance], list[float]]:
    """(utterances, speed factors train_supervised copies them at) of an arm: the recipe's
    sentences, with the crops, and for "fastcrops" the crops also 1.25 and 1.4 times as fast
    (for speakers as fast as nicolas)."""
    if arm == "real+fastcrops":
        return speed_copies(train, [0.9, 1.1]) + speed_copies(crops, [0.9, 1.1, 1.25, 1.4]), []
    return train + (crops if arm == "real+crops" else []), [0.9, 1.1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="exp/s28")
    parser.add_argument("--pad", type=float, default=0.08)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--arms", default="real+crops,real")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    recipe_args = build_parser().parse_args(general_arguments(SHARED) + ["--out", str(out / "unused")])
    train, dev, _, _ = build_sets(recipe_args)

    crop_manifest = out / "crops" / "manifest.jsonl"
    if crop_manifest.exists():
        crops = read_corpus(crop_manifest)
    else:
        sources = {str(Path(u.audio).resolve()) for spec in ("an4/train", "speechocean762/train")
                   for u in read_corpus(SHARED / spec / "manifest.jsonl")}
        crops = cut_words([u for u in train if str(Path(u.audio).resolve()) in sources],
                          ASRModel.load("default"), out / "crops", args.pad, random.Random(0))
    print(f"{len(crops)} crops, median {sorted(c.duration for c in crops)[len(crops) // 2]:.2f} s")

    results_path = out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {"arms": {}}
    default = model_dir("default")
    for arm in args.arms.split(","):
        if arm in results["arms"]:
            continue
        model = ASRModel.load(default)
        utterances, speeds = training_set(arm, train, crops)
        config = SupervisedConfig(links=model.chain.link_names(), speed_perturb=speeds, train=TrainConfig(
            max_steps=args.steps, lr=args.lr, warmup_steps=100, eval_every=250, checkpoint_every=250,
            max_batch_frames=3000, threads=args.threads, seed=0, progress=False))
        summary = train_supervised(utterances, dev, out / arm, config, init=model)
        for name in (WORDS_FILE, LM_FILE):
            shutil.copyfile(default / name, out / arm / "model" / name)
        # the default model's zero-shot command thresholds, so that both arms score as it does
        config_path = out / arm / "model" / "config.json"
        shipped = json.loads((default / "config.json").read_text())
        mine = json.loads(config_path.read_text())
        mine.update({k: v for k, v in shipped.items() if k.startswith("command_")})
        write_json_atomically(config_path, mine)
        results["arms"][arm] = {k: summary[k] for k in ("train_utterances", "steps", "best_step", "dev_wer",
                                                         "train_seconds", "prepare_seconds")}
        write_json_atomically(results_path, results)
        print(arm, results["arms"][arm], flush=True)


if __name__ == "__main__":
    main()
