"""Benchmark of the workflow at all-species scale: wall time and peak memory, download to encode.

Runs the all-species configuration (config/config.yaml + config/allspecies.yaml) in a scratch folder
outside the repository, with the real Snakemake rules and the real library functions:

1. ``snakemake -n`` in the empty folder: the jobs before the fold checkpoint is resolved.
2. rule ``download_mirbase`` (Snakemake): the bundled miRBase 22.1 files.
3. ``premirna.data.molecules.build_molecules`` (what rule ``make_molecules`` calls) in a child
   process, writing ``results/download/molecules.tsv`` where the rule would, so Snakemake goes on
   from it.
4. ``snakemake -n`` for the targets ``all`` and ``encode``, now with the chunk count known:
   jobs per rule, and which of them SLURM would get (rules with a script; not target-only rules).
5. target ``fold`` (Snakemake, the configuration's own run: the workflow profile's 2 cores, one
   process per fold_chunk job, two chunks at a time), with every fold_chunk job's benchmark TSV
   (``s``, ``max_rss``, ``cpu_time``).
6. ``premirna.fold.table.gather_folds`` on those chunks, in a child process.
7. ``premirna.fold.table.fold_table`` on the whole table, unchunked, with each of
   ``--fold-processes`` (default 1), in a child process; the result is checked against
   Snakemake's folded.tsv.
8. target ``encode`` (Snakemake), then ``premirna.encode.stage.encode_splits`` on the same folded
   table in a child process.

Memory: ``max_rss_mb`` is the peak resident set of the step's process (``getrusage``) and, for
folding with a pool, ``worker_rss_mb`` that of the largest worker; ``tree_peak_mb`` samples the sum
over the whole process tree every 0.2 s (pages shared after a fork count once per process). Time:
``wall_s`` of a library row is the call alone, of a Snakemake row the whole run with its start-up
and bookkeeping; ``cpu_s`` is the CPU time (user + system) of the step's processes, imports
included: what the step needs on cores of its own, which a shared machine does not give. The
fold_chunk rows come from Snakemake's benchmark TSVs, which sample the job every 0.5 s for 15 s and
then every 30 s, so their ``cpu_time`` and ``max_rss`` are lower bounds for longer jobs. The
machine's 1-minute load average is recorded before each step.

    .venv/bin/python benchmarks/bench_scale.py [--scratch benchmarks/work/scale] [--out FILE]
        [--fold-processes 1 2] [--max-per-class N] [--clean]

``--out PATH`` writes the step table to PATH, the job counts to ``PATH`` with ``.jobs.tsv`` and the
fold_chunk benchmarks to ``.chunks.tsv`` instead of ``.tsv``. ``--max-per-class`` caps each class
for a quick check of the script (an extra overlay in the scratch folder).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import yaml
from common import REPO, WORK

SNAKEFILE = REPO / "Snakefile"
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
BASE_CONFIG = REPO / "config" / "config.yaml"
OVERLAY = REPO / "config" / "allspecies.yaml"
MARKER = ".bench_scale"
TARGETS = ("all", "encode")
CHUNK_SIZES = (1000, 2000, 5000, 10000)

STEP_COLUMNS = (
    "step", "runner", "processes", "molecules", "wall_s", "cpu_s", "max_rss_mb", "worker_rss_mb",
    "tree_peak_mb", "load1", "note",
)


# ---------------------------------------------------------------------------------------------
# Child side: one library call per process, so that its peak memory is its own.


def _child(step: str, args: dict[str, Any]) -> None:
    from premirna.core.logs import setup_logging

    setup_logging(args.get("log"))
    result: dict[str, Any] = {}
    start = time.perf_counter()
    if step == "molecules":
        from premirna.data.molecules import build_molecules

        result["counts"] = build_molecules(*args["paths"], **args["params"])
    elif step == "fold":
        from premirna.fold.table import fold_table

        fold_table(**args)
    elif step == "gather":
        from premirna.fold.table import gather_folds

        gather_folds(**args)
    elif step == "encode":
        from premirna.encode.stage import encode_splits

        result["counts"] = encode_splits(**args)
    elif step == "rules":
        result["local"] = _local_rules(args)
    else:
        raise SystemExit(f"unknown child step {step!r}")
    result["wall_s"] = time.perf_counter() - start
    own, workers = (resource.getrusage(who)
                    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    result["max_rss_mb"] = own.ru_maxrss / 1024
    # Pool workers, reaped when the pool closed (0 when there were none).
    result["worker_rss_mb"] = workers.ru_maxrss / 1024
    # CPU seconds of the process and its workers, start-up included: the time the step would take
    # on cores of its own (the wall time on a shared machine includes waiting for a core).
    result["cpu_s"] = sum(u.ru_utime + u.ru_stime for u in (own, workers))
    print("RESULT " + json.dumps(result), flush=True)
    print("RESULT " + json.dumps({"step": step, **result}), file=sys.stderr, flush=True)


def _local_rules(args: dict[str, Any]) -> dict[str, bool]:
    """Rule -> True when Snakemake runs it itself (no script/shell/run, or `localrules:`)."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

    with SnakemakeApi(OutputSettings()) as api:
        workflow_api = api.workflow(
            resource_settings=ResourceSettings(cores=1),
            config_settings=ConfigSettings(configfiles=[Path(p) for p in args["configfiles"]]),
            snakefile=SNAKEFILE,
            workdir=Path(args["workdir"]),
        )
        workflow = workflow_api._workflow  # the parsed rules; no public accessor in 9.27
        local = set(getattr(workflow, "_localrules", ()))
        return {rule.name: bool(rule.norun or rule.name in local) for rule in workflow.rules}


