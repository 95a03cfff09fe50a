"""Stage 1: the chain's first link learned from unlabeled audio (HuBERT-style masked prediction).

    frozen encoder frames of unlabeled audio --k-means--> discrete units (one per chain frame)
    hide spans of the chain's input behind a learned mask vector
    the unit link predicts the units of the hidden frames (cross-entropy)
    optionally: re-cluster the unit link's own hidden states into new units, train again

The result is a model folder whose chain is the input block plus the unit link, with the
codebook beside it (`codebook.safetensors`); `asr train --init` stacks phoneme and character
links on it (`asr.model.config_on_ssl`). `asr train --ssl-weight W` can keep the masked-unit loss
on unlabeled audio while the links above learn from labels (`joint_ctc_unit_loss`).
"""
from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from asr.chain import ChainConfig, LinkConfig, ctc_losses, pad_sequences, stack_frames
from asr.model import ASRModel, ModelConfig
from features.augment import SpecAugmentConfig, spec_augment
from features.manifest import Utterance
from training.cache import encode_corpus_all_ranks
from training.data import Batch, Example, collate, length_batches
from training.supervised import default_cache_dir
from training.trainer import LossFn, TrainConfig, init_distributed, is_distributed, save_results, train

log = logging.getLogger(__name__)


@dataclass
class SSLConfig:
    encoder: str = "whisper-tiny.en"
    units: int = 100  # k-means clusters: the unit link's vocabulary
    d_model: int = 256
    layers: int = 2  # transformer layers of the unit link
    # Chance that a chain frame starts a masked span: with 5-frame spans ~34 % of frames end up
    # masked. 0.08 gave a lower beam WER than HuBERT's ~55 % (0.15) and than 0.04 in the AN4
    # 10 %-label ablation, by less than the seeds' spread (benchmarks/RESULTS.md, "Self-supervised stage").
    mask_prob: float = 0.08
    mask_span: int = 5  # chain frames (25 Hz): 0.2 s
    iterations: int = 1  # > 1: re-cluster the unit link's hidden states and train on those units
    kmeans_frames: int = 100_000  # frames sampled to fit the codebook
    dev_share: float = 0.05  # utterances held out to select the best step (masked unit accuracy)
    dropout: float = 0.1
    # 6000 steps rather than 1500 (an hour of audio: 18.5 min on one core, fresh cache): the
    # 1500-step link was still improving, and chains fine-tuned on the longer one had a lower dev
    # WER at 10 % of AN4's labels (17.3 % against 18.2 % at 3000 and 19.7 % at 1500, five seeds;
    # RESULTS.md).
    train: TrainConfig = field(default_factory=lambda: TrainConfig(max_steps=6000, eval_every=250,
                                                                   checkpoint_every=250))
    cache_dir: str = field(default_factory=default_cache_dir)


