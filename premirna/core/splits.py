"""The three splits of the molecule table, in order (no imports: the Snakemake process reads it)."""

SPLITS: tuple[str, ...] = ("train", "val", "test")
