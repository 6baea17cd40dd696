def client_ip(request) -> str | None:
    """The peer address. Behind a reverse proxy, daphne's --proxy-headers puts the real one here."""
    return request.META.get("REMOTE_ADDR") or None


def wants_json(request) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get(
        "Accept", ""
    )
