"""Audio files in, mono float32 at 16 kHz out.

Every reader of audio in the toolkit goes through `stream_audio` (blocks, bounded memory, for
long recordings) or `load_audio` (the whole file, built on it), so every bad file fails the same
way: an `AudioError` whose message is one line naming the file and the reason.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import soundfile as sf
import torch
import torchaudio.transforms as AT

SAMPLE_RATE = 16_000
SILENCE_PEAK = 1e-4  # peak absolute amplitude below which a file is called silent (-80 dBFS)
MAX_SECONDS = 4 * 3600.0  # beyond this load_audio refuses a file rather than read it into memory
BLOCK_SECONDS = 10.0  # audio decoded at a time by stream_audio
WHOLE_BLOCK_SECONDS = 600.0  # load_audio's blocks: short files are decoded and resampled in one go


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


def dbfs(amplitude: float) -> float:
    """An amplitude (full scale 1) in decibels below full scale."""
    return 20 * math.log10(max(amplitude, 1e-12))


def narrowband_shares(audio: np.ndarray, sample_rate: int = SAMPLE_RATE, floor_db: float = 30.0,
                      half_width_hz: float = 62.5) -> tuple[np.ndarray, np.ndarray]:
    """Per sounding frame (32-ms Hann frames every 10 ms, within `floor_db` of the loudest): the
    share of its energy within `half_width_hz` of its strongest frequency, and that frequency.
    Near 1 for a tone; a voiced speech frame spreads its energy over harmonics and formants."""
    n_fft, hop = round(0.032 * sample_rate), round(0.010 * sample_rate)
    if len(audio) < n_fft:
        return np.zeros(0), np.zeros(0)
    power = torch.stft(torch.as_tensor(audio, dtype=torch.float32), n_fft, hop, window=torch.hann_window(n_fft),
                       return_complex=True).abs().square()  # (bins, frames)
    energy = power.sum(0)
    sounding = power[:, energy >= energy.max() * 10 ** (-floor_db / 10)]
    strongest = sounding.argmax(0)
    half = round(half_width_hz * n_fft / sample_rate)
    padded = torch.nn.functional.pad(sounding, (0, 0, half, half))
    columns = torch.arange(sounding.shape[1])
    band = sum(padded[strongest + half + shift, columns] for shift in range(-half, half + 1))
    shares = band / sounding.sum(0).clamp_min(1e-30)
    return shares.numpy(), strongest.numpy() * sample_rate / n_fft


def steady_tone(audio: np.ndarray, sample_rate: int = SAMPLE_RATE, share: float = 0.99,
                frames_share: float = 0.9) -> float | None:
    """The frequency (Hz) of the steady tone `audio` is (a beep, a hum, a whistle), or None: at
    least `frames_share` of its sounding frames hold `share` of their energy in one narrow band
    (`narrowband_shares`). Asked of every sounding frame, not of the loudest alone, so that speech
    after a louder beep is still speech."""
    shares, frequencies = narrowband_shares(audio, sample_rate)
    if len(shares) == 0 or np.mean(shares >= share) < frames_share:
        return None
    return float(np.median(frequencies[shares >= share]))


def load_audio(
    path: str | os.PathLike,
    sample_rate: int = SAMPLE_RATE,
    allow_silent: bool = False,
    max_seconds: float = MAX_SECONDS,
    min_peak: float = SILENCE_PEAK,
) -> np.ndarray:
    """Decode any format libsndfile reads (WAV, FLAC, Ogg Vorbis/Opus, MP3) to mono float32.

    Channels are averaged, any rate is resampled to `sample_rate` with torchaudio's
    band-limited sinc resampler. The whole file is held in memory: long recordings are read
    with `stream_audio` instead. A file that peaks under -80 dBFS (SILENCE_PEAK), or under a
    higher `min_peak` (full scale 1), is refused, unless `allow_silent`.
    """
    info = audio_info(path)
    if info.duration > max_seconds:
        raise AudioError(path, f"{info.duration:.0f} s long, over the {max_seconds:.0f} s limit for one file")
    blocks = list(stream_audio(path, sample_rate, allow_silent, block_seconds=WHOLE_BLOCK_SECONDS, min_peak=min_peak))
    return blocks[0] if len(blocks) == 1 else np.concatenate(blocks)


def stream_audio(
    path: str | os.PathLike,
    sample_rate: int = SAMPLE_RATE,
    allow_silent: bool = False,
    block_seconds: float = BLOCK_SECONDS,
    min_peak: float = SILENCE_PEAK,
) -> Iterator[np.ndarray]:
    """The same signal as `load_audio`, as consecutive mono float32 blocks, in bounded memory.

    The file is decoded `block_seconds` at a time; each block is mixed to mono and resampled with
    `StreamResampler`, whose output equals resampling the whole file at once. Nothing but the
    current block and a few samples of resampler context is held. A file that turns out bad
    part way (corrupt, NaN, or all silent, which is only known at its end) raises `AudioError`
    when the reader gets there.
    """
    info = audio_info(path)
    if info.frames == 0:
        raise AudioError(path, "no audio samples (zero-length)")
    try:
        reader = sf.SoundFile(str(path))
    except Exception as error:
        raise AudioError(path, f"not a readable audio file ({_first_line(error)})") from None
    with reader:
        resampler = StreamResampler(reader.samplerate, sample_rate)
        block_frames = max(1, int(block_seconds * reader.samplerate))
        peak, total = 0.0, 0
        while True:
            try:
                block = reader.read(block_frames, dtype="float32", always_2d=True)
            except Exception as error:
                raise AudioError(path, f"corrupt or truncated audio ({_first_line(error)})") from None
            if block.shape[0] == 0:
                break
            mono = block.mean(axis=1) if block.shape[1] > 1 else block[:, 0]
            if not np.all(np.isfinite(mono)):
                raise AudioError(path, "audio holds NaN or infinite samples")
            peak = max(peak, float(np.max(np.abs(mono))))
            total += len(mono)
            out = resampler.push(mono)
            del block, mono
            if len(out):
                yield out
        if total == 0:
            raise AudioError(path, "no audio samples (zero-length)")
        if not allow_silent and peak < SILENCE_PEAK:
            raise AudioError(path, "all silent (peak below -80 dBFS)")
        if not allow_silent and peak < min_peak:
            raise AudioError(path, f"too quiet (peak {dbfs(peak):.0f} dBFS, under the {dbfs(min_peak):.0f} dBFS "
                                   f"asked for)")
        out = resampler.flush()
        if len(out):
            yield out


class StreamResampler:
    """torchaudio's sinc resampler for a signal that arrives in blocks.

    The output equals `resample` of the whole signal (to float rounding): each output sample is
    computed once, from input on both sides of it. Input is cut only at multiples of the reduced
    input rate (where the resampler's phase restarts), with `margin` samples of context either
    side; the file's own ends are zero-padded exactly as for a whole-file resample.
    """

    def __init__(self, orig_rate: int, new_rate: int):
        self.orig_rate, self.new_rate = int(orig_rate), int(new_rate)
        self.identity = self.orig_rate == self.new_rate
        if self.identity:
            return
        self._resample = AT.Resample(self.orig_rate, self.new_rate)
        gcd = math.gcd(self.orig_rate, self.new_rate)
        self._orig, self._new = self.orig_rate // gcd, self.new_rate // gcd
        self.margin = math.ceil(self._resample.width / self._orig) * self._orig
        self._pending = np.zeros(0, dtype=np.float32)  # input from sample self._pending_start on
        self._pending_start = 0
        self._done = 0  # input samples (a multiple of _orig) whose output has been given out
        self._seen = 0

    @property
    def held(self) -> int:
        """Input samples held back for context or for want of right context."""
        return 0 if self.identity else len(self._pending)

    def push(self, samples: np.ndarray) -> np.ndarray:
        samples = np.ascontiguousarray(samples, dtype=np.float32)
        if self.identity:
            return samples
        self._pending = np.concatenate([self._pending, samples])
        self._seen += len(samples)
        ready = (self._seen - self.margin) // self._orig * self._orig
        return self._emit(ready, final=False) if ready > self._done else np.zeros(0, dtype=np.float32)

    def flush(self) -> np.ndarray:
        """The rest of the output, once the signal has ended."""
        if self.identity or self._seen == self._done:
            return np.zeros(0, dtype=np.float32)
        return self._emit(self._seen, final=True)

    def _emit(self, end: int, final: bool) -> np.ndarray:
        start = max(0, self._done - self.margin)  # a multiple of _orig
        stop = self._seen if final else end + self.margin
        chunk = self._pending[start - self._pending_start:stop - self._pending_start]
        with torch.inference_mode():
            out = self._resample(torch.from_numpy(chunk)).numpy()
        first = (self._done - start) // self._orig * self._new
        if final:
            last = math.ceil(self._new * self._seen / self._orig) - start // self._orig * self._new
        else:
            last = (end - start) // self._orig * self._new
        self._done = end
        drop = max(0, end - self.margin) - self._pending_start
        self._pending = self._pending[drop:].copy()
        self._pending_start += drop
        return np.ascontiguousarray(out[first:last])


def resample(samples: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    """A whole signal resampled (torchaudio's band-limited sinc, Hann window, its defaults)."""
    resampler = StreamResampler(orig_rate, new_rate)
    out = resampler.push(samples)
    return np.concatenate([out, resampler.flush()])


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
