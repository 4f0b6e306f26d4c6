"""Fetch release files over HTTPS, or copy the bundled ones, verified and written atomically.

`fetch` downloads one URL with a timeout and retries with exponential back-off (connection errors,
time-outs, truncated bodies, HTTP 5xx and 429; a 4xx such as 404 fails at once, because asking
again will not make the file appear). The body is streamed to a hidden temporary file beside the
destination, checked against the Content-Length, an expected size and md5/sha256 when configured,
and an expected first line (so an HTML error page served with status 200 is caught); only then is
it renamed into place, gzipped on the way when the destination ends in ``.gz`` and the server sent
plain text (kept as is when it sent gzip). Any failure raises `premirna.core.errors.DownloadError`
naming the URL and the reason and leaves nothing behind. `copy_bundled` gives files shipped in
``resources/`` the same checks and the same manifest row, so an offline run records exactly what
it used. `fetch_mirbase` is the stage's entry point.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import http.client
import logging
import os
import shutil
import ssl
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from premirna.core.atomic import atomic_path, write_tsv
from premirna.core.errors import DownloadError

log = logging.getLogger(__name__)

MANIFEST_COLUMNS: tuple[str, ...] = (
    "file",
    "source",
    "bytes",
    "md5",
    "content_md5",
    "release",
    "date",
)

_CHUNK = 1 << 16

_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class ManifestRow:
    """One line of ``manifest.tsv``.

    `bytes` and `md5` describe the file as written to disk; `content_md5` its decompressed
    content, which is the same whether the file was downloaded or copied from ``resources/``.
    `source` is the URL or the bundled path; `date` the UTC time it was fetched or copied.
    """

    file: str
    source: str
    bytes: int
    md5: str
    content_md5: str
    release: str
    date: str


class _Retryable(Exception):
    """A failure that another attempt may cure (network trouble, truncation, HTTP 5xx)."""


@dataclass(frozen=True)
class _Facts:
    size: int
    md5: str
    sha256: str
    content_md5: str
    content_sha256: str
    head: bytes


def _inspect(what: str, path: Path, head_size: int) -> _Facts:
    """Size and digests of a file as it is, and md5 and first bytes of its content (gunzipped)."""
    md5, sha256, size = hashlib.md5(), hashlib.sha256(), 0
    with open(path, "rb") as handle:
        packed = handle.read(2) == _GZIP_MAGIC
        handle.seek(0)
        while chunk := handle.read(_CHUNK):
            md5.update(chunk)
            sha256.update(chunk)
            size += len(chunk)
    if not packed:
        with open(path, "rb") as handle:
            head = handle.read(head_size)
        plain = (md5.hexdigest(), sha256.hexdigest())
        return _Facts(size, *plain, *plain, head)
    content_md5, content_sha256, head = hashlib.md5(), hashlib.sha256(), b""
    try:
        with gzip.open(path, "rb") as handle:
            # Reading a gzip stream to its end is what checks its CRC and length.
            while chunk := handle.read(_CHUNK):
                if len(head) < head_size:
                    head += chunk[: head_size - len(head)]
                content_md5.update(chunk)
                content_sha256.update(chunk)
    except (OSError, EOFError) as err:
        raise DownloadError(f"{what}: corrupt gzip data ({err})") from err
    return _Facts(
        size,
        md5.hexdigest(),
        sha256.hexdigest(),
        content_md5.hexdigest(),
        content_sha256.hexdigest(),
        head,
    )


def _verify(
    what: str,
    path: Path,
    size: int | None,
    md5: str | None,
    sha256: str | None,
    first_bytes: bytes | None,
) -> _Facts:
    """Check a fetched or bundled file as it came; raise DownloadError naming `what` if wrong."""
    facts = _inspect(what, path, len(first_bytes or b"") + 20)
    if size is not None and facts.size != size:
        raise DownloadError(f"{what}: size {facts.size} bytes, expected {size}")
    # A checksum may describe the file as served or, for a gzipped file, its content: miRBase
    # has served the same release both gzipped and plain, and publishes neither checksum.
    for name, expected, got in (
        ("md5", md5, {facts.md5, facts.content_md5}),
        ("sha256", sha256, {facts.sha256, facts.content_sha256}),
    ):
        if expected is not None and expected.lower() not in got:
            raise DownloadError(
                f"{what}: {name} mismatch: got {' / '.join(sorted(got))}, expected "
                f"{expected.lower()}"
            )
    if first_bytes is not None and not facts.head.startswith(first_bytes):
        raise DownloadError(
            f"{what}: content starts with {facts.head!r}, expected {first_bytes!r} "
            "(an HTML page or the wrong file?)"
        )
    return facts


def _install(raw: Path, dest: Path) -> None:
    """Move verified data to `dest`: gzip plain data for a .gz name, gunzip for a plain name."""
    with open(raw, "rb") as handle:
        have_gzip = handle.read(2) == _GZIP_MAGIC
    want_gzip = dest.name.endswith(".gz")
    with atomic_path(dest) as tmp:
        if want_gzip == have_gzip:
            shutil.copyfile(raw, tmp)
        elif want_gzip:
            # No file name and mtime 0 in the header (like `gzip -n`): same content, same bytes.
            # Level 6 is gzip's own default: nearly as small as 9 and several times faster.
            with open(raw, "rb") as src, open(tmp, "wb") as out:
                with gzip.GzipFile("", "wb", compresslevel=6, fileobj=out, mtime=0) as packed:
                    shutil.copyfileobj(src, packed, _CHUNK)
        else:
            with gzip.open(raw, "rb") as src, open(tmp, "wb") as out:
                shutil.copyfileobj(src, out, _CHUNK)


def _row(
    dest: Path, source: str, release: str, content_md5: str, relative_to: Path | None
) -> ManifestRow:
    md5, size = hashlib.md5(), 0
    with open(dest, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            md5.update(chunk)
            size += len(chunk)
    name = str(dest.relative_to(relative_to)) if relative_to else dest.name
    now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    return ManifestRow(name, source, size, md5.hexdigest(), content_md5, release, now)


class _TempFile:
    """A hidden temporary file beside `dest` that is always removed (context manager)."""

    def __init__(self, dest: Path) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        os.close(fd)
        self.path = Path(name)

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc: object) -> None:
        self.path.unlink(missing_ok=True)


def _attempt(url: str, target: Path, timeout: float) -> None:
    """One GET of `url` into `target`; raise _Retryable or DownloadError on failure."""
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "premirna-download/1"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            declared = response.headers.get("Content-Length")
            received = 0
            with open(target, "wb") as out:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    received += len(chunk)
    except ValueError as err:  # no scheme, or not a URL at all
        raise DownloadError(f"{url}: not a valid URL ({err})") from err
    except urllib.error.HTTPError as err:
        reason = f"HTTP {err.code} {err.reason}"
        if err.code >= 500 or err.code in (408, 429):
            raise _Retryable(reason) from err
        raise DownloadError(f"{url}: {reason}") from err
    except urllib.error.URLError as err:
        # A refused or reset connection or a time-out may pass; a bad certificate or an unknown
        # scheme will not.
        if isinstance(err.reason, OSError) and not isinstance(err.reason, ssl.SSLError):
            raise _Retryable(f"cannot connect ({err.reason})") from err
        raise DownloadError(f"{url}: {err.reason}") from err
    except TimeoutError as err:
        raise _Retryable(f"timed out after {timeout} s") from err
    except (http.client.HTTPException, ConnectionError, OSError) as err:
        raise _Retryable(f"connection broken ({type(err).__name__}: {err})") from err
    # http.client does not complain when the server closes early; the count tells.
    if declared is not None and received != int(declared):
        raise _Retryable(f"truncated: received {received} of {declared} bytes")


def fetch(
    url: str,
    dest: str | os.PathLike[str],
    *,
    size: int | None = None,
    md5: str | None = None,
    sha256: str | None = None,
    first_bytes: bytes | None = None,
    release: str = "",
    retries: int = 4,
    backoff_s: float = 2.0,
    timeout_s: float = 60.0,
    relative_to: str | os.PathLike[str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> ManifestRow:
    """Download `url` to `dest` and return its manifest row.

    `size` is the length of the body as the server sends it; `md5` and `sha256` may be the
    digest of that body or, when it is gzipped, of its decompressed content; `first_bytes` is what
    the decompressed content must start with. Up to `retries` extra attempts follow a retryable
    failure, after ``backoff_s * 2**attempt`` seconds (`sleep` is injectable for tests). A
    destination ending in ``.gz`` stays gzipped when the server sends gzip and is gzipped
    (reproducibly) otherwise. Raises DownloadError with the URL and the reason; then neither
    `dest` nor any temporary file exists (an earlier `dest` is left as it was).
    """
    dest = Path(dest)
    if retries < 0:
        raise ValueError("retries must be >= 0")
    for attempt in range(retries + 1):
        with _TempFile(dest) as raw:
            try:
                _attempt(url, raw, timeout_s)
            except _Retryable as err:
                if attempt == retries:
                    raise DownloadError(
                        f"{url}: {err} (gave up after {retries + 1} attempts)"
                    ) from err
                wait = backoff_s * 2**attempt
                log.warning("%s: %s; retrying in %.1f s", url, err, wait)
                sleep(wait)
                continue
            facts = _verify(url, raw, size, md5, sha256, first_bytes)
            _install(raw, dest)
        row = _row(
            dest, url, release, facts.content_md5, Path(relative_to) if relative_to else None
        )
        log.info("%s -> %s: %d bytes, md5 %s", url, dest, row.bytes, row.md5)
        return row
    raise AssertionError("unreachable")  # the loop returns or raises


def _shown(path: Path) -> str:
    """A bundled path as the manifest shows it: relative to the working directory if inside it.

    A run from the repository records ``resources/mirbase_v22/hairpin.fa.gz``, the same on every
    machine; a run elsewhere records the absolute path.
    """
    absolute = path.resolve()
    try:
        return str(absolute.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(absolute)


def copy_bundled(
    src: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    size: int | None = None,
    md5: str | None = None,
    sha256: str | None = None,
    first_bytes: bytes | None = None,
    release: str = "",
    relative_to: str | os.PathLike[str] | None = None,
) -> ManifestRow:
    """Copy a file shipped in ``resources/`` to `dest` with the checks and manifest of `fetch`.

    `size`, `md5` and `sha256` describe `src` as on disk (the digests may also be those of its
    decompressed content). Raises DownloadError (the source path and the reason) and leaves
    nothing behind when the file is missing or does not match.
    """
    src, dest = Path(src), Path(dest)
    if not src.is_file():
        raise DownloadError(f"{src}: bundled file not found")
    facts = _verify(str(src), src, size, md5, sha256, first_bytes)
    _install(src, dest)
    relative = Path(relative_to) if relative_to else None
    row = _row(dest, _shown(src), release, facts.content_md5, relative)
    log.info("%s -> %s: %d bytes, md5 %s", src, dest, row.bytes, row.md5)
    return row


def write_manifest(rows: Iterable[ManifestRow], path: str | os.PathLike[str]) -> None:
    """Write manifest rows as a TSV with the columns of `MANIFEST_COLUMNS`, atomically."""
    frame = pd.DataFrame([asdict(row) for row in rows], columns=list(MANIFEST_COLUMNS))
    write_tsv(frame, path)


def read_md5sums(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read an ``md5sum``-style file (``<hex>  <name>`` lines) into {name: md5}."""
    sums = {}
    for line in Path(path).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            digest, name = line.split(None, 1)
            sums[name.lstrip("*").strip()] = digest.lower()
    return sums
