"""Redis replies as text, whether or not the client was built with `decode_responses=True`."""


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
