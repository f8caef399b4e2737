"""Image data for the image memories: real data sets loaded from a local path, and bundled ones.

Every loader returns images as a float tensor [N, C, H, W] with values in [0, 1]: `omniglot` and `cifar`
read local copies, `digits` and `patches` need no download; `datasets` names them all and `sampler` turns a
split into memory tasks.
"""
