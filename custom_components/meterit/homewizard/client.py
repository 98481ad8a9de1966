"""REST client of the HomeWizard local API v2 (HTTPS, bearer token), on a caller's session."""

from __future__ import annotations

import asyncio
from http import HTTPStatus
import json
import logging
import re
import ssl
from typing import Final

import aiohttp
from yarl import URL

from .errors import (
    CertificateError,
    ConnectionFailedError,
    DeviceApiError,
    IdentityMismatchError,
    InvalidResponseError,
    RegistrationNotEnabledError,
    UnauthorizedError,
    UnsupportedDeviceError,
)
from .models import DeviceInfo, ParsedMeasurement, SystemInfo, parse_measurement

__all__ = [
    "USER_NAME_PATTERN",
    "HomeWizardClient",
    "certificate_error",
    "describe_certificate_error",
]

_LOGGER = logging.getLogger("custom_components.meterit.homewizard")

#: The device's rule for a user name, including the mandatory ``local/`` prefix.
USER_NAME_PATTERN: Final = re.compile(r"^local/[a-zA-Z0-9\-_/\\# ]{1,40}$")
_MAX_BODY: Final = 1 << 20
_MAX_CODE: Final = 100  # longer device error codes are not trusted into messages
_HOSTNAME_MISMATCH: Final = 62  # X509_V_ERR_HOSTNAME_MISMATCH


def _verify_error(err: BaseException) -> ssl.SSLCertVerificationError | None:
    inner: BaseException = err
    if isinstance(err, aiohttp.ClientConnectorCertificateError):
        # (aiohttp's error also claims to be an ssl.CertificateError, so unwrap it first)
        inner = err.certificate_error
    return inner if isinstance(inner, ssl.SSLCertVerificationError) else None


def certificate_error(
    err: BaseException, host: str, identifier: str | None, where: str = ""
) -> CertificateError:
    """The error of a TLS verification failure, its message prefixed with ``where``.

    :class:`IdentityMismatchError` when the certificate is for another device (the name check
    against ``identifier`` failed), else :class:`CertificateError`.
    """
    message = where + describe_certificate_error(err, host, identifier)
    verify = _verify_error(err)
    if verify is not None and verify.verify_code == _HOSTNAME_MISMATCH:
        return IdentityMismatchError(message)
    return CertificateError(message)


def describe_certificate_error(err: BaseException, host: str, identifier: str | None) -> str:
    """Explain a TLS verification failure: untrusted CA or unexpected identity."""
    verify = _verify_error(err)
    if verify is not None and verify.verify_code == _HOSTNAME_MISMATCH:
        return (
            f"the certificate of {host} is not for the expected device {identifier!r} "
            f"(a different device answers at this address)"
        )
    if verify is not None:
        reason = verify.verify_message or str(verify)
        return f"the certificate of {host} is not signed by the trusted HomeWizard CA ({reason})"
    return f"TLS handshake with {host} failed ({err})"


