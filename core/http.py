def public(view):
    """Marks a view that needs no login (health checks, the login page itself). It lives
    here, below every app, so core's own views can say so; `accounts.scoping` offers it
    beside the other permission decorators."""
    view.permission = "public"
    return view


def client_ip(request) -> str | None:
    """The peer address. Behind a reverse proxy, daphne's --proxy-headers puts the real one here."""
    return request.META.get("REMOTE_ADDR") or None


def wants_json(request) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get(
        "Accept", ""
    )


def private_download(item):
    """A stored upload (with `.file` and `.name`) as a download: never rendered by the
    browser, never cached; 404 when the file is gone from storage."""
    from django.http import FileResponse, Http404

    try:
        handle = item.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404 from exc
    response = FileResponse(
        handle, as_attachment=True, filename=item.name, content_type="application/octet-stream"
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


SPOOL_CHUNK = 256 * 1024


def spooled_download(request, spool, *, filename: str, content_type: str):
    """A temporary file the view wrote (a zip, say) as a download, sent in chunks and
    closed afterwards. Under ASGI as an asynchronous iterator: Django's handler would
    otherwise read a synchronous one (FileResponse's too) whole into memory first."""
    from asgiref.sync import sync_to_async
    from django.core.handlers.asgi import ASGIRequest
    from django.http import StreamingHttpResponse
    from django.utils.http import content_disposition_header

    spool.seek(0, 2)
    size = spool.tell()
    spool.seek(0)

    def chunks():
        try:
            while block := spool.read(SPOOL_CHUNK):
                yield block
        finally:
            spool.close()

    async def achunks():
        read = sync_to_async(spool.read, thread_sensitive=False)
        try:
            while block := await read(SPOOL_CHUNK):
                yield block
        finally:
            spool.close()

    response = StreamingHttpResponse(
        achunks() if isinstance(request, ASGIRequest) else chunks(), content_type=content_type
    )
    response["Content-Length"] = str(size)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
