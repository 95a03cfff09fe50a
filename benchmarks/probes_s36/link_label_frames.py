"""Probe (session 36): which links should the "no label heard" check count? Per recording, the
frames each link spends on labels (`label_frames`) and the answer with the check off, for a recipe
run's test and out-of-grammar recordings and the non-speech clips of benchmarks/non_speech.py;
then, for each way of pooling the links (mean as in session 35, each link alone, min, max) and each
floor, the right answers, out-of-grammar accepts and non-speech accepts it would give.

    python benchmarks/probes_s36/link_label_frames.py exp/s36/fsdd_seed0 [--model default:digits] --json F
"""
from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from asr.commands import NONE, label_frames

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from non_speech import non_speech_clips  # noqa: E402
from probes_common import open_parsed, read_audio, recording_sets, run_parser  # noqa: E402

FLOORS = (0.25, 0.5, 1.0)


def pooled(counts: dict[str, float], rule: str) -> float:
    values = list(counts.values())
    return {"mean": np.mean, "min": np.min, "max": np.max}[rule](values) if rule in ("mean", "min", "max") \
        else counts[rule]


def main() -> None:
    args = run_parser(__doc__, json_required=True).parse_args()
    splits, recognizer = open_parsed(args)
    recognizer.config = replace(recognizer.config, min_label_frames=0.0)
    sets = {"non_speech": list(non_speech_clips(np.random.default_rng(0)).items())}
    for name, rows in recording_sets(splits, negatives=True).items():
        sets[name] = [(row["id"], row["text"], audio) for row, audio in zip(rows, read_audio(rows))]
    sets["non_speech"] = [(i, NONE, a) for i, a in sets["non_speech"]]
    records = []
    for name, rows in sets.items():
        audio = [a for *_, a in rows]
        frames = recognizer.encode(audio)
        per_link = recognizer.link_posteriors(frames)
        said = recognizer.recognize_frames(frames, decoded=recognizer.decoder_scores(audio)
                                           if recognizer.config.decoder_weight else None)
        for i, ((utt, text, _), answer) in enumerate(zip(rows, said)):
            records.append({"set": name, "id": utt, "text": text, "answer": answer.command,
                            "links": {link: label_frames(per_link[link][i]) for link in recognizer.links}})
        print(f"{name}: {len(rows)} read", flush=True)
    table = {}
    for rule in ("mean", "min", "max", *recognizer.links):
        for floor in FLOORS:
            kept = [r["answer"] if pooled(r["links"], rule) >= floor else NONE for r in records]
            test = [(k, r) for k, r in zip(kept, records) if r["set"] == "test"]
            row = {"right": sum(k == r["text"] for k, r in test), "of": len(test)}
            for name in sets:
                if name != "test":
                    row[name] = sum(k != NONE for k, r in zip(kept, records) if r["set"] == name)
            table[f"{rule} >= {floor}"] = row
            print(f"{rule:>6} >= {floor:<4}  " + "  ".join(f"{k} {v}" for k, v in row.items()), flush=True)
    row = {"right": sum(r["answer"] == r["text"] for r in records if r["set"] == "test")}
    print("check off:", row, {n: sum(r["answer"] != NONE for r in records if r["set"] == n) for n in sets if n != "test"})
    Path(args.json).write_text(json.dumps({"table": table, "records": records}, indent=0))


if __name__ == "__main__":
    main()
