"""What the pre-miRNA CNN looks at, whether that can be trusted, and what it means biologically.

Attributions of the trained classifier (`premirna.cnn`) on held-out hairpin images are computed with
six captum methods, all called through one helper (`attribute`) on the same inputs, targets and
baseline: SmoothGrad (Smilkov et al. 2017), guided backpropagation (Springenberg et al. 2015),
integrated gradients (Sundararajan et al. 2017), GradientSHAP (Lundberg & Lee 2017), Grad-CAM on
the last convolution (Selvaraju et al. 2017) and occlusion (Zeiler & Fergus 2014). Each map is
checked with the model-randomisation test of Adebayo et al. (2018, "Sanity checks for saliency
maps"): a map that barely changes when the trained weights are replaced by random ones explains the
input, not the model, and is flagged. Methods are compared with each other (rank agreement) and with
the authors' own average saliency map (Cordero, Menkovski & Allmer 2019). Pixels are then mapped
back to nucleotides through the encoder's column representation (`premirna.encode.columns`) and
summed per biological region of the hairpin: terminal loop, the mature 5p and 3p miRNAs of miRBase,
the rest of the stem, the basal stem, the unpaired tails, and the neighbourhoods of the Drosha and
Dicer cut sites. `interpret_cnn` is what the `interpret_cnn` rule calls.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy.stats import rankdata
from torch import nn

from premirna.atomic import atomic_path, save_npz, write_tsv
from premirna.errors import InputError
from premirna.settings import reject_unknown
from premirna.structure import central_hairpin_loop, pair_table, stem_path
from premirna.training import seed_everything

log = logging.getLogger("premirna.interpret")

ROWS, COLUMNS = 25, 100
TOP_ROWS = 13  # rows 0-12 draw the 5' arm, rows 13-24 the 3' arm (SCIENCE.md section 1)

#: Attribution methods by config name, with the reference each one implements.
METHODS: dict[str, str] = {
    "smoothgrad": "SmoothGrad: NoiseTunnel(Saliency) (Smilkov et al. 2017)",
    "guided_backprop": "Guided backpropagation (Springenberg et al. 2015)",
    "integrated_gradients": "Integrated gradients (Sundararajan et al. 2017)",
    "gradient_shap": "GradientSHAP (Lundberg & Lee 2017)",
    "grad_cam": "Grad-CAM on the last convolution (Selvaraju et al. 2017)",
    "occlusion": "Occlusion (Zeiler & Fergus 2014)",
}
#: Short labels for figures.
METHOD_LABELS: dict[str, str] = {
    "smoothgrad": "SmoothGrad",
    "guided_backprop": "Guided backprop",
    "integrated_gradients": "Integrated gradients",
    "gradient_shap": "GradientSHAP",
    "grad_cam": "Grad-CAM",
    "occlusion": "Occlusion",
    "input_control": "Input (control)",
}


def method_label(method: str, failing: Collection[str] = ()) -> str:
    """A method's name for figures, marked when it failed the model-randomisation check (a
    failing method is shown, never hidden, but must not be read as evidence)."""
    label = METHOD_LABELS.get(method, method)
    return f"{label} (FAILS sanity check)" if method in failing else label


#: A pseudo-method of the sanity check: the "attribution" is the input itself, which ignores the
#: weights and must therefore be flagged (a check that cannot flag it is not a check).
CONTROL = "input_control"

#: Exclusive regions: every pixel of the image belongs to exactly one.
REGIONS: tuple[str, ...] = (
    "terminal_loop",
    "mature_5p",
    "mature_3p",
    "upper_stem",
    "basal_stem",
    "tails",
    "beyond_hairpin",
)
REGION_LABELS: dict[str, str] = {
    "terminal_loop": "terminal loop",
    "mature_5p": "mature 5p",
    "mature_3p": "mature 3p",
    "upper_stem": "stem between duplex and loop",
    "basal_stem": "basal stem (below Drosha)",
    "tails": "unpaired tails",
    "beyond_hairpin": "empty columns (no nucleotide)",
}
#: Overlapping windows around the four cut sites (reported beside the partition, not in it).
CUT_SITES: tuple[str, ...] = ("drosha_5p", "dicer_5p", "dicer_3p", "drosha_3p")
OUTCOMES: tuple[str, ...] = ("TP", "TN", "FP", "FN")
#: Groups of molecules summarised in every table: the true class, then the outcomes.
GROUPS: tuple[str, ...] = ("pre-miRNA", "not pre-miRNA", *OUTCOMES)

OUTPUT_KEYS: tuple[str, ...] = (
    "attributions",
    "molecules",
    "methods",
    "regions",
    "profile",
    "sanity",
    "agreement",
    "reference",
    "examples_figure",
    "class_average_figure",
    "regions_figure",
    "profile_figure",
    "sanity_figure",
    "agreement_figure",
)


@dataclass
class InterpretConfig:
    """Settings of the `interpret_cnn` stage (the `interpret_cnn:` config section)."""

    n_molecules: int = 64  # test molecules explained, drawn evenly from TP, TN, FP and FN
    methods: list[str] = field(default_factory=lambda: list(METHODS))  # subset of METHODS
    target: str = "predicted"  # class explained: "predicted", "pre-miRNA" (class 1) or "true"
    baseline: str = "white"  # reference image: "white" (blank canvas) or "black"
    smoothgrad_samples: int = 16  # noisy copies per molecule (Smilkov et al. used 50)
    smoothgrad_noise: float = 0.15  # noise s.d. as a share of the [0, 1] pixel range (10-20 %)
    ig_steps: int = 32  # integrated gradients: steps of the Gauss-Legendre path integral
    gradient_shap_samples: int = 16  # GradientSHAP: random points on baseline-input paths
    gradient_shap_noise: float = 0.1  # GradientSHAP: s.d. of the noise added to each point
    occlusion_window: list[int] = field(default_factory=lambda: [5, 4])  # rows x columns
    occlusion_stride: list[int] = field(default_factory=lambda: [4, 2])  # rows x columns
    sanity_molecules: int = 32  # molecules in the model-randomisation check
    sanity_threshold: float = 0.5  # median Spearman (trained vs random) at or above: flagged
    cut_site_window: int = 3  # nucleotides either side of a Drosha/Dicer cut
    examples_per_outcome: int = 1  # molecules per outcome drawn in the example figure
    batch_size: int = 16  # molecules per attribution call
    seed: int = 20191108  # selection of molecules, noise of SmoothGrad/GradientSHAP, random weights
    threads: int = 2  # torch CPU threads

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> InterpretConfig:
        """Build from a config section; unknown keys or methods raise ValueError naming them."""
        values = dict(values or {})
        reject_unknown(values, cls, "interpret_cnn")
        config = cls(**values)
        bad = [m for m in config.methods if m not in METHODS]
        if bad or not config.methods:
            raise ValueError(f"interpret_cnn.methods: unknown {bad}; choose from {list(METHODS)}")
        if config.target not in ("predicted", "pre-miRNA", "true"):
            raise ValueError(f"interpret_cnn.target {config.target!r}: predicted, pre-miRNA, true")
        if config.baseline not in ("white", "black"):
            raise ValueError(f"interpret_cnn.baseline {config.baseline!r}: white or black")
        return config

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------------------------
# Attributions


def baseline_image(kind: str = "white") -> torch.Tensor:
    """The reference input 1 x 3 x 25 x 100: "white" is the empty canvas of the hairpin image
    (every pixel 1.0, i.e. nothing drawn), "black" is all zeros."""
    value = 1.0 if kind == "white" else 0.0
    return torch.full((1, 3, ROWS, COLUMNS), value)


def attribute(
    method: str,
    model: nn.Module,
    inputs: torch.Tensor,
    target: torch.Tensor,
    baseline: torch.Tensor,
    config: InterpretConfig,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Attributions of `method` for `inputs` (N x 3 x 25 x 100), same shape, and the convergence
    delta per molecule where the method has one (integrated gradients, GradientSHAP).

    Every method gets the same inputs, targets and baseline; the random streams (SmoothGrad noise,
    GradientSHAP samples) are re-seeded from `config.seed` on every call, so a trained and a
    randomised model see the same noise. Grad-CAM's coarse map is upsampled to 25 x 100 and
    spread evenly over the three colour channels (their sum is the Grad-CAM map).
    """
    from captum.attr import (
        GradientShap,
        GuidedBackprop,
        IntegratedGradients,
        LayerAttribution,
        LayerGradCam,
        NoiseTunnel,
        Occlusion,
        Saliency,
    )

    # captum draws GradientSHAP's interpolation points from NumPy's global generator and the
    # SmoothGrad noise from torch's: seed both, or the maps change from run to run.
    seed_everything(config.seed)
    # Inputs that already require gradients (captum warns otherwise), detached from any graph.
    inputs = inputs.detach().clone().requires_grad_(True)
    baselines = baseline.to(inputs.device).expand_as(inputs).contiguous()
    delta = None
    if method == "smoothgrad":
        # abs=False: SmoothGrad averages the signed gradients of the noisy copies (Smilkov eq. 2);
        # the magnitude is taken afterwards, in `pixel_maps`.
        result = NoiseTunnel(Saliency(model)).attribute(
            inputs,
            nt_type="smoothgrad",
            nt_samples=config.smoothgrad_samples,
            nt_samples_batch_size=config.smoothgrad_samples,
            stdevs=config.smoothgrad_noise,
            target=target,
            abs=False,
        )
    elif method == "guided_backprop":
        with warnings.catch_warnings():
            # captum announces that it hooks the ReLU modules: that is the method, not a problem.
            warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU")
            result = GuidedBackprop(model).attribute(inputs, target=target)
    elif method == "integrated_gradients":
        result, delta = IntegratedGradients(model).attribute(
            inputs,
            baselines=baselines,
            target=target,
            n_steps=config.ig_steps,
            internal_batch_size=len(inputs) * config.ig_steps,  # the whole path in one pass
            return_convergence_delta=True,
        )
    elif method == "gradient_shap":
        result, delta = GradientShap(model).attribute(
            inputs,
            baselines=baselines[:1],
            n_samples=config.gradient_shap_samples,
            stdevs=config.gradient_shap_noise,
            target=target,
            return_convergence_delta=True,
        )
        # captum returns one delta per (molecule, sample): average per molecule.
        delta = delta.view(len(inputs), -1).mean(dim=1)
    elif method == "grad_cam":
        layer = getattr(model, "last_conv", None)
        if layer is None:
            raise ValueError("Grad-CAM needs the network's last convolution as `model.last_conv`")
        cam = LayerGradCam(model, layer).attribute(inputs, target=target, relu_attributions=True)
        cam = LayerAttribution.interpolate(cam, (ROWS, COLUMNS), interpolate_mode="bilinear")
        result = cam.expand(-1, inputs.shape[1], -1, -1) / inputs.shape[1]
    elif method == "occlusion":
        rows, cols = config.occlusion_window
        row_stride, col_stride = config.occlusion_stride
        result = Occlusion(model).attribute(
            inputs,
            sliding_window_shapes=(inputs.shape[1], rows, cols),
            strides=(inputs.shape[1], row_stride, col_stride),
            baselines=baselines,
            target=target,
            perturbations_per_eval=64,  # measured fastest on 2 CPU cores (16: 2x slower)
        )
    elif method == CONTROL:
        result = inputs.detach().clone()
    else:
        raise ValueError(f"unknown attribution method {method!r}; choose from {list(METHODS)}")
    return result.detach().float(), None if delta is None else delta.detach().float()


