"""Reading an uploaded file, within the one size cap every upload has, under a name that is
text (an import's audit entry keeps it)."""

from __future__ import annotations

from starlette.datastructures import UploadFile

from patron.core import text
from patron.core.errors import InvalidInput, PatronError
from patron.core.settings import Settings


class PayloadTooLarge(PatronError):
    status = 413
    code = "payload_too_large"
    title = "Payload too large"


def read_capped(upload: UploadFile, settings: Settings) -> bytes:
    """The file's bytes; past PATRON_MAX_UPLOAD_MB, PayloadTooLarge after reading one byte more
    than the cap, never the whole file."""
    if upload.filename and (refused := text.refusal(upload.filename)) is not None:
        raise InvalidInput("file", f"the file name {refused.message}", code=refused.code)
    content = upload.file.read(settings.max_upload_bytes + 1)
    if len(content) > settings.max_upload_bytes:
        raise PayloadTooLarge(
            f"the file is larger than {settings.max_upload_mb} MB; "
            "split it or use the `patron import` commands",
            field="file",
        )
    return content
