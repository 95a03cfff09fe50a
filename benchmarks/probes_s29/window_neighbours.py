"""How much a short file's transcript depends on what shares its encoder window (session 29).

Whisper's encoder attends across its whole 30-s window, so a file packed beside others is read
with them as context. This scores one model's beam transcripts of a corpus under four ways of
filling each file's window (and encoder seconds), and counts the files whose text changes:

  packed  all files packed several to a window, first-fit by length (`encode_utterances`)
  alone   each file in a window of its own, zero padding after it (what `asr transcribe` does)
  selfN   each file followed by copies of itself, as many as fit in N seconds
          (`encode_with_context` + `self_copies`, as `asr commands` does zero-shot)
  cutN    each file alone in a window cut to its length + N seconds of silence (faster)

    python benchmarks/probes_s29/window_neighbours.py ../shared/data/an4/test/manifest.jsonl \
        --modes alone,packed,self5,self10,self28,cut0,cut1,cut5 --out exp/s29/an4_modes.json
    python benchmarks/probes_s29/window_neighbours.py ../shared/data/speechocean762/test/manifest.jsonl \
        --sample 500 --modes alone,packed,self5,cut1 --out exp/s29/so500_modes.json

`--sample N` scores the first N of the manifest shuffled by `random.Random(0)` (RESULTS' 500).
`--within REPORT.json` also scores those same files as a whole-corpus `asr evaluate --pack --json`
report read them (each among its neighbours in the full list).
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import torch

from asr.commands import self_copies
from asr.packing import encode_each_alone, encode_utterances, encode_with_context
from asr.scoring import score
from asr.transcribe import Transcriber
from asr.whisper_decoder import short_window_frames
from features.audio import load_audio
from features.manifest import read_manifest


def encode_cut(encoder: torch.nn.Module, audio, pad_seconds: float) -> torch.Tensor:
    """The file at the start of a Whisper window cut after it and `pad_seconds` of zeros."""
    return short_window_frames(encoder, torch.from_numpy(audio), pad_seconds)[:encoder.frames_for(len(audio))].float()


def encode(mode: str, encoder: torch.nn.Module, audios: list) -> list[torch.Tensor]:
    if mode == "packed":
        return encode_utterances(encoder, audios)
    if mode == "alone":
        return encode_each_alone(encoder, audios)
    if mode.startswith("self"):
        seconds = float(mode[len("self"):])
        return [encode_with_context(encoder, [a], self_copies(a, seconds))[0] for a in audios]
    if mode.startswith("cut"):
        return [encode_cut(encoder, a, float(mode[len("cut"):])) for a in audios]
    raise ValueError(f"unknown mode {mode}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest")
    parser.add_argument("--model", default="default")
    parser.add_argument("--modes", default="packed,alone")
    parser.add_argument("--sample", type=int, default=None)
    parser.add_argument("--within", help="an `asr evaluate --json` report of the whole corpus")
    parser.add_argument("--out", required=True)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    utts = read_manifest(args.manifest)
    if args.sample:
        random.Random(0).shuffle(utts)
        utts = utts[:args.sample]
    transcriber = Transcriber.from_dir(args.model, decoder="beam")
    audios = [load_audio(u.audio) for u in utts]
    refs, ids = [u.text for u in utts], [u.id for u in utts]
    rows: dict[str, dict] = {}
    for mode in args.modes.split(","):
        started = time.perf_counter()
        frames = encode(mode, transcriber.model.encoder, audios)
        hyps = [transcriber.recognize(lp)[0] for lp in transcriber.model.posteriors(frames)]
        report = score(refs, hyps, ids)
        rows[mode] = {"wer": report["wer"], "cer": report["cer"], "seconds": round(time.perf_counter() - started, 1),
                      "hyps": hyps}
    if args.within:
        by_id = {u["id"]: u for u in json.loads(Path(args.within).read_text())["utterances"]}
        hyps = [by_id[i]["hyp"] for i in ids]
        report = score(refs, hyps, ids)
        rows["within"] = {"wer": report["wer"], "cer": report["cer"], "hyps": hyps}
    first = next(iter(rows))
    for mode, row in rows.items():
        changed = sum(a != b for a, b in zip(row["hyps"], rows[first]["hyps"]))
        print(f"{mode:8s} WER {100 * row['wer']:6.2f}%  CER {100 * row['cer']:6.2f}%  "
              f"{row.get('seconds', '-')} s  texts unlike {first}'s: {changed} of {len(ids)}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"manifest": args.manifest, "ids": ids, "modes": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
