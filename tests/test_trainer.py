import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from asr.model import ASRModel
from features.augment import SpecAugmentConfig
from tests.synthetic import synthetic_examples, tiny_model
from training.supervised import greedy_wer, hierarchical_ctc_loss
from training.trainer import TrainConfig, learning_rate, train

ROOT = Path(__file__).resolve().parents[1]


def run(out: Path, steps: int, seed: int = 0, kill_at: int | None = None) -> ASRModel:
    model = tiny_model(seed=seed)
    config = TrainConfig(max_steps=steps, lr=3e-3, warmup_steps=5, max_batch_frames=400, eval_every=20,
                         checkpoint_every=20, threads=1, progress=False, seed=seed)
    loss_fn = hierarchical_ctc_loss(model, SpecAugmentConfig(time_masks=1, time_width=3, feature_masks=1, feature_width=2))
    calls = []

    def killable(network, batch):
        calls.append(1)
        if kill_at is not None and len(calls) > kill_at:
            raise KeyboardInterrupt("killed")
        return loss_fn(network, batch)

    train(model, synthetic_examples(256, seed=1), synthetic_examples(12, seed=2), killable, greedy_wer, out, config)
    return model


def test_training_selects_the_best_dev_model_and_writes_it(tmp_path):
    model = run(tmp_path, steps=240)
    state = json.loads((tmp_path / "checkpoint" / "trainer_state.json").read_text())
    assert state["step"] == 240 and state["best_score"] < 0.2
    best = ASRModel.load(tmp_path / "model", encoder=model.encoder)
    assert greedy_wer(best, synthetic_examples(12, seed=2)) == pytest.approx(state["best_score"])


def test_resume_after_a_stop_gives_the_same_model_as_one_run(tmp_path):
    straight = run(tmp_path / "straight", steps=50)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "resumed", steps=50, kill_at=45)  # killed 5 steps after its step-40 checkpoint
    resumed = run(tmp_path / "resumed", steps=50)
    for (name, a), (_, b) in zip(straight.chain.state_dict().items(), resumed.chain.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-6), name


def test_learning_rate_warms_up_then_decays():
    config = TrainConfig(lr=1.0, warmup_steps=10, max_steps=110, min_lr_ratio=0.1)
    rates = [learning_rate(step, config) for step in range(110)]
    assert rates[0] == pytest.approx(0.1) and rates[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(rates[10:], rates[11:])) and rates[-1] == pytest.approx(0.1, abs=1e-3)


@pytest.mark.parametrize("loss", ["ctc", "joint"])
def test_two_process_ddp_training_keeps_replicas_identical(tmp_path, loss):
    """torchrun with 2 CPU processes on gloo: both replicas end with the same weights.

    `joint`: each rank draws its own unlabeled batch for the masked-unit loss beside the CTC one.
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "tests.ddp_worker", str(tmp_path), *(["joint"] if loss == "joint" else [])]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    sums = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert sums[0]["step"] == sums[1]["step"] == 20
    assert sums[0]["checksum"] == pytest.approx(sums[1]["checksum"], rel=1e-6)
    assert sums[0]["world"] == 2 and (tmp_path / "out" / "model" / "model.safetensors").exists()
