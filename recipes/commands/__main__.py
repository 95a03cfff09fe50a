"""Voice-command recipe: zero-shot and k-shot accuracy on speakers not enrolled, false accepts.

    python -m recipes.commands --data ../shared/data/fsdd --shots 1,3,5 --out exp/fsdd   # base: the default model
    python -m recipes.commands --demo --out exp/demo     # synthesized speech, no data to download

The corpus's distinct texts are the commands, or the `--commands` among them. Speakers are split
into enrollment and test (`--enroll-speakers`, default: the first half by name; by file where the
manifest names no speakers, as in `keywords`); k recordings per command are drawn from the
enrollment speakers, the base chain is adapted to them, and every test-speaker recording of a
command is recognised. With `--synthesized-voices N` (default: AdaptConfig's) every adaptation
also hears each command spoken by N espeak-ng voices, and one more run, "text", adapts to those
alone: like zero-shot, it knows nothing but the command text. False acceptance is measured per
source of out-of-grammar speech, at the threshold each model learned from its own enrollment data:
  an4          AN4 test utterances (minus any that are themselves a command), or the corpora
               named with `--negatives`;
  other_words  the test split's recordings of the corpus's words left out of `--commands`
               (keywords has only ALEXA / COMPUTER / JARVIS: `--commands ALEXA,COMPUTER` makes
               JARVIS the out-of-grammar word).
Accuracy is also given per test speaker (`accuracy_by_speaker`); to hold out one speaker, enroll
all the others: `--enroll-speakers george,jackson,lucas` tests nicolas alone. With `--history M`
every k is scored a second time as a device that keeps each user's last M recordings would
(`asr commands --history`): each speaker's recordings, test and out-of-grammar, read in list
order, each after up to M of that speaker's earlier ones (`results.json`: "history").
Writes OUT/results.json, OUT/splits.json (the exact test and negative recordings, which
benchmarks/commands_peers.py scores with pocketsphinx), OUT/decisions.json (per k, every
recording's answer, best command, score and confidence: where the errors are) and, for the
largest k, the command model OUT/model.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import random
import sys
import zlib
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from asr.cli import exit_code_of
from asr.commands import (NONE, AdaptConfig, CommandConfig, CommandRecognizer, Recognition, adapt_recognizer,
                          load_command_audio)
from asr.encoder import load_encoder
from asr.model import ASRModel, write_json_atomically
from asr.text import normalize_text
from features.audio import AudioError
from features.manifest import Utterance, read_corpus
from recipes.commands.decisions import decision_rows, rows_calibration
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


def negative_sources(test: list[Utterance], commands: list[str],
                     negatives: dict[str, list[Utterance]]) -> dict[str, list[Utterance]]:
    """Out-of-grammar recordings by source: each negative corpus's utterances that are not a
    command, and the test split's recordings of the corpus's words that are not commands (none
    when all words are)."""
    command_texts = {normalize_text(c) for c in commands}
    sources = {name: [u for u in utts if normalize_text(u.text or "") not in command_texts]
               for name, utts in negatives.items()}
    other_words = [u for u in test if normalize_text(u.text or "") not in command_texts]
    if other_words:
        sources["other_words"] = other_words
    return sources


def negative_corpora(specs: list[str], data: Path) -> dict[str, list[Utterance]]:
    """`[NAME=]MANIFEST` specs (default: AN4 test beside DATA, named an4)."""
    if not specs:
        return {"an4": read_corpus(data.parent / "an4" / "test" / "manifest.jsonl")}
    corpora = {}
    for spec in specs:
        name, _, path = spec.rpartition("=") if "=" in spec and not Path(spec).exists() else ("", "", spec)
        corpora[name or "_".join(Path(path).parent.parts[-2:])] = read_corpus(path)
    return corpora


def false_accepts(negative_results: dict[str, list[Recognition]]) -> dict[str, float]:
    """Share of each source's recordings accepted as some command, and of all of them pooled."""
    accepted = {source: [r.command != NONE for r in results] for source, results in negative_results.items()}
    rates = {source: float(np.mean(values)) for source, values in accepted.items() if values}
    pooled = [value for values in accepted.values() for value in values]
    rates["all"] = float(np.mean(pooled)) if pooled else 0.0
    return rates


