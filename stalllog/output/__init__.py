"""Writers (Parquet, CSV, JSON Lines) and escaping of untrusted text."""
