"""LibriSpeech on disk: fetch the official tarballs (resumable, MD5-checked), unpack, read, split.

    prepare_librispeech(root, ["train-clean-100", "test-clean"], download=True)

`root` is the `LibriSpeech` folder itself (the one holding `train-clean-100/`, `test-clean/`, ...).
A subset already there is used as it is; a missing one is fetched only when `download` is set.
Archives go to `root/.archives/` while they download (`NAME.tar.gz.part`, resumed with HTTP Range
requests after an interruption), are renamed into place only once their MD5 matches the official
one, and are unpacked into a staging folder that becomes `root/SUBSET` in one rename, so a
killed run never leaves a half-written subset that looks finished.

Limited supervision (`limited_supervision`) follows Libri-light's idea: a fixed amount of
labeled audio (10 min, 1 h, 10 h) spread evenly over speakers (and sexes, where SPEAKERS.TXT
says), nested (the 10-min set is inside the 1-h set, which is inside the 10-h set) and the same
on every machine for the same seed.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tarfile
import time
import urllib.error
import urllib.request
from http.client import HTTPException
from pathlib import Path

from features.manifest import Utterance, duration_subset, read_librispeech

log = logging.getLogger(__name__)

BASE_URL = "https://www.openslr.org/resources/12"

# From openslr's https://www.openslr.org/resources/12/md5sum.txt (the same values appear in
# several public LibriSpeech downloaders, e.g. NVIDIA's and Kaldi-derived recipes).
MD5 = {
    "dev-clean": "42e2234ba48799c1f50f24a7926300a1",
    "dev-other": "c8d0bcc9cca99d4f8b62fcc847357931",
    "test-clean": "32fa31d27d2e1cad72775fee3f4849a9",
    "test-other": "fb5a50374b501bb3bac4815ee91d3135",
    "train-clean-100": "2a93770f6d5c6c964bc36631d331a522",
    "train-clean-360": "c0e676e450a7ff2f54aeade5171606fa",
    "train-other-500": "d1a0fd59409feb2c614ce4d30c387708",
}
SUBSETS = tuple(MD5)
EVAL_SUBSETS = ("dev-clean", "dev-other", "test-clean", "test-other")

# Libri-light's limited-supervision sizes, in seconds of labeled audio; None: everything.
SPLITS: dict[str, float | None] = {"10min": 600.0, "1h": 3600.0, "10h": 36000.0, "all": None}

ARCHIVE_DIR = ".archives"
CHUNK = 1 << 20


class DownloadError(RuntimeError):
    pass


class ChecksumError(DownloadError):
    pass


def md5_of(path: str | os.PathLike, chunk: int = CHUNK) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as data:
        while block := data.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, dest: str | os.PathLike, md5: str | None = None, retries: int = 5,
             timeout: float = 60.0, backoff: float = 2.0) -> Path:
    """Fetch `url` to `dest`, resuming `dest.part` where an earlier try stopped.

    A server that honours `Range` gets asked only for the missing bytes (206 Partial Content);
    one that answers 200 instead sends the whole file again, which replaces the partial one.
    Dropped connections are retried (with the bytes so far kept) up to `retries` times. With
    `md5`, the finished file must match it: on a mismatch the partial file is deleted (it cannot
    be trusted for another resume) and ChecksumError is raised. `dest` only ever appears complete
    (one rename). A `dest` already present and matching is not fetched again.
    """
    dest = Path(dest)
    if dest.exists():
        if md5 is None or md5_of(dest) == md5:
            return dest
        log.warning("%s does not match its checksum; fetching it again", dest)
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    failures = 0
    while True:
        try:
            if _fetch_rest(url, part, timeout):
                break
        except (urllib.error.URLError, HTTPException, OSError, DownloadError) as error:
            if isinstance(error, urllib.error.HTTPError) and error.code not in (408, 429) and error.code < 500:
                raise DownloadError(f"{url}: HTTP {error.code} {error.reason}") from None
            failures += 1
            if failures > retries:
                raise DownloadError(f"{url}: gave up after {retries} retries ({error})") from None
            log.warning("%s: %s; resuming in %.0f s", url, error, backoff * failures)
            time.sleep(backoff * failures)
    if md5 is not None:
        actual = md5_of(part)
        if actual != md5:
            part.unlink()
            raise ChecksumError(f"{url}: MD5 {actual}, expected {md5}; the partial download was deleted")
    os.replace(part, dest)
    return dest


def _fetch_rest(url: str, part: Path, timeout: float) -> bool:
    """Append what is missing of `url` to `part`; True once it holds the whole file."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:  # nothing past what we have: the .part is the whole file
            total = _total_from_content_range(error.headers.get("Content-Range"))
            if total is None or total == have:
                return True
            part.unlink()  # longer than the file: not ours to resume
            return False
        raise
    with response:
        if response.status == 206:
            start, total = _parse_content_range(response.headers.get("Content-Range"))
            if start != have:
                raise DownloadError(f"{url}: asked for bytes from {have}, the server sent from {start}")
            mode = "ab"
        else:  # 200: the whole file from the start
            start, mode = 0, "wb"
            length = response.headers.get("Content-Length")
            total = int(length) if length is not None else None
        written = start
        with open(part, mode) as out:
            while block := response.read(CHUNK):
                out.write(block)
                written += len(block)
    if total is not None and written < total:
        raise DownloadError(f"{url}: connection closed at byte {written} of {total}")
    return True


