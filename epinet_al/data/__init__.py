"""Data: GLUE task registry, file readers, and the labelled/unlabelled pools."""
