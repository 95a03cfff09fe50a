"""Whisper's log-mel front-end in torch, equal to the original's features.

The recipe is OpenAI Whisper's: 25 ms Hann windows every 10 ms (n_fft=400, hop=160 at 16 kHz),
power spectrum, Slaney-normalised Slaney-scale mel filters, log10 floored at 1e-10, values more
than 8 (80 dB) below the item's peak raised to that floor, then (x + 4) / 4.
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
import torchaudio.functional as AF

SAMPLE_RATE = 16_000
N_FFT = 400
HOP_LENGTH = 160
WINDOW_SECONDS = 30
WINDOW_SAMPLES = WINDOW_SECONDS * SAMPLE_RATE  # 480000: Whisper's encoder sees fixed 30-s windows
WINDOW_MEL_FRAMES = WINDOW_SAMPLES // HOP_LENGTH  # 3000
WINDOW_ENCODER_FRAMES = WINDOW_MEL_FRAMES // 2  # 1500: conv2 has stride 2


@functools.lru_cache(maxsize=8)
def _mel_filters_cpu(n_mels: int, n_fft: int, sample_rate: int) -> torch.Tensor:
    banks = AF.melscale_fbanks(
        n_freqs=n_fft // 2 + 1,
        f_min=0.0,
        f_max=sample_rate / 2,
        n_mels=n_mels,
        sample_rate=sample_rate,
        norm="slaney",
        mel_scale="slaney",
    )
    return banks.T.contiguous()  # (n_mels, n_freqs)


def mel_filters(n_mels: int = 80, device: torch.device | str | None = None) -> torch.Tensor:
    """Slaney mel filterbank, (n_mels, n_fft // 2 + 1) float32; equals librosa.filters.mel."""
    return _mel_filters_cpu(n_mels, N_FFT, SAMPLE_RATE).to(device)


def log_mel_spectrogram(
    audio: torch.Tensor,
    n_mels: int = 80,
    filters: torch.Tensor | None = None,
) -> torch.Tensor:
    """(..., samples) 16-kHz float audio -> (..., n_mels, samples // 160) Whisper features.

    The dynamic-range floor is taken per item (over its mels and frames), so a batch gives the
    same features as its items one at a time. `filters` lets a module keep the filterbank on its
    device; by default it is built (and cached) here.
    """
    if filters is None:
        filters = mel_filters(n_mels, audio.device)
    lead = audio.shape[:-1]
    flat = audio.reshape(-1, audio.shape[-1]).float()
    window = torch.hann_window(N_FFT, device=audio.device)
    stft = torch.stft(flat, N_FFT, HOP_LENGTH, window=window, center=True, pad_mode="reflect",
                      return_complex=True)
    power = stft[..., :-1].abs() ** 2  # Whisper drops the last frame: samples // hop frames
    mel = filters @ power
    log_spec = torch.clamp(mel, min=1e-10).log10()
    peak = log_spec.amax(dim=(-2, -1), keepdim=True)
    log_spec = torch.maximum(log_spec, peak - 8.0)
    log_spec = (log_spec + 4.0) / 4.0
    return log_spec.reshape(*lead, n_mels, log_spec.shape[-1])


def pad_or_trim(audio: torch.Tensor, n_samples: int = WINDOW_SAMPLES) -> torch.Tensor:
    """Zero-pad or cut the last axis to exactly `n_samples`."""
    length = audio.shape[-1]
    if length > n_samples:
        return audio[..., :n_samples]
    if length < n_samples:
        return F.pad(audio, (0, n_samples - length))
    return audio