def span_mask(lengths: torch.Tensor, max_len: int, prob: float, span: int,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """(B, max_len) bool: spans of `span` frames from starts drawn with `prob`, inside each length.

    Every sequence gets at least one masked span, so every utterance contributes to the loss.
    """
    positions = torch.arange(max_len)
    starts = (torch.rand(len(lengths), max_len, generator=generator) < prob) & (positions[None, :] < lengths[:, None])
    empty = ~starts.any(dim=1)
    if empty.any():
        forced = (torch.rand(len(lengths), generator=generator) * lengths.clamp(min=1)).long()
        starts[empty, forced[empty]] = True
    covered = F.pad(starts, (span - 1, 0)).unfold(1, span, 1).any(-1)  # a start in the last `span` frames
    return covered & (positions[None, :] < lengths[:, None])


def fit_codebook(features: list[torch.Tensor], n_units: int, max_frames: int, seed: int) -> dict[str, torch.Tensor]:
    """k-means (scikit-learn's mini-batch, as HuBERT) on standardized frames: mean, scale, centroids."""
    from sklearn.cluster import MiniBatchKMeans
    frames = torch.cat(features).float()
    rng = np.random.default_rng(seed)
    if frames.shape[0] > max_frames:
        frames = frames[torch.from_numpy(rng.choice(frames.shape[0], max_frames, replace=False))]
    mean, scale = frames.mean(0), frames.std(0).clamp(min=1e-5)
    kmeans = MiniBatchKMeans(n_clusters=n_units, batch_size=10_000, n_init=1, max_iter=100,
                             random_state=seed)
    kmeans.fit(((frames - mean) / scale).numpy())
    return {"mean": mean, "scale": scale, "centroids": torch.from_numpy(kmeans.cluster_centers_).float()}


def assign_units(features: list[torch.Tensor], codebook: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    """Nearest centroid of each standardized frame."""
    centroids = codebook["centroids"]
    units = []
    for sequence in features:
        standardized = (sequence.float() - codebook["mean"]) / codebook["scale"]
        units.append(torch.cdist(standardized, centroids).argmin(dim=1))
    return units


def encoder_features(frames: list[torch.Tensor], stack: int) -> list[torch.Tensor]:
    """Iteration 1 clusters the chain's input itself: stacked encoder frames, one per chain frame."""
    return [stack_frames(f.float()[None], torch.tensor([f.shape[0]]), stack)[0][0] for f in frames]


@torch.inference_mode()
def link_features(model: ASRModel, frames: list[torch.Tensor], link: str = "unit",
                  max_batch_frames: int = 20_000) -> list[torch.Tensor]:
    """Later iterations cluster what the trained link has learned: its hidden states."""
    model.chain.eval()
    features = []
    start = 0
    while start < len(frames):
        end = start + 1
        while end < len(frames) and sum(f.shape[0] for f in frames[start:end + 1]) <= max_batch_frames:
            end += 1
        padded, lengths = pad_sequences([f.float() for f in frames[start:end]])
        hidden, out_lengths = model.chain.hidden_states(padded, lengths)
        features += [hidden[link][row, :out_lengths[row]].clone() for row in range(end - start)]
        start = end
    return features


def commonest_unit_error(train_units: list[torch.Tensor], dev_units: list[torch.Tensor], units: int) -> float:
    """Dev error of always guessing the commonest training unit: the bar a learned link must clear."""
    if not dev_units:
        return 1.0
    commonest = torch.bincount(torch.cat(train_units), minlength=units).argmax()
    dev = torch.cat(dev_units)
    return float((dev != commonest).float().mean())


def unit_examples(utterances: list[Utterance], frames: list[torch.Tensor], units: list[torch.Tensor]) -> list[Example]:
    return [Example(u.id, f, {"unit": t}, "") for u, f, t in zip(utterances, frames, units)]


def _padded_units(batch: Batch) -> torch.Tensor:
    flat, lengths = batch.targets["unit"]
    return torch.nn.utils.rnn.pad_sequence(list(flat.split(lengths.tolist())), batch_first=True, padding_value=-100)


def masked_unit_loss(config: SSLConfig) -> LossFn:
    """Cross-entropy of the unit link on the masked frames only (HuBERT's alpha = 1)."""

    def loss_fn(network: torch.nn.Module, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        targets = _padded_units(batch)
        mask = span_mask(batch.targets["unit"][1], targets.shape[1], config.mask_prob, config.mask_span)
        logits, _ = network(batch.frames, batch.lengths, mask=mask)
        logits = logits["unit"][:, :targets.shape[1]]
        loss = F.cross_entropy(logits[mask].float(), targets[mask])
        return loss, {"unit": loss.item()}

    return loss_fn


def unlabeled_unit_examples(utterances: list[Utterance], model: ASRModel, cache_dir: str,
                            progress: bool = True) -> tuple[list[Example], list[str]]:
    """Unlabeled audio with the units of the model's SSL codebook: targets for the joint loss.

    Only a first-iteration codebook (clustered from stacked encoder frames) can label new audio;
    later iterations cluster a link's hidden states of a model that no longer exists.
    """
    if model.codebook is None:
        raise ValueError("the masked-unit loss needs a model made from an SSL model (asr train --init SSL_DIR)")
    corpus = encode_corpus_all_ranks(utterances, model.encoder, cache_dir, progress)
    if not corpus.frames:
        raise ValueError("no usable unlabeled audio for the masked-unit loss")
    features = encoder_features(corpus.frames, model.config.chain.stack)
    if features[0].shape[1] != model.codebook["mean"].shape[0]:
        raise ValueError("this SSL model's codebook clusters a link's hidden states (a later SSL iteration); "
                         "the masked-unit loss needs a first-iteration SSL model")
    units = assign_units(features, model.codebook)
    return unit_examples(corpus.utterances, corpus.frames, units), corpus.errors


def crop_example(example: Example, max_frames: int, stack: int) -> Example:
    """A random window of at most max_frames encoder frames (whole chain frames) and its units."""
    chain_frames = max(1, max_frames // stack)
    units = example.targets["unit"]
    if len(units) <= chain_frames:
        return example
    start = int(torch.randint(len(units) - chain_frames + 1, ()))
    frames = example.frames[start * stack:(start + chain_frames) * stack]
    return Example(example.id, frames, {"unit": units[start:start + chain_frames]}, example.text)


def joint_ctc_unit_loss(model: ASRModel, augment: SpecAugmentConfig | None, unlabeled: list[Example],
                        unit_weight: float, unlabeled_batch_frames: int,
                        ssl: SSLConfig | None = None) -> LossFn:
    """Hierarchical CTC on the labeled batch + unit_weight x masked-unit cross-entropy on an unlabeled one.

    Joint unsupervised and supervised training (as in JUST, Bai et al. 2021): with a few minutes
    of labels, fine-tuning alone can wash out what the unit link learned; the SSL loss keeps it.
    Both batches go through the chain in one forward (data-parallel training allows one per step):
    the labeled rows are SpecAugmented and unmasked, the unlabeled rows masked and unaugmented,
    and cropped to the labeled rows' length so that the labeled rows carry no extra padding.
    The unlabeled batch is drawn with torch's generator, so a resumed run draws the same ones.
    """
    ssl = ssl or SSLConfig()
    weights = {link.name: link.loss_weight for link in model.config.chain.links}
    batches = length_batches([e.frames.shape[0] for e in unlabeled], unlabeled_batch_frames, seed=None)
    rank = torch.distributed.get_rank() if is_distributed() else 0
    stack = model.config.chain.stack

    def loss_fn(network: torch.nn.Module, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        pick = (int(torch.randint(len(batches), ())) + rank) % len(batches)
        labeled = spec_augment(batch.frames, augment) if augment is not None else batch.frames
        extra = collate([crop_example(unlabeled[i], labeled.shape[1], stack) for i in batches[pick]])
        longest = max(labeled.shape[1], extra.frames.shape[1])
        frames = torch.cat([F.pad(labeled, (0, 0, 0, longest - labeled.shape[1])),
                            F.pad(extra.frames, (0, 0, 0, longest - extra.frames.shape[1]))])
        units = _padded_units(extra)
        unit_mask = span_mask(extra.targets["unit"][1], units.shape[1], ssl.mask_prob, ssl.mask_span)
        n_labeled = len(batch.lengths)
        chain_frames = -(-longest // model.config.chain.stack)
        mask = torch.zeros(len(frames), chain_frames, dtype=torch.bool)
        mask[n_labeled:, :units.shape[1]] = unit_mask
        logits, lengths = network(frames, torch.cat([batch.lengths, extra.lengths]), mask=mask)
        losses = ctc_losses({name: value[:n_labeled] for name, value in logits.items()}, lengths[:n_labeled],
                            batch.targets)
        unit_logits = logits["unit"][n_labeled:, :units.shape[1]]
        unit_loss = F.cross_entropy(unit_logits[unit_mask].float(), units[unit_mask])
        total = sum(weights[name] * loss for name, loss in losses.items()) + unit_weight * unit_loss
        return total, {**{name: loss.item() for name, loss in losses.items()}, "unit": unit_loss.item()}

    return loss_fn


def masked_unit_error(config: SSLConfig):
    """Dev score: share of masked frames whose unit is mispredicted, under a fixed mask."""

    @torch.inference_mode()
    def eval_fn(model: ASRModel, examples: list[Example]) -> float:
        model.chain.eval()
        generator = torch.Generator().manual_seed(1234)
        wrong = total = 0
        for start in range(0, len(examples), 16):
            batch = collate(examples[start:start + 16])
            targets = _padded_units(batch)
            mask = span_mask(batch.targets["unit"][1], targets.shape[1], config.mask_prob, config.mask_span, generator)
            logits, _ = model.chain(batch.frames, batch.lengths, mask=mask)
            predicted = logits["unit"][:, :targets.shape[1]].argmax(-1)
            wrong += int((predicted[mask] != targets[mask]).sum())
            total += int(mask.sum())
        return wrong / max(1, total)

    return eval_fn


def ssl_model_config(config: SSLConfig, encoder_dim: int) -> ModelConfig:
    link = LinkConfig("unit", config.units, config.layers, objective="units")
    chain = ChainConfig(input_dim=encoder_dim, links=[link], d_model=config.d_model, ff_dim=4 * config.d_model,
                        dropout=config.dropout, mask_embedding=True)
    return ModelConfig(encoder=config.encoder, chain=chain, vocabularies={}, output="unit")


def split_held_out(utterances: list[Utterance], share: float) -> tuple[list[int], list[int]]:
    """Indices (train, dev), chosen by a hash of each id: stable whatever the input order."""
    def held(u: Utterance) -> bool:
        return int(hashlib.sha1(u.id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < share
    dev = [i for i, u in enumerate(utterances) if held(u)]
    return [i for i, u in enumerate(utterances) if not held(u)], dev


def train_ssl(utterances: list[Utterance], out_dir: str | os.PathLike, config: SSLConfig) -> dict:
    """Train the unit link on unlabeled audio; writes OUT/model (chain + codebook) and OUT/ssl_summary.json.

    Transcripts, if any, are ignored. Each iteration trains in OUT/iter<N> (resumable there).
    """
    from asr.encoder import load_encoder
    torch.set_num_threads(config.train.threads)
    rank, _ = init_distributed()
    out_dir = Path(out_dir)
    started = time.perf_counter()
    encoder = load_encoder(config.encoder)
    corpus = encode_corpus_all_ranks(utterances, encoder, config.cache_dir, config.train.progress)
    for problem in corpus.errors:
        log.warning("skipped %s", problem)
    if not corpus.frames:
        raise ValueError("no usable audio for self-supervised training")
    encode_seconds = time.perf_counter() - started
    train_index, dev_index = split_held_out(corpus.utterances, config.dev_share)
    torch.manual_seed(config.train.seed)  # the initial weights (torch seeds itself at random per process)
    model = ASRModel(ssl_model_config(config, encoder.dim), encoder)
    iterations = []
    for iteration in range(1, config.iterations + 1):
        clustered = time.perf_counter()
        if iteration == 1:
            features = encoder_features(corpus.frames, model.config.chain.stack)
        else:
            features = link_features(model, corpus.frames)
            torch.nn.init.normal_(model.chain.links[0].output.weight, std=0.01)  # new units, new meanings
            torch.nn.init.zeros_(model.chain.links[0].output.bias)
        model.codebook = fit_codebook([features[i] for i in train_index], config.units, config.kmeans_frames,
                                      seed=config.train.seed + iteration)
        units = assign_units(features, model.codebook)
        cluster_seconds = time.perf_counter() - clustered
        examples = unit_examples(corpus.utterances, corpus.frames, units)
        state = train(model, [examples[i] for i in train_index], [examples[i] for i in dev_index],
                      masked_unit_loss(config), masked_unit_error(config), out_dir / f"iter{iteration}",
                      config.train)
        best = ASRModel.load(out_dir / f"iter{iteration}" / "model", encoder)
        model.chain.load_state_dict(best.chain.state_dict())
        model.codebook = best.codebook
        iterations.append({"iteration": iteration, "cluster_seconds": round(cluster_seconds, 1),
                           "train_seconds": round(state.train_seconds, 1), "steps": state.step,
                           "best_step": state.best_step, "dev_masked_unit_error": round(state.best_score, 4),
                           "dev_commonest_unit_error": round(commonest_unit_error(
                               [units[i] for i in train_index], [units[i] for i in dev_index], config.units), 4),
                           "units_used": int(torch.cat(units).unique().numel())})
        log.info("SSL iteration %d: dev masked-unit error %.4f", iteration, state.best_score)
    seconds = [len(f) / encoder.frame_rate for f in corpus.frames]
    summary = {
        "utterances": len(corpus.utterances), "audio_minutes": round(sum(seconds) / 60, 1),
        "dev_utterances": len(dev_index), "skipped": corpus.errors,
        "encode_seconds": round(encode_seconds, 1), "iterations": iterations,
        "total_seconds": round(time.perf_counter() - started, 1),
        **model.parameter_counts(),
        "config": {**asdict(config), "train": asdict(config.train)},
    }
    if rank == 0:
        model.save(out_dir / "model")
        save_results(out_dir / "ssl_summary.json", summary)
    if is_distributed():
        torch.distributed.barrier()  # every rank may read OUT/model next (fine-tuning from it)
    return summary
