"""Capture settings and the counters ``Capture.stats()`` returns."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

#: Default size at which a capture file is finished and a new one started.
DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024
#: Default number of records that may wait for the writer thread.
DEFAULT_QUEUE_SIZE = 10_000
_MIN_SALT_CHARS = 16


class CaptureConfig(BaseModel):
    """Where and how production calls are captured.

    Attributes:
        directory: Folder of the JSON-lines files (created when missing).
        app: Application name: the ``evalmon.app`` of every record and the start of every
            file name, so letters, digits, ``.``, ``_`` and ``-`` only.
        user_id_salt: Secret key of the HMAC-SHA256 that turns user ids into ``user.hash``
            (at least 16 characters; keep it stable, or the hashes of a user stop matching).
            Without it user ids are not recorded at all (a warning says so once).
        queue_size: Records that may wait for the writer thread; more are dropped and counted.
        max_file_bytes: Size at which a file is finished and the next one started.
        record_content: Record input messages, output text and retrieved contexts. Turn off
            to keep only metadata (model, tokens, latency, status ...).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    directory: Path
    app: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    user_id_salt: SecretStr | None = None
    queue_size: int = Field(default=DEFAULT_QUEUE_SIZE, ge=1)
    max_file_bytes: int = Field(default=DEFAULT_MAX_FILE_BYTES, ge=1024)
    record_content: bool = True

    @field_validator("user_id_salt")
    @classmethod
    def _salt_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < _MIN_SALT_CHARS:
            raise ValueError(
                f"user_id_salt must have at least {_MIN_SALT_CHARS} characters: generate one "
                'with `python -c "import secrets; print(secrets.token_hex(32))"` and keep it '
                "in your secret store"
            )
        return value


@dataclass(frozen=True, slots=True)
class CaptureStats:
    """Counters of one :class:`Capture` since it started.

    Attributes:
        recorded: Records appended to a capture file.
        queued: Records waiting for the writer thread right now.
        dropped_queue_full: Records dropped because the queue was full.
        dropped_invalid: Calls whose record could not be built (a bug or odd input; logged).
        dropped_closed: Records that arrived after ``close()``.
        write_errors: Records lost because a file could not be opened or written.
        files_rotated: Files finished (renamed from ``.jsonl.part`` to ``.jsonl``), by
            size, by hour or by ``close()``.
        streams_unrecorded: Streaming calls passed through without a record.
    """

    recorded: int = 0
    queued: int = 0
    dropped_queue_full: int = 0
    dropped_invalid: int = 0
    dropped_closed: int = 0
    write_errors: int = 0
    files_rotated: int = 0
    streams_unrecorded: int = 0

    @property
    def dropped(self) -> int:
        """Every record lost, whatever the reason."""
        return (
            self.dropped_queue_full + self.dropped_invalid + self.dropped_closed + self.write_errors
        )
