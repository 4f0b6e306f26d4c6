"""Entry point for `python -m premirna`."""

from premirna.cli import main

raise SystemExit(main())
