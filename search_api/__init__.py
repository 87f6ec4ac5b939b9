"""The search API: query language, retrieval and fusion, documents, HTTP (FastAPI)."""
