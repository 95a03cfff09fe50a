"""One 30-s Whisper tiny.en window on one thread: our fp32 encoder, bf16 autocast, and
CTranslate2's encoder at several compute types, with each one's relative difference from ours.

    python benchmarks/probes_s31/encoder_runtimes.py
"""
import time

import ctranslate2
import numpy as np
import torch

from asr.encoder import WhisperAudioEncoder, default_whisper_dir
from features.frontend import log_mel_spectrogram


def best_of(fn, rounds: int = 3):
    fn()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def main() -> None:
    torch.set_num_threads(1)
    encoder = WhisperAudioEncoder.from_ct2()
    audio = torch.zeros(1, encoder.window_samples)
    audio[0, :48_000] = torch.randn(48_000, generator=torch.Generator().manual_seed(0)) * 0.1
    mel = log_mel_spectrogram(audio, 80, encoder.mel_filters)
    with torch.inference_mode():
        seconds, ours = best_of(lambda: encoder.encoder(mel))
        print(f"ours fp32: {seconds:.3f} s")
        with torch.autocast("cpu", dtype=torch.bfloat16):
            seconds, bf16 = best_of(lambda: encoder.encoder(mel))
        print(f"ours bf16 autocast: {seconds:.3f} s, relative difference {(bf16.float() - ours).norm() / ours.norm():.4f}")
    for compute_type in ("float32", "int8", "int8_float32"):
        model = ctranslate2.models.Whisper(default_whisper_dir(), device="cpu", compute_type=compute_type,
                                           intra_threads=1, inter_threads=1)
        features = ctranslate2.StorageView.from_array(mel.numpy())
        seconds, out = best_of(lambda: model.encode(features))
        theirs = torch.from_numpy(np.array(out)).float()
        print(f"CTranslate2 {compute_type}: {seconds:.3f} s, relative difference {(theirs - ours).norm() / ours.norm():.4f}")


if __name__ == "__main__":
    main()
