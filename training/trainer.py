"""The training loop shared by every stage: AdamW, warm-up + cosine decay, clipping, bf16,
dev-set model selection with early stopping, atomic checkpoints, resume, and DDP.

A stage supplies the model, examples and a loss function; this module owns everything else.
Data-parallel training is PyTorch DDP: launch any entry point with `torchrun --nproc_per_node N`
and each process trains on its share of every epoch's batches (gloo on CPU, nccl on GPUs).
"""
from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from asr.model import ASRModel, write_dir_atomically, write_json_atomically
from training.data import Batch, Example, collate, length_batches

log = logging.getLogger(__name__)

LossFn = Callable[[torch.nn.Module, Batch], tuple[torch.Tensor, dict[str, float]]]
EvalFn = Callable[[ASRModel, list[Example]], float]  # lower is better (e.g. dev WER)


@dataclass
class TrainConfig:
    max_steps: int = 3000
    max_minutes: float | None = None  # wall-clock budget for the training loop, resumes included
    lr: float = 2e-3
    min_lr_ratio: float = 0.02
    warmup_steps: int = 200
    weight_decay: float = 0.01
    max_batch_frames: int = 2000  # encoder frames per batch (padded), per process: ~40 s of audio
    clip_norm: float = 5.0
    eval_every: int = 250
    patience: int = 0  # evaluations without dev improvement before stopping; 0 = never stop early
    checkpoint_every: int = 250
    # Measured on the 2-core AVX2 VMs (benchmarks/chain_speed.py): bf16 autocast is ~20x slower
    # there (no native bf16), and two threads beat one (0.28 vs 0.40 s/step at 2000 frames).
    bf16: bool = False
    threads: int = 2
    seed: int = 0
    progress: bool = True
    # Parameter-name prefix -> learning-rate multiplier, e.g. {"links.0.": 0.1} to fine-tune
    # self-supervised links gently; parameters matching no prefix use the full rate.
    lr_scales: dict[str, float] = field(default_factory=dict)


@dataclass
class TrainState:
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    best_score: float = math.inf
    best_step: int = 0
    bad_evals: int = 0
    train_seconds: float = 0.0
    stopped_early: bool = False


def learning_rate(step: int, config: TrainConfig) -> float:
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = min(1.0, (step - config.warmup_steps) / max(1, config.max_steps - config.warmup_steps))
    floor = config.min_lr_ratio
    return config.lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def parameter_groups(module: torch.nn.Module, lr_scales: dict[str, float]) -> list[dict]:
    """Trainable parameters grouped by learning-rate multiplier (first matching prefix wins)."""
    by_scale: dict[float, list[torch.nn.Parameter]] = {}
    for name, param in module.named_parameters():
        if not param.requires_grad:
            continue
        scale = next((s for prefix, s in lr_scales.items() if name.startswith(prefix)), 1.0)
        by_scale.setdefault(scale, []).append(param)
    return [{"params": params, "lr_scale": scale} for scale, params in sorted(by_scale.items(), reverse=True)]


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def init_distributed() -> tuple[int, int]:
    """Join the process group when launched by torchrun; (rank, world size)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not is_distributed():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    if is_distributed():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def finish_distributed() -> None:
    """End a torchrun worker cleanly.

    gloo's teardown can abort at interpreter exit ("terminate called without an active
    exception"); a barrier, destroy, and an immediate exit avoid the race, so callers that
    train under torchrun end with this.
    """
    if is_distributed():
        dist.barrier()
        dist.destroy_process_group()
        os._exit(0)


def train(model: ASRModel, train_examples: list[Example], dev_examples: list[Example],
          loss_fn: LossFn, eval_fn: EvalFn, out_dir: str | os.PathLike, config: TrainConfig) -> TrainState:
    """Train `model.chain` in place; the best model by `eval_fn` is written to OUT/model.

    OUT/checkpoint holds the latest state; a run started again with the same OUT resumes from it.
    """
    torch.set_num_threads(config.threads)
    rank, world = init_distributed()
    torch.manual_seed(config.seed)
    out_dir = Path(out_dir)
    chain = model.chain
    groups = parameter_groups(chain, config.lr_scales)
    trainable = [p for group in groups for p in group["params"]]
    optimizer = torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay, betas=(0.9, 0.98))
    state = TrainState()
    checkpoint = out_dir / "checkpoint"
    if (checkpoint / "trainer_state.json").exists():
        state = _load_checkpoint(checkpoint, chain, optimizer)
        log.info("resumed from %s at step %d", checkpoint, state.step)
    network = DistributedDataParallel(chain) if world > 1 else chain

    lengths = [e.frames.shape[0] for e in train_examples]
    bar = tqdm(total=config.max_steps, initial=state.step, disable=not config.progress or rank != 0,
               desc="train", unit="step", dynamic_ncols=True)
    started = time.perf_counter() - state.train_seconds
    while state.step < config.max_steps and not state.stopped_early:
        batches = _epoch_batches(lengths, config, state.epoch, rank, world)
        for position in range(state.batch_in_epoch, len(batches)):
            batch = collate([train_examples[i] for i in batches[position]])
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(state.step, config) * group["lr_scale"]
            chain.train()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.bf16):
                loss, parts = loss_fn(network, batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(trainable, config.clip_norm)
            if torch.isfinite(grad_norm):
                optimizer.step()
            state.step += 1
            state.batch_in_epoch = position + 1
            state.train_seconds = time.perf_counter() - started
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}", **{k: f"{v:.3f}" for k, v in parts.items()})

            out_of_time = config.max_minutes is not None and state.train_seconds > 60 * config.max_minutes
            last = state.step >= config.max_steps or out_of_time
            if state.step % config.eval_every == 0 or last:
                _evaluate(model, dev_examples, eval_fn, out_dir, config, state, rank)
                state.stopped_early = state.stopped_early or out_of_time
            if state.step % config.checkpoint_every == 0 or last or state.stopped_early:
                if rank == 0:
                    _save_checkpoint(checkpoint, model, optimizer, state)
            if last or state.stopped_early:
                break
        else:
            state.epoch += 1
            state.batch_in_epoch = 0
    bar.close()
    if world > 1:
        dist.barrier()
    return state


def _epoch_batches(lengths: list[int], config: TrainConfig, epoch: int, rank: int, world: int) -> list[list[int]]:
    """This process's batches of an epoch; every process gets the same number of them."""
    batches = length_batches(lengths, config.max_batch_frames, seed=config.seed * 1000 + epoch)
    per_rank = len(batches) // world
    if per_rank == 0:
        raise ValueError(f"{len(batches)} batch(es) of training data for {world} processes: "
                         "use fewer processes or smaller batches")
    return batches[rank::world][:per_rank]