def pixel_maps(attributions: torch.Tensor | np.ndarray) -> np.ndarray:
    """N x 3 x 25 x 100 attributions -> N x 25 x 100 magnitudes: |a| summed over the colour
    channels (the colour of a pixel says which nucleotide it is, so all three carry evidence)."""
    values = attributions.numpy() if isinstance(attributions, torch.Tensor) else attributions
    return np.abs(values).sum(axis=1)


def attribute_all(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    methods: Sequence[str],
    config: InterpretConfig,
) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Pixel maps (N x 25 x 100, float32) per method, batch by batch, and a table of methods with
    their seconds and mean |convergence delta| (NaN where the method has none)."""
    model.eval()
    baseline = baseline_image(config.baseline)
    maps: dict[str, np.ndarray] = {}
    rows = []
    for method in methods:
        start = time.perf_counter()
        parts, deltas = [], []
        for first in range(0, len(inputs), config.batch_size):
            batch = inputs[first : first + config.batch_size]
            attributions, delta = attribute(
                method, model, batch, targets[first : first + config.batch_size], baseline, config
            )
            if attributions.shape != batch.shape or not torch.isfinite(attributions).all():
                raise RuntimeError(f"{method}: attributions of shape {tuple(attributions.shape)} "
                                   "are not finite or not the input's shape")
            parts.append(pixel_maps(attributions).astype(np.float32))
            if delta is not None:
                deltas.append(delta.abs().numpy())
        maps[method] = np.concatenate(parts) if parts else np.zeros((0, ROWS, COLUMNS), np.float32)
        seconds = time.perf_counter() - start
        rows.append(
            {
                "method": method,
                "description": METHODS.get(method, method),
                "seconds": round(seconds, 2),
                "mean_abs_convergence_delta": float(np.mean(np.concatenate(deltas)))
                if deltas
                else math.nan,
            }
        )
        log.info("%s: %d molecules in %.1f s", method, len(inputs), seconds)
    return maps, pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Trust: model randomisation and agreement


def randomised_copy(model: nn.Module, seed: int) -> nn.Module:
    """A copy of `model` with every layer re-initialised (seeded): the full model randomisation of
    Adebayo et al. 2018. Batch-norm layers go back to their initial state (scale 1, shift 0,
    running mean 0, variance 1), so no trained statistic survives either."""
    clone = copy.deepcopy(model)
    torch.manual_seed(seed)
    for module in clone.modules():
        if module is not clone and hasattr(module, "reset_parameters"):
            module.reset_parameters()
    return clone.eval()


def rowwise_spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman rank correlation between row i of `a` and row i of `b` (maps flattened).

    A row that is constant in either (a Grad-CAM that is zero everywhere, say) gets 0: a map
    that lost all its structure has certainly changed."""
    a = a.reshape(len(a), -1)
    b = b.reshape(len(b), -1)
    ra = rankdata(a, axis=1)
    rb = rankdata(b, axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    denominator = np.sqrt((ra**2).sum(axis=1) * (rb**2).sum(axis=1))
    numerator = (ra * rb).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), 0.0)
    return rho