def accuracy_by_speaker(correct: list[bool], speakers: list[str | None]) -> dict[str, float]:
    """Share correct per test speaker (empty where the corpus names no speakers)."""
    by_speaker: dict[str, list[bool]] = {}
    for ok, speaker in zip(correct, speakers):
        if speaker is not None:
            by_speaker.setdefault(str(speaker), []).append(ok)
    return {speaker: round(float(np.mean(values)), 4) for speaker, values in sorted(by_speaker.items())}


def evaluate(recognizer: CommandRecognizer, frames: list[torch.Tensor], truths: list[str],
             negatives: dict[str, list[torch.Tensor]], speakers: list[str | None] | None = None,
             decoded: dict[str, list[torch.Tensor] | None] | None = None,
             paths: dict[str, list[str]] | None = None) -> tuple[dict, list[dict]]:
    """The run's figures, and one row per recording (its answer, best command, score and
    confidence). `decoded`: `decoder_scores` of the test recordings ("test") and of each negative
    source, when the recognizer adds Whisper's decoder's scores; `paths`: their audio, the same way."""
    decoded, paths = decoded or {}, paths or {}
    results = recognizer.recognize_frames(frames, paths.get("test"), decoded=decoded.get("test"))
    negative_results = {source: recognizer.recognize_frames(frames_of, paths.get(source), decoded=decoded.get(source))
                        for source, frames_of in negatives.items()}
    rates = false_accepts(negative_results)
    correct = [r.command == t for r, t in zip(results, truths)]
    rows = decision_rows(results, truths, negative_results)
    return {
        "accuracy": float(np.mean(correct)),
        "accuracy_by_speaker": accuracy_by_speaker(correct, speakers or [None] * len(correct)),
        "top1_accuracy": float(np.mean([r.best == t for r, t in zip(results, truths)])),  # no rejection
        "rejected": float(np.mean([r.command == NONE for r in results])),
        "false_accept": rates["all"],
        "false_accept_by_source": {source: rate for source, rate in rates.items() if source != "all"},
        "threshold": round(recognizer.config.threshold, 4),
        "confidence_temperature": recognizer.config.confidence_temperature,
        "decoder_weight": recognizer.config.decoder_weight,
        "calibration": rows_calibration(rows),  # every decision, test and out-of-grammar
    }, rows


def load_readable(utterances: list[Utterance]) -> tuple[list[Utterance], list[np.ndarray]]:
    """The recordings `asr commands` can read, and their audio; another (unreadable, too long, too
    quiet) is left out with a one-line warning."""
    kept, audios = [], []
    for utt in tqdm(utterances, desc="load", unit="utt"):
        try:
            audios.append(load_command_audio(utt.audio))
            kept.append(utt)
        except AudioError as error:
            logging.warning("%s", error)
    return kept, audios


def encode_as_recognized(recognizer: CommandRecognizer, audios: list[np.ndarray], desc: str) -> list[torch.Tensor]:
    """Frames as `asr commands` gets them (`CommandRecognizer.encode`): each recording in a window
    of its own, with copies of itself, then the command model's enrollment recordings."""
    return [recognizer.encode([audio])[0] for audio in tqdm(audios, desc=desc, unit="rec")]


def with_history(recognizer: CommandRecognizer, size: int, audios: dict[str, list[np.ndarray]],
                 speakers: dict[str, list[str | None]], truths: list[str], decoded: dict, paths: dict) -> dict:
    """The run's figures when each speaker's recordings (test, and each out-of-grammar source)
    are read in list order, each after up to `size` of that speaker's earlier ones
    (`CommandRecognizer.encode_by_speaker`): what a device that keeps a SpeakerHistory would answer."""
    frames = {name: recognizer.encode_by_speaker(clips, speakers[name], size)
              for name, clips in tqdm(audios.items(), desc=f"history {size}", unit="set")}
    negatives = {name: f for name, f in frames.items() if name != "test"}
    figures, _ = evaluate(recognizer, frames["test"], truths, negatives, speakers["test"], decoded, paths)
    same_as_run = ("threshold", "confidence_temperature", "decoder_weight")
    return {"size": size, **{key: value for key, value in figures.items() if key not in same_as_run}}


def decode_as_recognized(recognizer: CommandRecognizer, audios: list[np.ndarray], desc: str
                         ) -> list[torch.Tensor] | None:
    """`CommandRecognizer.decoder_scores` with a progress bar (None when the decoder is not used).
    They are the same for every k: the decoder and its view of a recording never adapt."""
    if not recognizer.config.decoder_weight:
        return None
    return [recognizer.decoder_scores([audio])[0] for audio in tqdm(audios, desc=desc, unit="rec")]


