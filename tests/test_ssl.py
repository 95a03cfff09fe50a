"""The self-supervised stage: span masks, k-means units, masked unit prediction, fine-tuning from it."""
import json
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

import asr.encoder
from asr.model import ASRModel
from tests.synthetic import DIM, TinyEncoder, synthetic_examples
from training.data import Example
from training.ssl import (SSLConfig, assign_units, encoder_features, fit_codebook, masked_unit_error,
                          masked_unit_loss, span_mask, ssl_model_config)
from training.supervised import SupervisedConfig, model_on_ssl
from training.trainer import TrainConfig, parameter_groups, train


def test_span_mask_stays_inside_each_sequence_and_masks_whole_spans():
    lengths = torch.tensor([200, 37, 3])
    mask = span_mask(lengths, 200, prob=0.1, span=5, generator=torch.Generator().manual_seed(0))
    assert mask.shape == (3, 200)
    for row, length in enumerate(lengths.tolist()):
        assert not mask[row, length:].any()  # nothing masked in the padding
        assert mask[row, :length].any()  # every sequence contributes
    runs = torch.diff(torch.cat([torch.zeros(1), mask[0].float(), torch.zeros(1)])).nonzero().flatten()
    starts, ends = runs[0::2], runs[1::2]
    assert ((ends - starts)[ends < 200] >= 5).all()  # spans are never shorter than 5 (inner ones)
    share = mask[0].float().mean().item()
    assert 0.25 < share < 0.6  # 1 - 0.9**5 = 0.41 expected


def test_codebook_recovers_well_separated_clusters():
    generator = torch.Generator().manual_seed(0)
    centres = 10 * torch.randn(4, DIM, generator=generator)
    truth = torch.randint(0, 4, (2000,), generator=generator)
    frames = centres[truth] + torch.randn(2000, DIM, generator=generator)
    codebook = fit_codebook([frames[:1000], frames[1000:]], n_units=4, max_frames=1500, seed=0)
    units = torch.cat(assign_units([frames], codebook))
    for cluster in range(4):  # each true cluster maps to exactly one unit
        assert units[truth == cluster].unique().numel() == 1
    assert units.unique().numel() == 4


def _tiny_ssl_config(steps: int) -> SSLConfig:
    return SSLConfig(encoder="tiny", units=12, d_model=32, layers=1, mask_prob=0.1, mask_span=2,
                     train=TrainConfig(max_steps=steps, lr=3e-3, warmup_steps=20, max_batch_frames=600,
                                       eval_every=steps, checkpoint_every=steps, threads=1, progress=False))


def _unit_examples(config: SSLConfig, seed: int, codebook=None):
    examples = synthetic_examples(96, seed=seed)
    features = encoder_features([e.frames for e in examples], stack=2)
    codebook = codebook or fit_codebook(features, config.units, 10_000, seed=0)
    units = assign_units(features, codebook)
    return [Example(e.id, e.frames, {"unit": u}, "") for e, u in zip(examples, units)], codebook


def _tiny_ssl_model(config: SSLConfig) -> ASRModel:
    torch.manual_seed(0)
    model_config = ssl_model_config(config, DIM)
    model_config.chain.heads, model_config.chain.conv_kernel = 2, 3
    return ASRModel(model_config, TinyEncoder())


def test_unit_link_learns_to_predict_masked_units_from_context(tmp_path):
    config = _tiny_ssl_config(steps=200)
    train_examples, codebook = _unit_examples(config, seed=1)
    dev_examples, _ = _unit_examples(config, seed=2, codebook=codebook)
    model = _tiny_ssl_model(config)
    model.codebook = codebook
    error = masked_unit_error(config)
    before = error(model, dev_examples)
    state = train(model, train_examples, dev_examples, masked_unit_loss(config), error, tmp_path, config.train)
    counts = torch.cat([e.targets["unit"] for e in train_examples]).bincount()
    most_frequent_error = 1 - counts.max().item() / counts.sum().item()  # guessing the commonest unit
    assert before > 0.7  # 12 units: chance is ~0.9
    # hidden frames are predicted from their neighbours, far better than from unit frequencies
    assert state.best_score < most_frequent_error - 0.2, (state.best_score, most_frequent_error)
    saved = ASRModel.load(tmp_path / "model", TinyEncoder())
    assert torch.equal(saved.codebook["centroids"], codebook["centroids"])  # the units travel with the model


