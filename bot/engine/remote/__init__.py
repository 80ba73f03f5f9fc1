"""Remote inference servers behind the one `TextEngine` interface."""

from __future__ import annotations

from bot.engine.remote.engine import RemoteEngine, RemoteOptions, ServerInfo
from bot.engine.remote.koboldcpp import KoboldCppEngine
from bot.engine.remote.llama_server import LlamaServerEngine
from bot.engine.remote.ollama import OllamaEngine
from bot.engine.remote.openai import OpenAIEngine

__all__ = ["ENGINES", "RemoteEngine", "RemoteOptions", "ServerInfo", "connect_remote"]

ENGINES: dict[str, type[RemoteEngine]] = {
    "llama-server": LlamaServerEngine,
    "koboldcpp": KoboldCppEngine,
    "openai": OpenAIEngine,
    "ollama": OllamaEngine,
}


async def connect_remote(options: RemoteOptions) -> RemoteEngine:
    """Connect to the server `options` names and build its engine; `RemoteError` if down."""
    return await ENGINES[options.backend].connect(options)
