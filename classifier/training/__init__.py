"""Training a model version: the fit, thresholds, label-preserving rewrites, retraining on reviews."""
