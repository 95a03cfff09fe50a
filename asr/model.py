"""The whole recognizer: a frozen pretrained encoder and a trainable chain, saved as a folder.

A model folder holds `config.json` (this module's `ModelConfig`) and `model.safetensors` (the
chain's weights; the frozen encoder is not copied, `config.encoder` names where it comes from).
Folders are written atomically: built beside the target, then renamed into place.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from asr.chain import Chain, ChainConfig, LinkConfig, count_parameters, init_chain, pad_sequences
from asr.text import CHARACTERS, Vocabulary

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
CODEBOOK_FILE = "codebook.safetensors"  # SSL models: the k-means units their unit link predicts
DEFAULT_MODEL = "default"  # the general English model shipped in the package (asr/models/default)


def model_dir(name: str | os.PathLike) -> Path:
    """A model folder: a path, or `default` for the shipped general English model."""
    if str(name) == DEFAULT_MODEL and not Path(name).exists():
        return Path(__file__).resolve().parent / "models" / DEFAULT_MODEL
    return Path(name)
# 2 (2026-11-30): voice-command scores are per label of the command, at most 5 (asr/commands.py).
# A format-1 model's command thresholds, and a format-1 command model's, were fitted on older
# scores: per token, or (that day, for a few hours) per label of the whole command.
FORMAT_VERSION = 2
PER_LABEL_COMMAND_SCORES = 2


@dataclass
class ModelConfig:
    encoder: str  # what asr.encoder.load_encoder takes: "whisper-tiny.en", an HF id or a path
    chain: ChainConfig
    vocabularies: dict[str, list[str]] = field(default_factory=dict)  # CTC link name -> tokens
    output: str = "char"  # the link whose posteriors are decoded to text
    # Zero-shot "none" threshold for voice commands with this model, per label, fitted on
    # out-of-grammar speech (asr.commands.fit_zero_shot_threshold); None: asr.commands' default.
    command_threshold: float | None = None
    # The same with Whisper's decoder's scores added at this weight (asr/commands.py), or None.
    command_decoder_weight: float | None = None
    command_decoder_threshold: float | None = None
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict:
        data = asdict(self)
        data["chain"] = self.chain.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict, source: str = "model") -> "ModelConfig":
        """The config as saved; read into the current format (`source` names it in messages)."""
        data = dict(data)
        version = data.get("format_version", FORMAT_VERSION)
        if version > FORMAT_VERSION:
            raise ValueError(f"{source}: model format {version} is newer than this toolkit reads")
        if version < PER_LABEL_COMMAND_SCORES and has_command_thresholds(data):
            warnings.warn(f"{source}: its voice-command thresholds were fitted on older command scores (model "
                          f"format {version}), so they reject more or less than fitted: refit them "
                          f"(asr/commands.py, fit_zero_shot_threshold)", stacklevel=2)
        data["chain"] = ChainConfig.from_dict(data["chain"])
        data["format_version"] = FORMAT_VERSION
        return cls(**data)

    def vocabulary(self, link: str) -> Vocabulary:
        tokens = self.vocabularies[link]
        return Vocabulary(tuple(tokens), separator=" " if link == "phone" else "")


def has_command_thresholds(config: dict) -> bool:
    return config.get("command_threshold") is not None or config.get("command_decoder_threshold") is not None


def default_vocabularies() -> dict[str, Vocabulary]:
    from asr.lexicon import PHONEMES
    return {"phone": PHONEMES, "char": CHARACTERS}


def build_config(encoder_name: str, encoder_dim: int, links: list[str], d_model: int = 256,
                 layers_per_link: int = 2, phone_weight: float = 0.3, **chain_options) -> ModelConfig:
    """A fresh chain for the named links, bottom-up, e.g. ["phone", "char"]."""
    vocabularies = default_vocabularies()
    link_configs = []
    for name in links:
        if name == "unit":
            raise ValueError("the unit link comes from an SSL model (asr ssl), not from scratch")
        weight = phone_weight if name == "phone" else 1.0
        link_configs.append(LinkConfig(name, len(vocabularies[name]), layers_per_link, "ctc", weight))
    chain = ChainConfig(input_dim=encoder_dim, links=link_configs, d_model=d_model,
                        ff_dim=4 * d_model, **chain_options)
    return ModelConfig(encoder=encoder_name, chain=chain,
                       vocabularies={name: list(vocabularies[name].tokens) for name in links},
                       output=links[-1])


def config_on_ssl(ssl: ModelConfig, links: list[str], layers_per_link: int = 2,
                  phone_weight: float = 0.3) -> ModelConfig:
    """Supervised links (e.g. ["unit", "phone", "char"]) on top of a self-supervised unit link.

    The input block, width and unit link come from the SSL model; the links above are new.
    """
    if links[0] != "unit" or "unit" in links[1:]:
        raise ValueError(f"a chain on an SSL model starts with its unit link: got {','.join(links)}")
    unit_link = next(link for link in ssl.chain.links if link.name == "unit")
    vocabularies = default_vocabularies()
    chain = ChainConfig.from_dict(ssl.chain.to_dict())
    chain.links = [LinkConfig(**asdict(unit_link))]
    for name in links[1:]:
        weight = phone_weight if name == "phone" else 1.0
        chain.links.append(LinkConfig(name, len(vocabularies[name]), layers_per_link, "ctc", weight))
    return ModelConfig(encoder=ssl.encoder, chain=chain,
                       vocabularies={name: list(vocabularies[name].tokens) for name in links[1:]},
                       output=links[-1])


class ASRModel(nn.Module):
    def __init__(self, config: ModelConfig, encoder: nn.Module | None = None):
        super().__init__()
        self.config = config
        self.chain = init_chain(Chain(config.chain))
        self.codebook: dict[str, torch.Tensor] | None = None  # SSL unit codebook, saved alongside
        self.saved_format_version = config.format_version  # as read from disk, by load
        self._encoder = [encoder]  # a list keeps the frozen encoder out of state_dict/parameters

    @property
    def encoder(self) -> nn.Module:
        if self._encoder[0] is None:
            from asr.encoder import load_encoder
            self._encoder[0] = load_encoder(self.config.encoder)
        return self._encoder[0]

    @property
    def output_vocabulary(self) -> Vocabulary:
        return self.config.vocabulary(self.config.output)

    @torch.inference_mode()
    def posteriors(self, frames: list[torch.Tensor], link: str | None = None,
                   max_batch_frames: int = 20_000) -> list[torch.Tensor]:
        """Log-posteriors (T', V) of one link (default: the output link) for each frame sequence.

        Sequences are batched by length so padding stays small; results come back in input order.
        """
        link = link or self.config.output
        self.chain.eval()
        order = sorted(range(len(frames)), key=lambda i: frames[i].shape[0])
        results: list[torch.Tensor] = [torch.empty(0)] * len(frames)
        start = 0
        while start < len(order):
            end = start + 1
            while end < len(order) and frames[order[end]].shape[0] * (end - start + 1) <= max_batch_frames:
                end += 1
            chunk = order[start:end]
            padded, lengths = pad_sequences([frames[i].float() for i in chunk])
            logits, out_lengths = self.chain(padded, lengths)
            log_probs = logits[link].float().log_softmax(-1)
            for row, index in enumerate(chunk):
                results[index] = log_probs[row, :out_lengths[row]]
            start = end
        return results

    def parameter_counts(self) -> dict[str, int]:
        trainable = count_parameters(self.chain, trainable_only=True)
        total = trainable + count_parameters(self.encoder)
        return {"trainable_params": trainable, "total_params": total,
                "trainable_share": round(trainable / total, 4)}

    def save(self, path: str | os.PathLike, extra_json: dict[str, dict] | None = None,
             extra_tensors: dict[str, dict[str, torch.Tensor]] | None = None) -> None:
        """Write the model folder; `extra_json` and `extra_tensors` (safetensors) add files
        (name -> content) in the same swap."""
        config = self.config.to_dict()
        weights = {k: v.detach().contiguous().cpu() for k, v in self.chain.state_dict().items()}
        writers = {
            CONFIG_FILE: lambda p: write_json(p, config),
            WEIGHTS_FILE: lambda p: save_file(weights, p, metadata={"format": "pt"}),
        }
        if self.codebook is not None:
            codebook = {k: v.contiguous() for k, v in self.codebook.items()}
            writers[CODEBOOK_FILE] = lambda p: save_file(codebook, p)
        for name, content in (extra_json or {}).items():
            writers[name] = lambda p, content=content: write_json(p, content)
        for name, tensors in (extra_tensors or {}).items():
            tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
            writers[name] = lambda p, tensors=tensors: save_file(tensors, p)
        write_dir_atomically(path, writers)

    @classmethod
    def load(cls, path: str | os.PathLike, encoder: nn.Module | None = None) -> "ASRModel":
        path = model_dir(path)
        if not (path / CONFIG_FILE).exists():
            raise FileNotFoundError(f"{path}: not a model folder (no {CONFIG_FILE})")
        saved = json.loads((path / CONFIG_FILE).read_text())
        config = ModelConfig.from_dict(saved, source=str(path))
        model = cls(config, encoder)
        # from_dict brings config up to the current format; the scores a model was fitted on are the saved one's
        model.saved_format_version = int(saved.get("format_version", FORMAT_VERSION))
        model.chain.load_state_dict(load_file(str(path / WEIGHTS_FILE)))
        if (path / CODEBOOK_FILE).exists():
            model.codebook = load_file(str(path / CODEBOOK_FILE))
        return model.eval()

    def load_ssl_weights(self, ssl: "ASRModel") -> None:
        """Copy an SSL model's input block and unit link (and its codebook) into this chain.

        Everything the SSL model has must fit; what it lacks (the links above, and the unit
        link's projection that conditions them) keeps its fresh initialisation.
        """
        weights = ssl.chain.state_dict()
        result = self.chain.load_state_dict(weights, strict=False)
        if result.unexpected_keys:
            raise ValueError(f"SSL weights do not fit this chain: {result.unexpected_keys[:5]}")
        self.codebook = ssl.codebook


def write_dir_atomically(path: str | os.PathLike, writers: dict[str, Callable[[str], None]]) -> None:
    """Write each file into a fresh sibling folder, then swap it in for `path`.

    A kill at any moment leaves either the old folder or the new one, never a mix.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        for name, write in writers.items():
            write(str(staging / name))
        share_like_mkdir(staging)
        if path.exists():
            retired = path.with_name(f".{path.name}.old")
            shutil.rmtree(retired, ignore_errors=True)
            os.replace(path, retired)
            os.replace(staging, path)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def share_like_mkdir(folder: Path) -> None:
    """Give a staged folder and its files the modes mkdir and open would (umask applied):
    mkdtemp makes the folder 0700 and safetensors writes 0600, too private for a model folder."""
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    for file in folder.iterdir():
        file.chmod(0o666 & ~umask)


def write_json_atomically(path: str | os.PathLike, data: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    write_json(str(tmp), data)
    os.replace(tmp, path)


def write_json(path: str, data: dict) -> None:
    """Plain, durable JSON write: for files inside a folder that write_dir_atomically swaps in."""
    with open(path, "w", encoding="utf-8") as out:
        json.dump(data, out, indent=2)
        out.write("\n")
        out.flush()
        os.fsync(out.fileno())
