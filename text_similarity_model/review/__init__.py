"""Reviewing a call for papers: reading the submissions, each one's related
past talks and the batch's duplicates, and the report."""
