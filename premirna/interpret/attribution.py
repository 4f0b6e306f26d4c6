"""What the pre-miRNA CNN looks at, whether that can be trusted, and what it means biologically.

Attributions of the trained classifier (`premirna.classifier.network`) on held-out hairpin images
are computed with six captum methods, all called through one helper (`attribute`) on the same
inputs, targets and baseline: SmoothGrad (Smilkov et al. 2017), guided backpropagation
(Springenberg et al. 2015), integrated gradients (Sundararajan et al. 2017), GradientSHAP (Lundberg
& Lee 2017), Grad-CAM on the last convolution (Selvaraju et al. 2017) and occlusion (Zeiler &
Fergus 2014). Each map is checked with the model-randomisation test of Adebayo et al. (2018,
"Sanity checks for saliency maps"): a map that barely changes when the trained weights are replaced
by random ones explains the input, not the model, and is flagged. Methods are compared with each
other (rank agreement) and with the authors' own average saliency map (Cordero, Menkovski & Allmer
2019). Pixels are then mapped back to nucleotides through the encoder's column representation
(`premirna.encode.walk.columns`) and summed per biological region of the hairpin: terminal loop,
the mature 5p and 3p miRNAs of miRBase, the rest of the stem, the basal stem, the unpaired tails,
and the neighbourhoods of the Drosha and Dicer cut sites. `interpret_cnn` is what the
`interpret_cnn` rule calls.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn

from premirna.core.settings import Settings, check_bounds
from premirna.encode.image import COLUMNS, ROWS
from premirna.training.device import seed_everything

log = logging.getLogger(__name__)

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


@dataclass
class InterpretConfig(Settings):
    """Settings of the `interpret_cnn` stage (the `interpret_cnn:` config section)."""

    SECTION = "interpret_cnn"

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
    # Region statistics (premirna.interpret.statistics): maps of the pre-miRNA class on every
    # test molecule (0) or on this many, drawn evenly across outcomes, for these methods.
    statistics_molecules: int = 0
    statistics_methods: list[str] = field(default_factory=lambda: list(METHODS))
    n_bootstrap: int = 1000  # resamples of each bootstrap interval
    n_permutations: int = 2000  # permutations of each shift and class test
    q_threshold: float = 0.05  # Benjamini-Hochberg q below which a test counts
    examples_per_outcome: int = 1  # molecules per outcome drawn in the example figure
    batch_size: int = 16  # molecules per attribution call
    seed: int = 20191108  # selection of molecules, noise of SmoothGrad/GradientSHAP, random weights
    threads: int = 2  # torch CPU threads

    def check(self) -> None:
        for name in ("methods", "statistics_methods"):
            chosen = getattr(self, name)
            bad = [m for m in chosen if m not in METHODS]
            if bad or (name == "methods" and not chosen):
                raise ValueError(f"interpret_cnn.{name}: unknown {bad}; "
                                 f"choose from {list(METHODS)}")
        check_bounds(self, at_least={"statistics_molecules": 0, "n_bootstrap": 100,
                                     "n_permutations": 100, "q_threshold": 0},
                     at_most={"q_threshold": 1})
        if self.target not in ("predicted", "pre-miRNA", "true"):
            raise ValueError(f"interpret_cnn.target {self.target!r}: predicted, pre-miRNA, true")
        if self.baseline not in ("white", "black"):
            raise ValueError(f"interpret_cnn.baseline {self.baseline!r}: white or black")


def baseline_image(kind: str = "white") -> torch.Tensor:
    """The reference input 1 x 3 x 25 x 100: "white" is the empty canvas of the hairpin image
    (every pixel 1.0, i.e. nothing drawn), "black" is all zeros."""
    value = 1.0 if kind == "white" else 0.0
    return torch.full((1, 3, ROWS, COLUMNS), value)


# One function per method: (model, inputs, target, baselines, config) -> (maps, delta or None).
Method = Callable[..., "tuple[torch.Tensor, torch.Tensor | None]"]


def _smoothgrad(model, inputs, target, baselines, config):
    from captum.attr import NoiseTunnel, Saliency

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
    return result, None


def _guided_backprop(model, inputs, target, baselines, config):
    from captum.attr import GuidedBackprop

    with warnings.catch_warnings():
        # captum announces that it hooks the ReLU modules: that is the method, not a problem.
        warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU")
        return GuidedBackprop(model).attribute(inputs, target=target), None


def _integrated_gradients(model, inputs, target, baselines, config):
    from captum.attr import IntegratedGradients

    return IntegratedGradients(model).attribute(
        inputs,
        baselines=baselines,
        target=target,
        n_steps=config.ig_steps,
        internal_batch_size=len(inputs) * config.ig_steps,  # the whole path in one pass
        return_convergence_delta=True,
    )


def _gradient_shap(model, inputs, target, baselines, config):
    from captum.attr import GradientShap

    result, delta = GradientShap(model).attribute(
        inputs,
        baselines=baselines[:1],
        n_samples=config.gradient_shap_samples,
        stdevs=config.gradient_shap_noise,
        target=target,
        return_convergence_delta=True,
    )
    # captum returns one delta per (molecule, sample): average per molecule.
    return result, delta.view(len(inputs), -1).mean(dim=1)


def _grad_cam(model, inputs, target, baselines, config):
    from captum.attr import LayerAttribution, LayerGradCam

    layer = getattr(model, "last_conv", None)
    if layer is None:
        raise ValueError("Grad-CAM needs the network's last convolution as `model.last_conv`")
    cam = LayerGradCam(model, layer).attribute(inputs, target=target, relu_attributions=True)
    cam = LayerAttribution.interpolate(cam, (ROWS, COLUMNS), interpolate_mode="bilinear")
    return cam.expand(-1, inputs.shape[1], -1, -1) / inputs.shape[1], None


def _occlusion(model, inputs, target, baselines, config):
    from captum.attr import Occlusion

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
    return result, None


def _input_control(model, inputs, target, baselines, config):
    return inputs.detach().clone(), None


_METHODS: dict[str, Method] = {
    "smoothgrad": _smoothgrad,
    "guided_backprop": _guided_backprop,
    "integrated_gradients": _integrated_gradients,
    "gradient_shap": _gradient_shap,
    "grad_cam": _grad_cam,
    "occlusion": _occlusion,
    CONTROL: _input_control,
}


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
    if method not in _METHODS:
        raise ValueError(f"unknown attribution method {method!r}; choose from {list(METHODS)}")
    # captum draws GradientSHAP's interpolation points from NumPy's global generator and the
    # SmoothGrad noise from torch's: seed both, or the maps change from run to run.
    seed_everything(config.seed)
    # Inputs that already require gradients (captum warns otherwise), detached from any graph.
    inputs = inputs.detach().clone().requires_grad_(True)
    baselines = baseline.to(inputs.device).expand_as(inputs).contiguous()
    result, delta = _METHODS[method](model, inputs, target, baselines, config)
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
