"""`python -m app` runs the Patina command line."""

from app.cli import main

raise SystemExit(main())
