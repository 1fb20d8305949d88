"""Statement sources: bank files in, typed records out."""
