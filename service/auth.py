"""API keys -> tenants. The service stores only each key's SHA-256, never the key itself.

Entries are `sha256hex:tenant`, from EBMM_API_KEYS (comma or newline separated) and/or the lines of
EBMM_API_KEYS_FILE (`#` starts a comment). Several keys may name one tenant (rotation: add the new key, move
clients over, drop the old one). A presented key is hashed and compared with every stored hash by
`hmac.compare_digest`, without stopping at a match, so the time taken says nothing about which key matched.
Without any entry the service refuses to start, unless EBMM_AUTH_DISABLED=true (local development only:
every request is then tenant `dev`, and start-up logs a warning).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from dataclasses import dataclass

from service.errors import ApiError
from service.settings import Settings

log = logging.getLogger(__name__)

DEV_TENANT = "dev"
TENANT_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # it becomes part of Redis keys: no braces, colons, spaces
_ENTRY = re.compile(r"(?P<digest>[0-9a-fA-F]{64}):(?P<tenant>.*)")


class AuthConfigError(ValueError):
    """No usable key configuration: the service must not start."""


def key_digest(key: str) -> str:
    """The hex SHA-256 of a key: what EBMM_API_KEYS holds (`printf %s KEY | sha256sum`)."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class ApiKeys:
    """The (SHA-256 digest, tenant) pairs of every accepted key."""

    entries: tuple[tuple[bytes, str], ...]

    @property
    def tenants(self) -> set[str]:
        return {tenant for _, tenant in self.entries}

    @classmethod
    def parse(cls, text: str, source: str) -> ApiKeys:
        """`sha256hex:tenant` entries separated by commas or newlines; blank entries and `#` comments skipped."""
        entries = []
        for number, line in enumerate(text.splitlines(), 1):
            for raw in line.split("#", 1)[0].split(","):
                entry = raw.strip()
                if not entry:
                    continue
                match = _ENTRY.fullmatch(entry)
                if match is None or not TENANT_PATTERN.fullmatch(match["tenant"]):
                    raise AuthConfigError(
                        f"{source} line {number}: expected `sha256hex:tenant` (64 hex digits, tenant of "
                        f"1-64 letters, digits, '_', '.', '-'), got {entry[:12]!r}…"
                    )
                entries.append((bytes.fromhex(match["digest"]), match["tenant"]))
        return cls(tuple(entries))

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiKeys | None:
        """The configured keys; None when auth is disabled; AuthConfigError when neither is configured."""
        if settings.auth_disabled:
            log.warning(
                "AUTHENTICATION IS DISABLED (EBMM_AUTH_DISABLED=true): every request acts as tenant %r. "
                "For local development only; set EBMM_API_KEYS or EBMM_API_KEYS_FILE anywhere else.",
                DEV_TENANT,
            )
            return None
        entries: list[tuple[bytes, str]] = []
        if settings.api_keys:
            entries += cls.parse(settings.api_keys, "EBMM_API_KEYS").entries
        if settings.api_keys_file is not None:
            try:
                text = settings.api_keys_file.read_text(encoding="utf-8")
            except OSError as exc:
                raise AuthConfigError(f"EBMM_API_KEYS_FILE {settings.api_keys_file}: {exc.strerror}") from exc
            entries += cls.parse(text, f"EBMM_API_KEYS_FILE {settings.api_keys_file}").entries
        if not entries:
            raise AuthConfigError(
                "no API keys configured: set EBMM_API_KEYS or EBMM_API_KEYS_FILE to `sha256hex:tenant` entries "
                "(see README 'Service API'), or EBMM_AUTH_DISABLED=true for local development only"
            )
        return cls(tuple(entries))

    def tenant_of(self, key: str | bytes) -> str | None:
        """The tenant of a presented key (bytes as sent, or text as UTF-8), or None; compares against every
        entry in constant time."""
        digest = hashlib.sha256(key if isinstance(key, bytes) else key.encode()).digest()
        found = None
        for stored, tenant in self.entries:
            if hmac.compare_digest(stored, digest):
                found = tenant
        return found


def unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


def authenticate_headers(keys: ApiKeys | None, authorization: str | None, api_key: str | None) -> str:
    """The tenant of a request's raw `Authorization` / `X-API-Key` headers (checked before its body is read)."""
    bearer = None
    if authorization:  # one rule: an Authorization header must be Bearer, whatever else the request carries
        scheme, _, credentials = authorization.partition(" ")
        if keys is not None and scheme.lower() != "bearer":
            raise unauthorized("Authorization must be `Bearer <key>` (or send only `X-API-Key: <key>`)")
        bearer = credentials.strip() or None
    return authenticate(keys, bearer, api_key)


def authenticate(keys: ApiKeys | None, bearer: str | None, api_key: str | None) -> str:
    """The request's tenant from `Authorization: Bearer <key>` or `X-API-Key: <key>`; 401 when neither is valid."""
    if keys is None:
        return DEV_TENANT
    presented = bearer or api_key
    if not presented:
        raise unauthorized("missing API key: send `Authorization: Bearer <key>` or `X-API-Key: <key>`")
    try:  # header values reach us as latin-1 text: encoding it back gives the bytes sent (a UTF-8 key's bytes)
        raw: str | bytes = presented.encode("latin-1")
    except UnicodeEncodeError:
        raw = presented
    tenant = keys.tenant_of(raw)
    if tenant is None:
        raise unauthorized("invalid API key")
    return tenant
