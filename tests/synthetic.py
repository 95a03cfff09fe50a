"""A learnable toy task for the chain: each character is a fixed random frame pattern."""
from __future__ import annotations

import random

import torch

from asr.chain import ChainConfig, LinkConfig
from asr.model import ASRModel, ModelConfig
from asr.text import CHARACTERS
from training.data import Example

DIM = 16
WORDS = ["ab", "cab", "bad", "dab", "abc", "cd", "dc", "bead", "face", "fade"]


class TinyEncoder(torch.nn.Module):
    name = "tiny"
    sample_rate = 16_000
    frame_rate = 50.0
    dim = DIM
    window_samples = None

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(10, 10), requires_grad=False)


def tiny_model(links: tuple[str, ...] = ("phone", "char"), seed: int = 0, phones: list[str] | None = None) -> ASRModel:
    """A small chain; a "unit" link (12 units, masked prediction) may sit at the bottom. `phones`:
    the phone link's tokens, blank first (default: four toy phones)."""
    torch.manual_seed(seed)
    phones = phones or ["<b>", "p1", "p2", "p3", "p4"]
    vocab_sizes = {"unit": 12, "phone": len(phones), "char": len(CHARACTERS)}
    chain = ChainConfig(input_dim=DIM, d_model=32, heads=2, ff_dim=64, conv_kernel=3, dropout=0.1,
                        links=[LinkConfig(name, vocab_sizes[name], layers=1, objective="units" if name == "unit"
                                          else "ctc") for name in links],
                        mask_embedding="unit" in links)
    vocabularies = {"char": list(CHARACTERS.tokens), "phone": phones}
    config = ModelConfig(encoder="tiny", chain=chain, vocabularies={k: vocabularies[k] for k in links if k != "unit"},
                         output=links[-1])
    return ASRModel(config, TinyEncoder())


def synthetic_examples(n: int, seed: int) -> list[Example]:
    """Sentences of 1-2 words; 6 frames per character, 4 silent frames between words."""
    patterns = torch.randn(len(CHARACTERS), DIM, generator=torch.Generator().manual_seed(123))
    rng = random.Random(seed)
    noise = torch.Generator().manual_seed(seed)
    examples = []
    for i in range(n):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 2)))
        frames = []
        for char in text:
            count = 4 if char == " " else 6
            base = torch.zeros(DIM) if char == " " else patterns[CHARACTERS.encode(char)[0]]
            frames.append(base.expand(count, DIM))
        frames = torch.cat(frames) + 0.1 * torch.randn(sum(f.shape[0] for f in frames), DIM, generator=noise)
        char_ids = CHARACTERS.encode(text)
        phone_ids = [1 + (c % 4) for c in char_ids if c != 1]  # a coarser "phoneme" per letter
        examples.append(Example(f"syn{seed}-{i}", frames.half(),
                                {"char": torch.tensor(char_ids), "phone": torch.tensor(phone_ids)}, text))
    return examples
