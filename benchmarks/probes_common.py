"""What the command probes (benchmarks/probes_s33 ... probes_s38) share: their arguments, a recipe
run's saved command model and recordings (its OUT folder: model/ and splits.json), a seeded sample
of one speaker's recordings, and the tally of answers (right and top-1 of the test recordings,
accepted of each out-of-grammar source)."""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np
import torch

from asr.commands import NONE, CommandRecognizer, load_command_audio


def open_run(run: str | Path, model: str | None = None) -> tuple[dict, CommandRecognizer]:
    """The run's splits.json and its saved command model, or `model` (a command model folder, or
    BASE:digits as in benchmarks/non_speech.py) on the run's recordings."""
    from non_speech import recognizer_for  # benchmarks/ is on the path of whoever imports this

    run = Path(run)
    return json.loads((run / "splits.json").read_text()), recognizer_for(model or str(run / "model"))


def run_parser(description: str | None, json_required: bool = False) -> argparse.ArgumentParser:
    """A probe's arguments: the recipe run, --model in its place, and the --json to write; a probe
    adds its own."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run")
    parser.add_argument("--model", default=None, help="default: the run's own model")
    parser.add_argument("--json", required=json_required, default=None)
    return parser


def open_parsed(args: argparse.Namespace) -> tuple[dict, CommandRecognizer]:
    """`open_run` on a `run_parser`'s arguments, with torch on the two threads the probes ran on."""
    torch.set_num_threads(2)
    return open_run(args.run, args.model)


def speaker_parser(description: str | None, speakers: str) -> argparse.ArgumentParser:
    """The arguments of a probe that reads a sample of each of some FSDD speakers' recordings
    (`speaker_samples`); a probe adds its own."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/fsdd")
    parser.add_argument("--speakers", default=speakers)
    parser.add_argument("--per-speaker", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", required=True)
    return parser


def speaker_samples(args: argparse.Namespace) -> dict[str, list[dict]]:
    """Per speaker of a `speaker_parser`'s arguments: --per-speaker of the speaker's manifest rows
    in a seeded shuffle, the draw that probes_s37/decoder_copies.py and probes_s38/bigger_whisper.py
    share."""
    rows = [json.loads(line) for line in (Path(args.data) / "manifest.jsonl").read_text().splitlines()]
    samples = {}
    for speaker in args.speakers.split(","):
        mine = [row for row in rows if row["speaker"] == speaker]
        random.Random(args.seed).shuffle(mine)
        samples[speaker] = mine[: args.per_speaker]
    return samples


def recording_sets(splits: dict, negatives: bool) -> dict[str, list[dict]]:
    """"test", then each out-of-grammar source when asked: name -> manifest rows."""
    return {"test": splits["test"], **(splits["negatives"] if negatives else {})}


def read_audio(rows: list[dict]) -> list[np.ndarray]:
    return [load_command_audio(row["audio"]) for row in rows]


def answers(commands: list[str], decided: list[tuple[int, float]]) -> list[str]:
    """`CommandRecognizer.decisions` as command texts, or "none"."""
    return [commands[index] if index >= 0 else NONE for index, _ in decided]


def tally(name: str, rows: list[dict], said: list[str], best: list[str]) -> dict:
    """Test recordings: right, top-1 (the best command, never "none"), of, and the wrong top-1s;
    an out-of-grammar source: [accepted, of]."""
    if name != "test":
        return {f"{name}_accepted": [sum(s != NONE for s in said), len(rows)]}
    return {"right": sum(s == r["text"] for s, r in zip(said, rows)),
            "top1": sum(b == r["text"] for b, r in zip(best, rows)), "of": len(rows),
            "wrong": [f"{Path(r['audio']).stem}->{b}" for b, r in zip(best, rows) if b != r["text"]]}
