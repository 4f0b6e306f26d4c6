"""Layer 7, stage `validate`: generated molecules re-folded and scored beside baselines."""
