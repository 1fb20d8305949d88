"""Matching: candidates by blocking in DuckDB, scores per signal, decisions per bank line."""
