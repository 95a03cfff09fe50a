"""Probe (session 35): score each command also with its first (and/or last) label left out, at a
fixed log-likelihood penalty, as a model of recordings whose onset or end was cut off (nicolas's
FSDD clips start mid-consonant: "four" read as "our"). A command's score is then the best of its
full targets and its shortened targets less the penalty, still divided by the full target's labels.

    python benchmarks/probes_s35/edge_variants.py exp/cut_eval --negatives --json exp/s35/edge_cut.json

Prints, per (edges, penalty), right / top-1 of the saved model's test recordings at the model's own
threshold, and out-of-grammar accepted with --negatives. penalty inf is what ships.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import torch

from asr.commands import (MAX_DIVIDING_LABELS, CommandRecognizer, best_path_log_likelihood,
                          combine_links, ctc_log_likelihoods)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from probes_common import answers, open_parsed, read_audio, recording_sets, run_parser, tally  # noqa: E402

EDGES = {"none": (), "first": ("first",), "first+last": ("first", "last", "both")}


def shortened(target: tuple[int, ...], edge: str) -> tuple[int, ...] | None:
    cut = {"first": target[1:], "last": target[:-1], "both": target[1:-1]}[edge]
    return cut if len(cut) >= 2 else None


def variant_table(recognizer: CommandRecognizer, link: str, edges: tuple[str, ...]):
    """Flat targets, their owning command, and whether each is shortened."""
    targets, owners, cut = [], [], []
    for index, command in enumerate(recognizer.commands):
        for target in command.targets[link]:
            targets.append(target), owners.append(index), cut.append(False)
            for edge in edges:
                short = shortened(target, edge)
                if short is not None and short not in targets:
                    targets.append(short), owners.append(index), cut.append(True)
    return targets, torch.tensor(owners), torch.tensor(cut)


def link_scores(log_probs: torch.Tensor, recognizer: CommandRecognizer, link: str, table,
                penalty: float) -> torch.Tensor:
    repeat = recognizer.config.frame_repeat
    scored = log_probs.repeat_interleave(repeat, 0) if repeat > 1 else log_probs
    targets, owners, cut = table
    ll = ctc_log_likelihoods(scored, targets) - penalty * cut.float()
    best = torch.full((len(recognizer.commands),), -math.inf).scatter_reduce(0, owners, ll, reduce="amax")
    labels = torch.tensor([min(len(t) for t in c.targets[link]) for c in recognizer.commands])
    return (best - best_path_log_likelihood(scored)) / (repeat * labels.clamp(max=MAX_DIVIDING_LABELS))


def main() -> None:
    parser = run_parser(__doc__)
    parser.add_argument("--negatives", action="store_true")
    parser.add_argument("--penalties", default="1,2,3,4,6")
    args = parser.parse_args()
    splits, recognizer = open_parsed(args)
    config = recognizer.config
    base = recognizer.base_model()
    sets = recording_sets(splits, args.negatives)
    grid = [("none", math.inf)] + [(e, float(p)) for e in ("first", "first+last") for p in args.penalties.split(",")]
    tables = {e: {link: variant_table(recognizer, link, EDGES[e]) for link in recognizer.links} for e in EDGES}
    figures = {f"{e}@{p}": {} for e, p in grid}
    for name, rows in sets.items():
        audio = read_audio(rows)
        decoded = recognizer.decoder_scores(audio) or [torch.zeros(len(recognizer.commands))] * len(audio)
        frames = recognizer.encode(audio)
        posteriors = {m: recognizer.link_posteriors(frames, model)
                      for m, model in (("adapted", None), ("base", base)) if m == "adapted" or base is not None}
        for edges, penalty in grid:
            used = 0.0 if edges == "none" else penalty  # "none" has no shortened targets to penalise
            scored = {m: [combine_links({link: link_scores(per[link][i], recognizer, link, tables[edges][link], used)
                                         for link in recognizer.links}, config.link_weights)
                          + (config.decoder_weight or 0.0) * decoded[i] for i in range(len(frames))]
                      for m, per in posteriors.items()}
            decided = recognizer.decisions(scored["adapted"], scored.get("base"), config.base_margin)
            said = answers(config.commands, decided)
            best = [config.commands[int(s.argmax())] for s in scored["adapted"]]
            figures[f"{edges}@{penalty}"].update(tally(name, rows, said, best))
        print(name, "done", flush=True)
    for key, row in figures.items():
        print(key, json.dumps({k: v for k, v in row.items() if k != "wrong"}), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
