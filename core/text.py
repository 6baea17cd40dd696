"""Whether text can be stored at all: JSON (the roll API, socket frames) can carry
what no database column takes — a NUL, or a lone UTF-16 surrogate from an escape
like \\ud800. Forms cannot (Django refuses NUL and decodes bytes), so services
that take JSON check with this before writing."""


def storable(text: str) -> bool:
    if "\x00" in text:
        return False
    if text.isascii():  # no surrogate can hide there (and isascii costs nothing)
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True
