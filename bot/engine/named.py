"""Named backends (`BACKENDS`): more inference servers an NPC's voice may choose."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

RemoteKind = Literal["llama-server", "koboldcpp", "openai", "ollama"]
# What `/npc settings backend` autocompletes and a scene file or card may name.
BACKEND_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
DEFAULT_BACKEND = "default"  # not a name: the word `/npc settings backend` clears one with


class NamedBackend(BaseModel):
    """One entry of `BACKENDS`: an inference server an NPC's voice may choose."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: RemoteKind
    url: str
    model: str | None = None
    api_key: SecretStr | None = None  # its repr is stars; `Settings.secrets` lists the value
    parallel: int | None = Field(None, ge=1, le=256)
    timeout_seconds: float = Field(300.0, gt=0)
    n_ctx: int | None = Field(None, ge=256)
    tokenizer_path: Path | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("tokenizer_path")
    @classmethod
    def _tokenizer(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no file at {value}")
        return value


def parse_backends(value: Any) -> dict[str, NamedBackend]:
    """`BACKENDS` (a JSON object, or its dict), each entry checked; one-line errors."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(value, Mapping):
        raise ValueError('must be a JSON object of name → {"backend": ..., "url": ...}')
    found: dict[str, NamedBackend] = {}
    for name, entry in value.items():
        if not isinstance(name, str) or not BACKEND_NAME.fullmatch(name):
            raise ValueError(
                f"{str(name)[:40]!r} is not a backend name: lower-case letters, digits, - and _, "
                "at most 32"
            )
        if name == DEFAULT_BACKEND:
            raise ValueError(f"{name!r} is reserved: it means the default engine")
        found[name] = _entry(name, entry)
    return found


def _entry(name: str, entry: Any) -> NamedBackend:
    if isinstance(entry, NamedBackend):
        return entry
    if not isinstance(entry, Mapping):
        raise ValueError(f'{name}: must be an object like {{"backend": ..., "url": ...}}')
    try:
        return NamedBackend.model_validate(entry)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "entry"
        message = str(error["msg"]).removeprefix("Value error, ")
        raise ValueError(f"{name}.{where}: {message}") from None
