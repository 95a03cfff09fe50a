import numpy as np
import pytest

from asr.commands import AdaptConfig, trimmed_copies
from features.augment import colored_noise, time_stretch, trim_quiet_edges


def tone(seconds: float, amplitude: float, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * 16_000)) / 16_000
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_trimming_cuts_the_quiet_onset_and_ending_at_the_chosen_depth():
    # A soft 0.1 s onset (-26 dB) and ending (-14 dB) around 0.3 s of loud tone.
    word = np.concatenate([tone(0.1, 0.05), tone(0.3, 1.0), tone(0.1, 0.2)])
    deep = trim_quiet_edges(word, top_db=30)  # both soft parts are within 30 dB of the peak: kept
    assert abs(len(deep) - len(word)) < 400
    shallow = trim_quiet_edges(word, top_db=20)  # the -26 dB onset goes, the -14 dB ending stays
    assert 0.38 < len(shallow) / 16_000 < 0.42 and np.abs(shallow[:200]).max() > 0.5
    tight = trim_quiet_edges(word, top_db=10)  # only the loud part is left
    assert 0.28 < len(tight) / 16_000 < 0.32


def test_trimming_never_leaves_less_than_a_tenth_of_a_second():
    blip = np.concatenate([np.zeros(8000, np.float32), tone(0.03, 1.0), np.zeros(8000, np.float32)])
    assert len(trim_quiet_edges(blip, top_db=20)) == len(blip)


def test_adaptation_copies_with_cut_edges_lose_the_soft_onset_and_ending():
    word = np.concatenate([tone(0.15, 0.02), tone(0.3, 1.0), tone(0.15, 0.02)])  # soft edges at -34 dB
    config = AdaptConfig(trim_copies=2, speed_range=(0.9, 1.1), snr_range_db=(40.0, 40.0))
    copies = trimmed_copies(word, config, np.random.default_rng(0))
    assert len(copies) == 2
    assert all(0.25 < len(c) / 16_000 < 0.37 and np.abs(c[:160]).max() > 0.3 for c in copies)
    assert trimmed_copies(word, AdaptConfig(trim_copies=0), np.random.default_rng(0)) == []


def test_time_stretch_keeps_pitch_and_does_not_smear_an_onset_ahead_of_itself():
    """A 0.1-s tone after 0.2 s of silence, 0.9 and 1.15 times as fast: the length scales, the
    pitch stays, and 15-60 ms before the (moved) onset there is next to nothing (a 32-ms window).
    librosa's default window (128 ms at 16 kHz) leaks 25 dB more there: what smeared short words."""
    silence = np.zeros(3200, np.float32)
    burst = np.concatenate([silence, tone(0.1, 1.0, freq=1000.0), silence])

    def level(x: np.ndarray) -> float:
        return 10 * np.log10(np.mean(x ** 2) + 1e-20)

    def pre_echo(stretched: np.ndarray, rate: float) -> float:
        onset = 0.2 / rate * 16_000
        ahead = stretched[int(onset - 960):int(onset - 240)]
        inside = stretched[int(onset + 480):int(onset + 0.1 / rate * 16_000 - 480)]
        return level(ahead) - level(inside)

    for rate in (0.9, 1.15):
        stretched = time_stretch(burst, rate)
        assert abs(len(stretched) - len(burst) / rate) < 16
        spectrum = np.abs(np.fft.rfft(stretched))
        assert abs(np.argmax(spectrum) * 16_000 / len(stretched) - 1000.0) < 5
        assert pre_echo(stretched, rate) < -60
        assert pre_echo(time_stretch(burst, rate, window=2048), rate) > -50


def test_colored_noise_has_unit_rms_and_falls_by_its_exponent():
    rng = np.random.default_rng(0)
    for exponent in (0.0, 1.0, 2.0):
        noise = colored_noise(64_000, exponent, rng)
        assert noise.dtype == np.float32 and np.sqrt(np.mean(noise ** 2)) == pytest.approx(1.0, rel=1e-3)
        power = np.abs(np.fft.rfft(noise)) ** 2
        # mean power per bin in 8 octave bands from bin 100 up: each band 2^-exponent of the one below
        bands = [power[100 * 2 ** i:100 * 2 ** (i + 1)].mean() for i in range(8)]
        slope = np.polyfit(np.arange(8), np.log2(bands), 1)[0]
        assert slope == pytest.approx(-exponent, abs=0.1)
