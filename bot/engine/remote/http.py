"""The HTTP side every remote backend shares: JSON calls, streams, retries and short errors."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx
from httpx_sse import EventSource

from bot.engine.base import RemoteError

log = logging.getLogger(__name__)

# Connection failures before anything was received are retried after these pauses; a stream
# that already produced text is never retried (the reply would be duplicated).
RETRY_DELAYS = (0.5, 1.5)
MESSAGE_MAX = 160


def safe_url(url: str) -> str:
    """`url` without credentials, query or fragment: fit for logs and messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}".rstrip("/")


def _server_message(response: httpx.Response) -> str:
    """The short reason a server gave for an error status, from its JSON body if it has one."""
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    if isinstance(body, dict):
        error = body.get("error", body.get("detail", body))
        if isinstance(error, dict):
            error = error.get("message", error.get("msg", error))
        body = error
    text = " ".join(str(body).split())
    return text[:MESSAGE_MAX] + ("…" if len(text) > MESSAGE_MAX else "")


class ServerClient:
    """An `httpx.AsyncClient` for one inference server, raising `RemoteError` for every fault."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        key_setting: str,
        timeout: float = 300.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.label = safe_url(base_url)
        self.key_setting = key_setting
        self.timeout = timeout
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers=headers,
            # A long prompt can take minutes before the first byte; connecting should not.
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
        )

    @contextmanager
    def failures(self) -> Iterator[None]:
        """Turn transport and status errors into one short `RemoteError` naming the server."""
        try:
            yield
        except httpx.ConnectError as exc:
            raise self.error("is not reachable", "is not reachable right now") from exc
        except httpx.TimeoutException as exc:
            raise self.error(
                f"did not answer within {self.timeout:g} s (BACKEND_TIMEOUT_SECONDS)",
                "did not answer in time",
            ) from exc
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            raise self.error("closed the connection mid-reply", "stopped mid-reply") from exc
        except httpx.HTTPStatusError as exc:
            raise status_error(exc.response, self.label, self.key_setting) from exc
        except (httpx.HTTPError, ValueError) as exc:
            # ValueError: a body that is not the JSON the API documents.
            raise self.error(
                f"gave an unexpected answer ({type(exc).__name__})", "gave an unexpected answer"
            ) from exc

    def error(self, what: str, notice: str) -> RemoteError:
        """'The model server at URL <what>.', with '<notice>' for channels."""
        return RemoteError(
            f"The model server at {self.label} {what}.", f"The model server {notice}."
        )

    async def _send(
        self, method: str, path: str, body: Any, *, stream: bool = False, sse: bool = False
    ) -> httpx.Response:
        """Send, retrying with backoff while nothing was answered; an error status raises."""
        headers = {"Accept": "text/event-stream"} if sse else {}
        if stream:
            # llama-server closes the connection after a stream although it answers keep-alive;
            # a pooled connection reused after one fails. A stream opens its own.
            headers["Connection"] = "close"
        request = self._http.build_request(method, path, json=body, headers=headers)
        for attempt, delay in enumerate((*RETRY_DELAYS, None)):
            try:
                response = await self._http.send(request, stream=stream)
            except (httpx.ConnectError, httpx.RemoteProtocolError):
                # Refused, or closed before any answer: nothing was generated for us yet.
                if delay is None:
                    raise
                log.debug("%s not reachable, retry %d in %.1f s", self.label, attempt + 1, delay)
                await asyncio.sleep(delay)
                continue
            if response.is_error:
                await response.aread()
                await response.aclose()
                response.raise_for_status()
            return response
        raise AssertionError("unreachable")

    async def get_json(self, path: str) -> Any:
        """GET `path` and decode its JSON body."""
        with self.failures():
            return (await self._send("GET", path, None)).json()

    async def post_json(self, path: str, body: Any) -> Any:
        """POST `body` as JSON to `path` and decode the JSON answer."""
        with self.failures():
            return (await self._send("POST", path, body)).json()

    async def stream(self, path: str, body: Any, *, sse: bool = True) -> AsyncIterator[str]:
        """POST `body`; yield each server-sent event's data, or each non-empty line (NDJSON).

        Only opening the connection is retried: once the answer has started nothing is sent
        again. Closing this iterator early closes the connection, which stops the generation.
        """
        with self.failures():
            response = await self._send("POST", path, body, stream=True, sse=sse)
            try:
                if sse:
                    async for event in EventSource(response).aiter_sse():
                        yield event.data
                else:
                    async for line in response.aiter_lines():
                        if line.strip():
                            yield line
            finally:
                await response.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()


def status_error(response: httpx.Response, label: str, key_setting: str) -> RemoteError:
    """The short error for an HTTP error status; a refused key names `key_setting`."""
    status, reason = response.status_code, _server_message(response)
    if status == 429 or (status == 503 and "busy" in reason.lower()):
        what, notice = "is busy (HTTP {status})", "is busy; try again in a moment"
    elif status in (401, 403):
        what, notice = "refused the key ({key})", "refused Tavernkeep's key"
    elif status >= 500:
        what, notice = "failed (HTTP {status}: {reason})", "failed"
    else:
        what, notice = "refused a request (HTTP {status}: {reason})", "refused the request"
    what = what.format(status=status, reason=reason, key=key_setting)
    return RemoteError(f"The model server at {label} {what}.", f"The model server {notice}.")


def decode(data: str) -> Any:
    """One streamed JSON event; a server-side error inside the stream becomes a `RemoteError`."""
    try:
        event = json.loads(data)
    except ValueError as exc:
        raise RemoteError(
            f"The model server sent a malformed event: {data[:60]!r}",
            "The model server gave an unexpected answer.",
        ) from exc
    if isinstance(event, dict) and event.get("error"):
        error = event["error"]
        message = error.get("message", error) if isinstance(error, dict) else error
        raise RemoteError(
            f"The model server failed mid-reply: {str(message)[:MESSAGE_MAX]}",
            "The model server failed mid-reply.",
        )
    return event
