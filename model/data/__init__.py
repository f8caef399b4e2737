"""Image data for the image memories: real data sets loaded from a local path, bundled ones, and built ones.

Every loader returns images as a float tensor [N, C, H, W] with values in [0, 1]: `omniglot` and `cifar`
read local copies, `digits` and `patches` need no download, `photos` and `glyphs` are built by
`ebmm data build` (`build`, stored by `built`) from installed Debian packages; `datasets` names them all and
`sampler` turns a split into memory tasks.
"""
