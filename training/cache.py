"""Encoder frames computed once and kept on disk.

The encoder is frozen, so its output for a file never changes: each file's frames are stored as
fp16 .npy under CACHE/<encoder>/<key[:2]>/<key>.npy, the key a hash of the file's bytes, so a
renamed or copied file hits the cache and an edited one misses it. A speed-perturbed copy
(`Utterance.speed`) is keyed `<key>-sp<factor>`.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from asr.packing import encode_utterances
from features.audio import AudioError, load_audio
from features.augment import change_speed
from features.manifest import Utterance

log = logging.getLogger(__name__)
ENCODE_GROUP_SECONDS = 600.0  # audio decoded and encoded at a time: bounds memory on big corpora


def file_key(path: str) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class FeatureCache:
    def __init__(self, root: str | os.PathLike, encoder_name: str):
        self.dir = Path(root) / re.sub(r"[^A-Za-z0-9._-]+", "_", encoder_name)

    def path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.npy"

    def get(self, key: str) -> torch.Tensor | None:
        path = self.path(key)
        if not path.exists():
            return None
        try:
            return torch.from_numpy(np.load(path, allow_pickle=False))
        except (ValueError, OSError, EOFError):  # a torn file from another writer: recompute
            return None

    def put(self, key: str, frames: torch.Tensor) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as out:
            np.save(out, frames.to(torch.float16).numpy(), allow_pickle=False)
        os.replace(tmp, path)


@dataclass
class EncodedCorpus:
    utterances: list[Utterance]
    frames: list[torch.Tensor]  # fp16 (n_frames, dim), aligned with utterances
    errors: list[str] = field(default_factory=list)  # one line per file left out


def encode_corpus(utterances: list[Utterance], encoder: torch.nn.Module, cache_dir: str | os.PathLike,
                  progress: bool = True, shard: tuple[int, int] = (0, 1)) -> EncodedCorpus:
    """Frames for every usable utterance, from the cache or freshly encoded (and then cached).

    `shard=(rank, world)` encodes only every world-th missing file, for data-parallel workers
    that fill one cache together; call again after a barrier to read the whole corpus.
    """
    cache = FeatureCache(cache_dir, encoder.name)
    keys: dict[str, str] = {}
    errors: list[str] = []
    missing: list[Utterance] = []
    for utt in utterances:
        try:
            keys[utt.id] = file_key(utt.audio) + ("" if utt.speed == 1.0 else f"-sp{utt.speed:g}")
        except OSError as error:
            errors.append(str(AudioError(utt.audio, error.strerror or "unreadable")))
            continue
        if not cache.path(keys[utt.id]).exists():
            missing.append(utt)
    rank, world = shard
    missing = missing[rank::world]
    _encode_missing(missing, keys, encoder, cache, errors, progress)

    if world > 1:
        return EncodedCorpus([], [], errors)  # the caller reads the whole corpus after a barrier
    loaded = {utt.id: cache.get(keys[utt.id]) for utt in utterances if utt.id in keys}
    torn = [utt for utt in utterances
            if utt.id in loaded and loaded[utt.id] is None and cache.path(keys[utt.id]).exists()]
    if torn:  # a cache file cut short by a kill: encode those files again
        _encode_missing(torn, keys, encoder, cache, errors, progress)
        loaded.update({utt.id: cache.get(keys[utt.id]) for utt in torn})
    kept = [utt for utt in utterances if loaded.get(utt.id) is not None]
    return EncodedCorpus(kept, [loaded[utt.id] for utt in kept], errors)


def encode_corpus_all_ranks(utterances: list[Utterance], encoder: torch.nn.Module,
                            cache_dir: str | os.PathLike, progress: bool = True) -> EncodedCorpus:
    """`encode_corpus` where every data-parallel rank (if any) encodes its share of the misses."""
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        rank, world = dist.get_rank(), dist.get_world_size()
        encode_corpus(utterances, encoder, cache_dir, progress and rank == 0, shard=(rank, world))
        dist.barrier()
        progress = progress and rank == 0
    return encode_corpus(utterances, encoder, cache_dir, progress)


def _encode_missing(missing: list[Utterance], keys: dict[str, str], encoder: torch.nn.Module,
                    cache: FeatureCache, errors: list[str], progress: bool) -> None:
    bar = tqdm(total=len(missing), disable=not progress or not missing, desc="cache encoder frames", unit="utt")
    group: list[tuple[Utterance, np.ndarray]] = []
    seconds = 0.0

    def flush() -> None:
        for (utt, _), frames in zip(group, encode_utterances(encoder, [audio for _, audio in group])):
            cache.put(keys[utt.id], frames)
        bar.update(len(group))
        group.clear()

    for utt in missing:
        try:
            audio = change_speed(load_audio(utt.audio), utt.speed)
        except AudioError as error:
            errors.append(str(error))
            bar.update(1)
            continue
        group.append((utt, audio))
        seconds += len(audio) / 16_000
        if seconds >= ENCODE_GROUP_SECONDS:
            flush()
            seconds = 0.0
    if group:
        flush()
    bar.close()
