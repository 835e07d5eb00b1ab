"""Networks, in modules imported by name (this package imports nothing, so that ``specs`` and ``model_files`` stay
importable without torch):

- ``specs``: the model and head options (``MODELS``, ``HEADS``: configs, capabilities, builders, L2 rules);
- ``head`` (the ``Head`` interface, the plain head), ``epinet``, ``dropout``, ``ensemble``, ``encoder_dropout``:
  the uncertainty heads; ``build``: ``build_head`` from a config;
- ``enn`` (body + head), ``body``, ``encoder``, ``mlp``, ``initializers``.
"""
