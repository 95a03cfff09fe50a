"""Whisper's own text decoder, frozen, as a second scorer of closed sets of texts.

The chain scores each voice command by CTC against its posteriors (asr/commands.py). Whisper's
pretrained decoder can score the same command texts against the same audio: one teacher-forced
pass over every command at once, no autoregressive generation, nothing trained. The two scores
add (`CommandConfig.decoder_weight`). The weights are read from the CTranslate2 model.bin the
encoder comes from, and the tokenizer from its tokenizer.json.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from asr.encoder import (CT2_LAYER_PARTS, CT2_LEAVES, CT2FormatError, SelfAttention, WhisperAudioEncoder,
                         default_whisper_dir, feed_forward, read_ct2_variables)

# Whisper's special tokens (English-only models, whose vocabulary ends at 51864).
END_OF_TEXT = "<|endoftext|>"
START_OF_TRANSCRIPT = "<|startoftranscript|>"
NO_TIMESTAMPS = "<|notimestamps|>"
TOKENIZER_FILE = "tokenizer.json"


@dataclass(frozen=True)
class WhisperDecoderConfig:
    n_vocab: int = 51864
    n_ctx: int = 448
    d_model: int = 384
    n_heads: int = 6
    n_layers: int = 4


class CrossAttention(nn.Module):
    """Queries from the text, keys and values from the encoder frames (computed once per clip)."""

    def __init__(self, d_model: int, n_heads: int, device: torch.device | str | None = None):
        super().__init__()
        self.n_heads = n_heads
        self.query = nn.Linear(d_model, d_model, device=device)
        self.key_value = nn.Linear(d_model, 2 * d_model, device=device)  # fused, as CTranslate2 stores it
        self.out = nn.Linear(d_model, d_model, device=device)

    def memory(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, d) encoder frames -> keys, values, each (B, heads, T, d / heads)."""
        batch, time, _ = frames.shape
        kv = self.key_value(frames).view(batch, time, 2, self.n_heads, -1).permute(2, 0, 3, 1, 4)
        return kv[0], kv[1]

    def forward(self, x: torch.Tensor, memory: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        batch, length, d_model = x.shape
        q = self.query(x).view(batch, length, self.n_heads, -1).transpose(1, 2)
        keys, values = memory
        attended = F.scaled_dot_product_attention(q, keys.expand(batch, -1, -1, -1), values.expand(batch, -1, -1, -1))
        return self.out(attended.transpose(1, 2).reshape(batch, length, d_model))


class DecoderBlock(nn.Module):
    def __init__(self, d_model: int, n_heads: int, device: torch.device | str | None = None):
        super().__init__()
        self.attn_ln = nn.LayerNorm(d_model, device=device)
        self.attn = SelfAttention(d_model, n_heads, device, causal=True)
        self.cross_ln = nn.LayerNorm(d_model, device=device)
        self.cross = CrossAttention(d_model, n_heads, device)
        self.mlp_ln = nn.LayerNorm(d_model, device=device)
        self.mlp = feed_forward(d_model, device)

    def forward(self, x: torch.Tensor, memory: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x = x + self.attn(self.attn_ln(x))
        x = x + self.cross(self.cross_ln(x), memory)
        return x + self.mlp(self.mlp_ln(x))


class WhisperDecoder(nn.Module):
    """Whisper's text decoder, teacher-forced: (B, L) token ids + one window's frames -> (B, L, vocab)."""

    def __init__(self, config: WhisperDecoderConfig, device: torch.device | str | None = None):
        super().__init__()
        self.config = config
        # from_pretrained skips the random init: on the meta device, nn.Embedding's normal_ imports
        # torch._dynamo, 1.5-2.4 s of every `asr commands` start.
        self.token_embedding = nn.Embedding.from_pretrained(torch.empty(config.n_vocab, config.d_model, device=device),
                                                            freeze=True)
        self.positional_embedding = nn.Parameter(torch.empty(config.n_ctx, config.d_model, device=device))
        self.blocks = nn.ModuleList(DecoderBlock(config.d_model, config.n_heads, device)
                                    for _ in range(config.n_layers))
        self.ln = nn.LayerNorm(config.d_model, device=device)
        self.projection = nn.Linear(config.d_model, config.n_vocab, bias=False, device=device)

    def memories(self, frames: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Each block's cross-attention keys and values for (1, n_ctx, d) encoder frames."""
        return [block.cross.memory(frames) for block in self.blocks]

    def hidden(self, tokens: torch.Tensor, memories: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """(B, L) token ids -> (B, L, d) final states, before the projection onto the vocabulary."""
        if tokens.shape[1] > self.config.n_ctx:
            raise ValueError(f"{tokens.shape[1]} tokens is over the {self.config.n_ctx} this decoder reads")
        x = self.token_embedding(tokens) + self.positional_embedding[: tokens.shape[1]]
        for block, memory in zip(self.blocks, memories):
            x = block(x, memory)
        return self.ln(x)

    def forward(self, tokens: torch.Tensor, memories: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        return self.projection(self.hidden(tokens, memories))


# The decoder's layers hold the encoder's parts (CT2_LAYER_PARTS) and a cross-attention.
_DECODER_PARTS = {
    **CT2_LAYER_PARTS,
    "attention/layer_norm": "cross_ln",
    "attention/linear_0": "cross.query",
    "attention/linear_1": "cross.key_value",
    "attention/linear_2": "cross.out",
}


def ct2_decoder_name(name: str) -> str | None:
    """CT2 decoder variable name -> WhisperDecoder state_dict key (None: not a parameter)."""
    path = name.removeprefix("decoder/")
    fixed = {"embeddings/weight": "token_embedding.weight", "position_encodings/encodings": "positional_embedding",
             "projection/weight": "projection.weight", "layer_norm/gamma": "ln.weight", "layer_norm/beta": "ln.bias"}
    if path in fixed:
        return fixed[path]
    scope, _, leaf = path.rpartition("/")
    layer, _, part = scope.partition("/")
    if leaf in CT2_LEAVES and layer.startswith("layer_") and part in _DECODER_PARTS:
        return f"blocks.{layer.removeprefix('layer_')}.{_DECODER_PARTS[part]}.{CT2_LEAVES[leaf]}"
    return None


def load_whisper_decoder_ct2(model_dir: str | os.PathLike) -> WhisperDecoder:
    """Whisper's decoder, in fp32, from a CTranslate2 Whisper model directory."""
    spec, variables = read_ct2_variables(os.path.join(model_dir, "model.bin"), prefix="decoder/")
    if spec != "WhisperSpec":
        raise CT2FormatError(f"{model_dir}: a {spec or 'unnamed'} model, not a CTranslate2 Whisper model")
    if any(name.endswith("_scale") for name in variables):
        raise CT2FormatError(f"{model_dir}: int8-quantized weights are not supported")
    state = {key: value.float() for name, value in variables.items() if (key := ct2_decoder_name(name))}
    n_vocab, d_model = state["token_embedding.weight"].shape
    layers = {key.split(".")[1] for key in state if key.startswith("blocks.")}
    config = WhisperDecoderConfig(n_vocab=n_vocab, n_ctx=state["positional_embedding"].shape[0], d_model=d_model,
                                  n_heads=int(variables["decoder/num_heads"]), n_layers=len(layers))
    decoder = WhisperDecoder(config, device="meta")
    decoder.load_state_dict(state, strict=True, assign=True)
    return decoder.eval().requires_grad_(False)


# Number words a command may hold, as Whisper often writes them in figures ("Five" -> "5").
NUMBER_WORDS = ["ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE", "TEN",
                "ELEVEN", "TWELVE", "THIRTEEN", "FOURTEEN", "FIFTEEN", "SIXTEEN", "SEVENTEEN", "EIGHTEEN",
                "NINETEEN", "TWENTY"]
FIGURES = {word: str(value) for value, word in enumerate(NUMBER_WORDS)}


def written_forms(text: str) -> list[str]:
    """The ways Whisper may write a normalized phrase: sentence case or lower case, with number
    words in figures or not, each with and without a full stop, after the leading space Whisper
    puts before its first word ("FIVE" -> " Five.", " Five", " five.", " five", " 5.", " 5")."""
    words = text.lower().split()
    if not words:
        return []
    spellings = [words]
    if any(w.upper() in FIGURES for w in words):
        spellings.append([FIGURES.get(w.upper(), w) for w in words])
    forms = []
    for spelling in spellings:
        lower = " ".join("I" if w == "i" else w for w in spelling)
        for cased in dict.fromkeys([lower[0].upper() + lower[1:], lower]):
            forms += [f" {cased}.", f" {cased}"]
    return list(dict.fromkeys(forms))


def short_window_frames(encoder: nn.Module, audio: torch.Tensor, padding_seconds: float) -> torch.Tensor:
    """Whisper encoder frames of a clip followed by `padding_seconds` of silence, not a whole 30-s
    window: for sub-second commands the text decoder scores better so, and it costs a fraction
    (benchmarks/RESULTS.md, "Whisper's decoder as a second scorer"). (T, d) out; clips longer than
    a window are cut to it."""
    if not isinstance(encoder, WhisperAudioEncoder):
        raise TypeError(f"the Whisper decoder needs a Whisper encoder, not {type(encoder).__name__}")
    window = encoder.cut_window(audio.float()[None], round(padding_seconds * encoder.sample_rate))
    with torch.inference_mode():
        return encoder.encode_window(window)[0]


class WhisperTextScorer:
    """log P(text | audio) under Whisper's decoder, teacher-forced: a text's tokens and the end
    token after the English-only prompt (start of transcript, no timestamps)."""

    def __init__(self, model_dir: str | os.PathLike | None = None):
        from tokenizers import Tokenizer

        model_dir = model_dir or default_whisper_dir()
        self.decoder = load_whisper_decoder_ct2(model_dir)
        self.tokenizer = Tokenizer.from_file(os.path.join(model_dir, TOKENIZER_FILE))
        self.prompt = [self.special(START_OF_TRANSCRIPT), self.special(NO_TIMESTAMPS)]
        self.end = self.special(END_OF_TEXT)

    def special(self, token: str) -> int:
        """The id of a special token such as <|endoftext|>."""
        index = self.tokenizer.token_to_id(token)
        if index is None:
            raise CT2FormatError(f"the Whisper tokenizer has no {token}")
        return index

    def tokens(self, text: str) -> list[int]:
        """Prompt, text tokens, end token."""
        return self.prompt + self.tokenizer.encode(text, add_special_tokens=False).ids + [self.end]

    def score(self, frames: torch.Tensor, texts: list[str]) -> torch.Tensor:
        """(len(texts),) summed log-probabilities of each text as written (see `tokens`) given
        (T, d) encoder frames."""
        return self.score_tokens(frames, [self.tokens(text) for text in texts])

    @torch.inference_mode()
    def score_tokens(self, frames: torch.Tensor, sequences: list[list[int]]) -> torch.Tensor:
        """(len(sequences),) summed log-probabilities of each token sequence after its prompt.

        Each distinct prefix's next-token distribution is computed once. Teacher-forced and causal,
        the decoder's state after a prefix does not depend on what follows it, so only inputs (a
        sequence less its last token) that are not the prefix of another input run (" Five", end
        is read off " Five", ".", end), and only the states after distinct scored prefixes go
        through the vocabulary projection (every sequence's prompt is one): that projection is
        most of the decoder's work."""
        unique = sorted({tuple(s[:-1]) for s in sequences})
        # Sorted, an input that is the prefix of any other is the prefix of the one after it.
        runs = [s for s, after in zip(unique, unique[1:] + [()]) if after[:len(s)] != s]
        first_scored = len(self.prompt) - 1
        where: dict[tuple[int, ...], int] = {}  # scored prefix -> its row in `states`
        rows, columns = [], []
        for row, run in enumerate(runs):
            for column in range(first_scored, len(run)):
                if where.setdefault(run[:column + 1], len(rows)) == len(rows):
                    rows.append(row)
                    columns.append(column)
        width = max(map(len, runs))
        tokens = torch.tensor([list(s) + [self.end] * (width - len(s)) for s in runs])
        states = self.decoder.hidden(tokens, self.decoder.memories(frames[None]))[rows, columns]
        log_probs = self.decoder.projection(states).log_softmax(-1)
        picks = [(index, where[s[:t + 1]], s[t + 1]) for index, s in enumerate(map(tuple, sequences))
                 for t in range(first_scored, len(s) - 1)]
        owner, prefix, token = torch.tensor(picks).T
        return torch.zeros(len(sequences)).index_add(0, owner, log_probs[prefix, token])

    def score_phrases(self, frames: torch.Tensor, phrases: list[str]) -> torch.Tensor:
        """(len(phrases),) log of the summed probability of each normalized phrase's written forms."""
        forms = [written_forms(phrase) for phrase in phrases]
        scores = self.score(frames, [form for group in forms for form in group])
        return torch.stack([part.logsumexp(0) for part in scores.split([len(g) for g in forms])])
