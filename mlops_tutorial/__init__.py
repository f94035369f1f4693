"""mlops-tutorial: the reusable code of an executable tutorial on Makefile, linters, Lightning, DVC and ClearML."""
__version__ = "0.1.0"
