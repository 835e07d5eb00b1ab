"""epinet-al: active fine-tuning of language models with epistemic neural networks (epinets)."""
