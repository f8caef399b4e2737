"""Image data for the image memories: real data sets loaded from a local path, and bundled ones.

Every loader returns images as a float tensor [N, C, H, W] with values in [0, 1].
"""
