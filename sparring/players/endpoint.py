"""An OpenAI-compatible endpoint over HTTP: JSON requests with a timeout, retries with backoff, and
errors that say in one line what went wrong.

Only the standard library talks to the network. A timeout, a dropped or refused connection, HTTP 429
or 5xx, or a body that is not JSON is tried again after ``backoff`` seconds, then twice that, and so
on (a 429's ``Retry-After`` when it asks for longer); once ``retries`` more tries have failed the
request raises :class:`TransportError`, and later requests try once each until one gets an answer:
a server that died costs one round of waiting, not one per turn. Any other HTTP error status raises
:class:`RefusedError` at once: trying again would get the same answer. The API key goes out as a bearer token and is blanked
from every message the server sends back, so no error text carries it.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

RETRIED_STATUS = (429, 500, 502, 503, 504)
LONGEST_WAIT = 60.0  # seconds: a Retry-After longer than this is not waited for in full


class EndpointError(Exception):
    """A request that got no usable answer."""


class TransportError(EndpointError):
    """No answer after every try: timeouts, dropped connections, 429/5xx or bodies that are not JSON."""


class RefusedError(EndpointError):
    """The server answered with an HTTP error that trying again would not change (400, 401, 404...)."""

    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


@dataclass
class Endpoint:
    """The base URL of an OpenAI-compatible API (``http://host:port/v1``) and how to call it."""

    url: str
    key: str | None = field(default=None, repr=False)
    timeout: float = 60.0
    retries: int = 4
    backoff: float = 1.0
    down: bool = field(default=False, init=False)  # a request used up its retries and none has got through since

    def get(self, path: str) -> Any:
        return self._request(path, None)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self._request(path, json.dumps(body).encode())

    def _request(self, path: str, data: bytes | None) -> Any:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        problem = ""
        tries = 1 if self.down else self.retries + 1
        for attempt in range(tries):
            if attempt:
                time.sleep(wait)
            wait = self.backoff * 2 ** attempt
            try:
                request = urllib.request.Request(self.url + path, data=data, headers=headers)
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    body = response.read()
            except urllib.error.HTTPError as error:
                text = self._blank(error.read().decode(errors="replace"))
                if error.code not in RETRIED_STATUS:
                    self.down = False
                    raise RefusedError(error.code, server_message(text)) from None
                problem = f"HTTP {error.code}: {server_message(text)}"
                wait = max(wait, min(retry_after(error.headers.get("Retry-After")), LONGEST_WAIT))
                continue
            except TimeoutError:
                problem = f"no reply within {self.timeout:g} s"
                continue
            except urllib.error.URLError as error:
                timed_out = isinstance(error.reason, TimeoutError)
                problem = f"no reply within {self.timeout:g} s" if timed_out else f"cannot connect ({error.reason})"
                continue
            except (ConnectionError, http.client.HTTPException) as error:
                problem = f"the connection broke ({type(error).__name__}: {error})"
                continue
            try:
                found = json.loads(body)
            except ValueError:
                problem = f"the reply is not JSON ({self._blank(body[:80].decode(errors='replace'))!r})"
                continue
            self.down = False
            return found
        self.down = True
        raise TransportError(f"{problem} ({tries} {'try' if tries == 1 else 'tries'})")

    def _blank(self, text: str) -> str:
        return text.replace(self.key, "***") if self.key else text


def server_message(text: str) -> str:
    """The one line a server's error body says: OpenAI's ``{"error": {"message": ...}}``, else its first line."""
    try:
        found = json.loads(text)
    except ValueError:
        found = None
    if isinstance(found, dict):
        error = found.get("error", found)
        message = error.get("message") if isinstance(error, dict) else error
        if isinstance(message, str) and message.strip():
            text = message
    lines = text.strip().splitlines()
    return lines[0][:200] if lines else "(empty body)"


def retry_after(value: str | None) -> float:
    """Seconds a ``Retry-After`` header asks to wait (0 when absent or given as a date)."""
    try:
        return max(0.0, float(value)) if value else 0.0
    except ValueError:
        return 0.0
