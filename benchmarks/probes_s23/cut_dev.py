"""What the cut-digit probes share: the dev set of `recipes.commands ... --out exp/cut_base`
(benchmarks/cut_digits.py), its two recognizers and each recording's decoder scores."""
import json
from dataclasses import dataclass

import numpy as np
import torch

from asr.commands import CommandConfig, CommandRecognizer
from asr.model import ASRModel
from features.audio import load_audio


@dataclass
class CutDev:
    recognizers: dict[str, CommandRecognizer]  # "0": zero-shot, "5": the saved k = 5 model
    commands: list[str]
    truth: np.ndarray  # command index per test recording
    audios: list[np.ndarray]
    decoded: list[torch.Tensor]  # Whisper's decoder's score of every command, per recording

    def scores(self, recognizer: CommandRecognizer, audios: list[np.ndarray] | None = None) -> np.ndarray:
        """(recordings, commands): chain + decoder, each recording encoded as `asr commands` does."""
        return self.score_frames(recognizer, recognizer.encode(self.audios if audios is None else audios))

    def score_frames(self, recognizer: CommandRecognizer, frames: list[torch.Tensor]) -> np.ndarray:
        """(recordings, commands) from encoder frames already taken, one array per recording."""
        return np.stack([s.numpy() for s in recognizer.score_frames(frames, decoded=self.decoded)])

    def top1(self, scores: np.ndarray) -> int:
        return int((scores.argmax(1) == self.truth).sum())


def load_cut_dev(run: str = "exp/cut_base") -> CutDev:
    torch.set_num_threads(2)
    rows = json.load(open(f"{run}/splits.json"))["test"]
    adapted = CommandRecognizer.load(f"{run}/model")
    commands = adapted.config.commands
    zero_shot = CommandRecognizer(ASRModel.load("default", adapted.model.encoder), CommandConfig(commands))
    audios = [load_audio(r["audio"]) for r in rows]
    return CutDev({"0": zero_shot, "5": adapted}, commands, np.array([commands.index(r["text"]) for r in rows]),
                  audios, adapted.decoder_scores(audios))