def test_fine_tuning_from_ssl_copies_the_unit_link_and_freezes_or_slows_it(tmp_path, monkeypatch):
    config = _tiny_ssl_config(steps=1)
    ssl = _tiny_ssl_model(config)
    ssl.codebook = {"mean": torch.zeros(2 * DIM), "scale": torch.ones(2 * DIM), "centroids": torch.randn(12, 2 * DIM)}
    ssl.save(tmp_path / "ssl")
    monkeypatch.setattr(asr.encoder, "load_encoder", lambda name: TinyEncoder())

    frozen = model_on_ssl(SupervisedConfig(links=["phone", "char"], init=str(tmp_path / "ssl"), freeze_ssl=True))
    assert [link.name for link in frozen.config.chain.links] == ["unit", "phone", "char"]
    assert frozen.config.output == "char" and set(frozen.config.vocabularies) == {"phone", "char"}
    copied = ssl.chain.state_dict()
    for name, value in frozen.chain.state_dict().items():
        if name in copied:
            assert torch.equal(value, copied[name]), name
    trainable = {n for n, p in frozen.chain.named_parameters() if p.requires_grad}
    assert not any(n.startswith(("input.", "links.0.layers", "links.0.output")) for n in trainable)
    assert "links.0.condition.weight" in trainable  # the unit posteriors' way into the next link is new

    slowed_config = SupervisedConfig(links=["unit", "char"], init=str(tmp_path / "ssl"), ssl_lr_scale=0.1)
    slowed = model_on_ssl(slowed_config)
    groups = {g["lr_scale"]: {id(p) for p in g["params"]} for g in
              parameter_groups(slowed.chain, slowed_config.train.lr_scales)}
    assert id(slowed.chain.links[0].layers[0].linear1.weight) in groups[0.1]
    assert id(slowed.chain.links[0].condition.weight) in groups[1.0]
    assert id(slowed.chain.links[1].output.weight) in groups[1.0]


def test_ssl_then_fine_tune_on_real_speech_through_the_cli(tmp_path, an4_test_manifest):
    """`asr ssl` on real audio, then `asr train --init --freeze-ssl`: the unit link arrives unchanged."""
    rows = [json.loads(line) for line in an4_test_manifest.read_text().splitlines()[:40]]
    for row in rows:
        row["audio"] = str(an4_test_manifest.parent / row["audio"])
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(row) + "\n" for row in rows))
    cache = str(tmp_path / "cache")
    ssl = subprocess.run([sys.executable, "-m", "asr.cli", "ssl", "--audio", str(corpus),
                          "--out", str(tmp_path / "ssl"), "--units", "20", "--steps", "60", "--eval-every", "20", "--dev-share", "0.25", "--threads", "2", "--seed", "1",
                          "--cache-dir", cache, "--quiet"], capture_output=True, text=True, timeout=600)
    assert ssl.returncode == 0, ssl.stderr
    summary = json.loads((tmp_path / "ssl" / "ssl_summary.json").read_text())
    assert summary["utterances"] == 40 and summary["iterations"][0]["units_used"] >= 15
    learned = summary["iterations"][0]
    assert summary["dev_utterances"] >= 5  # enough held-out speech that one odd utterance cannot decide
    assert learned["dev_masked_unit_error"] < learned["dev_commonest_unit_error"] - 0.05

    fine = subprocess.run([sys.executable, "-m", "asr.cli", "train", "--train", str(corpus), "--dev", str(corpus),
                           "--init", str(tmp_path / "ssl" / "model"), "--freeze-ssl", "--chain", "phone,char",
                           "--steps", "4", "--eval-every", "4", "--cache-dir", cache, "--out", str(tmp_path / "ft"),
                           "--quiet"], capture_output=True, text=True, timeout=600)
    assert fine.returncode == 0, fine.stderr
    config = json.loads((tmp_path / "ft" / "model" / "config.json").read_text())
    assert [link["name"] for link in config["chain"]["links"]] == ["unit", "phone", "char"]
    before = load_file(str(tmp_path / "ssl" / "model" / "model.safetensors"))
    after = load_file(str(tmp_path / "ft" / "model" / "model.safetensors"))
    assert torch.equal(before["links.0.layers.0.linear1.weight"], after["links.0.layers.0.linear1.weight"])


@pytest.mark.parametrize("links", [["char", "unit"], ["unit", "unit", "char"]])
def test_a_chain_on_ssl_must_start_with_its_only_unit_link(links):
    from asr.model import config_on_ssl
    with pytest.raises(ValueError, match="starts with its unit link"):
        config_on_ssl(ssl_model_config(SSLConfig(), DIM), links)
