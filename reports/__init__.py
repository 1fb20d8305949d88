"""Reports: the run's exceptions as HTML and CSV (email delivery comes with issue 7)."""