# ---------------------------------------------------------------------------------------------
# Parent side.


class TreeSampler:
    """Peak of the summed RSS of a process and all its descendants, sampled every `every` s."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        self.pid, self.every, self.peak = pid, every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._stop.is_set():
            total = 0
            try:
                for proc in [root, *root.children(recursive=True)]:
                    try:
                        total += proc.memory_info().rss
                    except (psutil.NoSuchProcess, psutil.ZombieProcess):
                        pass
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                break
            self.peak = max(self.peak, total)
            self._stop.wait(self.every)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak / 2**20


def run_child(step: str, args: dict[str, Any], log: Path) -> tuple[dict[str, Any], float]:
    """Run one library step in a fresh Python; its RESULT line and the sampled tree peak (MB)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", step, json.dumps(args)]
    with open(log, "a") as handle:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=handle, text=True, cwd=REPO)
        sampler = TreeSampler(proc.pid)
        out, _ = proc.communicate()
        tree = sampler.stop()
    if proc.returncode != 0:
        raise SystemExit(f"step {step} failed (exit {proc.returncode}); see {log}")
    line = [x for x in out.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):]), tree


def snakemake_cmd(scratch: Path, configfiles: list[Path], target: str, *extra: str) -> list[str]:
    # The target goes before --configfile, which takes every following word as a file.
    return [
        str(SNAKEMAKE), "-s", str(SNAKEFILE), "-d", str(scratch), target, *extra,
        "--configfile", *map(str, configfiles),
    ]


def run_snakemake(
    scratch: Path, configfiles: list[Path], target: str, *extra: str
) -> tuple[str, float, float]:
    """Run Snakemake; its output, wall seconds and sampled tree peak (MB)."""
    cmd = snakemake_cmd(scratch, configfiles, target, *extra)
    print("  $ " + " ".join(cmd), flush=True)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=scratch)
    sampler = TreeSampler(proc.pid)
    out, _ = proc.communicate()
    tree = sampler.stop()
    wall = time.perf_counter() - start
    name = f"snakemake_{target}{'_dryrun' if '-n' in extra else ''}.log"
    with open(scratch / "logs" / name, "a") as handle:
        handle.write(out)
    if proc.returncode != 0:
        raise SystemExit(f"snakemake {target} failed (exit {proc.returncode}):\n{out[-3000:]}")
    return out, wall, tree


