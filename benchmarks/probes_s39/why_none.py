"""Probe (session 39): why a command model answers "none" to a recording. Prints the model's
threshold and the floor of its base check, then per recording its best command's score (chain +
Whisper's decoder, as `asr commands` scores it), that command's score under the base chain and
under the decoder alone, and each link's label frames (`asr.commands.label_frames`; under
`min_label_frames` on any link, the answer is "none" whatever the score).

    python benchmarks/probes_s39/why_none.py exp/s39/reverse_seed0/model \\
        ../shared/data/fsdd/audio/george/2_george_33.flac
"""
from __future__ import annotations

import argparse

import torch

from asr.commands import CommandRecognizer, label_frames, load_command_audio, zero_shot_threshold


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a command model folder")
    parser.add_argument("audio", nargs="+")
    args = parser.parse_args()
    torch.set_num_threads(2)
    recognizer = CommandRecognizer.load(args.model)
    zero_shot = zero_shot_threshold(recognizer.model, recognizer.config.decoder_weight)
    margin = recognizer.config.base_margin
    print(f"threshold {recognizer.config.threshold:.2f}, base floor "
          f"{zero_shot - margin if margin is not None else float('-inf'):.2f}, "
          f"min label frames {recognizer.config.min_label_frames}")
    base = recognizer.base_model()
    for path in args.audio:
        audio = load_command_audio(path)
        frames = recognizer.encode([audio])
        per_link = recognizer.link_posteriors(frames)
        decoded = recognizer.decoder_scores([audio])
        scores = recognizer.scores_of(per_link, decoded)[0]
        best = int(scores.argmax())
        base_score = float(recognizer.score_frames(frames, base, decoded)[0][best]) if base is not None else None
        decoder = float(decoded[0][best]) if decoded is not None else None
        heard = {link: round(label_frames(per_link[link][0]), 2) for link in recognizer.links}
        print(f"{path}: best {recognizer.config.commands[best]}, score {float(scores[best]):.2f}, "
              f"base {base_score if base_score is None else round(base_score, 2)}, "
              f"decoder {decoder if decoder is None else round(decoder, 2)}, label frames {heard}")


if __name__ == "__main__":
    main()
