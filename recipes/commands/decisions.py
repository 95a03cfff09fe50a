"""One row per recognised recording, and how well the rows' confidences are calibrated: what the
commands recipe and its demo both report. A test recording's answer is right when it names its
command; an out-of-grammar recording's ("truth" none) when it is "none"."""
from __future__ import annotations

from asr.commands import NONE, Recognition
from asr.scoring import calibration


def decision_row(source: str, truth: str, recognition: Recognition) -> dict:
    return {"source": source, "audio": recognition.path, "truth": truth, "command": recognition.command,
            "best": recognition.best, "score": recognition.score, "confidence": recognition.confidence}


def decision_rows(test: list[Recognition], truths: list[str],
                  negatives: dict[str, list[Recognition]]) -> list[dict]:
    """Rows of the test recordings ("test"), then of each out-of-grammar source's."""
    rows = [decision_row("test", truth, r) for r, truth in zip(test, truths)]
    return rows + [decision_row(source, NONE, r) for source, results in negatives.items() for r in results]


def rows_calibration(rows: list[dict]) -> dict:
    """`asr.scoring.calibration` of every row's answer, rounded to 4 places for results.json."""
    figures = calibration([row["confidence"] for row in rows], [row["command"] == row["truth"] for row in rows])
    return {name: round(value, 4) for name, value in figures.items()}
