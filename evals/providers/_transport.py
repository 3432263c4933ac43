"""An HTTP transport for the official SDKs built on aiohttp's connection pool.

The SDKs speak HTTP through ``httpx``; its pool costs more CPU per request than the SDK's own
work at a few hundred calls a second. Passing ``http_client=httpx.AsyncClient(transport=
AiohttpTransport())`` keeps the SDKs (request building, errors, parsing) and swaps only the
socket layer for aiohttp's, which is several times cheaper per request.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import httpx2 as httpx


def _timeout(request: httpx.Request) -> aiohttp.ClientTimeout:
    spec: dict[str, Any] = request.extensions.get("timeout", {})
    return aiohttp.ClientTimeout(
        total=None, connect=spec.get("connect"), sock_read=spec.get("read"),
        sock_connect=spec.get("connect"),
    )  # fmt: skip


class AiohttpTransport(httpx.AsyncBaseTransport):
    """``httpx`` transport that sends requests through one ``aiohttp`` session.

    Args:
        max_connections: Connection pool size (the runner's concurrency is lower anyway).
    """

    def __init__(self, max_connections: int = 1000) -> None:
        """Create the transport; the session opens on first use (inside the event loop)."""
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._max_connections, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(
                connector=connector, auto_decompress=True, cookie_jar=aiohttp.DummyCookieJar()
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` and read the whole response (the SDK calls never stream here)."""
        body = await request.aread()
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
        try:
            async with self._get_session().request(
                request.method, str(request.url), data=body or None, headers=headers,
                timeout=_timeout(request), allow_redirects=False, skip_auto_headers=("User-Agent",),
            ) as reply:  # fmt: skip
                content = await reply.read()
                return httpx.Response(
                    reply.status, headers=list(reply.raw_headers), content=content,
                    request=request, extensions={"http_version": b"HTTP/1.1"},
                )  # fmt: skip
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise httpx.ReadTimeout(str(exc) or "timed out", request=request) from exc
        except aiohttp.ServerDisconnectedError as exc:
            raise httpx.RemoteProtocolError(str(exc), request=request) from exc
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        except aiohttp.ClientPayloadError as exc:
            raise httpx.RemoteProtocolError(str(exc), request=request) from exc
        except aiohttp.ClientError as exc:
            raise httpx.NetworkError(str(exc), request=request) from exc

    async def aclose(self) -> None:
        """Close the session and its connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None
