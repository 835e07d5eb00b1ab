"""Tasks: what the acquisition loop learns on, in modules imported by name (this package imports nothing, so that
``specs`` stays importable without torch):

- ``specs``: the task options (``TASKS``) and their configs (torch-free);
- ``task``: ``ActiveLearningTask`` (pool, hidden labels, evaluator); ``build``: ``build_task`` from a config;
- ``testbed``, ``glue``: the builders.
"""
