"""Stage 2: hierarchical CTC on labeled speech (phoneme and character losses, weighted)."""
from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from asr.chain import ctc_losses
from asr.decoding import greedy_decode
from asr.lexicon import Lexicon
from asr.model import ASRModel, build_config, config_on_ssl
from asr.scoring import score
from features.augment import SpecAugmentConfig, spec_augment, speed_copies
from features.manifest import Utterance
from training.cache import encode_corpus_all_ranks
from training.data import Batch, Example, make_examples
from training.trainer import LossFn, TrainConfig, init_distributed, is_distributed, train

log = logging.getLogger(__name__)


def default_cache_dir() -> str:
    return os.environ.get("ASR_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cache", "asr", "features"))


# Weight of the masked-unit loss kept while fine-tuning from an SSL model, where unlabeled audio is
# at hand: 0.5 beat 1.0 on the dev set, and beat fine-tuning alone at 10 % of AN4's labels
# (benchmarks/RESULTS.md, "Self-supervised stage").
JOINT_SSL_WEIGHT = 0.5


@dataclass
class SupervisedConfig:
    encoder: str = "whisper-tiny.en"
    links: list[str] = field(default_factory=lambda: ["phone", "char"])
    d_model: int = 256
    layers_per_link: int = 2
    phone_weight: float = 0.3
    dropout: float = 0.1
    spec_augment: SpecAugmentConfig | None = field(default_factory=SpecAugmentConfig)
    speed_perturb: list[float] = field(default_factory=list)  # e.g. [0.9, 1.1]: a copy of the train set each
    init: str | None = None  # an SSL model folder (asr ssl): its unit link goes under `links`
    freeze_ssl: bool = False  # keep the SSL input block and unit link as they are
    ssl_lr_scale: float = 1.0  # else fine-tune them at this share of the learning rate
    # With init: > 0 keeps the SSL masked-unit loss, at this weight, on unlabeled audio passed to
    # train_supervised, a batch of up to ssl_batch_frames encoder frames beside each labeled one.
    ssl_weight: float = 0.0
    ssl_batch_frames: int = 1000
    train: TrainConfig = field(default_factory=TrainConfig)
    cache_dir: str = field(default_factory=default_cache_dir)


