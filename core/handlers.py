"""Django's ASGI handler, with each request's synchronous work on a long-lived thread.

Django's own ASGIHandler enters a fresh `ThreadSensitiveContext()` per request, and
asgiref gives each such context a new one-thread executor: every HTTP request starts a
thread (and another to join it afterwards), and since Django's database connections
belong to a thread, opens a new PostgreSQL connection whatever DB_CONN_MAX_AGE says
(the old one is left for the garbage collector). Measured in-process
(bench/middleware.py): about 1.5 ms of the web process's CPU per request for the
connection alone, plus the server's fork of a backend.

This handler keeps HTTP_THREADS one-thread executors for the life of the process and
lends one to each request for its whole duration (asgiref's
`ThreadSensitiveContext(executor=…)`), so the request still runs all its sync code —
middleware, view, signals, response.close — on one thread, as Django requires, but
that thread and its database connection are reused. At most HTTP_THREADS requests are
inside Django at once; the others wait their turn on the event loop, in arrival order.
The middleware chain runs in sync mode, entered with one hand-off (load_middleware).

Bodies are capped at the door (settings.BODY_LIMITS, one table by path: config/limits.py):
a Content-Length past the path's limit is refused with 413 before a byte of the body
is read, and a body without one (chunked) as soon as its running total passes the limit.
The refusal closes the connection, so the server reads no more of it either.
"""

from __future__ import annotations

import asyncio
from collections import deque
from concurrent.futures import Executor, ThreadPoolExecutor
from contextvars import ContextVar

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler

from config.limits import BodyLimit, limit_for

# The executor and context lent to the request being handled in this task.
_lent: ContextVar[list] = ContextVar("lent")
# The body limit of the request being handled in this task (read_body gets no scope).
_limit: ContextVar[BodyLimit | None] = ContextVar("body_limit", default=None)


class BodyTooLarge(Exception):
    pass


def declared_length(scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def too_large_response(scope, limit: BodyLimit):
    """413 by core/errors.py, with `Connection: close`: the server stops reading the body."""
    from core.errors import error_response, too_large_message

    accept = next((v for n, v in scope.get("headers", ()) if n.lower() == b"accept"), b"")
    code, message = too_large_message(limit)
    return error_response(
        None,
        413,
        code=code,
        message=message,
        path=scope.get("path", "/"),
        accept=accept.decode("latin-1"),
        headers={"Connection": "close"},
    )


class PooledThreadASGIHandler(ASGIHandler):
    def __init__(self, threads: int):
        super().__init__()
        if threads < 1:
            raise ValueError("HTTP_THREADS must be at least 1")
        self._idle: deque[Executor] = deque(
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"http-{i}")
            for i in range(threads)
        )
        self._waiters: deque[asyncio.Future] = deque()

    def load_middleware(self, is_async=False):
        # The chain in sync mode, entered once per request below. Built in async mode
        # (Django's choice under ASGI), the first sync-only middleware from the inside
        # (MfaRequiredMiddleware) hops back to the event loop for the view's async
        # wrapper, which hops to a thread again for the (sync) view: two more hand-offs
        # per request. Every view of the platform is sync; an async one would still run
        # (Django wraps it in async_to_sync).
        super().load_middleware(is_async=False)

    async def get_response_async(self, request):
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        limit = limit_for(scope.get("path", "/"), settings.BODY_LIMITS)
        declared = declared_length(scope)
        if declared is not None and declared > limit.max_bytes:
            await self.send_response(too_large_response(scope, limit), send)
            return
        lent: list = []  # (executor, context), once read_body has the whole body
        token = _lent.set(lent)
        limit_token = _limit.set(limit)
        try:
            await self.handle(scope, receive, send)
        except BodyTooLarge:
            await self.send_response(too_large_response(scope, limit), send)
        finally:
            _limit.reset(limit_token)
            _lent.reset(token)
            if lent:
                executor, context = lent
                await context.__aexit__(None, None, None)
                self._release(executor)

    async def read_body(self, receive):
        """The body is read on the event loop before a thread is lent: a slow upload (a
        20 MB attachment from a school's slow line) holds no thread while it arrives.
        The thread is lent for the rest of the request (handle() runs it next, in this
        same task, so the context entered here is the one its work runs in)."""
        body = await self._read_capped(receive)
        try:
            executor = await self._acquire()
        except BaseException:
            body.close()
            raise
        context = ThreadSensitiveContext(executor=executor)
        await context.__aenter__()
        _lent.get().extend((executor, context))
        return body

    async def _read_capped(self, receive):
        """Django's read_body, refusing as soon as the running total passes the limit."""
        limit = _limit.get()
        if limit is None:
            return await super().read_body(receive)
        received = 0

        async def counting():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit.max_bytes:
                raise BodyTooLarge
            return message

        return await super().read_body(counting)

    async def _acquire(self) -> Executor:
        if self._idle and not self._waiters:
            return self._idle.pop()  # the thread used last: its connection is warm
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            # Cancelled after being handed an executor: pass it on, or it is lost.
            if waiter.done() and not waiter.cancelled():
                self._release(waiter.result())
            raise

    def _release(self, executor: Executor) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done() and not waiter.get_loop().is_closed():
                waiter.set_result(executor)
                return
        self._idle.append(executor)
