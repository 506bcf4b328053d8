"""The click commands, one module per family; cli.py registers them."""