def splits_digest(splits: dict) -> str:
    """Identifies the test and negative recordings (not the shots), so peers' figures can be matched to them."""
    keyed = {"commands": splits["commands"], "test": splits["test"], "negatives": splits["negatives"]}
    return hashlib.sha256(json.dumps(keyed, sort_keys=True).encode()).hexdigest()[:16]


def utterance_rows(utterances: list[Utterance]) -> list[dict]:
    return [{"id": u.id, "audio": u.audio, "text": u.text} for u in utterances]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recipes.commands", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/fsdd", help="corpus folder with manifest.jsonl")
    parser.add_argument("--base", default="default",
                        help="base chain model folder (default: the shipped general English model)")
    parser.add_argument("--shots", default="1,3,5", help="k values to adapt with, besides zero-shot (\"0\": none)")
    parser.add_argument("--out", default=None, help="default: exp/fsdd, or exp/demo with --demo")
    parser.add_argument("--demo", action="store_true",
                        help="espeak-ng demo: synthesized enrollment and test speech (recipes/commands/demo.py)")
    parser.add_argument("--commands", default=None,
                        help="comma-separated texts of the corpus to use as commands (default: all); "
                             "the test recordings of the others are out-of-grammar negatives")
    parser.add_argument("--negatives", nargs="+", default=[], metavar="[NAME=]MANIFEST",
                        help="out-of-grammar corpora (default: an4=DATA/../an4/test/manifest.jsonl)")
    parser.add_argument("--max-negatives", type=int, default=0,
                        help="score at most this many recordings of each out-of-grammar source (0: all)")
    parser.add_argument("--enroll-speakers", default=None, help="comma-separated; default: first half")
    parser.add_argument("--max-test", type=int, default=0, help="score at most this many test recordings (0: all)")
    parser.add_argument("--steps", type=int, default=AdaptConfig.steps)
    parser.add_argument("--splits-only", action="store_true",
                        help="write OUT/splits.json (test, negatives, shots) and stop: for peers on the same recordings")
    parser.add_argument("--base-margin", type=lambda v: None if v == "off" else float(v),
                        default=CommandConfig.base_margin,
                        help="after adaptation, a command must score within this of the base chain's zero-shot "
                             "threshold under the base chain ('off': no such check)")
    parser.add_argument("--packed", action="store_true",
                        help="score test and negative recordings packed several to an encoder window (cached, "
                             "fast, as before 2026-11-29) instead of each alone as `asr commands` does; packed, "
                             "a short clip's features draw on its neighbours, other test recordings")
    parser.add_argument("--context-seconds", type=float, default=AdaptConfig.context_seconds,
                        help="enrollment audio each adapted model encodes with every recording, after the "
                             "copies of it (0: none)")
    parser.add_argument("--self-context-seconds", type=float, default=CommandConfig.self_context_seconds,
                        help="copies of each recording that follow it in its window, before any enrollment "
                             "context (0, with --context-seconds 0: each recording alone)")
    parser.add_argument("--synthesized-voices", type=int, default=AdaptConfig.synthesized_voices,
                        help="espeak-ng voices that speak each command for every adaptation, and alone in the "
                             "run 'text' (0: neither)")
    parser.add_argument("--trim-copies", type=int, default=AdaptConfig.trim_copies,
                        help="more copies of each enrollment recording with their quiet edges cut, for test "
                             "speakers whose recordings cut into the words (AdaptConfig.trim_db_range; 0: none)")
    parser.add_argument("--decoder-weight", type=float, default=None,
                        help="weight of Whisper's decoder's score of each command, added to the chain's (0: the "
                             "chain alone; default: the weight the base model's zero-shot threshold was fitted at)")
    parser.add_argument("--history", type=int, default=0,
                        help="also score each k with every speaker's recordings read in order, each after up to "
                             "this many of the speaker's earlier ones (asr commands --history; 0: not)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    torch.set_num_threads(args.threads)
    if args.demo:
        from recipes.commands.demo import run_demo

        return run_demo(args.base, args.out or "exp/demo", steps=args.steps, threads=args.threads)
    args.out = args.out or "exp/fsdd"

    data = Path(args.data)
    corpus = [u for u in read_corpus(data / "manifest.jsonl") if u.text]
    words = list(dict.fromkeys(u.text for u in corpus))
    commands = [normalize_text(c).upper() for c in args.commands.split(",")] if args.commands else words
    unknown = [c for c in commands if c not in words]
    if unknown:
        parser.error(f"--commands not in the corpus: {', '.join(unknown)} (it has {', '.join(words)})")
    enroll, test_all, enroll_speakers, test_speakers = split(
        corpus, args.enroll_speakers.split(",") if args.enroll_speakers else None)
    enroll = [u for u in enroll if u.text in commands]
    test = [u for u in test_all if u.text in commands]
    if args.max_test and len(test) > args.max_test:
        test = random.Random(args.seed).sample(test, args.max_test)
    sources = negative_sources(test_all, commands, negative_corpora(args.negatives, data))
    for name, utts in sources.items():
        if args.max_negatives and len(utts) > args.max_negatives:
            sources[name] = random.Random(args.seed + 1).sample(utts, args.max_negatives)

    out = Path(args.out)
    shot_counts = [int(x) for x in args.shots.split(",") if x.strip() and int(x) > 0]  # "0": zero-shot only
    if args.splits_only:  # the recordings the full run scores, without encoding or adapting anything
        splits = {"data": str(data), "commands": commands, "test": utterance_rows(test),
                  "negatives": {source: utterance_rows(utts) for source, utts in sources.items()},
                  "shots": {str(k): utterance_rows(draw_shots(enroll, commands, k, args.seed + k)) for k in shot_counts}}
        out.mkdir(parents=True, exist_ok=True)
        write_json_atomically(out / "splits.json", splits)
        print(f"{out / 'splits.json'}: {len(test)} test recordings, negatives "
              f"{ {source: len(utts) for source, utts in sources.items()} }")
        return 0

    encoder = load_encoder(ASRModel.load(args.base).config.encoder)
    cache = default_cache_dir()

    base = CommandRecognizer(ASRModel.load(args.base, encoder),
                             CommandConfig(commands, self_context_seconds=args.self_context_seconds,
                                           decoder_weight=args.decoder_weight))
    if args.packed and base.config.decoder_weight:
        parser.error("--packed scores the chain alone: add --decoder-weight 0")
    if args.packed and args.history:
        parser.error("--history reads each recording in a window of its own: drop --packed")
    decoded: dict[str, list[torch.Tensor] | None] = {}
    if args.packed:  # the old way: test recordings packed with each other, through the feature cache
        test_encoded = encode_corpus(test, encoder, cache, progress=True)
        negative_encoded = {source: encode_corpus(utts, encoder, cache, progress=True) for source, utts in sources.items()}
        test_kept, negative_kept = test_encoded.utterances, {s: e.utterances for s, e in negative_encoded.items()}
        test_frames = test_encoded.frames
        negative_frames = {source: encoded.frames for source, encoded in negative_encoded.items()}
    else:
        test_kept, test_audio = load_readable(test)
        negative_kept, negative_audio = {}, {}
        for source, utts in sources.items():
            negative_kept[source], negative_audio[source] = load_readable(utts)
        test_frames = encode_as_recognized(base, test_audio, "encode test")  # no context before adapting
        negative_frames = {source: encode_as_recognized(base, audios, f"encode {source}")
                           for source, audios in negative_audio.items()}
        decoded = {"test": decode_as_recognized(base, test_audio, "decoder, test"),
                   **{source: decode_as_recognized(base, audios, f"decoder, {source}")
                      for source, audios in negative_audio.items()}}
    truths = [u.text for u in test_kept]
    speakers = [u.speaker for u in test_kept]
    out.mkdir(parents=True, exist_ok=True)
    splits = {"data": str(data), "commands": commands, "test": utterance_rows(test_kept),
              "negatives": {source: utterance_rows(utts) for source, utts in negative_kept.items()},
              "shots": {}}

    results: dict = {"commands": commands, "enroll_speakers": enroll_speakers, "test_speakers": test_speakers,
                     "n_test": len(truths),
                     "n_negatives": {source: len(frames) for source, frames in negative_frames.items()},
                     "accuracy": {}, "false_accepts": {}, "runs": {}}
    if "other_words" not in negative_frames:
        results["other_words"] = ("none: every word of the corpus is a command; pick fewer with --commands "
                                  "to score the rest as out-of-grammar")
    paths = {"test": [u.audio for u in test_kept], **{s: [u.audio for u in utts] for s, utts in negative_kept.items()}}
    runs, decisions = {}, {}
    runs["0"], decisions["0"] = evaluate(base, test_frames, truths, negative_frames, speakers, decoded, paths)
    if args.history:
        history_audio = {"test": test_audio, **negative_audio}
        history_speakers = {"test": speakers, **{s: [u.speaker for u in utts] for s, utts in negative_kept.items()}}
        runs["0"]["history"] = with_history(base, args.history, history_audio, history_speakers, truths, decoded, paths)
    print(f"k=0 {runs['0']}", flush=True)
    config = AdaptConfig(steps=args.steps, threads=args.threads, seed=args.seed, context_seconds=args.context_seconds,
                         synthesized_voices=args.synthesized_voices, trim_copies=args.trim_copies)
    recognizer = base
    for k in (["text"] if args.synthesized_voices else []) + shot_counts:
        shots = draw_shots(enroll, commands, k, args.seed + k) if k != "text" else []
        splits["shots"][str(k)] = utterance_rows(shots)
        audios = [load_command_audio(u.audio) for u in shots]
        recognizer = CommandRecognizer(ASRModel.load(args.base, encoder),
                                       CommandConfig(commands, base_margin=args.base_margin,
                                                     self_context_seconds=args.self_context_seconds,
                                                     decoder_weight=args.decoder_weight))
        summary = adapt_recognizer(recognizer, audios, [commands.index(u.text) for u in shots], config)
        if recognizer.context and not args.packed:  # its windows now hold its enrollment context
            test_frames = encode_as_recognized(recognizer, test_audio, f"encode test, k={k}")
            negative_frames = {source: encode_as_recognized(recognizer, audios, f"encode {source}, k={k}")
                               for source, audios in negative_audio.items()}
        runs[str(k)], decisions[str(k)] = evaluate(recognizer, test_frames, truths, negative_frames, speakers,
                                                   decoded, paths)
        runs[str(k)].update(summary)
        if args.history:
            runs[str(k)]["history"] = with_history(recognizer, args.history, history_audio, history_speakers,
                                                   truths, decoded, paths)
        print(f"k={k} {runs[str(k)]}", flush=True)
    recognizer.save(out / "model")
    write_json_atomically(out / "splits.json", splits)
    write_json_atomically(out / "decisions.json", decisions)

    largest = max(runs, key=lambda k: int(k) if k.isdigit() else 0.5)  # "text" lies between 0 and 1 shot
    results["runs"] = runs
    results["accuracy"] = {k: round(run["accuracy"], 4) for k, run in runs.items()}
    results["accuracy_by_speaker"] = {k: run["accuracy_by_speaker"] for k, run in runs.items()}
    results["false_accepts"] = {k: {"all": round(run["false_accept"], 4),
                                    **{source: round(rate, 4) for source, rate in run["false_accept_by_source"].items()}}
                                for k, run in runs.items()}
    if args.history:
        results["history"] = {"size": args.history,
                              "accuracy": {k: round(run["history"]["accuracy"], 4) for k, run in runs.items()},
                              "accuracy_by_speaker": {k: run["history"]["accuracy_by_speaker"] for k, run in runs.items()},
                              "false_accept": {k: round(run["history"]["false_accept"], 4) for k, run in runs.items()}}
    results["false_accept"] = runs[largest]["false_accept"]
    results["false_accept_by_source"] = runs[largest]["false_accept_by_source"]
    results["calibration"] = runs[largest]["calibration"]
    results["threshold"] = runs[largest]["threshold"]
    results["decoder_weight"] = runs[largest]["decoder_weight"]
    results["adapt_seconds"] = runs[largest].get("adapt_seconds", 0.0)
    results["trainable_params"] = runs[largest].get("trainable_params", 0)
    previous = out / "results.json"
    if previous.exists():  # keep peers' figures (benchmarks/commands_peers.py) if the splits are unchanged
        old = json.loads(previous.read_text())
        if "peers" in old and old.get("splits_digest") == splits_digest(splits):
            results["peers"] = old["peers"]
    results["splits_digest"] = splits_digest(splits)
    write_json_atomically(out / "results.json", results)
    print(f"accuracy {results['accuracy']}  false accepts {results['false_accepts']}  "
          f"adapt {results['adapt_seconds']} s  -> {out / 'results.json'}")
    if any(results["accuracy_by_speaker"].values()):
        print(f"accuracy by test speaker {results['accuracy_by_speaker']}")
    if args.history:
        print(f"with each speaker's last {args.history} recordings before each one: accuracy "
              f"{results['history']['accuracy']}  false accepts {results['history']['false_accept']}")
    return 0


if __name__ == "__main__":
    sys.exit(exit_code_of(main, "python -m recipes.commands"))
