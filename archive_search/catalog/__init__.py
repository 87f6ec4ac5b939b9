"""The catalog: the source of truth (SQL) and the content-addressed original store."""
