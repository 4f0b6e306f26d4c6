"""The settings of the train_cvae and generate stages (the `train_cvae:` and `generate:` config
sections)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from premirna.core.settings import Settings, check_bounds
from premirna.generator.conditions import CONDITION_ATTRIBUTES
from premirna.generator.dinucleotides import ALL
from premirna.generator.network import DERIVED, CVAEConfig
from premirna.generator.sample import Decoding


@dataclass
class CVAETrainConfig(Settings):
    """Everything that decides how the conditional VAE is trained (the `train_cvae:` section)."""

    SECTION = "train_cvae"
    NESTED = {"model": CVAEConfig}

    model: CVAEConfig = field(default_factory=CVAEConfig)  # network sizes (vocabulary and
    # condition sizes are set from the data)
    attributes: list[str] = field(default_factory=lambda: list(CONDITION_ATTRIBUTES))  # binned
    # attributes used as conditions besides the class
    bins: int = 3  # quantile bins per attribute, edges from the training pre-miRNAs
    condition_dropout: float = 0.3  # chance that a condition is hidden ("any") in a training step
    unconditional_rate: float = 0.1  # chance that all conditions of a molecule are hidden at
    # once, which teaches the unconditional decoder used by classifier-free guidance
    labels: list[int] = field(default_factory=lambda: [0, 1])  # classes trained on
    epochs: int = 60  # training epochs (the best validation epoch is kept)
    batch_size: int = 64  # molecules per step
    learning_rate: float = 2e-3  # Adam step size
    lr_schedule: str = "cosine"  # "cosine" (decay to 0 over the epochs) or "none"
    weight_decay: float = 0.0  # AdamW decoupled weight decay
    beta: float = 1.0  # weight of the KL term after warm-up (beta-VAE, Higgins et al. 2017)
    kl_anneal_epochs: int = 20  # epochs of linear warm-up of beta from 0 (Bowman et al. 2016);
    # they do not compete for the kept epoch (premirna.generator.train)
    free_bits: float = 0.5  # nats per latent dimension not penalised (Kingma et al. 2016); 0 = off
    word_dropout: float = 0.25  # chance a decoder input column is hidden (Bowman et al. 2016)
    grad_clip: float = 5.0  # largest gradient norm; 0 = no clipping
    patience: int = 0  # stop after this many epochs without a better validation loss (from the
    # first epoch at the full beta); 0 = never
    attribute_regularisation: dict[str, int] = field(default_factory=dict)  # attribute ->
    # latent dimension it is tied to (AR-VAE, Pati & Lerch 2021); empty = off
    ar_gamma: float = 10.0  # weight of each tied attribute's term (AR-VAE's gamma)
    ar_delta: float = 10.0  # sharpness of tanh(delta * difference of z_d) (AR-VAE's delta)
    tc_weight: float = 0.0  # extra weight on the total correlation of q(z) (beta-TCVAE, Chen
    # et al. 2018): dimensions that carry the same thing are penalised; 0 = off
    seed: int = 20191108  # seeds initialisation, shuffling, dropout and the latent noise
    threads: int = 1  # torch CPU threads
    device: str = "auto"  # "auto" (CUDA if available), "cpu" or "cuda"

    @classmethod
    def prepare(cls, values: dict[str, Any]) -> dict[str, Any]:
        model = values.get("model")
        derived = sorted(set(model or {}) & set(DERIVED)) if isinstance(model, dict) else []
        if derived:
            raise ValueError(f"train_cvae.model: {derived} follow from the data; remove them")
        tied = values.get("attribute_regularisation")
        if isinstance(tied, dict):
            values["attribute_regularisation"] = {str(k): int(v) for k, v in tied.items()}
        elif tied is None and "attribute_regularisation" in values:
            values["attribute_regularisation"] = {}
        return values

    @property
    def regularised(self) -> bool:
        """Whether any attribute is tied to a latent dimension."""
        return bool(self.attribute_regularisation)

    def check(self) -> None:
        check_bounds(
            self,
            at_least={"bins": 2, "epochs": 1, "batch_size": 1, "weight_decay": 0, "beta": 0,
                      "kl_anneal_epochs": 0, "free_bits": 0, "grad_clip": 0, "patience": 0,
                      "threads": 1, "condition_dropout": 0, "unconditional_rate": 0,
                      "word_dropout": 0},
            above={"learning_rate": 0},
            at_most={"condition_dropout": 1, "unconditional_rate": 1, "word_dropout": 1},
        )
        if self.lr_schedule not in ("cosine", "none"):
            raise ValueError(f"train_cvae.lr_schedule {self.lr_schedule!r}: cosine or none")
        check_bounds(self, at_least={"ar_gamma": 0, "tc_weight": 0}, above={"ar_delta": 0})
        self._check_ties()

    def _check_ties(self) -> None:
        """Tied attributes are known ones, each on its own dimension of z."""
        tied = self.attribute_regularisation
        if not tied:
            return
        from premirna.rna.attributes import NAMED_ATTRIBUTES  # here: it imports ViennaRNA

        unknown = sorted(set(tied) - set(NAMED_ATTRIBUTES))
        if unknown:
            raise ValueError(f"train_cvae.attribute_regularisation: unknown attributes {unknown}"
                             f"; choose from {list(NAMED_ATTRIBUTES)}")
        dims = list(tied.values())
        outside = [d for d in dims if not 0 <= d < self.model.latent_dim]
        if outside or len(set(dims)) != len(dims):
            raise ValueError(f"train_cvae.attribute_regularisation: dimensions {dims} must be "
                             f"distinct and within 0..{self.model.latent_dim - 1}")


@dataclass
class GenerateConfig(Settings):
    """Settings of the `generate` stage (the `generate:` config section)."""

    SECTION = "generate"

    n_per_condition: int = 100  # molecules sampled for every condition
    conditions: Any = "single"  # "single": pre-miRNA alone, then each attribute bin alone; or a
    # list of {label: 0/1, <attribute>: <bin name or index>} (omitted = not specified)
    temperature: float = 1.0  # softmax temperature of every column; 0 = greedy (most likely)
    top_p: float = 1.0  # nucleus: draw among the most likely columns holding this probability
    guidance: float = 1.0  # classifier-free guidance of the class (1 = plain conditional;
    # more pushes towards what the decoder calls a pre-miRNA, at a cost in realism)
    attribute_guidance: float = 1.0  # classifier-free guidance of the attribute bins (1 = none)
    requested_guidance: float = 1.25  # guidance of the requested bins alone (not of the bins
    # a training molecule filled in for the open attributes); 1 = none
    complete_conditions: bool = True  # draw the attributes a condition leaves open from real
    # training molecules of that class (else they stay "not specified")
    latent_scale: float = 0.5  # scales the noise of z: its SD around 0 (`prior`) or, in units
    # of the posterior SD, around the posterior mean (`posterior`); 1 = the distribution itself
    latent: str = "posterior"  # where z comes from: "prior" (N(0, I) times latent_scale) or
    # "posterior": the posterior of the training molecule that completed the condition (the
    # aggregate posterior), so that z agrees with the requested bins
    around: Any = 3  # real molecules to sample around: a list of ids, or a number k for the
    # first k test-split pre-miRNAs (by id)
    n_around: int = 20  # molecules per real molecule in `around`
    around_scale: float = 1.0  # multiplies the posterior SD around a real molecule
    traversal_steps: int = 7  # grid points per latent dimension, over `traversal_span`
    traversal_samples: int = 8  # molecules per grid point (same noise at every point)
    traversal_range: float = 3.0  # the grid spans -range .. +range SD (traversal_span: prior)
    traversal_span: str = "prior"  # "prior": -range .. +range SD around 0 on every dimension;
    # "data": from the 1st to the 99th percentile of the training pre-miRNAs' posterior means on
    # that dimension, where the molecules are (an axis tied to an attribute by AR-VAE training
    # is not centred on 0, and past its data it extrapolates)
    refine_steps: int = 20  # steps of the repair walk (generator.refine) that changes unpaired
    # nucleotides until the molecule folds as drawn; 0 = keep the decoder's sequences as they are
    refine_neighbours: bool = True  # a tie between letters that fold equally well goes to the one
    # whose molecule-order neighbours the training pre-miRNAs make most often; false: a random one
    resample_rounds: int = 10  # rounds of redrawing (new z, new noise) the molecules whose drawn
    # hairpin misses a requested bin; 0 = keep every first draw (see `match_request`)
    detector_gate: float = 0.3  # redraw a pre-miRNA whose drawn image train_cnn's CNN gives a
    # lower P(pre-miRNA); 0 = off (`premirna.generator.realism`)
    attribute_matching: float = 0.8  # keep a pre-miRNA with probability min(1, r / M), r the
    # real-to-generated density ratio of its hairpin attributes, M this quantile of a pilot's
    # ratios (1 = exact rejection sampling); 0 = off
    dinucleotide_matching: int = 200  # pilot molecules per pre-miRNA condition whose
    # molecule-order dinucleotides set the tilt of that condition's later draws towards those
    # of the training pre-miRNAs in its bins (premirna.generator.dinucleotides); 0 = off
    matched_dinucleotides: list[str] = field(default_factory=lambda: ["CG"])  # the ones tilted
    # (5' nucleotide first; "all" for all 16)
    stem_pair_matching: int = 200  # pilot molecules per pre-miRNA condition whose base pairs, by
    # kind (G-C, A-U, G-U) and place in the stem, set the tilt of that condition's later draws
    # towards the training pre-miRNAs' in its bins (premirna.generator.stem_pairs); 0 = off
    steering: float = 0.1  # strength of attribute steering: feedback towards the attribute
    # values of the training molecule behind each draw (premirna.generator.steering); 0 = off
    steered: str = "all"  # steer every steerable attribute ("all") or only those a condition
    # requests ("requested")
    batch_size: int = 500  # molecules decoded at once
    seed: int = 20191108  # seeds every draw
    threads: int = 1  # torch CPU threads
    device: str = "auto"  # "auto" (CUDA if available), "cpu" or "cuda"

    def check(self) -> None:
        if not 0 <= self.detector_gate < 1 or not 0 <= self.attribute_matching <= 1:
            raise ValueError("generate.detector_gate: 0 <= value < 1; generate.attribute_matching:"
                             " 0 <= value <= 1")
        if self.latent not in ("prior", "posterior"):
            raise ValueError(f"generate.latent: 'prior' or 'posterior', not {self.latent!r}")
        if self.steering < 0 or self.steered not in ("requested", "all"):
            raise ValueError("generate.steering: at least 0; generate.steered: 'requested' or "
                             f"'all', not {self.steered!r}")
        if self.stem_pair_matching < 0:
            raise ValueError("generate.stem_pair_matching: at least 0, not "
                             f"{self.stem_pair_matching}")
        if self.traversal_span not in ("prior", "data"):
            raise ValueError("generate.traversal_span: 'prior' or 'data', not "
                             f"{self.traversal_span!r}")
        odd = [d for d in self.matched_dinucleotides if d not in (*ALL, "all")]
        if odd:
            raise ValueError(f"generate.matched_dinucleotides: {odd} are not dinucleotides of "
                             "A, C, G, U (5' first) or 'all'")

    @property
    def tilted(self) -> tuple[str, ...]:
        """The dinucleotides dinucleotide matching tilts (`matched_dinucleotides`, 'all' read
        as all 16)."""
        if "all" in self.matched_dinucleotides:
            return ALL
        return tuple(self.matched_dinucleotides)

    @property
    def decoding(self) -> Decoding:
        """How latents become tokens."""
        return Decoding(self.temperature, self.top_p, self.guidance, self.attribute_guidance,
                        self.requested_guidance, self.steering)
