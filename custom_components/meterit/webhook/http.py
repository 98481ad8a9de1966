"""HTTP for the power webhook: read a request's body within its limit, and answer in JSON.

The handler reads bodies with :func:`read_body` (exactly the declared ``Content-Length``, or up
to ``MAX_BODY_BYTES`` when chunked); the handler and the readings view answer with
:func:`json_response` (compact JSON, no NaN).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from http import HTTPStatus
import json
from typing import Final

from aiohttp import StreamReader, hdrs, web

from ..powerhook import MAX_BODY_BYTES, BodyError

METHODS: Final = frozenset({hdrs.METH_POST, hdrs.METH_PUT})
"""The methods that post readings."""
_MAX_LENGTH_DIGITS: Final = 18
ENCODER: Final = json.JSONEncoder(allow_nan=False, separators=(",", ":"))


def declared_length(header: str | None) -> int | None:
    """The ``Content-Length``: ASCII digits, few enough of them for ``int``.

    (``str.isdigit`` alone also takes a superscript or another script's digits, which ``int``
    refuses or reads; more than ``_MAX_LENGTH_DIGITS`` digits is over the limit anyway.)
    """
    if header is None:
        return None
    text = header.strip()
    if not (text.isdigit() and text.isascii()):
        raise BodyError("content-length", "is not a number of bytes")
    if len(text) > _MAX_LENGTH_DIGITS:
        raise BodyError("body", f"{text[:20]}... bytes is over the limit of {MAX_BODY_BYTES}")
    return int(text)


async def read_body(request: web.Request, declared: int | None) -> bytes:
    """The body: exactly its declared length, or (chunked) up to :data:`MAX_BODY_BYTES`."""
    if declared is None:
        return await read_limited(request)
    if declared == 0:
        return b""  # (aiohttp's empty stream refuses even readexactly(0))
    content: object = request.content  # (typed as a StreamReader, which a stand-in is not)
    if not isinstance(content, StreamReader):
        # a cloudhook or the ``webhook/handle`` command: a stand-in stream that only has read()
        return await read_limited(request)
    if content.is_eof():  # all of it has arrived (a small body usually has): no waiting
        return content.read_nowait()
    # a client that hangs up early ends the request in aiohttp: no short read reaches us
    return await content.readexactly(declared)


async def read_limited(request: web.Request) -> bytes:
    """Read the body, refusing it as soon as it passes :data:`MAX_BODY_BYTES`."""
    content = request.content  # (a stand-in request makes a new stream at every access)
    chunks: list[bytes] = []
    size = 0
    while chunk := await content.read(MAX_BODY_BYTES + 1 - size):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyError("body", f"more than {MAX_BODY_BYTES} bytes")
    return b"".join(chunks)


def iso(t: float) -> str:
    """A UTC unix time as ISO 8601 (the answers' and the readings view's times)."""
    return datetime.fromtimestamp(t, UTC).isoformat()


def bad_request(err: BodyError) -> web.Response:
    """400 naming the field and the problem."""
    return json_response(
        {"error": "invalid_request", "field": err.field, "problem": err.problem},
        HTTPStatus.BAD_REQUEST,
    )


def method_not_allowed(method: str) -> web.Response:
    """405 for any method but POST and PUT; HEAD gets a 200.

    (A website may check that the URL exists, as the webhook component lets it.)
    """
    if method == hdrs.METH_HEAD:
        return web.Response(status=HTTPStatus.OK)
    response = json_response(
        {"error": "method_not_allowed", "problem": "send readings with POST (or PUT)"},
        HTTPStatus.METHOD_NOT_ALLOWED,
    )
    response.headers[hdrs.ALLOW] = "POST, PUT"
    return response


def json_response(body: Mapping[str, object], status: HTTPStatus) -> web.Response:
    """``body`` as compact JSON."""
    return json_answer(ENCODER.encode(body).encode(), status)


def json_answer(body: bytes, status: HTTPStatus = HTTPStatus.OK) -> web.Response:
    """An answer already encoded as JSON."""
    return web.Response(body=body, status=status, content_type="application/json")
