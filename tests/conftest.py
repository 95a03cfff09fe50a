import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_or_skip(relative: str) -> Path:
    path = SHARED / relative
    if not path.exists():
        if os.environ.get("CI"):
            raise FileNotFoundError(f"{path} is missing in CI")
        pytest.skip(f"{path} is absent (real speech from ../shared/data)")
    return path


@pytest.fixture(scope="session")
def an4_test_manifest() -> Path:
    return shared_or_skip("an4/test/manifest.jsonl")


@pytest.fixture(scope="session")
def an4_train_manifest() -> Path:
    return shared_or_skip("an4/train/manifest.jsonl")
