"""Seconds per training step of the chain on cached AN4 encoder frames, for a few settings.

    python benchmarks/chain_speed.py --steps 8
"""
from __future__ import annotations

import argparse
import itertools
import time

import torch

from asr.chain import ctc_losses
from asr.encoder import load_encoder
from asr.model import ASRModel, build_config
from features.manifest import read_manifest
from training.data import collate, length_batches
from training.supervised import default_cache_dir, prepare_examples


def step_seconds(model: ASRModel, examples, batch_frames: int, bf16: bool, threads: int, steps: int) -> float:
    torch.set_num_threads(threads)
    optimizer = torch.optim.AdamW(model.chain.parameters(), lr=1e-4)
    batches = length_batches([e.frames.shape[0] for e in examples], batch_frames, seed=0)
    times = []
    for indices in batches[:steps + 2]:
        batch = collate([examples[i] for i in indices])
        started = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits, lengths = model.chain(batch.frames, batch.lengths)
            loss = sum(ctc_losses(logits, lengths, batch.targets).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - started)
    return sorted(times[2:])[len(times[2:]) // 2]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--manifest", default="../shared/data/an4/train/manifest.jsonl")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch-frames", default="2000,6000")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--bf16", default="0,1")
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--layers", type=int, default=2)
    args = parser.parse_args()
    encoder = load_encoder("whisper-tiny.en")
    model = ASRModel(build_config("whisper-tiny.en", encoder.dim, ["phone", "char"], args.d_model, args.layers), encoder)
    examples, _ = prepare_examples(read_manifest(args.manifest), model, default_cache_dir(), progress=False)
    print("| batch frames | threads | bf16 | s/step | encoder-frames/s |")
    print("|---|---|---|---|---|")
    for frames, threads, bf16 in itertools.product(*(map(int, v.split(",")) for v in (args.batch_frames, args.threads, args.bf16))):
        seconds = step_seconds(model, examples, frames, bool(bf16), threads, args.steps)
        print(f"| {frames} | {threads} | {bool(bf16)} | {seconds:.3f} | {frames / seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
