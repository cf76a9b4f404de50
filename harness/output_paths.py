"""Output-path safety: no command's output may destroy one of its inputs, another output or a
private key. Checked before any work, so a refusal (exit 2) costs nothing and loses nothing.

Two paths are the same file when they resolve to one inode (symlinks and hard links included)
or, for a file not yet there, to one real path.
"""

from __future__ import annotations

import os
from pathlib import Path

_KEY_MARKERS = (b"PRIVATE KEY-----",)  # PKCS8, "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY", ...
_KEY_SNIFF_BYTES = 1 << 16


class OutputPathError(ValueError):
    """An output path that would overwrite an input, another output or a key (usage error)."""


def _identity(path: Path):
    """(dev, inode) of an existing file (symlinks followed), else its real path."""
    try:
        st = os.stat(path)
        return ("inode", st.st_dev, st.st_ino)
    except OSError:
        return ("path", os.path.realpath(path))


def looks_like_private_key(path: Path) -> bool:
    """Whether the file at `path` holds a PEM private key (read only its first 64 KiB)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(_KEY_SNIFF_BYTES)
    except OSError:
        return False
    return any(marker in head for marker in _KEY_MARKERS)


def check_outputs(
    outputs: dict[str, str | os.PathLike | None],
    inputs: dict[str, str | os.PathLike | None],
    *,
    replace_keys: bool = False,
) -> None:
    """Raise OutputPathError when an output (flag -> path) is unusable.

    Refused: an output whose directory does not exist or is not writable, or that is a directory; an output that is
    the same file as an input (label -> path) or as another output; an existing output that holds
    a private key (unless `replace_keys`: `keys gen --force`). Entries whose path is None are
    ignored.
    """
    seen_inputs = [(label, Path(p), _identity(Path(p))) for label, p in inputs.items() if p]
    seen_outputs: list[tuple[str, Path, tuple]] = []
    for flag, raw in outputs.items():
        if not raw:
            continue
        path = Path(raw)
        parent = Path(os.path.realpath(path)).parent
        if not parent.is_dir():
            raise OutputPathError(f"{flag} {path}: directory {parent} does not exist")
        if path.is_dir():
            raise OutputPathError(f"{flag} {path}: is a directory; name a file")
        if not os.access(parent, os.W_OK):  # found now, not after the work (not as root)
            raise OutputPathError(f"{flag} {path}: directory {parent} is not writable")
        ident = _identity(path)
        for label, other, other_id in seen_inputs:
            if ident == other_id:
                raise OutputPathError(
                    f"{flag} {path}: is the same file as the {label} {other}; refusing to overwrite an input"
                )
        for other_flag, other, other_id in seen_outputs:
            if ident == other_id:
                raise OutputPathError(f"{flag} {path} and {other_flag} {other} are the same file")
        if not replace_keys and path.exists() and looks_like_private_key(path):
            raise OutputPathError(f"{flag} {path}: holds a private key; refusing to overwrite it")
        seen_outputs.append((flag, path, ident))
