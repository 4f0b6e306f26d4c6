"""Layer 2: RNA itself: sequences and their files, dot-bracket structures, ViennaRNA folding, edit
distances."""
