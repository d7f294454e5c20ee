"""How good are the related talks: the measures, the evaluation protocols,
the tuning, and the ground truth of re-given talks."""