class HomeWizardClient:
    """Talk to one HomeWizard device over its local API v2.

    The ``session`` belongs to the caller (Home Assistant's shared session). The token is
    never logged, never put in an exception message, and hidden from ``repr``.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        host: str,
        *,
        ssl_context: ssl.SSLContext,
        identifier: str | None = None,
        token: str | None = None,
        port: int = 443,
        timeout: float = 10.0,
    ) -> None:
        """Prepare a client; nothing is sent until a method is awaited.

        ``host`` is an IPv4/IPv6 address or a host name (IPv6 without brackets is fine).
        ``identifier`` (``appliance/<type>/<serial>``) is checked against the certificate CN;
        pass ``None`` only together with a context built with ``verify_identity=False``.
        """
        self._session = session
        self.host = host.strip("[]")
        self.port = port
        self.identifier = identifier
        self._ssl = ssl_context
        self._token = token
        self._timeout = timeout
        self._base = URL.build(scheme="https", host=self.host, port=port)

    def __repr__(self) -> str:
        """Describe the client without its token."""
        token = "set" if self._token else "none"
        return (
            f"HomeWizardClient(host={self.host!r}, port={self.port}, "
            f"identifier={self.identifier!r}, token=<{token}>)"
        )

    @property
    def has_token(self) -> bool:
        """True if the client holds a token (given or obtained by ``register``)."""
        return self._token is not None

    async def _request(
        self, method: str, path: str, *, body: object = None, with_token: bool = True
    ) -> tuple[int, object]:
        """Send one request; return (status, decoded JSON or None). Map errors to ours."""
        headers = {"Accept": "application/json", "X-Api-Version": "2"}
        if with_token and self._token is not None:
            headers["Authorization"] = f"Bearer {self._token}"
        url = self._base.with_path(path)
        where = f"{method} {path} on {self.host}"
        try:
            async with asyncio.timeout(self._timeout):
                async with self._session.request(
                    method,
                    url,
                    json=body,
                    headers=headers,
                    ssl=self._ssl,
                    server_hostname=self.identifier,
                    allow_redirects=False,
                ) as resp:
                    status = resp.status
                    raw = bytearray()
                    async for chunk in resp.content.iter_chunked(1 << 16):
                        raw += chunk
                        if len(raw) > _MAX_BODY:
                            break
        except TimeoutError as err:
            raise ConnectionFailedError(f"{where}: no answer within {self._timeout:g} s") from err
        except (aiohttp.ClientSSLError, ssl.SSLError) as err:
            raise certificate_error(err, self.host, self.identifier, f"{where}: ") from err
        except (aiohttp.ClientError, OSError) as err:
            raise ConnectionFailedError(f"{where}: {type(err).__name__}: {err}") from err
        _LOGGER.debug("%s -> HTTP %s (%d bytes)", where, status, len(raw))
        if len(raw) > _MAX_BODY:
            raise InvalidResponseError(f"{where}: response larger than {_MAX_BODY} bytes")
        data: object = None
        if raw.strip():
            try:
                data = json.loads(raw)
            except (ValueError, RecursionError) as err:
                if status < 300:
                    raise InvalidResponseError(f"{where}: response is not JSON") from err
        if status == HTTPStatus.UNAUTHORIZED:
            raise UnauthorizedError(f"{where}: the device rejected the token (HTTP 401)")
        if status >= 300:
            code = data.get("error") if isinstance(data, dict) else None
            if not isinstance(code, str) or len(code) > _MAX_CODE:
                code = f"http:{status}"
            if code == "user:creation-not-enabled":
                raise RegistrationNotEnabledError(
                    f"{where}: user creation is not enabled; press the button on the device"
                )
            raise DeviceApiError(code, f"{where}: device returned {code!r} (HTTP {status})")
        return status, data

    async def device(self) -> DeviceInfo:
        """``GET /api``: product, serial, firmware and API version.

        Sends the token if the client has one. Without a token, a v2 device may answer 401:
        that raises UnauthorizedError, which still proves the device speaks API v2.
        Raises UnsupportedDeviceError on 404 or an ``api_version`` that is not 2.x.
        """
        try:
            _, data = await self._request("GET", "/api")
        except DeviceApiError as err:
            if err.code == f"http:{HTTPStatus.NOT_FOUND}" or err.code.endswith("not-found"):
                raise UnsupportedDeviceError(
                    f"{self.host} has no local API v2 (GET /api answered 404)"
                ) from err
            raise
        info = DeviceInfo.from_dict(data)
        if info.api_version.split(".")[0] != "2":
            raise UnsupportedDeviceError(
                f"{self.host} speaks API version {info.api_version!r}, not 2.x"
            )
        return info

    async def measurement(self) -> ParsedMeasurement:
        """``GET /api/measurement``: the latest measurement and any per-field problems."""
        _, data = await self._request("GET", "/api/measurement")
        return parse_measurement(data)

    async def system(self) -> SystemInfo:
        """``GET /api/system``: Wi-Fi, uptime and cloud state."""
        _, data = await self._request("GET", "/api/system")
        return SystemInfo.from_dict(data)

    async def identify(self) -> None:
        """``PUT /api/system/identify``: blink the device's LED."""
        await self._request("PUT", "/api/system/identify")

    @staticmethod
    def _user(name: str) -> str:
        full = f"local/{name}"
        if not USER_NAME_PATTERN.fullmatch(full):
            raise ValueError(
                f"user name {name!r} is invalid: 1-40 characters of letters, digits, "
                "space and - _ / \\ #"
            )
        return full

    async def register(self, name: str) -> str:
        """``POST /api/user`` as ``local/<name>``; return the new token and keep it.

        Raises ValueError for a name the device would refuse (checked before sending),
        RegistrationNotEnabledError until the button on the device was pressed (then the
        caller has 30 s to call again). Re-using a name revokes that name's previous token.
        """
        body = {"name": self._user(name)}
        _, data = await self._request("POST", "/api/user", body=body, with_token=False)
        token = data.get("token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise InvalidResponseError("POST /api/user: the response has no string 'token'")
        self._token = token
        return token

    async def delete_user(self, name: str) -> None:
        """``DELETE /api/user`` for ``local/<name>``: the device forgets that user's token."""
        await self._request("DELETE", "/api/user", body={"name": self._user(name)})
