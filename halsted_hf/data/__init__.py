"""Surgical video data: the atlas table, loaders for public datasets, synthetic surgery, feature cache."""
