"""Serving a job's outputs and source to the browser, with byte ranges so players seek."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from urllib.parse import unquote, urlparse

from fastapi.responses import FileResponse, RedirectResponse, Response

from api.errors import not_found
from ltb.storage import ObjectRef, ObjectStore

# Presigned links live this long: enough to watch a long source once.
PRESIGN_S = 3600


def serve(store: ObjectStore, ref: ObjectRef, *, download_name: str | None = None) -> Response:
    """The object itself: a redirect to a presigned URL where the store has HTTP (S3 serves
    ranges itself), else the file from the embedded profile's folder store."""
    if not store.exists(ref):
        raise not_found("output")
    if store.presigns_http:
        return RedirectResponse(store.presign_get(ref, expires_s=PRESIGN_S), status_code=307)
    # The folder store presigns file:// URIs naming the object's own file.
    path = Path(unquote(urlparse(store.presign_get(ref, expires_s=PRESIGN_S)).path))
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if path.suffix == ".vtt":
        media_type = "text/vtt"
    return FileResponse(
        path,
        media_type=media_type,
        filename=download_name,
        content_disposition_type="attachment" if download_name else "inline",
    )
