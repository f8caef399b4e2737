"""The `ebmm` command line."""