def job_stats(output: str) -> dict[str, int]:
    """The first "Job stats" table of a Snakemake run or dry run: rule -> jobs (no total)."""
    lines = output.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Job stats:")
    except StopIteration:
        return {}
    counts: dict[str, int] = {}
    for line in lines[start + 3:]:
        parts = line.split()
        if len(parts) < 2 or parts[0] == "total":
            break
        counts[parts[0]] = int(parts[1])
    return counts


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """What Snakemake's update_config does with --configfile: dicts merged, the rest replaced."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def md5_of_columns(path: Path, columns: list[str]) -> str:
    import pandas as pd

    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    return hashlib.md5(frame[columns].to_csv(sep="\t", index=False).encode()).hexdigest()


def read_benchmarks(folder: Path) -> list[dict[str, Any]]:
    rows = []
    for path in sorted(folder.glob("fold_chunk_*.tsv"), key=lambda p: int(p.stem.split("_")[-1])):
        with open(path) as handle:
            row = next(csv.DictReader(handle, delimiter="\t"))
        rows.append({"chunk": int(path.stem.split("_")[-1]), **row})
    return rows


def prepare_scratch(scratch: Path, clean: bool) -> None:
    scratch = scratch.resolve()
    inside = scratch == REPO or REPO in scratch.parents
    if inside and not (scratch == WORK or WORK in scratch.parents):
        raise SystemExit(f"--scratch must be under {WORK} (git ignores it) or outside {REPO}")
    if scratch.exists() and any(scratch.iterdir()):
        if not clean:
            raise SystemExit(f"{scratch} is not empty; pass --clean to start it afresh")
        if not (scratch / MARKER).exists():
            raise SystemExit(f"{scratch} was not made by this script (no {MARKER}); not removed")
        shutil.rmtree(scratch)
    (scratch / "logs").mkdir(parents=True, exist_ok=True)
    (scratch / "lib").mkdir(exist_ok=True)
    (scratch / MARKER).write_text("scratch folder of benchmarks/bench_scale.py\n")


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2] if values else float("nan")


def fmt(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def print_table(rows: list[dict[str, Any]], columns: tuple[str, ...] | list[str]) -> None:
    cells = [[fmt(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) if cells else len(c)
              for i, c in enumerate(columns)]
    print("  ".join(c.rjust(w) if c != "note" else c for c, w in zip(columns, widths, strict=True)))
    for r in cells:
        print("  ".join(v.rjust(w) if c != "note" else v
                        for c, v, w in zip(columns, r, widths, strict=True)))


def write_tsv(path: Path, rows: list[dict[str, Any]], columns: list[str] | tuple[str, ...]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            values = [row.get(c) for c in columns]
            writer.writerow(["" if v is None else round(v, 3) if isinstance(v, float) else v
                             for v in values])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, metavar=("STEP", "JSON"), help=argparse.SUPPRESS)
    parser.add_argument("--scratch", type=Path, default=WORK / "scale",
                        help=f"work folder (default {WORK / 'scale'}, which git ignores)")
    parser.add_argument("--clean", action="store_true",
                        help="empty the scratch folder first (only one this script made)")
    parser.add_argument("--overlay", type=Path, default=OVERLAY,
                        help="overlay on config/config.yaml (default config/allspecies.yaml)")
    parser.add_argument("--fold-processes", type=int, nargs="*", default=[1],
                        help="library fold_table runs on the whole table (default: 1; none: skip)")
    parser.add_argument("--max-per-class", type=int, default=None,
                        help="cap each class (quick check of this script, not a measurement)")
    parser.add_argument("--out", type=Path, default=None, help="write the tables as TSV here")
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], json.loads(args.child[1]))
        return

    scratch = args.scratch.resolve()
    prepare_scratch(scratch, args.clean)
    log = scratch / "logs" / "library.log"
    configfiles = [BASE_CONFIG, args.overlay.resolve()]
    config = deep_merge(yaml.safe_load(BASE_CONFIG.read_text()), yaml.safe_load(
        args.overlay.read_text()))
    if args.max_per_class:
        quick = scratch / "quick.yaml"
        quick.write_text(yaml.safe_dump({"download": {"max_per_class": args.max_per_class}}))
        configfiles.append(quick)
        config = deep_merge(config, {"download": {"max_per_class": args.max_per_class}})
    down, fold = config["download"], config["fold"]
    chunk_size = fold["chunk_size"]
    print(f"premirna at scale: {' + '.join(str(p) for p in configfiles)}")
    print(f"  species {down['species']}, coding_ratio {down['coding_ratio']}, shuffle_ratio "
          f"{down['shuffle_ratio']}, chunk_size {chunk_size}; scratch {scratch}")
    print(f"  machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.1f} GiB; "
          f"load average {os.getloadavg()[0]:.2f} (shared machine: times are upper bounds)")
    steps: list[dict[str, Any]] = []

    def add(row: dict[str, Any]) -> None:
        steps.append(row)
        print_table([row], STEP_COLUMNS)

    # 1. Jobs before anything exists (the checkpoint still unresolved).
    fresh: dict[str, dict[str, int]] = {}
    for target in TARGETS:
        out, _, _ = run_snakemake(scratch, configfiles, target, "-n")
        fresh[target] = job_stats(out)

    # 2. download_mirbase, the real rule.
    load = os.getloadavg()[0]
    _, wall, tree = run_snakemake(scratch, configfiles, "download_mirbase")
    add({"step": "download_mirbase", "runner": "snakemake", "processes": 1, "wall_s": wall,
         "tree_peak_mb": tree, "load1": load, "note": "copies the bundled files; with start-up"})

    # 3. build_molecules, as rule make_molecules calls it, into the rule's own outputs.
    mirbase = scratch / "results" / "download" / "mirbase"
    molecules = scratch / "results" / "download" / "molecules.tsv"
    mature = scratch / "results" / "download" / "mature.tsv"
    coding = Path(down["coding"])
    params = {key: down[key] for key in ("species", "iupac", "coding_ratio", "shuffle_ratio",
                                         "split", "max_per_class", "release")}
    params.update(seed=config["seed"], fold={k: fold[k] for k in ("temperature", "dangles")})
    load = os.getloadavg()[0]
    result, tree = run_child("molecules", {
        "paths": [str(mirbase / "hairpin.fa.gz"), str(mirbase / "miRNA.dat.gz"),
                  str(coding if coding.is_absolute() else REPO / coding), str(molecules),
                  str(mature)],
        "params": params, "log": str(scratch / "logs" / "make_molecules.log")}, log)
    counts = result["counts"]
    n_molecules = counts["positives"] + counts["negatives"]
    add({"step": "make_molecules", "runner": "library", "processes": 1, "molecules": n_molecules,
         "wall_s": result["wall_s"], "cpu_s": result["cpu_s"],
         "max_rss_mb": result["max_rss_mb"], "tree_peak_mb": tree,
         "load1": load, "note": f"build_molecules; {counts['shuffle_attempts']} shuffles folded"})

    # 4. Jobs with the checkpoint resolved.
    resolved: dict[str, dict[str, int]] = {}
    for target in TARGETS:
        out, _, _ = run_snakemake(scratch, configfiles, target, "-n")
        resolved[target] = job_stats(out)
    local, _ = run_child("rules", {"configfiles": list(map(str, configfiles)),
                                   "workdir": str(scratch)}, log)
    local = local["local"]

    # 5. The configuration's own fold run (workflow profile: 2 cores, 1 process per chunk job).
    load = os.getloadavg()[0]
    _, wall, tree = run_snakemake(scratch, configfiles, "fold")
    chunks = read_benchmarks(scratch / "results" / "benchmarks" / "fold")
    n_chunks = math.ceil(n_molecules / chunk_size)
    chunk_s = [float(row["s"]) for row in chunks]
    chunk_rss = [float(row["max_rss"]) for row in chunks if row["max_rss"] not in ("", "-", "NA")]
    chunk_cpu = [float(row["cpu_time"]) for row in chunks
                 if row.get("cpu_time") not in (None, "", "-", "NA")]
    add({"step": "fold (chunks + gather)", "runner": "snakemake", "processes": 2,
         "molecules": n_molecules, "wall_s": wall, "cpu_s": sum(chunk_cpu) or None,
         "tree_peak_mb": tree, "load1": load,
         "note": f"{len(chunks)} fold_chunk jobs, 2 at a time; with start-ups; cpu_s: the chunks'"})
    add({"step": "fold_chunk (each job)", "runner": "snakemake", "processes": 1,
         "molecules": min(chunk_size, n_molecules), "wall_s": max(chunk_s),
         "cpu_s": max(chunk_cpu) if chunk_cpu else None,
         "max_rss_mb": max(chunk_rss) if chunk_rss else None, "load1": load,
         "note": f"largest of {len(chunks)} jobs; median {median(chunk_s):.1f} s wall, "
                 f"{median(chunk_cpu):.1f} s cpu (benchmark TSVs)"})
    folded = scratch / "results" / "fold" / "folded.tsv"

    # 6. The gather step alone.
    load = os.getloadavg()[0]
    result, tree = run_child("gather", {
        "chunk_tsvs": [str(scratch / "results" / "fold" / "chunks" / f"{i}.tsv")
                       for i in range(n_chunks)],
        "out_tsv": str(scratch / "lib" / "folded_gathered.tsv"),
        "settings_json": str(scratch / "lib" / "settings.json"),
        "molecules_tsv": str(molecules),
        "fold": {k: fold[k] for k in ("temperature", "dangles")}}, log)
    add({"step": "fold gather", "runner": "library", "processes": 1, "molecules": n_molecules,
         "wall_s": result["wall_s"], "cpu_s": result["cpu_s"],
         "max_rss_mb": result["max_rss_mb"], "tree_peak_mb": tree,
         "load1": load, "note": "gather_folds (rule fold)"})

    # 7. Unchunked folds with the library, checked against the chunked result.
    reference = md5_of_columns(folded, ["id", "structure", "mfe"])
    for processes in args.fold_processes:
        out_tsv = scratch / "lib" / f"folded_{processes}p.tsv"
        load = os.getloadavg()[0]
        result, tree = run_child("fold", {
            "molecules_tsv": str(molecules), "out_tsv": str(out_tsv), "mature_tsv": str(mature),
            "processes": processes,
            "fold": {k: fold[k] for k in ("temperature", "dangles")}}, log)
        same = md5_of_columns(out_tsv, ["id", "structure", "mfe"]) == reference
        add({"step": "fold (whole table)", "runner": "library", "processes": processes,
             "molecules": n_molecules, "wall_s": result["wall_s"], "cpu_s": result["cpu_s"],
             "max_rss_mb": result["max_rss_mb"],
             "worker_rss_mb": result["worker_rss_mb"] if processes > 1 else None,
             "tree_peak_mb": tree, "load1": load,
             "note": f"fold_table, {1000 * result['wall_s'] / n_molecules:.1f} ms/molecule; "
                     f"{'same' if same else 'DIFFERENT'} structures as the chunked run"})

    # 8. encode: the rule, then the library call alone for its memory.
    load = os.getloadavg()[0]
    _, wall, tree = run_snakemake(scratch, configfiles, "encode")
    add({"step": "encode", "runner": "snakemake", "processes": 1, "molecules": n_molecules,
         "wall_s": wall, "tree_peak_mb": tree, "load1": load, "note": "with start-up"})
    load = os.getloadavg()[0]
    outputs = {name: str(scratch / "lib" / "encode" / f"{name}.npz")
               for name in ("train", "val", "test")}
    result, tree = run_child("encode", {
        "folded_tsv": str(folded), "outputs": outputs,
        "examples_png": str(scratch / "lib" / "encode" / "examples.png"),
        "n_examples": 4, "seed": config["seed"]}, log)
    import numpy as np

    black = 0
    for path in outputs.values():
        with np.load(path) as archive:
            black += int((~archive["encodable"]).sum())
    npz_mb = sum(Path(p).stat().st_size for p in outputs.values()) / 2**20
    add({"step": "encode", "runner": "library", "processes": 1, "molecules": n_molecules,
         "wall_s": result["wall_s"], "cpu_s": result["cpu_s"],
         "max_rss_mb": result["max_rss_mb"], "tree_peak_mb": tree,
         "load1": load, "note": f"encode_splits; npz {npz_mb:.0f} MB, {black} without a loop"})

    # Report.
    print("\nmolecules (build_molecules counts):")
    print(f"  hairpins read {counts['hairpins_read']}, IUPAC dropped {counts['iupac_dropped']}, "
          f"positives {counts['positives']} ({counts['positive_duplicate_sequences']} repeat "
          f"another's sequence)")
    print(f"  negatives {counts['negatives']}: CODING {counts['coding_kept']} of "
          f"{counts.get('coding_read', 0)}, shuffles {counts['shuffle_kept']} kept of "
          f"{counts['shuffle_attempts']} folded ({counts['shuffle_rejected_structure']} not one "
          f"hairpin, {counts['shuffle_rejected_duplicate']} duplicates)")
    for name in ("train", "val", "test"):
        print(f"  {name}: {counts[f'{name}_positive']} positives, "
              f"{counts[f'{name}_negative']} negatives")

    print(f"\nsteps (load average at start {steps[0]['load1']:.2f} on {os.cpu_count()} cores):")
    print_table(steps, STEP_COLUMNS)

    job_rows: list[dict[str, Any]] = []
    for target in TARGETS:
        # Rules done before the resolved dry run (download_mirbase, make_molecules) come from
        # the dry run in the empty folder; the rest from the resolved one.
        merged = dict(fresh[target])
        merged.update(resolved[target])
        # In the order the rules are defined (the pipeline's order), unknown ones last.
        order = {rule: i for i, rule in enumerate(local)}
        merged = dict(sorted(merged.items(), key=lambda item: order.get(item[0], len(order))))
        for rule, jobs in merged.items():
            job_rows.append({"target": target, "rule": rule, "jobs": jobs,
                             "slurm_jobs": 0 if local.get(rule, False) else jobs})
        total = sum(merged.values())
        slurm = sum(0 if local.get(rule, False) else jobs for rule, jobs in merged.items())
        job_rows.append({"target": target, "rule": "total", "jobs": total, "slurm_jobs": slurm})
    print(f"\njobs from scratch ({n_molecules} molecules, chunk_size {chunk_size} -> "
          f"{n_chunks} fold chunks; slurm_jobs = 0 for rules Snakemake runs itself):")
    print_table(job_rows, ["target", "rule", "jobs", "slurm_jobs"])
    print("  fold chunks for other chunk sizes: " + ", ".join(
        f"{size}: {math.ceil(n_molecules / size)}" for size in CHUNK_SIZES))

    import pandas as pd

    table = pd.read_csv(molecules, sep="\t", dtype=str, keep_default_na=False)
    lengths = table["sequence"].str.len().to_numpy()
    chunk_rows = []
    for row in chunks:
        i = row["chunk"]
        part = lengths[i * chunk_size:(i + 1) * chunk_size]
        chunk_rows.append({"chunk": i, "molecules": len(part), "mean_len": float(part.mean()),
                           "max_len": int(part.max()), "s": float(row["s"]),
                           "cpu_time": row.get("cpu_time"), "max_rss": row.get("max_rss"),
                           "mean_load": row.get("mean_load")})
    print("\nfold_chunk jobs (Snakemake benchmark TSVs; s = wall, max_rss in MB):")
    print_table(chunk_rows, ["chunk", "molecules", "mean_len", "max_len", "s", "cpu_time",
                             "max_rss", "mean_load"])
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")

    if args.out:
        write_tsv(args.out, steps, STEP_COLUMNS)
        stem = str(args.out)[: -len(".tsv")] if str(args.out).endswith(".tsv") else str(args.out)
        write_tsv(Path(stem + ".jobs.tsv"), job_rows, ["target", "rule", "jobs", "slurm_jobs"])
        write_tsv(Path(stem + ".chunks.tsv"), chunk_rows,
                  ["chunk", "molecules", "mean_len", "max_len", "s", "cpu_time", "max_rss",
                   "mean_load"])
        print(f"wrote {args.out}, {stem}.jobs.tsv, {stem}.chunks.tsv")


if __name__ == "__main__":
    main()
