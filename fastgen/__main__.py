"""`python -m fastgen ...` is the `fastgen` command."""

from fastgen.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
