"""One extractor per kind of input."""
