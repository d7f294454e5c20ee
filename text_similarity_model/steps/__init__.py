"""The pipeline's steps, scikit-learn estimators: lemmas -> TF-IDF -> cosine
similarities, with the same-talk detector; ``pipeline.build_pipeline`` joins them."""
