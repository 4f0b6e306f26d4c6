"""Layer 3, stage `download`: the miRBase release files, the negatives, the molecule table and its
split."""
