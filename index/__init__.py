"""Derived search indexes: analysis, embeddings and the backends behind one protocol."""
