"""slm-wizard core: the product's logic, with no user interface.

Every module here is plain Python (dataclasses in, dataclasses out) and never imports Textual,
so it can be used from a script, the headless CLI and the TUI alike. Heavy libraries (torch,
transformers, olive, onnxruntime-genai, foundry_local_sdk) are imported inside the functions
that need them.
"""

__version__ = "0.1.0"
