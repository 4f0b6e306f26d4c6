"""premirna: learn what makes a pre-microRNA and simulate new ones.

The package holds all the logic of the Snakemake workflow in this repository: reading and
downloading miRBase and negative sets (`seqio`, `mirbase`, `download`, `negatives`, `split`),
folding with ViennaRNA (`fold`, `structure`), the Cordero et al. 2019 hairpin image and its inverse
(`encode`), and the models built on it. `python -m premirna --help` lists the command-line tools.
"""

__version__ = "0.1.0"
