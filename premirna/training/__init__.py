"""Layer 5: what both training stages share: device and seeds, checkpoints, image tensors."""
