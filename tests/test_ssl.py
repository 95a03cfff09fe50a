"""The self-supervised stage: span masks, k-means units, masked unit prediction, fine-tuning from it."""
import json
import math
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

import asr.encoder
from features.manifest import Utterance
from training.cache import EncodedCorpus
from asr.model import ASRModel
from tests.synthetic import DIM, TinyEncoder, synthetic_examples
from training.data import Example
from training.data import collate
from training.ssl import (SSLConfig, assign_units, crop_example, encoder_features, fit_codebook, joint_ctc_unit_loss,
                          masked_unit_error, masked_unit_loss, span_mask, ssl_model_config, unlabeled_unit_examples)
from training.supervised import SupervisedConfig, greedy_wer, hierarchical_ctc_loss, model_on_ssl
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


def _trained_ssl_on_disk(tmp_path, monkeypatch):
    """A tiny SSL model trained on the synthetic units, saved; load_encoder yields the tiny encoder."""
    config = _tiny_ssl_config(steps=200)
    train_examples, codebook = _unit_examples(config, seed=1)
    dev_examples, _ = _unit_examples(config, seed=2, codebook=codebook)
    model = _tiny_ssl_model(config)
    model.codebook = codebook
    train(model, train_examples, dev_examples, masked_unit_loss(config), masked_unit_error(config),
          tmp_path / "ssl", config.train)
    monkeypatch.setattr(asr.encoder, "load_encoder", lambda name: TinyEncoder())
    return config, tmp_path / "ssl" / "model", dev_examples


def _char_only(examples):
    return [Example(e.id, e.frames, {"char": e.targets["char"]}, e.text) for e in examples]


def test_joint_loss_keeps_ctc_of_the_labeled_rows_and_adds_masked_units_of_the_unlabeled(tmp_path, monkeypatch):
    config, ssl_dir, unit_dev = _trained_ssl_on_disk(tmp_path, monkeypatch)
    model = model_on_ssl(SupervisedConfig(links=["unit", "char"], init=str(ssl_dir), ssl_weight=0.5))
    assert model.chain.input.mask_embedding.requires_grad  # the mask vector is used again
    utterances = [Utterance(e.id, "unused.wav", None) for e in unit_dev]
    monkeypatch.setattr("training.ssl.encode_corpus_all_ranks",
                        lambda utts, encoder, cache, progress: EncodedCorpus(utts, [e.frames for e in unit_dev], []))
    unlabeled, problems = unlabeled_unit_examples(utterances, model, str(tmp_path / "cache"), progress=False)
    assert not problems
    assert all(torch.equal(a.targets["unit"], b.targets["unit"]) for a, b in zip(unlabeled, unit_dev))
    longest = max(unlabeled, key=lambda e: e.frames.shape[0])
    window = crop_example(longest, 21, stack=2)  # whole chain frames: 10 of them, 20 encoder frames
    assert window.frames.shape[0] == 20 and len(window.targets["unit"]) == 10
    recomputed = assign_units(encoder_features([window.frames], 2), model.codebook)[0]
    assert torch.equal(recomputed, window.targets["unit"])  # the units still belong to their frames

    batch = collate(_char_only(synthetic_examples(4, seed=3)))
    joint = joint_ctc_unit_loss(model, None, unlabeled, 0.5, 600, config)
    model.chain.eval()  # no dropout: the two losses see the same network
    total, parts = joint(model.chain, batch)
    _, plain = hierarchical_ctc_loss(model, None)(model.chain, batch)
    # the unlabeled rows and the extra padding leave the labeled rows' CTC loss as it was
    assert parts["char"] == pytest.approx(plain["char"], rel=1e-4)
    assert parts["unit"] < 0.85 * math.log(12)  # a trained unit link, on short crops; chance is ln 12
    assert total.item() == pytest.approx(parts["char"] + 0.5 * parts["unit"], rel=1e-4)


def test_joint_loss_keeps_the_unit_link_predicting_while_the_char_link_learns(tmp_path, monkeypatch):
    config, ssl_dir, unit_dev = _trained_ssl_on_disk(tmp_path, monkeypatch)
    train_units, _ = _unit_examples(config, seed=1, codebook=ASRModel.load(ssl_dir, TinyEncoder()).codebook)
    labeled, dev = _char_only(synthetic_examples(24, seed=4)), _char_only(synthetic_examples(16, seed=5))
    unit_error = masked_unit_error(config)
    results = {}
    for weight in (0.0, 1.0):
        model = model_on_ssl(SupervisedConfig(links=["unit", "char"], init=str(ssl_dir), ssl_weight=weight))
        loss = (joint_ctc_unit_loss(model, None, train_units, weight, 600, config) if weight
                else hierarchical_ctc_loss(model, None))
        steps = TrainConfig(max_steps=150, lr=3e-3, warmup_steps=20, max_batch_frames=600, eval_every=150,
                            checkpoint_every=150, threads=1, progress=False, seed=0)
        train(model, labeled, dev, loss, greedy_wer, tmp_path / f"w{weight}", steps)
        results[weight] = unit_error(model, unit_dev), greedy_wer(model, dev)
    (error_alone, wer_alone), (error_joint, wer_joint) = results[0.0], results[1.0]
    assert error_joint < error_alone - 0.1, results  # without the SSL loss the unit link drifts off its units
    assert wer_joint < 0.5 and wer_joint <= wer_alone + 0.1, results  # while the labels are learned as well


