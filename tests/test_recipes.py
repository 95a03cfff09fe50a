"""The README's main job, `python -m recipes.an4`, end to end on a small budget."""
import json
import subprocess
import sys
from pathlib import Path

from asr.text import normalize_text
from features.manifest import read_manifest

ROOT = Path(__file__).resolve().parents[1]


def test_an4_recipe_trains_writes_its_lm_and_scores_the_test_set(tmp_path, an4_train_manifest):
    out = tmp_path / "an4"
    done = subprocess.run([sys.executable, "-m", "recipes.an4", "--data", str(an4_train_manifest.parent.parent),
                           "--out", str(out), "--labeled-fraction", "0.1", "--steps", "30", "--eval-every", "30",
                           "--cache-dir", str(tmp_path / "cache"), "--quiet"],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert results["test"]["decoder"] == "beam" and results["test_greedy"]["decoder"] == "greedy"
    assert results["test"]["n"] == results["test_greedy"]["n"] == 117
    assert results["steps"] == 30 and 0 < results["trainable_share"] < 0.5
    lexicon = set((out / "model" / "words.txt").read_text().split())  # the 10 % subset's words only
    all_train_words = {w for u in read_manifest(an4_train_manifest) for w in normalize_text(u.text).split()}
    assert lexicon and lexicon < all_train_words
    assert (out / "model" / "lm.arpa").read_text().startswith("\\data\\")
