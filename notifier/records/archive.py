"""The case archive on disk (issue 14a): one folder per purged case, readable by a person
and by an archive system, written atomically and checked by SHA-256.

Layout under ``NOTIFIER_ARCHIVE_DIR``::

  cases/<case id>/            one folder per case (see retention.py for its files)
      manifest.json           what the folder holds: every file with its SHA-256 and size
      SHA256SUMS              the same, for ``sha256sum -c SHA256SUMS``
  letters/<ab>/<letter id>.json   {"case_id", "folder"}: where a purged letter went
  tmp/                        folders being written (a crash leaves them; the next run
                              removes them)

A folder is built under ``tmp/`` (every file and directory fsynced) and renamed into
place, so ``cases/<id>`` is either absent or complete. Writing the same content again is
a no-op; different content (the case changed before it was purged) replaces the folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from notifier.errors import PermanentError

FORMAT = "notifier-case-archive/1"
LETTER_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"


class ArchiveError(PermanentError):
    """An archive folder is missing, incomplete or does not match its checksums."""


@dataclass(frozen=True)
class Stored:
    folder: Path
    written: bool  # False: an identical folder was there already


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def folder_name(case_id: str) -> str:
    """The case id itself; '.' and '..' (valid case ids, not folder names) are spelt with
    '%', a character no case id has, so no two cases share a folder."""
    return case_id.replace(".", "%2E") if case_id in (".", "..") else case_id


class Archive:
    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, case_id: str) -> Path:
        return self.root / "cases" / folder_name(case_id)

    def relative(self, case_id: str) -> str:
        return f"cases/{folder_name(case_id)}"

    # --- writing ------------------------------------------------------------------------
    def store(self, case_id: str, files: Mapping[str, bytes], meta: Mapping[str, Any]
              ) -> Stored:
        """Write the case's folder atomically: ``files`` (relative path -> bytes) plus a
        manifest (``meta`` + the files' checksums) and SHA256SUMS."""
        manifest = {"format": FORMAT, "case_id": case_id, **meta, "files": [
            {"path": path, "sha256": sha256_hex(data), "bytes": len(data)}
            for path, data in sorted(files.items())]}
        final = self.folder(case_id)
        if final.is_dir() and self._same(final, manifest):
            return Stored(final, written=False)
        tmp = self.root / "tmp" / f"{folder_name(case_id)}.{uuid.uuid4().hex}"
        tmp.mkdir(parents=True)
        listing = {**files, MANIFEST: _json_bytes(manifest)}
        listing[SUMS] = "".join(f"{sha256_hex(data)}  {path}\n"
                                for path, data in sorted(listing.items())).encode()
        for path, data in listing.items():
            _write_synced(tmp / path, data)
        _sync_tree(tmp)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():  # different content: move the old one aside, then replace it
            old = self.root / "tmp" / f"old-{folder_name(case_id)}.{uuid.uuid4().hex}"
            final.rename(old)
            tmp.rename(final)
            shutil.rmtree(old)
        else:
            tmp.rename(final)
        _sync_dir(final.parent)
        return Stored(final, written=True)

    def _same(self, folder: Path, manifest: Mapping[str, Any]) -> bool:
        """The folder verifies and lists exactly these files with these checksums."""
        try:
            found = self.verify_folder(folder)
        except ArchiveError:
            return False
        return bool(found["files"] == manifest["files"])

    def index_letters(self, case_id: str, letter_ids: list[str]) -> None:
        """Record where each purged letter went (written before the purge)."""
        for letter_id in letter_ids:
            path = self.letter_index(letter_id)
            entry = _json_bytes({"case_id": case_id, "folder": self.relative(case_id)})
            if path.exists() and path.read_bytes() == entry:
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
            _write_synced(tmp, entry)
            tmp.replace(path)

    def letter_index(self, letter_id: str) -> Path:
        return self.root / "letters" / letter_id[:2] / f"{letter_id}.json"

    def clean_tmp(self) -> int:
        """Remove folders a crashed run left half-written; how many."""
        tmp = self.root / "tmp"
        if not tmp.is_dir():
            return 0
        count = 0
        for leftover in tmp.iterdir():
            shutil.rmtree(leftover, ignore_errors=True)
            count += 1
        return count

    # --- reading ------------------------------------------------------------------------
    def verify(self, case_id: str) -> dict[str, Any]:
        """The case's manifest, after checking every file it lists; ArchiveError if the
        folder is missing, a file is missing or extra, or a checksum differs."""
        return self.verify_folder(self.folder(case_id))

    def verify_folder(self, folder: Path) -> dict[str, Any]:
        try:
            manifest: dict[str, Any] = json.loads((folder / MANIFEST).read_bytes())
        except FileNotFoundError:
            raise ArchiveError(f"{folder}: no {MANIFEST}: not an archived case") from None
        except json.JSONDecodeError as exc:
            raise ArchiveError(f"{folder / MANIFEST}: not JSON: {exc.msg}") from None
        problems = []
        listed = {entry["path"] for entry in manifest.get("files", [])}
        for entry in manifest.get("files", []):
            path = folder / entry["path"]
            if not path.is_file():
                problems.append(f"{entry['path']}: missing")
            elif sha256_hex(path.read_bytes()) != entry["sha256"]:
                problems.append(f"{entry['path']}: SHA-256 differs from the manifest")
        present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
        problems += [f"{extra}: not in the manifest"
                     for extra in sorted(present - listed - {MANIFEST, SUMS})]
        if problems:
            raise ArchiveError(f"{folder}: " + "; ".join(problems))
        return manifest

    def read(self, case_id: str, path: str) -> bytes:
        """One file of a verified case folder."""
        manifest = self.verify(case_id)
        if path not in {entry["path"] for entry in manifest["files"]} | {MANIFEST}:
            raise ArchiveError(f"{self.relative(case_id)}: no file {path}")
        return (self.folder(case_id) / path).read_bytes()

    def find_letter(self, letter_id: str) -> dict[str, str] | None:
        """Where a purged letter was archived ({"case_id", "folder"}), or None."""
        if not LETTER_ID.match(letter_id):  # it becomes a path: nothing but a letter id
            return None
        path = self.letter_index(letter_id)
        try:
            return dict(json.loads(path.read_bytes()))
        except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
            return None


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()


def _write_synced(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _sync_tree(root: Path) -> None:
    for directory in [root, *(p for p in root.rglob("*") if p.is_dir())]:
        _sync_dir(directory)


def _sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
