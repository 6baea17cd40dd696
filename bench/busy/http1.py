"""A small asyncio HTTP/1.1 client for the busy day's load generators (standard library
only: neither aiohttp nor httpx is in the platform's .venv).

One `Browser` is one browser tab of one person: its own keep-alive connection (opened
on demand, reopened when the server or the balancer closes it), its own cookies and
an X-Forwarded-For address of its own (every school sits behind its own address, so
the per-address login limits see what they would see in production). Redirects are
not followed: an action is timed up to the server's answer.
"""

from __future__ import annotations

import asyncio
import re
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urlsplit

_INPUT = re.compile(r"<input\b[^>]*>", re.IGNORECASE)
_ATTR = re.compile(r"""([\w-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")


class HttpError(Exception):
    """The server did not answer as a browser would expect."""


def input_value(html: str, name: str) -> str | None:
    """The value of the first <input name=...> in the page (the CSRF token among them)."""
    for tag in _INPUT.findall(html):
        attrs = {m[0].lower(): m[1] or m[2] for m in _ATTR.findall(tag)}
        if attrs.get("name") == name:
            return attrs.get("value", "")
    return None


class Response:
    __slots__ = ("status", "headers", "text")

    def __init__(self, status: int, headers: dict[str, str], text: str):
        self.status, self.headers, self.text = status, headers, text


class Browser:
    def __init__(self, base: str, *, cookie: str = "", xff: str = "", timeout: float = 60.0):
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.timeout = timeout
        self.xff = xff
        self.cookies: dict[str, str] = {}
        for pair in filter(None, (p.strip() for p in cookie.split(";"))):
            k, _, v = pair.partition("=")
            self.cookies[k] = v
        self.csrf: str | None = None
        self._r: asyncio.StreamReader | None = None
        self._w: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> Response:
        return await self.request("GET", path)

    async def post(self, path: str, fields: dict) -> Response:
        return await self.request("POST", path, fields)

    async def request(self, method: str, path: str, fields: dict | None = None) -> Response:
        return await asyncio.wait_for(self._request(method, path, fields), self.timeout)

    async def _request(self, method: str, path: str, fields: dict | None) -> Response:
        body = urlencode(fields, doseq=True).encode() if fields is not None else b""
        lines = [
            f"{method} {path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            "User-Agent: xueji-bench-busy-day",
            "Accept: text/html",
            f"Origin: http://{self.host}:{self.port}",
            f"Referer: http://{self.host}:{self.port}{path}",
        ]
        if self.xff:
            lines.append(f"X-Forwarded-For: {self.xff}")
        if self.cookies:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        if fields is not None:
            lines.append("Content-Type: application/x-www-form-urlencoded")
        lines.append(f"Content-Length: {len(body)}")
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace") + body
        for attempt in (1, 2):
            reused = self._w is not None
            if self._w is None:
                self._r, self._w = await asyncio.open_connection(self.host, self.port)
            try:
                self._w.write(raw)
                await self._w.drain()
                response = await self._read()
            except (ConnectionError, asyncio.IncompleteReadError, EOFError):
                self.close()
                # A kept-alive connection closed meanwhile fails before the request is read.
                if reused and attempt == 1:
                    continue
                raise
            break
        return response

    async def _read(self) -> Response:
        r = self._r
        status_line = await r.readline()
        if not status_line:
            raise EOFError("connection closed before the answer")
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        cookies: list[str] = []
        while True:
            line = (await r.readline()).decode("latin-1")
            if line in ("\r\n", "\n", ""):
                break
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "set-cookie":
                cookies.append(value)
            headers[name] = value
        if "content-length" in headers:
            data = await r.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await r.readline()).split(b";")[0], 16)
                if size == 0:
                    await r.readline()
                    break
                parts.append(await r.readexactly(size))
                await r.readline()
            data = b"".join(parts)
        else:
            data = await r.read()
            headers["connection"] = "close"
        for value in cookies:
            jar = SimpleCookie()
            jar.load(value)
            for name, morsel in jar.items():
                if morsel.value == "" or morsel["max-age"] == "0":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Response(status, headers, data.decode(errors="replace"))

    def close(self) -> None:
        if self._w is not None:
            self._w.close()
        self._r = self._w = None

    # --- browser steps -------------------------------------------------------------------

    async def form(self, path: str) -> str:
        """GET a form page and keep its CSRF token."""
        r = await self.get(path)
        if r.status != 200:
            raise HttpError(f"GET {path}: {r.status}")
        token = input_value(r.text, "csrfmiddlewaretoken")
        if not token:
            raise HttpError(f"GET {path}: no csrfmiddlewaretoken")
        self.csrf = token
        return r.text

    async def submit(self, path: str, fields: dict) -> Response:
        """POST a form as the page would; a Django form accepted answers with a redirect.
        The flash message rides in the `messages` cookie until a page shows it: a
        browser follows the redirect and it is gone, so drop it here."""
        r = await self.post(path, {"csrfmiddlewaretoken": self.csrf or "", **fields})
        self.cookies.pop("messages", None)
        if r.status not in (301, 302, 303):
            raise HttpError(f"POST {path}: {r.status}")
        return r

    async def login(self, username: str, password: str) -> None:
        """allauth's login page: GET for the CSRF cookie and token, POST the password."""
        await self.form("/auth/login/")
        r = await self.post(
            "/auth/login/",
            {"csrfmiddlewaretoken": self.csrf, "login": username, "password": password},
        )
        if r.status not in (301, 302, 303):
            raise HttpError(f"login {username}: {r.status}")
        self.csrf = None  # rotated at login

    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())