def _parse_content_range(value: str | None) -> tuple[int, int | None]:
    match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+|\*)", (value or "").strip())
    if not match:
        raise DownloadError(f"unusable Content-Range {value!r}")
    total = match.group(3)
    return int(match.group(1)), None if total == "*" else int(total)


def _total_from_content_range(value: str | None) -> int | None:
    match = re.fullmatch(r"bytes \*/(\d+)", (value or "").strip())
    return int(match.group(1)) if match else None


def extract_subset(archive: str | os.PathLike, root: str | os.PathLike, subset: str) -> Path:
    """Unpack an official archive (members `LibriSpeech/SUBSET/...`) into `root/SUBSET`.

    Members go to a staging folder first, which is renamed to `root/SUBSET` only when all are
    out. Only regular files and folders below `LibriSpeech/` are taken (no links, no absolute or
    `..` paths). The archive's top-level files (SPEAKERS.TXT, CHAPTERS.TXT, ...) land in `root`.
    """
    root = Path(root)
    target = root / subset
    staging = root / f".{subset}.extracting"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    with tarfile.open(archive, "r:*") as tar:
        for member in tar:
            parts = Path(member.name).parts
            if not parts or parts[0] != "LibriSpeech" or member.name.startswith("/") or ".." in parts:
                raise DownloadError(f"{archive}: unexpected member {member.name!r}")
            if member.isdir() or len(parts) == 1:
                continue
            if not member.isfile():
                raise DownloadError(f"{archive}: {member.name!r} is not a regular file")
            if parts[1] == subset:
                out = staging.joinpath(*parts[2:])
            elif len(parts) == 2:
                out = root / parts[1]  # SPEAKERS.TXT etc.: the same in every archive
            else:
                raise DownloadError(f"{archive}: {member.name!r} is outside {subset}/")
            out.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            tmp = out.with_name(out.name + ".tmp")
            with source, open(tmp, "wb") as sink:
                shutil.copyfileobj(source, sink, CHUNK)
            os.replace(tmp, out)
    if target.exists():
        shutil.rmtree(target)
    os.replace(staging, target)
    return target


def subset_present(root: str | os.PathLike, subset: str) -> bool:
    folder = Path(root) / subset
    return folder.is_dir() and any(folder.rglob("*.trans.txt"))


def prepare_librispeech(root: str | os.PathLike, subsets: list[str] | tuple[str, ...], download_missing: bool = False,
                        base_url: str = BASE_URL, keep_archives: bool = False) -> list[str]:
    """Make sure `root/SUBSET` exists for each subset; returns those that had to be fetched.

    Without `download_missing`, a missing subset is an error naming the flag that fetches it.
    """
    root = Path(root)
    fetched = []
    for subset in subsets:
        if subset_present(root, subset):
            continue
        if subset not in MD5:
            raise ValueError(f"{subset}: not a LibriSpeech subset (one of {', '.join(SUBSETS)})")
        if not download_missing:
            raise FileNotFoundError(f"{root / subset}: missing; pass --download to fetch {subset}.tar.gz from openslr")
        archive = root / ARCHIVE_DIR / f"{subset}.tar.gz"
        log.warning("fetching %s/%s.tar.gz", base_url, subset)
        download(f"{base_url}/{subset}.tar.gz", archive, MD5[subset])
        extract_subset(archive, root, subset)
        if not keep_archives:
            archive.unlink()
        fetched.append(subset)
    return fetched


def read_speaker_sexes(root: str | os.PathLike) -> dict[str, str]:
    """Speaker -> "F"/"M" from LibriSpeech's SPEAKERS.TXT (`ID | SEX | SUBSET | MINUTES | NAME`);
    empty when the file is absent."""
    path = Path(root) / "SPEAKERS.TXT"
    if not path.exists():
        return {}
    sexes = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith(";") or "|" not in line:
            continue
        fields = [f.strip() for f in line.split("|")]
        if len(fields) >= 2 and fields[1] in ("F", "M"):
            sexes[fields[0]] = fields[1]
    return sexes


def parse_split(name: str) -> float | None:
    """Seconds of labeled audio for "10min", "1h", "10h", "all" (None) or any "<number>s|min|h"."""
    if name in SPLITS:
        return SPLITS[name]
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(s|min|h)", name)
    if not match:
        raise ValueError(f"{name!r}: expected one of {', '.join(SPLITS)} or a duration like 30min")
    return float(match.group(1)) * {"s": 1, "min": 60, "h": 3600}[match.group(2)]


def limited_supervision(utterances: list[Utterance], split: str, seed: int = 0,
                        sexes: dict[str, str] | None = None) -> list[Utterance]:
    """The `split` ("10min", "1h", "10h", "all") of a LibriSpeech subset; see `duration_subset`."""
    seconds = parse_split(split)
    if seconds is None:
        return list(utterances)
    return duration_subset(utterances, seconds, seed=seed, groups=sexes)


def read_subset(root: str | os.PathLike, subset: str) -> list[Utterance]:
    return read_librispeech(Path(root) / subset)


def read_lm_text(path: str | os.PathLike) -> list[str]:
    """Sentences of a LibriSpeech-style LM text: `ID TEXT` a line (LibriSpeech's own lm-text, the
    `*.trans.txt` files), or plain text a line when the first field is not an utterance id."""
    sentences = []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            first, _, rest = line.strip().partition(" ")
            text = rest if re.fullmatch(r"\d+-\d+-\d+", first) else line.strip()
            if text:
                sentences.append(text)
    return sentences
