"""Worker for the DDP tests: `torchrun --nproc_per_node 2 -m tests.ddp_worker OUT [joint]`.

`joint`: a unit link under the character link, trained with the masked-unit loss on unlabeled
rows beside the CTC loss, in the one forward per step that DDP allows.
"""
import json
import sys
from pathlib import Path

from tests.synthetic import synthetic_examples, tiny_model
from training.data import Example
from training.ssl import encoder_features, joint_ctc_unit_loss
from training.supervised import greedy_wer, hierarchical_ctc_loss
from training.trainer import TrainConfig, finish_distributed, init_distributed, train


def unit_examples(n: int, seed: int) -> list[Example]:
    """Unlabeled rows; a chain frame's unit is the largest of its first 12 stacked dimensions."""
    examples = synthetic_examples(n, seed=seed)
    stacked = encoder_features([e.frames for e in examples], stack=2)
    return [Example(e.id, e.frames, {"unit": s[:, :12].argmax(-1)}, "") for e, s in zip(examples, stacked)]


def main(out: Path, joint: bool) -> None:
    rank, world = init_distributed()
    model = tiny_model(("unit", "char") if joint else ("phone", "char"), seed=0)  # replicas start equal
    config = TrainConfig(max_steps=20, lr=3e-3, warmup_steps=5, max_batch_frames=300, eval_every=10,
                         checkpoint_every=10, threads=1, progress=False)
    train_examples = synthetic_examples(48, seed=1)
    if joint:
        train_examples = [Example(e.id, e.frames, {"char": e.targets["char"]}, e.text) for e in train_examples]
        loss = joint_ctc_unit_loss(model, None, unit_examples(24, seed=3), 0.5, 150)
    else:
        loss = hierarchical_ctc_loss(model, None)
    state = train(model, train_examples, synthetic_examples(8, seed=2), loss, greedy_wer, out / "out", config)
    checksum = sum(float(p.detach().double().sum()) for p in model.chain.parameters())
    (out / f"rank{rank}.json").write_text(json.dumps({"step": state.step, "checksum": checksum, "world": world}))
    finish_distributed()


if __name__ == "__main__":
    main(Path(sys.argv[1]), joint=sys.argv[2:] == ["joint"])
