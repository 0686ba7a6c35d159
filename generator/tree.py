"""The unit of output: a file's bytes and mode, keyed by its path under ``DIR/<cluster>/``."""

from __future__ import annotations

SECRET_MODE = 0o600
PUBLIC_MODE = 0o644
EXECUTABLE_MODE = 0o755


class OutputFile:
    """A file's bytes and mode. The bytes may be given in parts that other files share (thousands of
    nodes' user-data repeat the same preparation scripts): the file keeps the parts, so a big render
    holds each shared part once, and ``content`` joins them on each read."""

    __slots__ = ("_parts", "mode", "size")
    _parts: tuple[bytes, ...]
    mode: int
    size: int  # len(content)

    def __init__(self, content: bytes | tuple[bytes, ...], mode: int) -> None:
        parts = (content,) if isinstance(content, bytes) else content
        object.__setattr__(self, "_parts", parts)
        object.__setattr__(self, "mode", mode)
        object.__setattr__(self, "size", sum(map(len, parts)))

    @property
    def content(self) -> bytes:
        parts = self._parts
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")  # immutable, as a frozen dataclass

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OutputFile):
            return NotImplemented
        return self.mode == other.mode and self.size == other.size and self.content == other.content

    def __hash__(self) -> int:
        return hash((self.content, self.mode))

    def __repr__(self) -> str:
        return f"OutputFile(content={self.content!r}, mode={self.mode!r})"


Tree = dict[str, OutputFile]
