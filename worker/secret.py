"""A credential that never shows its value: the one type every secret setting has."""

from __future__ import annotations

from pathlib import Path

from worker.errors import CredentialsUnreadable


class Secret:
    """A credential that never shows its value in repr(), str() or logs.

    Given a file instead of a value, it reads the file when first revealed, so an unreadable
    file fails the job that needs it (naming the file) rather than the process that starts."""

    __slots__ = ("_path", "_value", "_variable")

    def __init__(self, value: str) -> None:
        self._value: str | None = value
        self._path: Path | None = None
        self._variable = ""

    @classmethod
    def from_file(cls, path: Path, variable: str) -> Secret:
        """A secret read from `path` on first use; `variable` names the setting in errors."""
        secret = cls("")
        secret._value, secret._path, secret._variable = None, path, variable
        return secret

    def reveal(self) -> str:
        """The secret value, for the one place that must send it."""
        if self._value is None:
            assert self._path is not None
            where = f"{self._variable} file {self._path}"
            try:
                value = self._path.read_text().strip()
            except OSError as exc:
                raise CredentialsUnreadable(f"cannot read {where}: {exc.strerror}") from None
            except UnicodeDecodeError:
                raise CredentialsUnreadable(f"cannot read {where}: not UTF-8 text") from None
            if not value:
                raise CredentialsUnreadable(f"{where} is empty")
            self._value = value
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and (other._value, other._path) == (
            self._value,
            self._path,
        )

    def __hash__(self) -> int:
        return hash((self._value, self._path))
