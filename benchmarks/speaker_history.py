"""A command model's answers when each recording is read after the same speaker's earlier ones.

`CommandRecognizer.encode_by_speaker`: every speaker's recordings in the run's list order, each
read with up to M of that speaker's earlier recordings (`asr.commands.SpeakerHistory`) before
the model's own context. Scores a `recipes.commands` output folder (its splits.json and saved
model) at each M, test recordings and out-of-grammar ones alike, at the model's own thresholds:

    python benchmarks/speaker_history.py exp/fsdd --m 0,10,30
    python benchmarks/speaker_history.py exp/fsdd --m 0,30 --dev-negatives 150

A recording's speaker is the one its corpus manifest names (the run's data, or the dev
negatives' manifests), else the folder it lies in. `--dev-negatives N` adds out-of-grammar speech
that no run scores and no threshold is fitted on: N AN4 train and N speechocean762 train
utterances, the general recipe's `threshold_negatives` from `--offset` 3 (every 5th by id, lone
digits left out; the zero-shot threshold is fitted on those from 0).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from asr.commands import NONE, CommandRecognizer, load_command_audio
from features.manifest import read_corpus
from recipes.commands.__main__ import utterance_rows
from recipes.general.__main__ import SHARED, threshold_negatives


def speaker_of(row: dict, named: dict[str, str]) -> str:
    return named.get(row["id"]) or Path(row["audio"]).parent.name


def dev_negative_sets(count: int, offset: int) -> tuple[dict[str, list[dict]], dict[str, str]]:
    """`count` each of AN4 train and speechocean762 train, as rows by source, and their speakers."""
    by_source = {f"{source}_train": utterances[:count]
                 for source, utterances in threshold_negatives(SHARED, count, offset).items()}
    speakers = {u.id: str(u.speaker) for utterances in by_source.values() for u in utterances if u.speaker is not None}
    return {source: utterance_rows(utterances) for source, utterances in by_source.items()}, speakers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="a recipes.commands output folder")
    parser.add_argument("--m", default="0,10,30", help="history sizes, comma-separated (0: none, as shipped)")
    parser.add_argument("--dev-negatives", type=int, default=0, metavar="N",
                        help="add N AN4 train and N speechocean762 train utterances as out-of-grammar speech")
    parser.add_argument("--offset", type=int, default=3, help="which every-5th slice the dev negatives are (1-4)")
    parser.add_argument("--no-run-negatives", action="store_true", help="skip the run's own out-of-grammar speech")
    parser.add_argument("--json", default=None, help="write the figures here")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    run = Path(args.run)
    splits = json.loads((run / "splits.json").read_text())
    recognizer = CommandRecognizer.load(run / "model")
    manifest = Path(splits["data"]) / "manifest.jsonl"
    named = {u.id: str(u.speaker) for u in read_corpus(manifest) if u.speaker is not None} if manifest.exists() else {}

    sets = {"test": splits["test"]}
    if not args.no_run_negatives:
        sets.update(splits["negatives"])
    if args.dev_negatives:
        dev_sets, dev_speakers = dev_negative_sets(args.dev_negatives, args.offset)
        sets.update(dev_sets)
        named = {**named, **dev_speakers}
    audio = {name: [load_command_audio(r["audio"]) for r in rows] for name, rows in sets.items()}
    decoded = {name: recognizer.decoder_scores(clips) for name, clips in audio.items()}

    figures: dict[str, dict] = {}
    for m in (int(x) for x in args.m.split(",")):
        row: dict = {}
        for name, rows in sets.items():
            speakers = [speaker_of(r, named) for r in rows]
            frames = recognizer.encode_by_speaker(audio[name], speakers, m)
            said = [r.command for r in recognizer.recognize_frames(frames, decoded=decoded[name])]
            if name == "test":
                right = [a == r["text"] for a, r in zip(said, rows)]
                by_speaker: dict[str, list[bool]] = {}
                for ok, speaker in zip(right, speakers):
                    by_speaker.setdefault(speaker, []).append(ok)
                row["right"], row["of"] = int(sum(right)), len(rows)
                row["wrong_by_speaker"] = {s: len(v) - sum(v) for s, v in sorted(by_speaker.items()) if len(v) > sum(v)}
                row["wrong"] = [f"{Path(r['audio']).stem}->{a}" for a, r in zip(said, rows) if a != r["text"]]
            else:
                row[f"{name}_accepted"] = [int(sum(a != NONE for a in said)), len(rows)]
        figures[str(m)] = row
        print(f"M={m}: " + json.dumps({k: v for k, v in row.items() if k != "wrong"}), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
