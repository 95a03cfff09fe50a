"""Choose the voice-command decoder weight and padding on recordings no benchmark scores.

Zero-shot, default model: 300 FSDD recordings of the enrollment speakers (george, jackson) as
the commands, 150 AN4 train utterances and 150 speechocean762 train sentences (not the ones the
shipped thresholds are fitted on) as out-of-grammar speech. For each padding of the decoder's window and
each weight, the chain's score plus weight x the decoder's, at the threshold that accepts at most
1 % of these sentences (the rule of asr.commands.fit_zero_shot_threshold):

    python benchmarks/decoder_weight.py --threads 2
"""
from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from asr.commands import DIGITS, CommandConfig, CommandRecognizer, most_permissive_threshold  # noqa: E402
from asr.model import ASRModel  # noqa: E402
from asr.whisper_decoder import short_window_frames  # noqa: E402
from features.audio import load_audio  # noqa: E402
from features.manifest import read_corpus  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="default")
    parser.add_argument("--paddings", default="1,2,4,30")
    parser.add_argument("--weights", default="0.1,0.25,0.5,1,2")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    enrolled = [u for u in read_corpus(SHARED / "fsdd" / "manifest.jsonl") if u.speaker in ("george", "jackson")]
    commands = random.Random(7).sample(enrolled, 300)
    an4_train = sorted(read_corpus(SHARED / "an4" / "train" / "manifest.jsonl"), key=lambda u: u.id)
    an4 = random.Random(8).sample(an4_train[2::5], 150)  # thresholds are fitted on [0::5]
    sentences = sorted(read_corpus(SHARED / "speechocean762" / "train" / "manifest.jsonl"), key=lambda u: u.id)
    speechocean = random.Random(9).sample(sentences[2::5], 150)  # the threshold is fitted on [0::5]
    audios = [load_audio(u.audio) for u in commands + an4 + speechocean]
    truth = np.array([DIGITS.index(u.text) for u in commands])

    recognizer = CommandRecognizer(ASRModel.load(args.base), CommandConfig(DIGITS, decoder_weight=0.0))
    chain = np.stack([scores.numpy() for scores in recognizer.score_frames(recognizer.encode(audios))])
    scorer = recognizer.text_scorer()

    def report(name: str, scores: np.ndarray) -> None:
        best = scores.argmax(1)
        threshold = most_permissive_threshold(scores[len(commands):].max(1))
        accepted = scores[:len(commands)].max(1) >= threshold
        print(f"{name:32s} top-1 {100 * np.mean(best[:len(commands)] == truth):5.1f} %  accuracy "
              f"{100 * np.mean(accepted & (best[:len(commands)] == truth)):5.1f} %  threshold {threshold:6.2f}",
              flush=True)

    report("chain alone", chain)
    for padding in (float(p) for p in args.paddings.split(",")):
        decoded = np.stack([scorer.score_phrases(short_window_frames(
            recognizer.model.encoder, torch.from_numpy(audio), padding), DIGITS).numpy() for audio in audios])
        alone = np.mean(decoded[:len(commands)].argmax(1) == truth)
        print(f"padding {padding:g} s: decoder alone, top-1 {100 * alone:.1f} %")
        for weight in (float(w) for w in args.weights.split(",")):
            report(f"  weight {weight:g}", chain + weight * decoded)


if __name__ == "__main__":
    main()
