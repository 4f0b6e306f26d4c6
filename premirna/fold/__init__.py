"""Layer 3, stage `fold`: every molecule folded (in chunks), with its hairpin features."""
