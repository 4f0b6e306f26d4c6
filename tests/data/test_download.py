"""premirna.data.fetch against a real HTTP server on 127.0.0.1 serving the real bundled files.

The server misbehaves on request (truncation, dropped connections, HTTP 500, 404, a stall, an
HTML page) and counts the requests, so the tests can check both the outcome and how hard the
client tried. After every failure no file and no temporary file may be left in the folder.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import shutil
import threading
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from premirna.core.errors import DownloadError
from premirna.data.fetch import MANIFEST_COLUMNS, copy_bundled, fetch, read_md5sums
from premirna.data.release import fetch_mirbase

REPO = Path(__file__).resolve().parents[2]
BUNDLED = REPO / "resources" / "mirbase_v22"
MATURE_GZ = BUNDLED / "mature.fa.gz"


def md5_of(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


class Server:
    """A ThreadingHTTPServer on port 0 whose handler obeys per-path behaviours."""

    def __init__(self) -> None:
        self.routes: dict[str, list[tuple[str, bytes]]] = {}
        self.hits: Counter[str] = Counter()
        self.release = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep pytest output clean
                pass

            def do_GET(self) -> None:
                server.hits[self.path] += 1
                plan = server.routes.get(self.path)
                if not plan:
                    self.send_error(404, "Not Found")
                    return
                # Each request takes the next step of the plan; the last step repeats.
                action, body = plan.pop(0) if len(plan) > 1 else plan[0]
                if action.startswith("status"):
                    self.send_error(int(action[len("status") :]))
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if action == "ok":
                    self.wfile.write(body)
                elif action == "truncate":
                    # Promise the whole body, send half, close: what a dropped connection does.
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                elif action == "stall":
                    self.wfile.write(body[:100])
                    self.wfile.flush()
                    server.release.wait(10)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}{path}"

    def route(self, path: str, *steps: tuple[str, bytes]) -> str:
        self.routes[path] = list(steps)
        return self.url(path)


@pytest.fixture()
def server():
    srv = Server()
    srv.thread.start()
    yield srv
    srv.release.set()
    srv.httpd.shutdown()
    srv.httpd.server_close()


@pytest.fixture(scope="module")
def mature_gz() -> bytes:
    return MATURE_GZ.read_bytes()


def only(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_success_keeps_gzip_and_verifies(server, tmp_path, mature_gz):
    url = server.route("/mature.fa.gz", ("ok", mature_gz))
    row = fetch(
        url,
        tmp_path / "mature.fa.gz",
        md5=md5_of(mature_gz),
        sha256=hashlib.sha256(mature_gz).hexdigest(),
        size=len(mature_gz),
        first_bytes=b">",
        release="22.1",
        backoff_s=0,
    )
    assert (tmp_path / "mature.fa.gz").read_bytes() == mature_gz
    assert only(tmp_path) == ["mature.fa.gz"]
    assert (row.file, row.source, row.bytes, row.md5) == (
        "mature.fa.gz",
        url,
        len(mature_gz),
        "026de3b89ef152d025112da0650caecb",
    )
    assert row.content_md5 == "c0fbc0ae2aa8241afeae4b89fea9ed0f"
    assert server.hits["/mature.fa.gz"] == 1


def test_plain_response_is_gzipped_on_disk(server, tmp_path, mature_gz):
    plain = gzip.decompress(mature_gz)
    url = server.route("/mature.fa", ("ok", plain))
    row = fetch(url, tmp_path / "mature.fa.gz", md5=md5_of(plain), backoff_s=0)
    on_disk = (tmp_path / "mature.fa.gz").read_bytes()
    assert on_disk[:2] == b"\x1f\x8b"
    assert gzip.decompress(on_disk) == plain
    assert row.content_md5 == md5_of(plain) == "c0fbc0ae2aa8241afeae4b89fea9ed0f"
    # Gzipped without name or time: fetching twice gives identical bytes.
    again = fetch(url, tmp_path / "again.fa.gz", backoff_s=0)
    assert again.md5 == row.md5


def test_gzip_response_to_a_plain_name_is_decompressed(server, tmp_path, mature_gz):
    url = server.route("/mature.fa.gz", ("ok", mature_gz))
    fetch(url, tmp_path / "mature.fa", backoff_s=0)
    assert (tmp_path / "mature.fa").read_bytes() == gzip.decompress(mature_gz)


def test_truncated_response_is_retried_then_fails_cleanly(server, tmp_path, mature_gz):
    url = server.route("/mature.fa.gz", ("truncate", mature_gz))
    with pytest.raises(DownloadError) as caught:
        fetch(url, tmp_path / "mature.fa.gz", retries=2, backoff_s=0)
    message = str(caught.value)
    assert url in message and "truncated" in message and "3 attempts" in message
    assert server.hits["/mature.fa.gz"] == 3
    assert only(tmp_path) == []


def test_truncated_once_then_complete(server, tmp_path, mature_gz):
    url = server.route("/mature.fa.gz", ("truncate", mature_gz), ("ok", mature_gz))
    row = fetch(url, tmp_path / "mature.fa.gz", md5=md5_of(mature_gz), backoff_s=0)
    assert row.md5 == md5_of(mature_gz)
    assert server.hits["/mature.fa.gz"] == 2
    assert only(tmp_path) == ["mature.fa.gz"]


def test_http_500_then_success_with_back_off(server, tmp_path, mature_gz):
    url = server.route("/mature.fa.gz", ("status500", b""), ("status503", b""), ("ok", mature_gz))
    waits: list[float] = []
    row = fetch(url, tmp_path / "mature.fa.gz", backoff_s=0.5, sleep=waits.append)
    assert row.bytes == len(mature_gz)
    assert server.hits["/mature.fa.gz"] == 3
    assert waits == [0.5, 1.0]  # exponential: backoff_s * 2**attempt


def test_http_500_forever_gives_up(server, tmp_path):
    url = server.route("/broken", ("status500", b""))
    with pytest.raises(DownloadError, match=r"HTTP 500.*gave up after 2 attempts"):
        fetch(url, tmp_path / "x.gz", retries=1, backoff_s=0)
    assert server.hits["/broken"] == 2
    assert only(tmp_path) == []


def test_404_fails_at_once(server, tmp_path):
    url = server.url("/missing.fa")
    with pytest.raises(DownloadError) as caught:
        fetch(url, tmp_path / "missing.fa.gz", retries=5, backoff_s=0)
    assert url in str(caught.value) and "404" in str(caught.value)
    assert server.hits["/missing.fa"] == 1  # no retry storm
    assert only(tmp_path) == []


def test_checksum_mismatch(server, tmp_path, mature_gz):
    url = server.route("/mature.fa.gz", ("ok", mature_gz))
    with pytest.raises(DownloadError, match=r"md5 mismatch.*expected 0{32}") as caught:
        fetch(url, tmp_path / "mature.fa.gz", md5="0" * 32, backoff_s=0)
    assert url in str(caught.value)
    assert server.hits["/mature.fa.gz"] == 1  # a complete but wrong file: asking again won't help
    assert only(tmp_path) == []
    with pytest.raises(DownloadError, match="sha256 mismatch"):
        fetch(url, tmp_path / "mature.fa.gz", sha256="f" * 64, backoff_s=0)
    with pytest.raises(DownloadError, match=r"size \d+ bytes, expected 5"):
        fetch(url, tmp_path / "mature.fa.gz", size=5, backoff_s=0)
    assert only(tmp_path) == []


def test_html_page_instead_of_fasta(server, tmp_path):
    url = server.route("/hairpin.fa", ("ok", b"<!DOCTYPE html><html><p>>hsa-mir-1<br>ACGU</p>"))
    with pytest.raises(DownloadError, match="HTML page"):
        fetch(url, tmp_path / "hairpin.fa.gz", first_bytes=b">", backoff_s=0)
    assert only(tmp_path) == []


def test_corrupt_gzip_body(server, tmp_path, mature_gz):
    broken = mature_gz[:1000] + bytes(200) + mature_gz[1200:]
    url = server.route("/mature.fa.gz", ("ok", broken))
    with pytest.raises(DownloadError, match="corrupt gzip"):
        fetch(url, tmp_path / "mature.fa.gz", backoff_s=0)
    assert only(tmp_path) == []


def test_stalled_server_times_out(server, tmp_path, mature_gz):
    url = server.route("/slow", ("stall", mature_gz))
    with pytest.raises(DownloadError, match="timed out|truncated|connection"):
        fetch(url, tmp_path / "slow.gz", retries=1, timeout_s=0.2, backoff_s=0)
    assert server.hits["/slow"] == 2
    assert only(tmp_path) == []


def test_refused_connection(tmp_path):
    srv = Server()  # bound but never serving, then closed: the port refuses connections
    url = srv.url("/x")
    srv.httpd.server_close()
    with pytest.raises(DownloadError, match="cannot connect"):
        fetch(url, tmp_path / "x.gz", retries=1, backoff_s=0)
    assert only(tmp_path) == []


def test_not_a_url(tmp_path):
    with pytest.raises(DownloadError, match="not a valid URL"):
        fetch("mirbase.org/download/hairpin.fa", tmp_path / "h.fa.gz", backoff_s=0)
    assert only(tmp_path) == []


def test_existing_file_survives_a_failed_download(server, tmp_path):
    (tmp_path / "mature.fa.gz").write_bytes(b"previous")
    with pytest.raises(DownloadError):
        fetch(server.url("/gone"), tmp_path / "mature.fa.gz", backoff_s=0)
    assert (tmp_path / "mature.fa.gz").read_bytes() == b"previous"
    assert only(tmp_path) == ["mature.fa.gz"]


# --- bundled ---------------------------------------------------------------------------------


def test_bundled_md5sums_match_the_files():
    sums = read_md5sums(BUNDLED / "MD5SUMS")
    assert set(sums) == {"hairpin.fa.gz", "mature.fa.gz", "miRNA.dat.gz"}
    for name, digest in sums.items():
        assert md5_of((BUNDLED / name).read_bytes()) == digest


def test_copy_bundled_checks_and_records(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    row = copy_bundled(
        MATURE_GZ, tmp_path / "out" / "mature.fa.gz", md5="026de3b89ef152d025112da0650caecb"
    )
    assert (
        row.source == "resources/mirbase_v22/mature.fa.gz"
        and row.md5 == "026de3b89ef152d025112da0650caecb"
    )
    with pytest.raises(DownloadError, match="md5 mismatch"):
        copy_bundled(MATURE_GZ, tmp_path / "bad" / "mature.fa.gz", md5="1" * 32)
    assert not (tmp_path / "bad").exists()
    with pytest.raises(DownloadError, match="not found"):
        copy_bundled(tmp_path / "nope.gz", tmp_path / "x.gz")


def test_fetch_mirbase_bundled_manifest(tmp_path):
    rows = fetch_mirbase(
        tmp_path / "mirbase", tmp_path / "mirbase" / "manifest.tsv", bundled_dir=BUNDLED
    )
    manifest = pd.read_csv(tmp_path / "mirbase" / "manifest.tsv", sep="\t", dtype=str)
    assert tuple(manifest.columns) == MANIFEST_COLUMNS
    assert list(manifest["file"]) == ["hairpin.fa.gz", "mature.fa.gz", "miRNA.dat.gz"]
    assert list(manifest["content_md5"]) == [
        "afade358ab4bd799414a0ae1948defbd",
        "c0fbc0ae2aa8241afeae4b89fea9ed0f",
        "64316d75ccbeb98b0f1f5d6df5fb6e4f",
    ]
    assert set(manifest["release"]) == {"22.1"}
    assert [r.bytes for r in rows] == [(BUNDLED / f).stat().st_size for f in manifest["file"]]


def test_fetch_mirbase_bundled_refuses_a_changed_file(tmp_path):
    bundled = tmp_path / "bundled"
    shutil.copytree(BUNDLED, bundled)
    (bundled / "miRNA.dat.gz").write_bytes(gzip.compress(b"ID   x\n//\n"))
    out = tmp_path / "out"
    with pytest.raises(DownloadError, match=r"miRNA\.dat\.gz: md5 mismatch"):
        fetch_mirbase(out, out / "manifest.tsv", bundled_dir=bundled)
    assert only(out) == []  # the two files copied before the bad one are removed too


def test_fetch_mirbase_download_matches_bundled(server, tmp_path):
    """miRBase serves plain FASTA; the stage stores gzip and records the same content md5s."""
    urls = {
        "hairpin": server.route(
            "/download/hairpin.fa",
            ("ok", gzip.decompress((BUNDLED / "hairpin.fa.gz").read_bytes())),
        ),
        "mature": server.route(
            "/download/mature.fa",
            ("status502", b""),
            ("ok", gzip.decompress(MATURE_GZ.read_bytes())),
        ),
        "mirna_dat": server.route(
            "/download/miRNA.dat.gz", ("ok", (BUNDLED / "miRNA.dat.gz").read_bytes())
        ),
    }
    out = tmp_path / "mirbase"
    fetch_mirbase(
        out,
        out / "manifest.tsv",
        source="download",
        urls=urls,
        # miRNA.dat is served gzipped here: its configured md5 is that of the content.
        md5={
            "hairpin": "afade358ab4bd799414a0ae1948defbd",
            "mirna_dat": "64316d75ccbeb98b0f1f5d6df5fb6e4f",
        },
        backoff_s=0,
    )
    manifest = pd.read_csv(out / "manifest.tsv", sep="\t", dtype=str)
    assert list(manifest["source"]) == list(urls.values())
    assert list(manifest["content_md5"]) == [
        "afade358ab4bd799414a0ae1948defbd",
        "c0fbc0ae2aa8241afeae4b89fea9ed0f",
        "64316d75ccbeb98b0f1f5d6df5fb6e4f",
    ]
    assert only(out) == ["hairpin.fa.gz", "manifest.tsv", "mature.fa.gz", "miRNA.dat.gz"]


def test_fetch_mirbase_download_failure_leaves_nothing(server, tmp_path, mature_gz):
    urls = {
        "hairpin": server.route("/h.fa.gz", ("ok", (BUNDLED / "hairpin.fa.gz").read_bytes())),
        "mature": server.route("/m.fa.gz", ("ok", mature_gz)),
        "mirna_dat": server.url("/404"),
    }
    out = tmp_path / "mirbase"
    with pytest.raises(DownloadError, match="404"):
        fetch_mirbase(out, out / "manifest.tsv", source="download", urls=urls, backoff_s=0)
    assert only(out) == []


def test_unknown_source(tmp_path):
    with pytest.raises(ValueError, match="bundled"):
        fetch_mirbase(tmp_path, tmp_path / "m.tsv", source="ftp")
