"""Audio files in, mono float32 at 16 kHz out.

Every reader of audio in the toolkit goes through `load_audio`, so every bad file fails the
same way: an `AudioError` whose message is one line naming the file and the reason.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

SAMPLE_RATE = 16_000
SILENCE_PEAK = 1e-4  # peak absolute amplitude below which a file is called silent (-80 dBFS)
MAX_SECONDS = 4 * 3600.0  # beyond this a single file is refused rather than read into memory


class AudioError(ValueError):
    """A file that cannot be used as speech; str() is one line: '<path>: <reason>'."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True)
class AudioInfo:
    sample_rate: int
    channels: int
    frames: int

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def audio_info(path: str | os.PathLike) -> AudioInfo:
    """Header facts of an audio file, without decoding it."""
    _check_file(path)
    try:
        info = sf.info(str(path))
    except Exception as error:  # libsndfile says why in many different ways
        raise AudioError(path, f"not a readable audio file ({_first_line(error)})") from None
    return AudioInfo(info.samplerate, info.channels, info.frames)


def load_audio(
    path: str | os.PathLike,
    sample_rate: int = SAMPLE_RATE,
    allow_silent: bool = False,
    max_seconds: float = MAX_SECONDS,
) -> np.ndarray:
    """Decode any format libsndfile reads (WAV, FLAC, Ogg Vorbis/Opus, MP3) to mono float32.

    Channels are averaged, any rate is resampled to `sample_rate` with torchaudio's
    band-limited sinc resampler.
    """
    info = audio_info(path)
    if info.frames == 0:
        raise AudioError(path, "no audio samples (zero-length)")
    if info.duration > max_seconds:
        raise AudioError(path, f"{info.duration:.0f} s long, over the {max_seconds:.0f} s limit for one file")
    try:
        samples, file_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as error:
        raise AudioError(path, f"corrupt or truncated audio ({_first_line(error)})") from None
    if samples.shape[0] == 0:
        raise AudioError(path, "no audio samples (zero-length)")
    mono = samples.mean(axis=1)
    if not np.all(np.isfinite(mono)):
        raise AudioError(path, "audio holds NaN or infinite samples")
    if not allow_silent and float(np.max(np.abs(mono))) < SILENCE_PEAK:
        raise AudioError(path, "all silent (peak below -80 dBFS)")
    return resample(mono, file_rate, sample_rate)


def resample(samples: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    if orig_rate == new_rate:
        return np.ascontiguousarray(samples, dtype=np.float32)
    waveform = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))
    return AF.resample(waveform, orig_rate, new_rate).numpy()


def _check_file(path: str | os.PathLike) -> None:
    if not os.path.exists(path):
        raise AudioError(path, "no such file")
    if os.path.isdir(path):
        raise AudioError(path, "is a directory, not an audio file")
    if os.path.getsize(path) == 0:
        raise AudioError(path, "empty file (0 bytes)")


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