def test_joint_loss_needs_a_codebook_of_encoder_frames(tmp_path, monkeypatch):
    config = _tiny_ssl_config(steps=1)
    ssl = _tiny_ssl_model(config)
    width = 24  # clusters of some link's hidden states: not the 2 x DIM stacked encoder frames
    ssl.codebook = {"mean": torch.zeros(width), "scale": torch.ones(width), "centroids": torch.randn(12, width)}
    ssl.save(tmp_path / "ssl")
    monkeypatch.setattr(asr.encoder, "load_encoder", lambda name: TinyEncoder())
    model = model_on_ssl(SupervisedConfig(links=["unit", "char"], init=str(tmp_path / "ssl"), ssl_weight=1.0))
    examples = synthetic_examples(3, seed=0)
    monkeypatch.setattr("training.ssl.encode_corpus_all_ranks",
                        lambda utts, encoder, cache, progress: EncodedCorpus(utts, [e.frames for e in examples], []))
    with pytest.raises(ValueError, match="first-iteration SSL model"):
        unlabeled_unit_examples([Utterance(e.id, "x.wav", None) for e in examples], model, str(tmp_path))


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

    joint = subprocess.run([sys.executable, "-m", "asr.cli", "train", "--train", str(corpus), "--dev", str(corpus),
                            "--init", str(tmp_path / "ssl" / "model"), "--ssl-weight", "0.5", "--unlabeled", str(corpus),
                            "--chain", "phone,char", "--steps", "4", "--eval-every", "4", "--cache-dir", cache,
                            "--out", str(tmp_path / "joint"), "--quiet"], capture_output=True, text=True, timeout=600)
    assert joint.returncode == 0, joint.stderr
    summary = json.loads((tmp_path / "joint" / "train_summary.json").read_text())
    assert summary["unlabeled_utterances"] == 40 and summary["config"]["ssl_weight"] == 0.5


@pytest.mark.parametrize("links", [["char", "unit"], ["unit", "unit", "char"]])
def test_a_chain_on_ssl_must_start_with_its_only_unit_link(links):
    from asr.model import config_on_ssl
    with pytest.raises(ValueError, match="starts with its unit link"):
        config_on_ssl(ssl_model_config(SSLConfig(), DIM), links)


@pytest.mark.parametrize("argv, unlabeled, weight", [
    (["--init", "SSL"], True, 0.5),  # from an SSL model, with unlabeled audio: the joint loss by default
    (["--init", "SSL"], False, 0.0),  # no unlabeled audio to keep it on
    (["--init", "SSL", "--ssl-weight", "0"], True, 0.0),  # turned off
    ([], True, 0.0),  # no SSL model under the chain
    (["--init", "SSL", "--ssl-weight", "2"], True, 2.0),
])
def test_ssl_weight_defaults_to_the_joint_loss_only_where_it_can_apply(argv, unlabeled, weight):
    import argparse
    from asr.cli import add_training_options, supervised_config
    parser = argparse.ArgumentParser()
    add_training_options(parser)
    config = supervised_config(parser.parse_args(argv), unlabeled_audio=unlabeled)
    assert config.ssl_weight == weight


@pytest.mark.parametrize("init", [False, True])
def test_initial_weights_follow_the_seed_alone(tmp_path, monkeypatch, init):
    """Whatever the random state before (torch seeds itself at random per process), --seed fixes the start."""
    from training.supervised import new_model
    monkeypatch.setattr(asr.encoder, "load_encoder", lambda name: TinyEncoder())
    if init:
        ssl = _tiny_ssl_model(_tiny_ssl_config(steps=1))
        ssl.save(tmp_path / "ssl")

    def start(seed: int, draws: int) -> dict:
        torch.rand(draws)  # some other use of the generator first
        config = SupervisedConfig(encoder="tiny", links=["phone", "char"], d_model=32, layers_per_link=1,
                                  init=str(tmp_path / "ssl") if init else None, train=TrainConfig(seed=seed))
        return new_model(config).chain.state_dict()

    first, again, other = start(1, 3), start(1, 17), start(2, 3)
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)
