"""The miRBase release files of the download stage: bundled or fetched, checked, with a manifest."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from premirna.core.errors import DownloadError
from premirna.data.fetch import ManifestRow, copy_bundled, fetch, read_md5sums, write_manifest

log = logging.getLogger(__name__)

#: The three miRBase files the stage provides, by config key -> file name on disk (gzipped).
MIRBASE_FILES: dict[str, str] = {
    "hairpin": "hairpin.fa.gz",
    "mature": "mature.fa.gz",
    "mirna_dat": "miRNA.dat.gz",
}

#: What each miRBase file must start with once decompressed: FASTA or an EMBL ID line. miRBase's
#: web server has served its FASTA files wrapped in HTML (nf-core/smrnaseq PR #279 and #294), which
#: a checksum-less download would otherwise accept.
MIRBASE_FIRST_BYTES: dict[str, bytes] = {"hairpin": b">", "mature": b">", "mirna_dat": b"ID   "}
# miRBase download locations for release 22.1 (checked 2025 against public records, not live):
# - The old FTP tree (ftp://mirbase.org/pub/mirbase/<release>/ and https://www.mirbase.org/ftp/...)
#   no longer answers (bcbio/bcbio-nextgen issue #3724, 2023-11-01).
# - Since 2023 the files are served *uncompressed* from https://mirbase.org/download/
#   (nf-core/smrnaseq PR #269: "https://mirbase.org/download/CURRENT/mature.fa"; bcbio-nextgen
#   issue #3723: "no longer compressed"; chapmanb/cloudbiolinux PR #413 moved bcbio to them).
# - .../download/CURRENT/hairpin.fa was reported to carry HTML markup, .../download/hairpin.fa to be
#   the plain file (nf-core/smrnaseq PR #294, 2023-10-30); hence MIRBASE_FIRST_BYTES.
# - Only release 22.1 is left under https://mirbase.org/download/PREVIOUS_RELEASES/ (bcbio-nextgen
#   issue #3725), and CURRENT is 22.1, so no older release can be fetched from miRBase any more.
# - miRNA.dat at https://mirbase.org/download/miRNA.dat is used by several public projects; the copy
#   that svsuresh/parse_mirbase_db downloaded from the miRBase download page on 2023-07-16 has the
#   same uncompressed md5 as resources/mirbase_v22/miRNA.dat.gz (see its PROVENANCE.md).
MIRBASE_URLS_22_1: dict[str, str] = {
    "hairpin": "https://mirbase.org/download/hairpin.fa",
    "mature": "https://mirbase.org/download/mature.fa",
    "mirna_dat": "https://mirbase.org/download/miRNA.dat",
}


def fetch_mirbase(
    out_dir: str | os.PathLike[str],
    manifest: str | os.PathLike[str],
    *,
    source: str = "bundled",
    release: str = "22.1",
    bundled_dir: str | os.PathLike[str] = "resources/mirbase_v22",
    urls: Mapping[str, str] | None = None,
    md5: Mapping[str, str | None] | None = None,
    retries: int = 4,
    timeout_s: float = 60.0,
    backoff_s: float = 2.0,
) -> list[ManifestRow]:
    """Provide hairpin.fa.gz, mature.fa.gz and miRNA.dat.gz in `out_dir`, and their manifest.

    ``source: bundled`` copies them from `bundled_dir`, checked against its ``MD5SUMS``;
    ``download`` fetches `urls` (keys of `MIRBASE_FILES`; default `MIRBASE_URLS_22_1`), checking
    each against `md5` when given (md5 of the file as served or of its decompressed content) and
    its expected first bytes.
    """
    out_dir, bundled_dir = Path(out_dir), Path(bundled_dir)
    jobs: list[Callable[[], ManifestRow]] = []
    if source == "bundled":
        sums_path = bundled_dir / "MD5SUMS"
        if not sums_path.is_file():
            raise DownloadError(f"{sums_path}: missing; the bundled files cannot be checked")
        sums = read_md5sums(sums_path)
        for key, name in MIRBASE_FILES.items():
            if name not in sums:
                raise DownloadError(f"{sums_path}: no md5 for {name}")
            jobs.append(
                functools.partial(
                    copy_bundled,
                    bundled_dir / name,
                    out_dir / name,
                    md5=sums[name],
                    first_bytes=MIRBASE_FIRST_BYTES[key],
                    release=release,
                    relative_to=out_dir,
                )
            )
    elif source == "download":
        urls = {**MIRBASE_URLS_22_1, **(urls or {})}
        md5 = dict(md5 or {})
        for key, name in MIRBASE_FILES.items():
            jobs.append(
                functools.partial(
                    fetch,
                    urls[key],
                    out_dir / name,
                    md5=md5.get(key),
                    first_bytes=MIRBASE_FIRST_BYTES[key],
                    release=release,
                    retries=retries,
                    timeout_s=timeout_s,
                    backoff_s=backoff_s,
                    relative_to=out_dir,
                )
            )
    else:
        raise ValueError(f"download.source must be 'bundled' or 'download', not {source!r}")
    rows: list[ManifestRow] = []
    try:
        for job in jobs:
            rows.append(job())
        write_manifest(rows, manifest)
    except BaseException:
        # A half-provided release is worse than none: remove what this call already wrote.
        for row in rows:
            (out_dir / row.file).unlink(missing_ok=True)
        raise
    return rows
