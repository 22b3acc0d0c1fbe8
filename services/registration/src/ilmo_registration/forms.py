"""Reading the URL-encoded body of a page's form, small and bounded.

The pages parse their few fields themselves rather than through FastAPI's
form support: no extra dependency, no multipart parser in front of
unauthenticated input, and a body over ``max_bytes`` is refused before it is
read whole.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import Request

FORM = "application/x-www-form-urlencoded"
# The forms of the pages: a handful of fields, the longest 500 characters.
MAX_FORM_BYTES = 16_384
MAX_FIELDS = 20


async def form_fields(
    request: Request, max_bytes: int = MAX_FORM_BYTES, max_fields: int = MAX_FIELDS
) -> dict[str, str] | None:
    """The first value of each field of a URL-encoded form, or None if the body is not one."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != FORM:
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            return None
    try:
        fields = parse_qs(
            body.decode("utf-8", errors="replace"),
            keep_blank_values=True,
            max_num_fields=max_fields,
        )
    except ValueError:
        return None
    return {name: values[0] for name, values in fields.items() if values}