def _evaluate(model: ASRModel, dev_examples: list[Example], eval_fn: EvalFn, out_dir: Path,
              config: TrainConfig, state: TrainState, rank: int) -> None:
    """Rank 0 scores the dev set and keeps the best model; the verdict is shared with all ranks."""
    verdict = torch.zeros(2)
    if rank == 0:
        model.chain.eval()
        score = eval_fn(model, dev_examples) if dev_examples else -state.step
        if score < state.best_score:
            state.best_score, state.best_step, state.bad_evals = score, state.step, 0
            model.save(out_dir / "model")
        else:
            state.bad_evals += 1
        stop = config.patience > 0 and state.bad_evals >= config.patience
        verdict = torch.tensor([score, float(stop)])
        tqdm.write(f"step {state.step}: dev {score:.4f} (best {state.best_score:.4f} at {state.best_step})")
    if is_distributed():
        dist.broadcast(verdict, src=0)
    state.stopped_early = bool(verdict[1])


def _save_checkpoint(path: Path, model: ASRModel, optimizer: torch.optim.Optimizer, state: TrainState) -> None:
    weights = {k: v.detach().contiguous() for k, v in model.chain.state_dict().items()}
    optim = optimizer.state_dict()
    tensors = {f"{index}.{name}": value.contiguous() for index, slots in optim["state"].items()
               for name, value in slots.items()}
    tensors["rng.torch"] = torch.get_rng_state()  # dropout and SpecAugment draws resume exactly
    groups = [{k: v for k, v in group.items()} for group in optim["param_groups"]]
    write_dir_atomically(path, {
        "model.safetensors": lambda p: save_file(weights, p),
        "optimizer.safetensors": lambda p: save_file(tensors, p),
        "optimizer_groups.json": lambda p: Path(p).write_text(json.dumps(groups)),
        "trainer_state.json": lambda p: Path(p).write_text(json.dumps(asdict(state), indent=2)),
    })


def _load_checkpoint(path: Path, chain: torch.nn.Module, optimizer: torch.optim.Optimizer) -> TrainState:
    chain.load_state_dict(load_file(str(path / "model.safetensors")))
    slots: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in load_file(str(path / "optimizer.safetensors")).items():
        index, name = key.split(".", 1)
        if index == "rng":
            torch.set_rng_state(value)
            continue
        slots.setdefault(int(index), {})[name] = value
    groups = json.loads((path / "optimizer_groups.json").read_text())
    optimizer.load_state_dict({"state": slots, "param_groups": groups})
    return TrainState(**json.loads((path / "trainer_state.json").read_text()))


def save_results(path: str | os.PathLike, results: dict) -> None:
    write_json_atomically(path, results)
