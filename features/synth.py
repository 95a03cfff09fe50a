"""Speech synthesis with espeak-ng, for demos and tests that need speech no one has to download.

The `espeakng-loader` wheel ships libespeak-ng and its data; this drives the library's C API
(speak_lib.h) through ctypes in synchronous mode: the synthesis callback collects 16-bit samples
at the library's rate (22050 Hz), which are resampled to 16 kHz.

A `Voice` is a language voice ("en-us", "en", "en-gb-scotland", ...), a variant (espeak-ng's
"!v" folder: "m1".."m7", "f1".."f5", "klatt", "croak", ...), a rate (words a minute), a pitch and
a pitch range (0-100). libespeak-ng keeps global state, so calls are serialized by a lock.
"""
from __future__ import annotations

import ctypes
import os
import random
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from features.audio import SAMPLE_RATE, resample
from features.manifest import Utterance

# speak_lib.h
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_ESPEAK_CHARS_AUTO = 0
_RATE, _PITCH, _RANGE = 1, 3, 4  # espeak_PARAMETER
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class SynthesisError(RuntimeError):
    pass


@dataclass(frozen=True)
class Voice:
    language: str = "en-us"
    variant: str = ""  # "" for the language voice as it is
    rate: int = 160  # words a minute (espeak-ng: 80-450)
    pitch: int = 50  # 0-100
    pitch_range: int = 50  # 0-100, intonation

    @property
    def name(self) -> str:
        return f"{self.language}+{self.variant}" if self.variant else self.language

    def label(self) -> str:
        return f"{self.name}-r{self.rate}-p{self.pitch}"


# Voices that speak command texts where no one has recorded them (asr.commands.synthesized_examples):
# accents, voice variants, rates and pitches apart. The synthesized demo's test voices
# (recipes/commands/demo.py) use none of these variants, so it never tests on an enrolled voice.
COMMAND_VOICES = [
    Voice("en-us", "m1", rate=150, pitch=45),
    Voice("en", "f2", rate=170, pitch=65),
    Voice("en-gb-scotland", "m3", rate=140, pitch=35),
    Voice("en-us", "f3", rate=150, pitch=60),
    Voice("en", "m6", rate=165, pitch=40),
    Voice("en-us", "klatt2", rate=185, pitch=50),
    Voice("en-gb-scotland", "f2", rate=140, pitch=75),
    Voice("en-us", "m3", rate=175, pitch=35),
]


# What `random_voice` draws from, for sentences synthesized as training speech: accents (American
# English listed twice, so drawn twice as often), every voice variant, rates and pitches.
SENTENCE_LANGUAGES = ("en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us")
SENTENCE_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
                     "klatt", "klatt2", "klatt3", "")


def random_voice(rng: random.Random) -> Voice:
    return Voice(rng.choice(SENTENCE_LANGUAGES), rng.choice(SENTENCE_VARIANTS), rate=rng.randint(130, 200),
                 pitch=rng.randint(25, 80), pitch_range=rng.randint(30, 80))


def synthesize_corpus(texts: list[str], folder: str | os.PathLike, rng: random.Random,
                      prefix: str = "tts") -> list[Utterance]:
    """Each text spoken (lowercased) by its own `random_voice`, as FLAC files in `folder`
    (`<prefix>_<index>.flac`, each written under a temporary name and then renamed, so a file
    that exists is whole); returns the utterances, text uppercased, speaker = the voice.
    Files already there are kept, not spoken again; their voices are still drawn, so a rerun
    with the same seed gives the same texts and voices. (The audio is not bit-exact across runs:
    espeak-ng's f2, f3 and f5 variants add breath noise drawn at random.)"""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    utterances = []
    for index, text in enumerate(texts):
        voice = random_voice(rng)
        path = folder / f"{prefix}_{index:05d}.flac"
        if not path.exists():
            audio = synthesize(text.lower(), voice)
            partial = path.with_name(path.stem + ".part.flac")
            sf.write(partial, audio, SAMPLE_RATE)
            os.replace(partial, path)
        utterances.append(Utterance(path.stem, str(path.resolve()), text.upper(), voice.label()))
    return utterances


def available() -> str | None:
    """None when espeak-ng can be used here, else why not (one line)."""
    try:
        _Engine.get()
    except SynthesisError as error:
        return str(error)
    return None


class _Engine:
    _instance: "_Engine | None" = None
    _lock = threading.Lock()

    def __init__(self):
        try:
            import espeakng_loader
        except ImportError as error:
            raise SynthesisError("espeak-ng not available: pip install espeakng-loader") from error
        try:
            lib = ctypes.CDLL(espeakng_loader.get_library_path())
            data = espeakng_loader.get_data_path()
        except (OSError, RuntimeError) as error:
            raise SynthesisError(f"espeak-ng library unusable: {error}") from error
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_Synth.restype = ctypes.c_int
        self.rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data.encode(), 0)
        if self.rate <= 0:
            raise SynthesisError(f"espeak-ng failed to initialize with data at {data}")
        self.lib = lib
        self.chunks: list[np.ndarray] = []

        def collect(wav, count, events):  # called from inside espeak_Synth, same thread
            if count > 0 and wav:
                self.chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
            return 0

        self.callback = _CALLBACK(collect)  # kept referenced: the library holds only the pointer
        lib.espeak_SetSynthCallback(self.callback)

    @classmethod
    def get(cls) -> "_Engine":
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def synthesize(self, text: str, voice: Voice) -> np.ndarray:
        with self._lock:
            if self.lib.espeak_SetVoiceByName(voice.name.encode()) != 0:
                raise SynthesisError(f"espeak-ng has no voice {voice.name!r}")
            for parameter, value in ((_RATE, voice.rate), (_PITCH, voice.pitch), (_RANGE, voice.pitch_range)):
                self.lib.espeak_SetParameter(parameter, int(value), 0)
            self.chunks = []
            encoded = text.encode("utf-8") + b"\0"
            buffer = ctypes.create_string_buffer(encoded, len(encoded))
            status = self.lib.espeak_Synth(ctypes.cast(buffer, ctypes.c_void_p), len(encoded), 0,
                                           _POS_CHARACTER, 0, _ESPEAK_CHARS_AUTO, None, None)
            if status != 0:
                raise SynthesisError(f"espeak-ng failed on {text!r} (status {status})")
            pcm = np.concatenate(self.chunks) if self.chunks else np.zeros(0, dtype=np.int16)
            self.chunks = []
        return pcm


def synthesize(text: str, voice: Voice = Voice()) -> np.ndarray:
    """Mono float32 samples at 16 kHz, in [-1, 1)."""
    engine = _Engine.get()
    pcm = engine.synthesize(text, voice)
    if pcm.size == 0:
        raise SynthesisError(f"espeak-ng produced no audio for {text!r} with {voice.name}")
    audio = pcm.astype(np.float32) / 32768.0
    return resample(audio, engine.rate, SAMPLE_RATE).astype(np.float32)
