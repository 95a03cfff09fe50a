"""Probe (session 39): the floor of the "no label heard" check (CommandConfig.min_label_frames,
on the fewest label frames of the links) now that `asr commands` refuses too-quiet clips and
steady tones before any model reads them. Reads the records of
`benchmarks/probes_s36/link_label_frames.py` (each recording's label frames per link and its
answer with the check off) and, per floor, counts right test answers, out-of-grammar
recordings accepted and non-speech clips accepted of those `load_command_audio` reads.

    python benchmarks/probes_s36/link_label_frames.py exp/s39/reverse_seed0 --json exp/s39/label_frames_reverse_seed0.json
    python benchmarks/probes_s39/label_floor.py exp/s39/label_frames_reverse_seed*.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from asr.commands import NONE

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from non_speech import non_speech_clips, refusals  # noqa: E402

FLOORS = (0.0, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5)


def answers_at(records: list[dict], floor: float, refused: set[str]) -> dict[str, int]:
    """Right test answers and accepts per other set, with the check at `floor` (a refused
    non-speech clip is "none")."""
    counts: dict[str, int] = {"right": 0, "of": 0}
    for record in records:
        answer = record["answer"] if min(record["links"].values()) >= floor else NONE
        if record["set"] == "non_speech" and record["id"] in refused:
            answer = NONE
        if record["set"] == "test":
            counts["right"] += answer == record["text"]
            counts["of"] += 1
        else:
            counts[record["set"]] = counts.get(record["set"], 0) + (answer != NONE)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("records", nargs="+", help="link_label_frames.py --json outputs")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    clips = non_speech_clips(np.random.default_rng(0))
    refused = set(refusals(clips))
    table: dict[str, dict[str, dict[str, int]]] = {}
    for path in args.records:
        records = json.loads(Path(path).read_text())["records"]
        table[path] = {str(floor): answers_at(records, floor, refused) for floor in FLOORS}
    print(f"non-speech: {len(clips) - len(refused)} of {len(clips)} read, the rest refused before any model reads them")
    for floor in map(str, FLOORS):
        cells = []
        for path in args.records:
            row = table[path][floor]
            cells.append(" ".join(f"{k} {v}" for k, v in row.items() if k != "of"))
        print(f"floor {floor:<5} " + "  |  ".join(cells))
    if args.json:
        Path(args.json).write_text(json.dumps({"refused": sorted(refused), "table": table}, indent=1))


if __name__ == "__main__":
    main()
