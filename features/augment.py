"""Augmentation for training.

`spec_augment` works on any (batch, time, dim) feature sequence; in this toolkit it masks the
cached frames of the frozen encoder, since re-encoding augmented audio every epoch would cost far
more than the chain's whole training. Speed perturbation instead makes fixed extra copies of a
training set (`speed_copies`), each encoded and cached once like any other file. Time stretch,
edge trimming and noise are for the few-shot stages, where the audio is encoded afresh anyway.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
import torchaudio.functional as AF

from features.manifest import Utterance


@dataclass
class SpecAugmentConfig:
    time_masks: int = 2
    time_width: int = 20  # frames (20 ms each for Whisper): at most 0.4 s per mask
    time_share: float = 0.2  # no mask covers more than this share of an utterance
    feature_masks: int = 2
    feature_width: int = 48  # encoder channels


def spec_augment(frames: torch.Tensor, config: SpecAugmentConfig) -> torch.Tensor:
    """Zero random time spans and channel bands, independently per utterance. (B, T, D) in and out."""
    grid = frames.transpose(1, 2).unsqueeze(1)  # (B, 1, D, T): torchaudio's (..., freq, time)
    for _ in range(config.time_masks):
        grid = AF.mask_along_axis_iid(grid, config.time_width, 0.0, axis=3, p=config.time_share)
    for _ in range(config.feature_masks):
        grid = AF.mask_along_axis_iid(grid, config.feature_width, 0.0, axis=2)
    return grid.squeeze(1).transpose(1, 2)


def change_speed(audio: np.ndarray, factor: float, sample_rate: int = 16_000) -> np.ndarray:
    """Kaldi-style speed perturbation: `factor` times faster, tempo and pitch together
    (torchaudio's band-limited resampling, as if the tape ran faster)."""
    if factor == 1.0:
        return audio
    faster, _ = AF.speed(torch.from_numpy(audio), sample_rate, factor)
    return faster.numpy().astype(np.float32, copy=False)


def speed_copies(utterances: list[Utterance], factors: Sequence[float]) -> list[Utterance]:
    """The utterances, then one copy of each per factor other than 1 (ids get "-sp<factor>")."""
    copies = list(utterances)
    for factor in factors:
        if factor == 1.0:
            continue
        if not 0.5 <= factor <= 2.0:
            raise ValueError(f"speed factor {factor} outside 0.5-2.0")
        copies += [replace(u, id=f"{u.id}-sp{factor:g}", speed=u.speed * factor,
                           duration=None if u.duration is None else u.duration / factor) for u in utterances]
    return copies


# Phase-vocoder window for 16-kHz speech: 32 ms. librosa's default (2048 samples, 128 ms at
# 16 kHz, sized for music) smears short words: Whisper's decoder read 568 of 667 cut digits
# stretched 0.9 times with it, 601 with this (612 as recorded; benchmarks/RESULTS.md).
STRETCH_WINDOW = 512


def time_stretch(audio: np.ndarray, rate: float, window: int = STRETCH_WINDOW) -> np.ndarray:
    """Play `rate` times faster with unchanged pitch (librosa's phase-vocoder time stretch)."""
    import librosa
    return librosa.effects.time_stretch(audio, rate=rate, n_fft=window).astype(np.float32)


def trim_quiet_edges(audio: np.ndarray, top_db: float) -> np.ndarray:
    """Cut the leading and trailing stretches quieter than `top_db` below the peak (librosa's
    trim), as a recorder that starts late and stops early cuts a word's soft onset and ending."""
    import librosa
    trimmed, _ = librosa.effects.trim(audio, top_db=top_db, frame_length=256, hop_length=64)
    return trimmed if len(trimmed) >= 1600 else audio  # keep at least 0.1 s


def colored_noise(samples: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Noise whose power falls as 1 / f^exponent (0 white, 1 pink, 2 brown), at unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(samples))
    spectrum /= np.maximum(np.arange(len(spectrum)), 1) ** (exponent / 2)
    noise = np.fft.irfft(spectrum, samples)
    return (noise / np.sqrt(np.mean(noise ** 2))).astype(np.float32)


def add_noise(audio: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """White noise at the given signal-to-noise ratio."""
    power = float(np.mean(audio ** 2)) + 1e-12
    noise = rng.standard_normal(len(audio)).astype(np.float32)
    return audio + noise * np.sqrt(power / 10 ** (snr_db / 10))
