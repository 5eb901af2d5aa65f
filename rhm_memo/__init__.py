"""rhm_memo: how diffusion models memorize strings of the Random Hierarchy Model."""

__version__ = "0.1.0"
