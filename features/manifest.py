"""Where the audio is and what it says: manifests, the LibriSpeech layout, plain folders.

A corpus is a list of `Utterance`s with absolute audio paths. `read_corpus` takes any of:
- a `manifest.jsonl` (one JSON a line: id, audio relative to the manifest's folder, text, speaker,
  duration, sample_rate), the format of ../shared/data/*/manifest.jsonl;
- a LibriSpeech-layout folder (SPK/CHAPTER/*.flac with SPK-CHAPTER.trans.txt);
- any folder of audio files (unlabeled unless a same-named .txt lies beside a file).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from features.audio import AudioError, audio_info

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".opus", ".mp3", ".sph", ".aiff", ".aif")


@dataclass(frozen=True)
class Utterance:
    id: str
    audio: str  # absolute path
    text: str | None = None
    speaker: str | None = None
    duration: float | None = None
    speed: float = 1.0  # speed perturbation applied when the audio is read (features.augment.speed_copies)


def read_corpus(source: str | os.PathLike) -> list[Utterance]:
    path = Path(source)
    if path.is_file():
        return read_manifest(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such manifest or folder")
    if any(path.rglob("*.trans.txt")):
        return read_librispeech(path)
    return read_folder(path)


def read_manifest(path: str | os.PathLike) -> list[Utterance]:
    path = Path(path)
    utterances = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                audio = Path(row["audio"])
            except (json.JSONDecodeError, KeyError, TypeError) as error:
                raise ValueError(f"{path}:{number}: not a manifest row ({error})") from None
            if not audio.is_absolute():
                audio = path.parent / audio
            utterances.append(Utterance(
                id=str(row.get("id") or audio.stem), audio=str(audio.resolve()),
                text=row.get("text"), speaker=row.get("speaker"), duration=row.get("duration"),
                speed=float(row.get("speed", 1.0))))
    return utterances


def read_librispeech(root: str | os.PathLike) -> list[Utterance]:
    """All utterances below `root` (a subset folder or the LibriSpeech folder itself)."""
    utterances = []
    for transcript in sorted(Path(root).rglob("*.trans.txt")):
        speaker = transcript.name.split("-")[0]
        for line in transcript.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            utt_id, _, text = line.partition(" ")
            audio = transcript.parent / f"{utt_id}.flac"
            utterances.append(Utterance(utt_id, str(audio.resolve()), text.strip(), speaker))
    return utterances


def read_folder(root: str | os.PathLike) -> list[Utterance]:
    """Every audio file below `root`; the speaker is the file's parent folder name."""
    root = Path(root)
    utterances = []
    for audio in sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES):
        text_file = audio.with_suffix(".txt")
        text = text_file.read_text(encoding="utf-8").strip() if text_file.exists() else None
        relative = audio.relative_to(root).with_suffix("")
        utterances.append(Utterance("/".join(relative.parts), str(audio.resolve()), text,
                                    audio.parent.name if audio.parent != root else None))
    return utterances


def with_durations(utterances: list[Utterance]) -> list[Utterance]:
    """Fill missing durations from file headers; unreadable files keep None."""
    filled = []
    for utt in utterances:
        if utt.duration is None:
            try:
                utt = replace(utt, duration=audio_info(utt.audio).duration)
            except AudioError:
                pass
        filled.append(utt)
    return filled


def write_manifest(utterances: list[Utterance], path: str | os.PathLike) -> None:
    """Write atomically, audio paths relative to the manifest's folder where possible."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        for utt in utterances:
            row = asdict(utt)
            if utt.speed == 1.0:
                del row["speed"]
            try:
                row["audio"] = os.path.relpath(utt.audio, path.parent)
            except ValueError:  # another drive on Windows
                pass
            out.write(json.dumps(row) + "\n")
    os.replace(tmp, path)


def labeled_subset(utterances: list[Utterance], fraction: float, seed: int = 0) -> list[Utterance]:
    """A deterministic share of the utterances, spread evenly over speakers.

    round(fraction * N) utterances in all; each speaker gets its proportional share (largest
    remainders round up, every speaker at least one while the total allows), and within a speaker
    the choice is a seeded hash of the id, so it does not depend on the order of the input.
    """
    if fraction >= 1.0:
        return list(utterances)
    by_speaker: dict[str, list[Utterance]] = {}
    for utt in utterances:
        by_speaker.setdefault(str(utt.speaker), []).append(utt)

    def rank(key: str) -> str:
        return hashlib.sha1(f"{seed}:{key}".encode()).hexdigest()

    total = max(1, round(fraction * len(utterances)))
    shares = {s: fraction * len(group) for s, group in by_speaker.items()}
    quota = {s: int(share) for s, share in shares.items()}
    if total >= len(by_speaker):
        quota = {s: max(1, q) for s, q in quota.items()}
    by_remainder = sorted(by_speaker, key=lambda s: (quota[s] - shares[s], rank(s)))
    for speaker in by_remainder:
        if sum(quota.values()) >= total:
            break
        quota[speaker] += 1
    chosen = set()
    for speaker, group in by_speaker.items():
        chosen.update(u.id for u in sorted(group, key=lambda u: rank(u.id))[:quota[speaker]])
    return [u for u in utterances if u.id in chosen]


def duration_subset(utterances: list[Utterance], seconds: float, seed: int = 0,
                    groups: dict[str, str] | None = None) -> list[Utterance]:
    """About `seconds` of audio, spread evenly over speakers; nested across sizes.

    Speakers are put in a seeded-hash order (alternating between `groups`, e.g. speaker -> sex,
    where given), each speaker's utterances in a seeded-hash order, and the utterances are then
    dealt round-robin: every speaker's first, then every speaker's second, and so on. The subset
    is the prefix of that sequence whose total duration is closest to `seconds`, so speakers'
    counts differ by at most one, a smaller subset is inside a larger one with the same seed,
    and nothing depends on the input order. Missing durations are read from the file headers,
    only for the utterances reached (a 10-min subset of 100 h reads ~50 headers); unreadable
    files are passed over. The chosen utterances come back in input order, durations filled.
    """
    if seconds <= 0:
        return []

    def rank(key: str) -> str:
        return hashlib.sha1(f"{seed}:{key}".encode()).hexdigest()

    by_speaker: dict[str, list[Utterance]] = {}
    for utt in utterances:
        by_speaker.setdefault(str(utt.speaker), []).append(utt)
    groups = groups or {}
    by_group: dict[str, list[str]] = {}
    for speaker in sorted(by_speaker, key=rank):
        by_group.setdefault(groups.get(speaker, ""), []).append(speaker)
    speakers = []
    for round_ in range(max((len(g) for g in by_group.values()), default=0)):
        speakers += [g[round_] for _, g in sorted(by_group.items()) if round_ < len(g)]
    queues = [sorted(by_speaker[s], key=lambda u: rank(u.id)) for s in speakers]
    chosen: dict[str, Utterance] = {}
    total = 0.0
    for depth in range(max((len(q) for q in queues), default=0)):
        for queue in queues:
            if depth >= len(queue):
                continue
            utt = queue[depth]
            if utt.duration is None:
                try:
                    utt = replace(utt, duration=audio_info(utt.audio).duration)
                except AudioError:
                    continue
            if not utt.duration or utt.duration <= 0:
                continue
            if total + utt.duration - seconds > seconds - total:  # closer to the target without it
                return [chosen[u.id] for u in utterances if u.id in chosen]
            chosen[utt.id] = utt
            total += utt.duration
    return [chosen[u.id] for u in utterances if u.id in chosen]
