"""Label quality assessment from held-out (cross-validation) predictions."""
