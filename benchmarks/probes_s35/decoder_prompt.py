"""Probe (session 35): Whisper's decoder scores each command text after a prompt that lists the
commands (Whisper's previous-text conditioning, <|startofprev|> text), instead of after no text.
The chain's scores are unchanged; only the decoder's term of each command's score moves.

    python benchmarks/probes_s35/decoder_prompt.py exp/s33/fsdd_seed0 [--negatives] [--json F]

Prints, per prompt, right / top-1 of the saved model on its split's test recordings (at the
model's own threshold, which was calibrated without a prompt) and out-of-grammar accepted.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from asr.commands import CommandRecognizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from probes_common import answers, open_parsed, read_audio, recording_sets, run_parser, tally  # noqa: E402

PREVIOUS_TEXT = "<|startofprev|>"


def command_list(commands: list[str]) -> str:
    """" Zero, one, two." as Whisper would write the list."""
    words = [c.lower() for c in commands]
    text = ", ".join(words)
    return " " + text[0].upper() + text[1:] + "."


def set_prompt(recognizer: CommandRecognizer, text: str | None) -> None:
    scorer = recognizer.text_scorer()
    base = [scorer.special("<|startoftranscript|>"), scorer.special("<|notimestamps|>")]
    scorer.prompt = base if text is None else \
        [scorer.special(PREVIOUS_TEXT)] + scorer.tokenizer.encode(text, add_special_tokens=False).ids + base


def main() -> None:
    parser = run_parser(__doc__)
    parser.add_argument("--negatives", action="store_true")
    args = parser.parse_args()
    splits, recognizer = open_parsed(args)
    weight = recognizer.config.decoder_weight
    base = recognizer.base_model()
    prompts = {"none": None, "list": command_list(recognizer.config.commands)}
    sets = recording_sets(splits, args.negatives)
    figures = {p: {} for p in prompts}
    for name, rows in sets.items():
        audio = read_audio(rows)
        recognizer.decoder_scores(audio[:1])  # loads the scorer
        frames = recognizer.encode(audio)
        zeros = [torch.zeros(len(recognizer.commands))] * len(frames)
        chain = recognizer.score_frames(frames, decoded=zeros)
        base_chain = recognizer.score_frames(frames, base, zeros) if base is not None else None
        for prompt, text in prompts.items():
            set_prompt(recognizer, text)
            decoded = recognizer.decoder_scores(audio)
            scored = [c + weight * d for c, d in zip(chain, decoded)]
            base_scored = [c + weight * d for c, d in zip(base_chain, decoded)] if base_chain else None
            decided = recognizer.decisions(scored, base_scored, recognizer.config.base_margin)
            said = answers(recognizer.config.commands, decided)
            best = [recognizer.config.commands[int(s.argmax())] for s in scored]
            row = figures[prompt]
            row.update(tally(name, rows, said, best))
            if name == "test":
                row["decoder_top1"] = sum(recognizer.config.commands[int(d.argmax())] == r["text"]
                                          for d, r in zip(decoded, rows))
            print(name, prompt, json.dumps({k: v for k, v in row.items() if k != "wrong"}), flush=True)
    for prompt in prompts:
        print(prompt, json.dumps(figures[prompt]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
