import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


# A hang guard, not a speed test: on a loaded machine (three jobs on two cores) test_cli's
# training fixture took over 600 s and every test of that module errored.
def asr(*args, timeout: int = 1800) -> subprocess.CompletedProcess:
    """The `asr` command in a subprocess, run from the repository root."""
    return subprocess.run([sys.executable, "-m", "asr.cli", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def write_at_peak(path: Path, audio: "np.ndarray", peak_dbfs: float, sample_rate: int = 16_000) -> "np.ndarray":
    """`audio` scaled to peak at `peak_dbfs`, written as 32-bit float (no rounding to a level) and returned."""
    import numpy as np
    import soundfile as sf

    scaled = audio * 10 ** (peak_dbfs / 20) / np.abs(audio).max()
    sf.write(path, scaled, sample_rate, subtype="FLOAT")
    return scaled


def shared_or_skip(relative: str) -> Path:
    path = SHARED / relative
    if not path.exists():
        if os.environ.get("CI"):
            raise FileNotFoundError(f"{path} is missing in CI")
        pytest.skip(f"{path} is absent (real speech from ../shared/data)")
    return path


def espeak_or_skip() -> None:
    """Skip where espeak-ng cannot be used; in CI that is a failure. (espeakng-loader is a
    dependency: only a hand-made environment lacks it.)"""
    from features.synth import available

    why = available()
    if why:
        assert not os.environ.get("CI"), why
        pytest.skip(why)


@pytest.fixture(scope="session")
def an4_test_manifest() -> Path:
    return shared_or_skip("an4/test/manifest.jsonl")


@pytest.fixture(scope="session")
def an4_train_manifest() -> Path:
    return shared_or_skip("an4/train/manifest.jsonl")
