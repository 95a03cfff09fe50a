"""The chain: small trainable links on frozen encoder frames, each denser than the one below.

    encoder frames -> stack pairs -> [unit link] -> phoneme link -> character link
                                       |  posteriors ^  |  posteriors ^  |
                                       +-------------+  +-------------+  +-> CTC -> text

Each link is a few transformer layers with its own output layer. Its posteriors are projected
back to the model width and added to the hidden stream that the next link reads (self-conditioned
CTC; Nozaki & Komatsu 2021, hierarchical conditioning as in Higuchi et al. 2022), so the character
link reads what the phoneme link believes. Links are named bottom-up in `ChainConfig.links`;
a link's `objective` says how it is trained ("ctc" on labels, "units" on masked SSL targets).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class LinkConfig:
    name: str  # "unit", "phone" or "char"
    vocab_size: int  # output symbols, blank included for CTC links
    layers: int = 2
    objective: str = "ctc"  # "ctc" or "units"
    loss_weight: float = 1.0


@dataclass
class ChainConfig:
    input_dim: int  # encoder width
    links: list[LinkConfig] = field(default_factory=list)
    stack: int = 2  # encoder frames stacked into one chain frame (50 Hz -> 25 Hz)
    d_model: int = 256
    heads: int = 4
    ff_dim: int = 1024
    conv_kernel: int = 15  # depthwise convolution before the links: local order and position
    dropout: float = 0.1
    condition: bool = True  # feed each link's posteriors to the next (self-conditioning)
    mask_embedding: bool = False  # a learned vector that replaces masked frames (SSL, HuBERT-style)

    @classmethod
    def from_dict(cls, data: dict) -> "ChainConfig":
        data = dict(data)
        data["links"] = [LinkConfig(**link) for link in data.get("links", [])]
        return cls(**data)

    def to_dict(self) -> dict:
        return asdict(self)


def stack_frames(frames: torch.Tensor, lengths: torch.Tensor, stack: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T, D) -> (B, ceil(T/stack), stack*D): halves the sequence the links attend over."""
    if stack == 1:
        return frames, lengths
    batch, time, dim = frames.shape
    pad = (-time) % stack
    if pad:
        frames = F.pad(frames, (0, 0, 0, pad))
    stacked = frames.reshape(batch, (time + pad) // stack, stack * dim)
    return stacked, torch.div(lengths + stack - 1, stack, rounding_mode="floor")


def pad_sequences(sequences: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """List of (T_i, D) -> zero-padded float (B, max T, D) and lengths (B,)."""
    lengths = torch.tensor([s.shape[0] for s in sequences])
    padded = torch.zeros(len(sequences), int(lengths.max()), sequences[0].shape[1])
    for row, sequence in enumerate(sequences):
        padded[row, :sequence.shape[0]] = sequence
    return padded, lengths


def padding_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """True where a frame is padding."""
    return torch.arange(max_len, device=lengths.device)[None, :] >= lengths[:, None]


class InputBlock(nn.Module):
    """Stacked encoder frames -> model width, plus a depthwise convolution for local context."""

    def __init__(self, config: ChainConfig):
        super().__init__()
        self.norm = nn.LayerNorm(config.input_dim * config.stack)
        self.project = nn.Linear(config.input_dim * config.stack, config.d_model)
        self.conv = nn.Conv1d(config.d_model, config.d_model, config.conv_kernel,
                              padding=config.conv_kernel // 2, groups=config.d_model)
        self.dropout = nn.Dropout(config.dropout)
        self.mask_embedding = nn.Parameter(torch.zeros(config.d_model)) if config.mask_embedding else None
        if self.mask_embedding is not None:
            nn.init.normal_(self.mask_embedding, std=0.1)

    def forward(self, stacked: torch.Tensor, pad: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        hidden = self.project(self.norm(stacked))
        if mask is not None:  # (B, T') True where the frame is hidden from the chain
            hidden = torch.where(mask[..., None], self.mask_embedding.to(hidden.dtype), hidden)
        hidden = hidden.masked_fill(pad[..., None], 0.0)
        hidden = hidden + F.gelu(self.conv(hidden.transpose(1, 2))).transpose(1, 2)
        return self.dropout(hidden)


class Link(nn.Module):
    """Transformer layers and an output layer; optionally returns its posteriors to the stream."""

    def __init__(self, link: LinkConfig, config: ChainConfig, conditions_next: bool):
        super().__init__()
        self.name = link.name
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(config.d_model, config.heads, config.ff_dim, config.dropout,
                                       activation="gelu", batch_first=True, norm_first=True)
            for _ in range(link.layers))
        self.norm = nn.LayerNorm(config.d_model)
        self.output = nn.Linear(config.d_model, link.vocab_size)
        self.condition = nn.Linear(link.vocab_size, config.d_model) if conditions_next else None

    def forward(self, hidden: torch.Tensor, pad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> (stream for the next link, logits, this link's own hidden state)."""
        for layer in self.layers:
            hidden = layer(hidden, src_key_padding_mask=pad)
        own = hidden
        logits = self.output(self.norm(hidden))
        if self.condition is not None:
            hidden = hidden + self.condition(logits.float().softmax(-1).to(hidden.dtype))
        return hidden, logits, own


class Chain(nn.Module):
    def __init__(self, config: ChainConfig):
        super().__init__()
        self.config = config
        self.input = InputBlock(config)
        last = len(config.links) - 1
        self.links = nn.ModuleList(
            Link(link, config, conditions_next=config.condition and i < last)
            for i, link in enumerate(config.links))

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor,
                mask: torch.Tensor | None = None) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Encoder frames (B, T, D) -> logits per link name (B, T', V), and lengths T'.

        `mask` (B, T'), in chain frames, hides those frames behind the mask embedding (SSL).
        """
        logits, _, out_lengths = self._run(frames, lengths, mask)
        return logits, out_lengths

    def hidden_states(self, frames: torch.Tensor, lengths: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """The hidden stream after each link (before its posteriors are added): what SSL re-clusters."""
        _, hidden, out_lengths = self._run(frames, lengths, None)
        return hidden, out_lengths

    def _run(self, frames, lengths, mask):
        stacked, out_lengths = stack_frames(frames, lengths, self.config.stack)
        pad = padding_mask(out_lengths, stacked.shape[1])
        hidden = self.input(stacked, pad, mask)
        logits, states = {}, {}
        for link in self.links:
            hidden, logits[link.name], states[link.name] = link(hidden, pad)
        return logits, states, out_lengths

    def link_names(self) -> list[str]:
        return [link.name for link in self.config.links]


def ctc_losses(logits: dict[str, torch.Tensor], lengths: torch.Tensor,
               targets: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Mean-per-target-token CTC loss of each link that has targets: {name: (flat targets, lengths)}."""
    losses = {}
    for name, (flat, target_lengths) in targets.items():
        log_probs = logits[name].float().log_softmax(-1).transpose(0, 1)  # (T, B, V)
        loss = F.ctc_loss(log_probs, flat, lengths, target_lengths, blank=0,
                          reduction="sum", zero_infinity=True)
        losses[name] = loss / target_lengths.sum().clamp(min=1)
    return losses


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def init_chain(chain: Chain) -> Chain:
    """Scaled init for the output layers: start near-uniform posteriors, so CTC starts stable."""
    for link in chain.links:
        nn.init.normal_(link.output.weight, std=1.0 / math.sqrt(link.output.in_features) * 0.1)
        nn.init.zeros_(link.output.bias)
    return chain
