"""Active learning, in modules imported by name (this package imports nothing, so that ``specs`` stays importable
without torch):

- ``specs``: the protocols (``PROTOCOLS``) and their budget configs (torch-free);
- ``loop``, ``agent``, ``ledger``: what the protocols drive (the loop's parts, the model, the revealed labels);
- ``prioritized``, ``pool``, ``subset``: the protocols' loops; ``fit``, ``sampling``, ``checkpoint``,
  ``diagnostics``, ``distributed``: their parts.
"""
