import json
import os

import pytest
import torch

from asr.chain import ctc_losses, pad_sequences, stack_frames
from asr.decoding import greedy_decode
from asr.model import ASRModel
from tests.synthetic import synthetic_examples, tiny_model
from training.data import collate, ctc_feasible, length_batches


def test_stack_frames_pairs_neighbours_and_rounds_lengths_up():
    frames = torch.arange(2 * 5 * 3, dtype=torch.float32).reshape(2, 5, 3)
    stacked, lengths = stack_frames(frames, torch.tensor([5, 3]), 2)
    assert stacked.shape == (2, 3, 6)
    assert torch.equal(stacked[0, 0], torch.cat([frames[0, 0], frames[0, 1]]))
    assert torch.equal(stacked[0, 2, 3:], torch.zeros(3))  # padded tail
    assert lengths.tolist() == [3, 2]


def test_an_item_gets_the_same_posteriors_alone_or_in_a_padded_batch():
    model = tiny_model().eval()
    examples = synthetic_examples(4, seed=1)
    together = model.posteriors([e.frames for e in examples], max_batch_frames=10_000)
    for example, batched in zip(examples, together):
        alone = model.posteriors([example.frames])[0]
        assert batched.shape == alone.shape
        assert torch.allclose(batched, alone, atol=1e-4)


def test_character_link_is_conditioned_on_the_phoneme_link():
    model = tiny_model()
    batch = collate(synthetic_examples(3, seed=2))
    logits, lengths = model.chain(batch.frames, batch.lengths)
    loss = ctc_losses(logits, lengths, {"char": batch.targets["char"]})["char"]
    loss.backward()
    phone_link = model.chain.links[0]
    assert phone_link.output.weight.grad.abs().sum() > 0  # char loss reaches the phone link's output
    assert model.chain.links[1].condition is None  # the top link conditions nothing


def test_chain_learns_the_toy_task_and_decodes_it_exactly():
    torch.manual_seed(0)
    model = tiny_model()
    train, test = synthetic_examples(256, seed=3), synthetic_examples(16, seed=4)
    optimizer = torch.optim.AdamW(model.chain.parameters(), lr=3e-3)
    lengths = [e.frames.shape[0] for e in train]
    first = None
    for epoch in range(15):
        for indices in length_batches(lengths, 400, seed=epoch):
            batch = collate([train[i] for i in indices])
            model.chain.train()
            logits, out_lengths = model.chain(batch.frames, batch.lengths)
            loss = sum(ctc_losses(logits, out_lengths, batch.targets).values())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            first = first if first is not None else loss.item()
    assert loss.item() < 0.1 * first
    posteriors = model.posteriors([e.frames for e in test])
    hyps = [greedy_decode(p[None], torch.tensor([p.shape[0]]), model.output_vocabulary)[0] for p in posteriors]
    exact = sum(hyp == e.text for hyp, e in zip(hyps, test))
    assert exact >= 15, list(zip(hyps, [e.text for e in test]))


def test_model_folder_round_trip_is_exact_and_pickle_free(tmp_path):
    model = tiny_model().eval()
    model.save(tmp_path / "model")
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["config.json", "model.safetensors"]
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "model").stat().st_mode & 0o777 == 0o777 & ~umask  # as mkdir would, not mkdtemp's 0700
    assert {p.stat().st_mode & 0o777 for p in (tmp_path / "model").iterdir()} == {0o666 & ~umask}
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["output"] == "char" and [l["name"] for l in config["chain"]["links"]] == ["phone", "char"]
    again = ASRModel.load(tmp_path / "model", encoder=model.encoder)
    frames = [e.frames for e in synthetic_examples(2, seed=5)]
    for a, b in zip(model.posteriors(frames), again.posteriors(frames)):
        assert torch.equal(a, b)


def test_a_failed_save_leaves_the_previous_model_intact(tmp_path, monkeypatch):
    model = tiny_model()
    model.save(tmp_path / "model")
    before = (tmp_path / "model" / "model.safetensors").read_bytes()
    import asr.model
    monkeypatch.setattr(asr.model, "save_file", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with torch.no_grad():
        model.chain.links[0].output.bias.add_(1.0)
    with pytest.raises(OSError):
        model.save(tmp_path / "model")
    assert (tmp_path / "model" / "model.safetensors").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no staging folder left behind


def test_parameter_counts_report_the_trainable_share():
    model = tiny_model()
    counts = model.parameter_counts()
    chain = sum(p.numel() for p in model.chain.parameters())
    assert counts["trainable_params"] == chain
    assert counts["total_params"] == chain + 100
    assert counts["trainable_share"] == round(chain / (chain + 100), 4)


def test_ctc_feasibility_counts_repeats():
    assert ctc_feasible(3, [1, 2, 3]) and not ctc_feasible(3, [1, 1, 2])
    assert not ctc_feasible(5, [])


def test_pad_sequences():
    padded, lengths = pad_sequences([torch.ones(2, 3), torch.ones(4, 3)])
    assert padded.shape == (2, 4, 3) and lengths.tolist() == [2, 4] and padded[0, 2:].abs().sum() == 0
