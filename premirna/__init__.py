"""premirna: learn what makes a pre-microRNA and simulate new ones.

The package holds all the logic of the Snakemake workflow in this repository, in layers that each
import only from the layers below (docs/ARCHITECTURE.md):

1. `core`: errors, atomic files, the tables' columns and reader, logging, settings, seeds, figures;
2. `rna`: sequences and their files, dot-bracket structures, ViennaRNA folding, edit distances;
3. `data` (stage download) and `fold` (stage fold);
4. `encode`: the Cordero et al. 2019 hairpin image and its inverse (stage encode);
5. `training`: device, threads, checkpoints and tensors of both training stages;
6. `classifier` (train_cnn, evaluate_cnn, classify) and `generator` (train_cvae, generate);
7. `validate` and `interpret` (interpret_cnn, interpret_cvae).

`python -m premirna --help` lists the command-line tools (`premirna.cli`).
"""

import os

# Idle OpenMP threads sleep instead of spinning (set before any module imports torch): on a shared
# or busy CPU, spinning torch threads made training several times slower. A value the user set is
# kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.2.0"
