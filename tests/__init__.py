"""The test suite: a package, so its helpers import as ``tests.support.*``
(pytest runs with ``--import-mode=importlib``; see pytest.ini)."""
