"""Worker for the DDP test: `torchrun --nproc_per_node 2 -m tests.ddp_worker OUT`."""
import json
import sys
from pathlib import Path


from tests.synthetic import synthetic_examples, tiny_model
from training.supervised import greedy_wer, hierarchical_ctc_loss
from training.trainer import TrainConfig, finish_distributed, init_distributed, train


def main(out: Path) -> None:
    rank, world = init_distributed()
    model = tiny_model(seed=0)  # same seed: replicas start equal, as DDP also enforces
    config = TrainConfig(max_steps=20, lr=3e-3, warmup_steps=5, max_batch_frames=300, eval_every=10,
                         checkpoint_every=10, threads=1, progress=False)
    state = train(model, synthetic_examples(48, seed=1), synthetic_examples(8, seed=2),
                  hierarchical_ctc_loss(model, None), greedy_wer, out / "out", config)
    checksum = sum(float(p.detach().double().sum()) for p in model.chain.parameters())
    (out / f"rank{rank}.json").write_text(json.dumps({"step": state.step, "checksum": checksum, "world": world}))
    finish_distributed()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
