"""Snakemake adapter for download (rule download_mirbase): miRBase files in, checked, manifest."""

from pathlib import Path

from premirna.download import fetch_mirbase
from premirna.logs import setup_logging

log = setup_logging(snakemake.log[0])
bundled = snakemake.input.bundled  # the bundled files; empty when source is download
rows = fetch_mirbase(
    Path(snakemake.output.hairpin).parent,
    snakemake.output.manifest,
    **({"bundled_dir": Path(bundled[0]).parent} if bundled else {}),
    **snakemake.params,
)
for row in rows:
    log.info("%s from %s: %d bytes, md5 %s (content %s)", row.file, row.source, row.bytes,
             row.md5, row.content_md5)
