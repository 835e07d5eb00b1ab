"""`python -m epinet_al.report SWEEP_DIR ...`: see epinet_al.report.cli."""

from epinet_al.report.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
