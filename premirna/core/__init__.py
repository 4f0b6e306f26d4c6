"""Layer 1: what every stage shares: errors, atomic files, tables, logging, settings, figures."""