def hierarchical_ctc_loss(model: ASRModel, augment: SpecAugmentConfig | None) -> LossFn:
    weights = {link.name: link.loss_weight for link in model.config.chain.links}

    def loss_fn(network: torch.nn.Module, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        frames = spec_augment(batch.frames, augment) if augment is not None else batch.frames
        logits, lengths = network(frames, batch.lengths)
        losses = ctc_losses(logits, lengths, batch.targets)
        total = sum(weights[name] * loss for name, loss in losses.items())
        return total, {name: loss.item() for name, loss in losses.items()}

    return loss_fn


def model_on_ssl(config: SupervisedConfig) -> ASRModel:
    """Phoneme/character links stacked on a self-supervised model's unit link, its weights copied.

    Freezing or a lower learning rate for the SSL part is set on `config.train.lr_scales` and
    on the parameters themselves, so the trainer needs no special case.
    """
    ssl = ASRModel.load(config.init)
    if "unit" not in [link.name for link in ssl.config.chain.links]:
        raise ValueError(f"{config.init}: not a self-supervised model (no unit link)")
    links = config.links if config.links[0] == "unit" else ["unit", *config.links]
    torch.manual_seed(config.train.seed)  # the new links' initial weights
    model = ASRModel(config_on_ssl(ssl.config, links, config.layers_per_link, config.phone_weight), ssl.encoder)
    model.load_ssl_weights(ssl)
    ssl_parts = ("input.", "links.0.")
    new_parts = ("links.0.condition.",)  # the unit posteriors' projection into the stream is new
    for name, param in model.chain.named_parameters():
        from_ssl = name.startswith(ssl_parts) and not name.startswith(new_parts)
        if (name == "input.mask_embedding" and config.ssl_weight == 0) or (config.freeze_ssl and from_ssl):
            param.requires_grad_(False)  # the mask vector only matters while masking
    if not config.freeze_ssl and config.ssl_lr_scale != 1.0:
        config.train.lr_scales = {new_parts[0]: 1.0, **{p: config.ssl_lr_scale for p in ssl_parts}}
    return model


def new_model(config: SupervisedConfig) -> ASRModel:
    """The chain to train: on config.init's SSL model, or from scratch.

    Its initial weights follow config.train.seed alone. torch seeds itself at random in each
    process, so without this --seed fixed everything but the start, and one command run twice
    gave 8.0 and 9.0 % WER (benchmarks/RESULTS.md, "Self-supervised stage").
    """
    if config.init:
        return model_on_ssl(config)
    from asr.encoder import load_encoder
    encoder = load_encoder(config.encoder)
    model_config = build_config(config.encoder, encoder.dim, config.links, config.d_model,
                                config.layers_per_link, config.phone_weight, dropout=config.dropout)
    torch.manual_seed(config.train.seed)
    return ASRModel(model_config, encoder)


def greedy_wer(model: ASRModel, examples: list[Example]) -> float:
    posteriors = model.posteriors([e.frames for e in examples])
    vocab = model.output_vocabulary
    hyps = [greedy_decode(p[None], torch.tensor([p.shape[0]]), vocab)[0] for p in posteriors]
    return score([e.text for e in examples], hyps)["wer"]


def prepare_examples(utterances: list[Utterance], model: ASRModel, cache_dir: str,
                     progress: bool = True) -> tuple[list[Example], list[str]]:
    """Encode (via the cache) and label a corpus; every data-parallel rank helps fill the cache."""
    init_distributed()
    corpus = encode_corpus_all_ranks(utterances, model.encoder, cache_dir, progress)
    vocabularies = {name: model.config.vocabulary(name) for name in model.config.vocabularies}
    lexicon = Lexicon() if "phone" in vocabularies else None
    examples, skipped = make_examples(corpus, vocabularies, model.config.chain.stack, lexicon)
    return examples, corpus.errors + skipped


def train_supervised(train_utts: list[Utterance], dev_utts: list[Utterance], out_dir: str | os.PathLike,
                     config: SupervisedConfig, init: ASRModel | None = None,
                     unlabeled_utts: list[Utterance] | None = None) -> dict:
    """Train a chain on labeled speech; OUT/model is the best on the dev set. Returns a summary.

    `unlabeled_utts` (transcripts ignored) feed the masked-unit loss when config.ssl_weight > 0.
    """
    if config.ssl_weight > 0 and not unlabeled_utts:
        raise ValueError("an SSL loss weight needs unlabeled audio (--unlabeled)")
    torch.set_num_threads(config.train.threads)
    out_dir = Path(out_dir)
    model = init if init is not None else new_model(config)

    started = time.perf_counter()
    train_utts = speed_copies(train_utts, config.speed_perturb)
    train_examples, train_problems = prepare_examples(train_utts, model, config.cache_dir, config.train.progress)
    dev_examples, dev_problems = prepare_examples(dev_utts, model, config.cache_dir, config.train.progress)
    unlabeled_examples, unlabeled_problems = [], []
    if config.ssl_weight > 0:
        from training.ssl import unlabeled_unit_examples
        unlabeled_examples, unlabeled_problems = unlabeled_unit_examples(unlabeled_utts, model, config.cache_dir,
                                                                         config.train.progress)
    prepare_seconds = time.perf_counter() - started
    for problem in train_problems + dev_problems + unlabeled_problems:
        log.warning("skipped %s", problem)
    if not train_examples:
        raise ValueError("no usable training utterances")

    if config.ssl_weight > 0:
        from training.ssl import joint_ctc_unit_loss
        loss_fn = joint_ctc_unit_loss(model, config.spec_augment, unlabeled_examples, config.ssl_weight,
                                      config.ssl_batch_frames)
    else:
        loss_fn = hierarchical_ctc_loss(model, config.spec_augment)
    state = train(model, train_examples, dev_examples, loss_fn, greedy_wer, out_dir, config.train)
    summary = {
        "train_utterances": len(train_examples), "dev_utterances": len(dev_examples),
        "unlabeled_utterances": len(unlabeled_examples),
        "skipped": train_problems + dev_problems + unlabeled_problems,
        "prepare_seconds": round(prepare_seconds, 1), "train_seconds": round(state.train_seconds, 1),
        "steps": state.step, "best_step": state.best_step, "dev_wer": state.best_score,
        "distributed_world_size": torch.distributed.get_world_size() if is_distributed() else 1,
        **model.parameter_counts(),
        "config": {**asdict(config), "train": asdict(config.train)},
    }
    return summary
