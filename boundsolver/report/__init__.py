"""Presentation: metrics, plots and the paper figures (``boundsolver reproduce``)."""
