"""Layer 7, stages `interpret_cnn` and `interpret_cvae`: what the two models learned, in
biological terms."""
