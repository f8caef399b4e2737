"""The one exception of the client: an error answer of the service (or a body this client cannot read)."""

from __future__ import annotations

import json

import httpx

REQUEST_ID_HEADER = "X-Request-Id"


class EBMMError(Exception):
    """An error response: HTTP `status` and the service's `{"error": {"type", "message", "field", "request_id"}}`.

    `field` names the request field at fault (or None); `request_id` is the body's, else the response's
    X-Request-Id header (None when the server sent neither); `headers` holds e.g. Retry-After on 429/503.
    """

    def __init__(
        self,
        status: int,
        type: str,
        message: str,
        field: str | None = None,
        request_id: str | None = None,
        headers: httpx.Headers | None = None,
    ) -> None:
        where = f" (field {field})" if field else ""
        ident = f" [request {request_id}]" if request_id else ""
        super().__init__(f"{status} {type}: {message}{where}{ident}")
        self.status, self.type, self.message, self.field = status, type, message, field
        self.request_id = request_id
        self.headers = headers if headers is not None else httpx.Headers()

    @classmethod
    def from_response(cls, response: httpx.Response) -> EBMMError:
        """The error of a non-2xx response; a body that is not the service's error shape becomes type "http"."""
        try:
            error = json.loads(response.content)["error"]
            kind, message = str(error["type"]), str(error["message"])
        except (ValueError, KeyError, TypeError):
            error, kind, message = {}, "http", response.text or response.reason_phrase
        request_id = error.get("request_id") or response.headers.get(REQUEST_ID_HEADER)
        return cls(response.status_code, kind, message, error.get("field"), request_id, response.headers)