def sanity_check(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    methods: Sequence[str],
    config: InterpretConfig,
    trained_maps: Mapping[str, np.ndarray] | None = None,
    attribute_fn: Callable[..., tuple[torch.Tensor, torch.Tensor | None]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Model-randomisation test (Adebayo et al. 2018) for each method.

    Maps of the trained model and of a fully randomised copy (`randomised_copy`) are compared per
    molecule by Spearman rank correlation of the pixel magnitudes over the whole image. A method
    whose median correlation is at or above `config.sanity_threshold` is flagged FAILS: its maps
    hardly depend on the weights. The same comparison over the drawn pixels only (those that
    differ from the baseline) is reported beside it (`verdict_drawn`): white-baseline methods give
    exact zeros on every white pixel whatever the weights, and those shared zeros alone raise the
    whole-image correlation. `trained_maps` reuses maps already computed for the same inputs;
    `attribute_fn` replaces `attribute` (tests plug in rigged methods). Returns the summary (one
    row per method) and the per-molecule correlations (method, molecule, spearman,
    spearman_drawn).
    """
    fn = attribute_fn or attribute
    random_model = randomised_copy(model, config.seed + 1)
    baseline = baseline_image(config.baseline)
    rows, per_molecule = [], []
    # Pixels that differ from the baseline in any channel: the drawing itself.
    drawn_masks = (inputs != baseline.to(inputs.device)).any(dim=1).numpy()
    for method in methods:
        maps = {}
        for name, net in (("trained", model), ("random", random_model)):
            if name == "trained" and trained_maps is not None and method in trained_maps:
                maps[name] = trained_maps[method]
                continue
            parts = []
            for first in range(0, len(inputs), config.batch_size):
                batch = inputs[first : first + config.batch_size]
                result, _ = fn(method, net, batch, targets[first : first + config.batch_size],
                               baseline, config)
                parts.append(pixel_maps(result))
            maps[name] = np.concatenate(parts)
        rho = rowwise_spearman(maps["trained"], maps["random"])
        drawn = np.array([
            rowwise_spearman(t[mask][None], r[mask][None])[0] if mask.sum() > 1 else 0.0
            for t, r, mask in zip(maps["trained"], maps["random"], drawn_masks, strict=True)
        ])
        per_molecule.append(pd.DataFrame({"method": method, "molecule": np.arange(len(rho)),
                                          "spearman": rho, "spearman_drawn": drawn}))
        median, median_drawn = float(np.median(rho)), float(np.median(drawn))
        rows.append(
            {
                "method": method,
                "n_molecules": len(rho),
                "spearman_median": median,
                "spearman_q1": float(np.quantile(rho, 0.25)),
                "spearman_q3": float(np.quantile(rho, 0.75)),
                "share_above_threshold": float(np.mean(rho >= config.sanity_threshold)),
                "threshold": config.sanity_threshold,
                "verdict": "FAILS (map hardly changes with random weights)"
                if median >= config.sanity_threshold
                else "passes",
                "spearman_drawn_median": median_drawn,
                "verdict_drawn": "FAILS" if median_drawn >= config.sanity_threshold
                else "passes",
                "is_control": method == CONTROL,
            }
        )
        log.info("sanity check %s: median Spearman trained vs random %.3f, drawn pixels %.3f "
                 "(%s)", method, median, median_drawn, rows[-1]["verdict"])
    return pd.DataFrame(rows), pd.concat(per_molecule, ignore_index=True)


def method_agreement(maps: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Median over molecules of the Spearman correlation between the maps of every two methods
    (a square table, methods on both axes)."""
    names = list(maps)
    matrix = np.eye(len(names))
    for i, first in enumerate(names):
        for j in range(i + 1, len(names)):
            rho = float(np.median(rowwise_spearman(maps[first], maps[names[j]])))
            matrix[i, j] = matrix[j, i] = rho
    frame = pd.DataFrame(matrix, index=names, columns=names)
    frame.index.name = "method"
    return frame


# --------------------------------------------------------------------------------------------
# From pixels to nucleotides and regions


@dataclass(frozen=True)
class ColumnMap:
    """Which sequence position (0-based) each image column draws in the 5' half (`top`) and the
    3' half (`bottom`); -1 where the half has no nucleotide (a gap opposite a bulge, or past the
    end of the drawing). Arrays have one entry per drawn column (at most 100)."""

    top: np.ndarray
    bottom: np.ndarray


def column_map(sequence: str, structure: str) -> ColumnMap:
    """The encoder's own column representation (`premirna.encode.columns`) as a `ColumnMap`."""
    from premirna import encode

    representation = encode.columns(sequence, structure)
    return _as_column_map(representation)


def _encoder_loop(structure: str) -> tuple[int, int] | None:
    """The loop the encoder draws at column 0 (it differs from `central_hairpin_loop` in a few
    multi-loop folds)."""
    from premirna import encode

    return encode.central_loop(structure)


def _as_column_map(representation: Any) -> ColumnMap:
    if isinstance(representation, ColumnMap):
        return representation
    for top_name, bottom_name in (("top", "bottom"), ("top_pos", "bottom_pos"),
                                  ("five_prime", "three_prime")):
        if hasattr(representation, top_name) and hasattr(representation, bottom_name):
            top = getattr(representation, top_name)
            bottom = getattr(representation, bottom_name)
            break
    else:
        top, bottom = representation
    top = np.array([-1 if p is None else int(p) for p in top], dtype=np.int64)
    bottom = np.array([-1 if p is None else int(p) for p in bottom], dtype=np.int64)
    return ColumnMap(top[:COLUMNS], bottom[:COLUMNS])


def pixel_positions(columns: ColumnMap) -> np.ndarray:
    """25 x 100 array: the sequence position each pixel belongs to, -1 for none.

    Every pixel of a column's 5' half (rows 0-12: the bar, the white above it, the axis pixel)
    belongs to the column's 5'-arm nucleotide, and every pixel of the 3' half to its 3'-arm
    nucleotide. Where one half holds a gap (a bulge on the other arm), the gap stub belongs to the
    bulged nucleotide opposite: it is drawn because of it. Columns past the drawing give -1."""
    top = np.full(COLUMNS, -1, dtype=np.int64)
    bottom = np.full(COLUMNS, -1, dtype=np.int64)
    n = min(len(columns.top), COLUMNS)
    top[:n] = columns.top[:n]
    bottom[:n] = columns.bottom[: min(len(columns.bottom), COLUMNS)][:n]
    top_owner = np.where(top >= 0, top, bottom)
    bottom_owner = np.where(bottom >= 0, bottom, top)
    grid = np.empty((ROWS, COLUMNS), dtype=np.int64)
    grid[:TOP_ROWS] = top_owner
    grid[TOP_ROWS:] = bottom_owner
    return grid


@dataclass(frozen=True)
class MatureSites:
    """Mature miRNA positions on the hairpin, 0-based inclusive (start, end) per arm, and where
    they come from: "mirbase" (annotated), "inferred" (the other arm, by the 2-nt 3' overhang of
    Dicer and Drosha products) or "proxy" (no annotation: the typical columns of annotated
    hairpins)."""

    five_p: tuple[int, int] | None
    three_p: tuple[int, int] | None
    source_5p: str = "mirbase"
    source_3p: str = "mirbase"

    @property
    def source(self) -> str:
        return "+".join(sorted({self.source_5p, self.source_3p}))


def _partner_near(table: np.ndarray, position: int) -> int | None:
    """The partner of `position`, or of its nearest paired neighbour shifted by the distance
    (strands run antiparallel); None if nothing near is paired."""
    for distance in range(0, 8):
        for q in (position - distance, position + distance):
            if 0 <= q < len(table) and table[q] >= 0:
                return int(table[q]) - (position - q)
    return None


def infer_other_arm(table: np.ndarray, start: int, end: int) -> tuple[int, int] | None:
    """The opposite strand of a miRNA duplex with 2-nt 3' overhangs at both ends (the products of
    Drosha and Dicer, RNase III enzymes; Lee et al. 2003, Nature 425:415; Bernstein et al. 2001,
    Nature 409:363): the partner strand starts 2 nt past the partner of `end` and ends 2 nt past
    the partner of `start`. 0-based inclusive; None when the region is unpaired."""
    first, last = _partner_near(table, end), _partner_near(table, start)
    if first is None or last is None:
        return None
    first, last = first + 2, last + 2
    first, last = max(first, 0), min(last, len(table) - 1)
    return (first, last) if first <= last else None


def mature_sites(
    structure: str,
    five_p: tuple[float, float] | None,
    three_p: tuple[float, float] | None,
) -> MatureSites | None:
    """Mature sites from 1-based miRBase coordinates (None or NaN where missing); the missing arm
    is inferred from the annotated one. None when neither arm is annotated."""

    def clean(pair: tuple[float, float] | None) -> tuple[int, int] | None:
        if pair is None or any(v is None or (isinstance(v, float) and math.isnan(v)) for v in pair):
            return None
        return int(pair[0]) - 1, int(pair[1]) - 1

    p5, p3 = clean(five_p), clean(three_p)
    if p5 is None and p3 is None:
        return None
    table = pair_table(structure)
    if p5 is None:
        return MatureSites(infer_other_arm(table, *p3), p3, "inferred", "mirbase")
    if p3 is None:
        return MatureSites(p5, infer_other_arm(table, *p5), "mirbase", "inferred")
    return MatureSites(p5, p3)


def proxy_sites(columns: ColumnMap, spans: Mapping[str, tuple[int, int]]) -> MatureSites:
    """Mature sites of a molecule without annotation: the nucleotides drawn in the columns where
    annotated hairpins typically carry their 5p and 3p miRNAs (`spans`: arm -> column range)."""

    def arm(positions: np.ndarray, span: tuple[int, int]) -> tuple[int, int] | None:
        chosen = positions[span[0] : span[1] + 1]
        chosen = chosen[chosen >= 0]
        return (int(chosen.min()), int(chosen.max())) if len(chosen) else None

    return MatureSites(arm(columns.top, spans["5p"]), arm(columns.bottom, spans["3p"]),
                       "proxy", "proxy")


def typical_columns(
    column_maps: Sequence[ColumnMap], sites: Sequence[MatureSites | None]
) -> dict[str, tuple[int, int]] | None:
    """Median first and last column of the mature 5p (5' half) and 3p (3' half) miRNAs over the
    molecules with miRBase annotations on that arm; None if there are none."""
    spans: dict[str, list[tuple[int, int]]] = {"5p": [], "3p": []}
    for columns, site in zip(column_maps, sites, strict=True):
        if site is None:
            continue
        for arm, positions, region, source in (
            ("5p", columns.top, site.five_p, site.source_5p),
            ("3p", columns.bottom, site.three_p, site.source_3p),
        ):
            if region is None or source != "mirbase":
                continue
            hit = np.flatnonzero((positions >= region[0]) & (positions <= region[1]))
            if len(hit):
                spans[arm].append((int(hit.min()), int(hit.max())))
    if not spans["5p"] or not spans["3p"]:
        return None
    return {
        arm: (int(np.median([s[0] for s in values])), int(np.median([s[1] for s in values])))
        for arm, values in spans.items()
    }


def position_regions(
    structure: str, sites: MatureSites | None, loop: tuple[int, int] | None = None
) -> np.ndarray:
    """Region index (into `REGIONS`) of every sequence position.

    Structure first: the unpaired nucleotides of the terminal loop the image draws at column 0
    (`loop`, its closing pair; by default `central_hairpin_loop`; pass the encoder's
    `premirna.encode.central_loop` to follow the image exactly), the tails outside the outermost
    pair of the stem (`stem_path`), the rest is stem. The mature miRNAs (miRBase, inferred or
    proxy) then take precedence over the structural labels, because miRBase annotations sometimes
    reach into the loop or the tails. Stem nucleotides between the duplex and the loop are
    `upper_stem`, those outside the duplex towards the base `basal_stem`. Without any mature
    sites the whole stem is `upper_stem`.
    """
    n = len(structure)
    index = {name: k for k, name in enumerate(REGIONS)}
    regions = np.full(n, index["upper_stem"], dtype=np.int64)
    loop = loop if loop is not None else central_hairpin_loop(structure)
    if loop is None:  # no hairpin: nothing is drawn (an all-black image)
        regions[:] = index["tails"]
        return regions
    i, j = loop
    outer_i, outer_j = stem_path(structure)[-1]
    positions = np.arange(n)
    regions[(positions > i) & (positions < j)] = index["terminal_loop"]
    regions[(positions < outer_i) | (positions > outer_j)] = index["tails"]
    if sites is None:
        return regions
    stem = ((positions >= outer_i) & (positions <= i)) | ((positions >= j) & (positions <= outer_j))
    if sites.five_p is not None:
        s5, e5 = sites.five_p
        five_arm = stem & (positions <= i)
        regions[five_arm & (positions < s5)] = index["basal_stem"]
        regions[five_arm & (positions > e5)] = index["upper_stem"]
    if sites.three_p is not None:
        s3, e3 = sites.three_p
        three_arm = stem & (positions >= j)
        regions[three_arm & (positions > e3)] = index["basal_stem"]
        regions[three_arm & (positions < s3)] = index["upper_stem"]
    for region, name in ((sites.five_p, "mature_5p"), (sites.three_p, "mature_3p")):
        if region is not None:
            regions[max(region[0], 0) : min(region[1], n - 1) + 1] = index[name]
    return regions


def cut_windows(sites: MatureSites | None, length: int, window: int) -> dict[str, np.ndarray]:
    """Boolean masks over sequence positions: `window` nt either side of each cut site.

    Drosha cuts 5' of the mature 5p and 3' of the mature 3p; Dicer cuts 3' of the 5p and 5' of
    the 3p (Lee et al. 2003; Bernstein et al. 2001). A cut "before position k" has the window
    k - window .. k + window - 1."""
    masks = {name: np.zeros(length, dtype=bool) for name in CUT_SITES}
    if sites is None:
        return masks
    cuts = {}
    if sites.five_p is not None:
        cuts["drosha_5p"], cuts["dicer_5p"] = sites.five_p[0], sites.five_p[1] + 1
    if sites.three_p is not None:
        cuts["dicer_3p"], cuts["drosha_3p"] = sites.three_p[0], sites.three_p[1] + 1
    for name, k in cuts.items():
        masks[name][max(k - window, 0) : max(min(k + window, length), 0)] = True
    return masks


def region_sums(
    pixel_map: np.ndarray, owners: np.ndarray, regions: np.ndarray
) -> dict[str, float]:
    """Attribution mass per region (`REGIONS`): pixels go to their nucleotide's region, pixels of
    no nucleotide to `beyond_hairpin`. The values add up to `pixel_map.sum()`."""
    sums = dict.fromkeys(REGIONS, 0.0)
    owned = owners >= 0
    if owned.any():
        per_region = np.bincount(
            regions[owners[owned]], weights=pixel_map[owned], minlength=len(REGIONS)
        )
        for k, name in enumerate(REGIONS):
            sums[name] += float(per_region[k])
    sums["beyond_hairpin"] += float(pixel_map[~owned].sum())
    return sums


def position_attribution(pixel_map: np.ndarray, owners: np.ndarray, length: int) -> np.ndarray:
    """Attribution mass per sequence position (pixels of no nucleotide are left out)."""
    owned = owners >= 0
    return np.bincount(owners[owned], weights=pixel_map[owned], minlength=length)[:length]


# --------------------------------------------------------------------------------------------
# Comparison with the authors' map


def reference_comparison(
    ours: Mapping[str, np.ndarray], reference: np.ndarray, label: str
) -> pd.DataFrame:
    """Our class-average maps against the authors' (Pearson and Spearman over the 2,500 pixels),
    and the share of mass in columns 10-39 (the stem where the duplex sits) and on the pairing
    rows 11-14, for each map and for the reference itself."""
    from scipy.stats import pearsonr, spearmanr

    def shares(m: np.ndarray) -> tuple[float, float]:
        total = float(m.sum())
        if total <= 0:
            return math.nan, math.nan
        return float(m[:, 10:40].sum() / total), float(m[11:15].sum() / total)

    cols, rows_ = shares(reference)
    out = [{"map": f"Cordero et al. 2019 ({label})", "pearson": 1.0, "spearman": 1.0,
            "share_columns_10_39": cols, "share_rows_11_14": rows_}]
    for method, m in ours.items():
        cols, rows_ = shares(m)
        flat, ref = m.ravel(), reference.ravel()
        constant = np.ptp(flat) == 0
        out.append(
            {
                "map": method,
                "pearson": math.nan if constant else float(pearsonr(flat, ref)[0]),
                "spearman": math.nan if constant else float(spearmanr(flat, ref)[0]),
                "share_columns_10_39": cols,
                "share_rows_11_14": rows_,
            }
        )
    return pd.DataFrame(out)


def load_reference_map(path: str | Path) -> np.ndarray:
    """The authors' 25 x 100 average saliency map (`arr_0` of their npz)."""
    with np.load(path) as data:
        array = data[data.files[0]] if "arr_0" not in data.files else data["arr_0"]
    if array.shape != (ROWS, COLUMNS):
        raise InputError(path, f"expected a 25 x 100 map, got shape {array.shape}")
    return np.asarray(array, dtype=np.float64)


# --------------------------------------------------------------------------------------------
# Choosing molecules


def outcomes(labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """"TP", "TN", "FP" or "FN" per molecule (1 = pre-miRNA)."""
    labels = np.asarray(labels).astype(int)
    predicted = np.asarray(predicted).astype(int)
    names = np.array(["TN", "FP", "FN", "TP"])
    return names[labels * 2 + predicted]


def select_molecules(outcome: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Indices of `n` molecules, as even across TP, TN, FP and FN as they allow (errors are
    rare, so the rest is filled from the other outcomes in turn), seeded, sorted."""
    rng = np.random.default_rng(seed)
    pools = {o: list(rng.permutation(np.flatnonzero(outcome == o))) for o in OUTCOMES}
    chosen: list[int] = []
    n = min(n, len(outcome))
    while len(chosen) < n:
        progressed = False
        for o in OUTCOMES:
            if pools[o] and len(chosen) < n:
                chosen.append(int(pools[o].pop(0)))
                progressed = True
        if not progressed:
            break
    return np.array(sorted(chosen), dtype=np.int64)


# --------------------------------------------------------------------------------------------
# Tables


def normalised(maps: np.ndarray) -> np.ndarray:
    """Each map divided by its total (a share of the molecule's attribution); zero maps stay 0."""
    totals = maps.reshape(len(maps), -1).sum(axis=1)
    safe = np.where(totals > 0, totals, 1.0)
    return maps / safe[:, None, None]


def group_masks(labels: np.ndarray, outcome: np.ndarray) -> dict[str, np.ndarray]:
    """Boolean masks of the molecules in each of `GROUPS`."""
    masks = {"pre-miRNA": labels == 1, "not pre-miRNA": labels == 0}
    masks.update({o: outcome == o for o in OUTCOMES})
    return masks


@dataclass
class Molecules:
    """The explained molecules: images, labels, predictions and their hairpin layout."""

    ids: np.ndarray
    images: np.ndarray  # uint8 N x 25 x 100 x 3
    labels: np.ndarray
    probability: np.ndarray  # of pre-miRNA
    outcome: np.ndarray
    sequences: list[str]
    structures: list[str]
    columns: list[ColumnMap]
    sites: list[MatureSites | None]
    loops: list[tuple[int, int] | None] | None = None  # the loop drawn at column 0, per molecule


def region_table(
    maps: Mapping[str, np.ndarray], molecules: Molecules, cut_window: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per molecule and method, the share of attribution in each region and cut-site window, and
    the share of the molecule's pixels that region holds (what a map spread evenly would give);
    then the long summary table: method x group x region with the mean share, its standard
    error and the enrichment (mean share / mean pixel share)."""
    records = []
    owners = [pixel_positions(c) for c in molecules.columns]
    loops = molecules.loops or [None] * len(molecules.structures)
    regions = [
        position_regions(s, site, loop)
        for s, site, loop in zip(molecules.structures, molecules.sites, loops, strict=True)
    ]
    windows = [cut_windows(site, len(s), cut_window) for s, site in zip(molecules.structures,
                                                                        molecules.sites,
                                                                        strict=True)]
    ones = np.ones((ROWS, COLUMNS))
    for method, method_maps in maps.items():
        for k in range(len(method_maps)):
            total = float(method_maps[k].sum())
            sums = region_sums(method_maps[k], owners[k], regions[k])
            area = region_sums(ones, owners[k], regions[k])
            per_position = position_attribution(method_maps[k], owners[k], len(regions[k]))
            area_position = position_attribution(ones, owners[k], len(regions[k]))
            row = {"id": molecules.ids[k], "method": method, "total": total}
            for name in REGIONS:
                row[f"share_{name}"] = sums[name] / total if total > 0 else math.nan
                row[f"area_{name}"] = area[name] / (ROWS * COLUMNS)
            for name in CUT_SITES:
                mask = windows[k][name]
                usable = total > 0 and mask.any()
                row[f"share_{name}"] = (
                    float(per_position[mask].sum()) / total if usable else math.nan
                )
                row[f"area_{name}"] = (
                    float(area_position[mask].sum()) / (ROWS * COLUMNS) if mask.any() else math.nan
                )
            records.append(row)
    per_molecule = pd.DataFrame(records)
    summary = []
    index = pd.Series(range(len(molecules.ids)), index=molecules.ids)
    masks = group_masks(molecules.labels, molecules.outcome)
    for method in maps:
        part = per_molecule[per_molecule["method"] == method]
        rows_of = index[part["id"].to_numpy()].to_numpy()
        for group, mask in masks.items():
            chosen = part[mask[rows_of]]
            sources = [molecules.sites[i].source if molecules.sites[i] else "none"
                       for i in rows_of[mask[rows_of]]]
            for name in (*REGIONS, *CUT_SITES):
                share = chosen[f"share_{name}"].dropna()
                area = chosen[f"area_{name}"].dropna()
                n = len(share)
                mean = float(share.mean()) if n else math.nan
                summary.append(
                    {
                        "method": method,
                        "group": group,
                        "kind": "region" if name in REGIONS else "cut_site",
                        "region": name,
                        "n_molecules": n,
                        "share_mean": mean,
                        "share_sem": float(share.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan,
                        "area_mean": float(area.mean()) if len(area) else math.nan,
                        "enrichment": mean / float(area.mean())
                        if len(area) and area.mean() > 0
                        else math.nan,
                        "annotation": ",".join(
                            f"{s}:{sources.count(s)}" for s in sorted(set(sources))
                        ),
                    }
                )
    return per_molecule, pd.DataFrame(summary)


def profile_table(maps: Mapping[str, np.ndarray], molecules: Molecules) -> pd.DataFrame:
    """Position-resolved importance along the hairpin: for every method, group, half (5' arm,
    3' arm) and column (= aligned distance from the terminal loop), the mean share of the
    molecule's attribution in that half-column."""
    masks = group_masks(molecules.labels, molecules.outcome)
    out = []
    for method, method_maps in maps.items():
        shares = normalised(method_maps)
        halves = {"5p": shares[:, :TOP_ROWS].sum(axis=1), "3p": shares[:, TOP_ROWS:].sum(axis=1)}
        for group, mask in masks.items():
            if not mask.any():
                continue
            for half, values in halves.items():
                mean = values[mask].mean(axis=0)
                out.extend(
                    {"method": method, "group": group, "half": half, "column": c,
                     "share_mean": float(mean[c]), "n_molecules": int(mask.sum())}
                    for c in range(COLUMNS)
                )
    return pd.DataFrame(out)


# --------------------------------------------------------------------------------------------
# Figures


def pyplot() -> Any:
    """matplotlib.pyplot on the file-only Agg backend (no display on cluster nodes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path) -> None:
    """Save a figure atomically (format from the suffix) and close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format=Path(path).suffix.lstrip(".") or "png",
                    bbox_inches="tight")
    pyplot().close(fig)


def plot_examples(
    maps: Mapping[str, np.ndarray],
    molecules: Molecules,
    chosen: Sequence[int],
    path: str | Path,
    failing: Collection[str] = (),
) -> None:
    """One row per example molecule: the hairpin image, then each method's map over it."""
    plt = pyplot()
    methods = list(maps)
    n_rows = max(len(chosen), 1)
    fig, axes = plt.subplots(n_rows, len(methods) + 1, figsize=(2.6 * (len(methods) + 1),
                                                                 1.15 * n_rows + 0.6),
                             squeeze=False)
    for r, k in enumerate(chosen):
        image = molecules.images[k]
        axes[r, 0].imshow(image, aspect="auto", interpolation="nearest")
        axes[r, 0].set_ylabel(f"{molecules.outcome[k]}\np={molecules.probability[k]:.2f}",
                              fontsize=7)
        axes[r, 0].set_title(str(molecules.ids[k])[:28], fontsize=7)
        # The drawing in light grey, the map in red on top with opacity rising with the value:
        # unimportant pixels stay see-through, so the map reads against the hairpin's shape.
        grey = 0.6 + 0.4 * image.mean(axis=2) / 255.0
        for c, method in enumerate(methods, start=1):
            axes[r, c].imshow(grey, cmap="gray", aspect="auto", interpolation="nearest",
                              vmin=0, vmax=1)
            m = maps[method][k]
            top = float(np.quantile(m, 0.995)) or 1.0
            level = np.clip(m / top, 0, 1)
            overlay = plt.get_cmap("Reds")(0.35 + 0.65 * level)
            overlay[..., 3] = level**0.8
            axes[r, c].imshow(overlay, aspect="auto", interpolation="nearest")
            if r == 0:
                axes[r, c].set_title(method_label(method, failing), fontsize=8)
    for axis in axes.ravel():
        axis.set_xticks([0, 25, 50, 75, 99])
        axis.set_yticks([])
        axis.tick_params(labelsize=6)
    fig.suptitle("Attributions of example molecules (column 0 = terminal loop)", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)


def plot_class_averages(
    maps: Mapping[str, np.ndarray],
    molecules: Molecules,
    references: Mapping[str, np.ndarray],
    path: str | Path,
    failing: Collection[str] = (),
) -> dict[str, dict[str, np.ndarray]]:
    """Rows: methods; columns: TP, TN, FP, FN average maps (each molecule normalised to sum 1);
    a last row with the authors' maps. Returns the averages: method -> outcome -> 25 x 100."""
    plt = pyplot()
    averages: dict[str, dict[str, np.ndarray]] = {}
    present = [o for o in OUTCOMES if (molecules.outcome == o).any()]
    n_rows = len(maps) + (1 if references else 0)
    fig, axes = plt.subplots(n_rows, max(len(present), len(references), 1),
                             figsize=(3.2 * max(len(present), 1), 1.0 * n_rows + 0.8),
                             squeeze=False)
    for r, (method, method_maps) in enumerate(maps.items()):
        shares = normalised(method_maps)
        averages[method] = {}
        for c, o in enumerate(present):
            mask = molecules.outcome == o
            avg = shares[mask].mean(axis=0)
            averages[method][o] = avg
            axes[r, c].imshow(avg, cmap="inferno", aspect="auto", interpolation="nearest")
            axes[r, c].set_title(f"{method_label(method, failing)}: {o} (n={mask.sum()})",
                                 fontsize=7)
    if references:
        for c, (name, ref) in enumerate(references.items()):
            axes[-1, c].imshow(ref, cmap="inferno", aspect="auto", interpolation="nearest")
            axes[-1, c].set_title(f"Cordero et al. 2019: {name}", fontsize=7)
    for axis in axes.ravel():
        axis.set_xticks([0, 10, 40, 99])
        axis.set_yticks([0, 12, 24])
        axis.tick_params(labelsize=6)
        if not axis.images:
            axis.axis("off")
    fig.suptitle("Class-average attribution maps (share of each molecule's total)", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)
    return averages


def plot_regions(summary: pd.DataFrame, path: str | Path, failing: Collection[str] = ()) -> None:
    """Enrichment (attribution share / pixel share) per region and cut-site window, per class,
    one panel per method."""
    plt = pyplot()
    methods = list(dict.fromkeys(summary["method"]))
    names = [*REGIONS, *CUT_SITES]
    fig, axes = plt.subplots(1, len(methods), figsize=(3.0 * len(methods), 4.2), squeeze=False,
                             sharey=True)
    for axis, method in zip(axes[0], methods, strict=True):
        part = summary[summary["method"] == method]
        for offset, (group, colour) in enumerate(
            (("pre-miRNA", "tab:red"), ("not pre-miRNA", "tab:blue"))
        ):
            values = (
                part[part["group"] == group].set_index("region")["enrichment"].reindex(names)
            )
            axis.barh(np.arange(len(names)) + 0.2 * (1 - 2 * offset), values.to_numpy(),
                      height=0.4, color=colour, label=group)
        axis.axvline(1.0, color="grey", ls=":")
        axis.set_yticks(np.arange(len(names)))
        axis.set_yticklabels([REGION_LABELS.get(n, n.replace("_", " ") + " cut ±w")
                              for n in names], fontsize=7)
        axis.invert_yaxis()
        axis.set_title(method_label(method, failing), fontsize=8)
        axis.set_xlabel("enrichment (1 = as many\nattributions as pixels)", fontsize=7)
        axis.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


def plot_profile(profile: pd.DataFrame, spans: Mapping[str, tuple[int, int]] | None,
                 path: str | Path, failing: Collection[str] = ()) -> None:
    """Mean attribution share per column (distance from the loop), 5' and 3' halves, per class."""
    plt = pyplot()
    methods = list(dict.fromkeys(profile["method"]))
    fig, axes = plt.subplots(len(methods), 1, figsize=(8, 1.6 * len(methods) + 0.6),
                             squeeze=False, sharex=True)
    for axis, method in zip(axes[:, 0], methods, strict=True):
        part = profile[profile["method"] == method]
        for group, colour in (("pre-miRNA", "tab:red"), ("not pre-miRNA", "tab:blue")):
            for half, style in (("5p", "-"), ("3p", "--")):
                line = part[(part["group"] == group) & (part["half"] == half)]
                if len(line):
                    axis.plot(line["column"], line["share_mean"], style, color=colour, lw=1,
                              label=f"{group}, {half} arm")
        if spans:
            axis.axvspan(spans["5p"][0], spans["5p"][1], color="orange", alpha=0.15,
                         label="typical mature 5p")
        axis.set_ylabel(method_label(method, failing).replace(" (", "\n("), fontsize=7)
        axis.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=6, ncol=3)
    axes[-1, 0].set_xlabel("image column = aligned distance from the terminal loop", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def plot_sanity(sanity: pd.DataFrame, per_molecule: pd.DataFrame, path: str | Path) -> None:
    """Spearman of trained vs randomised maps per method, whole image and drawn pixels only
    (lower is better), with the flagging threshold."""
    plt = pyplot()
    names = list(dict.fromkeys(per_molecule["method"]))
    fig, axis = plt.subplots(figsize=(7.5, 0.55 * len(names) + 1.4))
    positions = np.arange(len(names))
    for offset, column, colour, label in (
        (-0.18, "spearman", "tab:blue", "whole image (verdict)"),
        (0.18, "spearman_drawn", "tab:orange", "drawn pixels only"),
    ):
        data = [per_molecule.loc[per_molecule["method"] == n, column].to_numpy() for n in names]
        parts = axis.boxplot(data, positions=positions + offset, widths=0.3,
                             orientation="horizontal", patch_artist=True, manage_ticks=False)
        for box in parts["boxes"]:
            box.set_facecolor(colour)
            box.set_alpha(0.6)
        axis.plot([], [], color=colour, lw=6, alpha=0.6, label=label)
    verdicts = sanity.set_index("method")["verdict"]
    axis.set_yticks(positions)
    axis.set_yticklabels([f"{METHOD_LABELS.get(n, n)}\n{verdicts[n].split(' (')[0]}"
                          for n in names], fontsize=7)
    axis.invert_yaxis()
    threshold = float(sanity["threshold"].iloc[0]) if len(sanity) else 0.5
    axis.axvline(threshold, color="red", ls="--", label=f"flagged at median ≥ {threshold}")
    axis.set_xlabel("Spearman rank correlation, trained vs randomised model (per molecule)",
                    fontsize=8)
    axis.set_xlim(-0.5, 1.02)
    axis.legend(fontsize=7, loc="lower left")
    axis.set_title("Model-randomisation sanity check (Adebayo et al. 2018)", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)


def plot_agreement(agreement: pd.DataFrame, path: str | Path,
                   failing: Collection[str] = ()) -> None:
    """Heatmap of the median per-molecule Spearman correlation between methods."""
    plt = pyplot()
    labels = [method_label(m, failing) for m in agreement.index]
    fig, axis = plt.subplots(figsize=(5.2, 4.4))
    image = axis.imshow(agreement.to_numpy(), vmin=-1, vmax=1, cmap="RdBu_r")
    for i in range(len(labels)):
        for j in range(len(labels)):
            axis.text(j, i, f"{agreement.iat[i, j]:.2f}", ha="center", va="center", fontsize=7)
    axis.set_xticks(range(len(labels)), labels, rotation=40, ha="right", fontsize=7)
    axis.set_yticks(range(len(labels)), labels, fontsize=7)
    fig.colorbar(image, ax=axis, shrink=0.8, label="median Spearman")
    axis.set_title("Rank agreement between methods", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)


# --------------------------------------------------------------------------------------------
# The stage


def _mature_pair(row: Mapping[str, Any], arm: str) -> tuple[float, float] | None:
    start, end = row.get(f"mature_{arm}_start"), row.get(f"mature_{arm}_end")
    if start is None or end is None or pd.isna(start) or pd.isna(end):
        return None
    return float(start), float(end)


def load_molecules(
    model: nn.Module,
    images_npz: str | Path,
    folded_tsv: str | Path,
    config: InterpretConfig,
    columns_fn: Callable[[str, str], Any] | None = None,
) -> tuple[Molecules, dict[str, tuple[int, int]] | None]:
    """Score every encodable test image, choose `config.n_molecules` of them across outcomes, and
    join their sequence, structure and miRBase mature positions from the fold table. Returns the
    molecules and the typical mature columns used as proxy for unannotated molecules."""
    from premirna.cnn import images_to_tensor

    with np.load(images_npz, allow_pickle=False) as data:
        keep = data["encodable"].astype(bool) if "encodable" in data else None
        ids = data["ids"].astype(str)
        images = data["images"]
        labels = data["labels"].astype(np.int64).reshape(-1)
    if keep is not None:
        ids, images, labels = ids[keep], images[keep], labels[keep]
    if len(ids) == 0:
        raise InputError(images_npz, "no encodable images to explain")
    probability = []
    model.eval()
    with torch.no_grad():
        for first in range(0, len(images), 256):
            logits = model(images_to_tensor(images[first : first + 256]))
            probability.append(torch.softmax(logits, dim=1)[:, 1].numpy())
    prob = np.concatenate(probability)
    outcome = outcomes(labels, prob >= 0.5)
    chosen = select_molecules(outcome, config.n_molecules, config.seed)

    folded = pd.read_csv(folded_tsv, sep="\t", dtype={"id": str}, keep_default_na=True)
    missing = {"id", "sequence", "structure"} - set(folded.columns)
    if missing:
        raise InputError(folded_tsv, f"missing columns {sorted(missing)}")
    folded = folded.drop_duplicates("id").set_index("id")
    fn = columns_fn or column_map
    loop_fn = _encoder_loop if columns_fn is None else central_hairpin_loop
    sequences, structures, columns, sites, loops = [], [], [], [], []
    for k in chosen:
        if ids[k] not in folded.index:
            raise InputError(folded_tsv, "molecule of the test images is not in the fold table",
                             record=ids[k])
        row = folded.loc[ids[k]]
        sequence, structure = str(row["sequence"]), str(row["structure"])
        sequences.append(sequence)
        structures.append(structure)
        columns.append(_as_column_map(fn(sequence, structure)))
        loops.append(loop_fn(structure))
        sites.append(mature_sites(structure, _mature_pair(row, "5p"), _mature_pair(row, "3p")))
    spans = typical_columns(columns, sites)
    if spans is not None:
        sites = [s if s is not None else proxy_sites(c, spans)
                 for s, c in zip(sites, columns, strict=True)]
    molecules = Molecules(ids[chosen], images[chosen], labels[chosen], prob[chosen],
                          outcome[chosen], sequences, structures, columns, sites, loops)
    log.info("explaining %d of %d test molecules: %s", len(chosen), len(ids),
             dict(zip(*np.unique(molecules.outcome, return_counts=True), strict=True)))
    return molecules, spans


def example_indices(molecules: Molecules, per_outcome: int) -> list[int]:
    """The most confidently classified molecules of each outcome (errors: the most confident
    mistakes, which are the most telling)."""
    chosen = []
    confidence = np.abs(molecules.probability - 0.5)
    for o in OUTCOMES:
        rows = np.flatnonzero(molecules.outcome == o)
        chosen.extend(rows[np.argsort(-confidence[rows], kind="stable")][:per_outcome].tolist())
    return chosen


def interpret_cnn(
    model: str | Path,
    images: str | Path,
    folded: str | Path,
    reference: str | Path,
    outputs: Mapping[str, str | Path],
    config: InterpretConfig | Mapping[str, Any] | None = None,
    reference_tn: str | Path | None = None,
    columns_fn: Callable[[str, str], Any] | None = None,
) -> dict[str, Any]:
    """The `interpret_cnn` stage: attributions, trust checks, regions, figures; returns a summary.

    `outputs` maps each of `OUTPUT_KEYS` to a path. `reference` is the authors' true-positive
    average map (`reference_tn` their true-negative map, optional).
    """
    from premirna.cnn import images_to_tensor
    from premirna.cnn_train import load_checkpoint

    if not isinstance(config, InterpretConfig):
        config = InterpretConfig.from_dict(config)
    missing = set(OUTPUT_KEYS) - set(outputs)
    if missing:
        raise ValueError(f"interpret_cnn: outputs missing {sorted(missing)}")
    torch.set_num_threads(config.threads)
    network, _ = load_checkpoint(model, "cpu")
    molecules, spans = load_molecules(network, images, folded, config, columns_fn)
    inputs = images_to_tensor(molecules.images)
    if config.target == "predicted":
        targets = torch.from_numpy((molecules.probability >= 0.5).astype(np.int64))
    elif config.target == "true":
        targets = torch.from_numpy(molecules.labels.astype(np.int64))
    else:
        targets = torch.ones(len(inputs), dtype=torch.int64)

    maps, methods_table = attribute_all(network, inputs, targets, config.methods, config)
    methods_table["settings"] = [json.dumps(_settings(m, config)) for m in methods_table["method"]]
    methods_table["baseline"] = config.baseline
    methods_table["target"] = config.target

    sanity_n = min(config.sanity_molecules, len(inputs))
    sanity_rows = select_molecules(molecules.outcome, sanity_n, config.seed + 2)
    sanity, per_molecule = sanity_check(
        network, inputs[sanity_rows], targets[sanity_rows], [*config.methods, CONTROL], config,
        trained_maps={m: v[sanity_rows] for m, v in maps.items()},
    )
    agreement = method_agreement(maps)
    per_molecule_regions, regions = region_table(maps, molecules, config.cut_site_window)
    profile = profile_table(maps, molecules)

    references = {"TP": load_reference_map(reference)}
    if reference_tn:
        references["TN"] = load_reference_map(reference_tn)
    failing = sanity[(sanity["verdict"] != "passes") & ~sanity["is_control"]]["method"].tolist()
    averages = plot_class_averages(maps, molecules, references, outputs["class_average_figure"],
                                   failing)
    comparison = []
    for outcome, ref in references.items():
        ours = {m: avg[outcome] for m, avg in averages.items() if outcome in avg}
        if ours:
            table = reference_comparison(ours, ref, outcome)
            table.insert(0, "outcome", outcome)
            comparison.append(table)
    reference_table = pd.concat(comparison, ignore_index=True) if comparison else pd.DataFrame()

    molecule_table = pd.DataFrame(
        {
            "id": molecules.ids,
            "label": molecules.labels,
            "probability": molecules.probability,
            "outcome": molecules.outcome,
            "in_sanity_check": np.isin(np.arange(len(molecules.ids)), sanity_rows),
            "annotation": [s.source if s else "none" for s in molecules.sites],
            "mature_5p": [_span(s.five_p) if s else "" for s in molecules.sites],
            "mature_3p": [_span(s.three_p) if s else "" for s in molecules.sites],
        }
    )
    wide = per_molecule_regions.pivot(index="id", columns="method",
                                      values=[f"share_{r}" for r in REGIONS])
    wide.columns = [f"{method}:{name.removeprefix('share_')}" for name, method in wide.columns]
    molecule_table = molecule_table.merge(wide, left_on="id", right_index=True, how="left")

    save_npz(
        outputs["attributions"],
        ids=molecules.ids.astype(str),
        labels=molecules.labels.astype(np.int8),
        outcome=molecules.outcome.astype(str),
        probability=molecules.probability,
        methods=np.array(list(maps), dtype=str),
        maps=np.stack([maps[m] for m in maps], axis=1).astype(np.float32),
    )
    write_tsv(molecule_table, outputs["molecules"])
    write_tsv(methods_table, outputs["methods"])
    write_tsv(regions, outputs["regions"])
    write_tsv(profile, outputs["profile"])
    write_tsv(sanity, outputs["sanity"])
    write_tsv(agreement.reset_index(), outputs["agreement"])
    write_tsv(reference_table, outputs["reference"])
    plot_examples(maps, molecules, example_indices(molecules, config.examples_per_outcome),
                  outputs["examples_figure"], failing)
    plot_regions(regions, outputs["regions_figure"], failing)
    plot_profile(profile, spans, outputs["profile_figure"], failing)
    plot_sanity(sanity, per_molecule, outputs["sanity_figure"])
    plot_agreement(agreement, outputs["agreement_figure"], failing)
    if failing:
        log.warning("methods that fail the model-randomisation check: %s", failing)
    return {"n_molecules": len(molecules.ids), "failing_methods": failing, "spans": spans}


def _span(region: tuple[int, int] | None) -> str:
    return "" if region is None else f"{region[0] + 1}-{region[1] + 1}"


def _settings(method: str, config: InterpretConfig) -> dict[str, Any]:
    if method == "smoothgrad":
        return {"nt_samples": config.smoothgrad_samples, "stdevs": config.smoothgrad_noise}
    if method == "integrated_gradients":
        return {"n_steps": config.ig_steps, "method": "gausslegendre"}
    if method == "gradient_shap":
        return {"n_samples": config.gradient_shap_samples, "stdevs": config.gradient_shap_noise}
    if method == "occlusion":
        return {"window": config.occlusion_window, "stride": config.occlusion_stride}
    if method == "grad_cam":
        return {"layer": "last_conv", "relu": True, "interpolate": "bilinear"}
    return {}
