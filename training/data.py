"""Cached encoder frames + label sequences per link, batched by length."""
from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from asr.chain import pad_sequences
from asr.lexicon import Lexicon
from asr.text import Vocabulary, normalize_text
from training.cache import EncodedCorpus


@dataclass
class Example:
    id: str
    frames: torch.Tensor  # fp16 (T, D)
    targets: dict[str, torch.Tensor]  # link name -> label ids
    text: str  # normalized reference


def link_targets(text: str, vocabularies: dict[str, Vocabulary], lexicon: Lexicon | None) -> dict[str, list[int]]:
    """Label ids of a normalized sentence for each CTC link: characters, or phonemes via the lexicon."""
    targets = {}
    for name, vocab in vocabularies.items():
        if name == "char":
            targets[name] = vocab.encode(text)
        elif name == "phone":
            targets[name] = vocab.encode(lexicon.phonemes(text))
    return targets


def ctc_feasible(n_frames: int, labels: list[int]) -> bool:
    """CTC needs a frame per label plus a blank between each repeated pair."""
    repeats = sum(1 for a, b in zip(labels, labels[1:]) if a == b)
    return 0 < len(labels) and len(labels) + repeats <= n_frames


def make_examples(corpus: EncodedCorpus, vocabularies: dict[str, Vocabulary], stack: int,
                  lexicon: Lexicon | None = None) -> tuple[list[Example], list[str]]:
    """Examples for labeled utterances; one line per utterance left out and why."""
    examples, skipped = [], []
    for utt, frames in zip(corpus.utterances, corpus.frames):
        if not utt.text:
            skipped.append(f"{utt.audio}: no transcript")
            continue
        text = normalize_text(utt.text)
        targets = link_targets(text, vocabularies, lexicon)
        chain_frames = -(-frames.shape[0] // stack)
        too_long = [name for name, labels in targets.items() if not ctc_feasible(chain_frames, labels)]
        if too_long:
            skipped.append(f"{utt.audio}: transcript too long (or empty) for {frames.shape[0] / 50:.1f} s of audio")
            continue
        examples.append(Example(utt.id, frames, {k: torch.tensor(v) for k, v in targets.items()}, text))
    return examples, skipped


def length_batches(lengths: list[int], max_frames: int, seed: int | None) -> list[list[int]]:
    """Batches of similar length whose padded size stays under max_frames; shuffled if seeded.

    Sorting by length with a little noise keeps padding low while still varying batches between
    epochs; the batch order itself is then shuffled.
    """
    rng = random.Random(seed)
    noisy = [(length * (1 + 0.1 * rng.random()) if seed is not None else length, i)
             for i, length in enumerate(lengths)]
    batches, current, longest = [], [], 0
    for _, i in sorted(noisy):
        longest_if_added = max(longest, lengths[i])
        if current and longest_if_added * (len(current) + 1) > max_frames:
            batches.append(current)
            current, longest_if_added = [], lengths[i]
        current.append(i)
        longest = longest_if_added
    if current:
        batches.append(current)
    if seed is not None:
        rng.shuffle(batches)
    return batches


@dataclass
class Batch:
    frames: torch.Tensor  # (B, T, D) float32
    lengths: torch.Tensor  # (B,)
    targets: dict[str, tuple[torch.Tensor, torch.Tensor]]  # name -> (flat labels, label lengths)
    ids: list[str]
    texts: list[str]


def collate(examples: list[Example]) -> Batch:
    frames, lengths = pad_sequences([e.frames for e in examples])
    targets = {}
    for name in examples[0].targets:
        labels = [e.targets[name] for e in examples]
        targets[name] = (torch.cat(labels), torch.tensor([len(t) for t in labels]))
    return Batch(frames, lengths, targets, [e.id for e in examples], [e.text for e in examples])
