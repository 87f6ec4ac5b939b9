"""Ingestion: sniff, extract, OCR, normalise, detect language, split into passages, record outcomes."""
