"""``DropsCachesWhenPickled``: what is cached on an object never reaches its pickle."""

from __future__ import annotations

from functools import cached_property


class DropsCachesWhenPickled:
    """Mixin for classes whose caches are ``functools.cached_property``s.

    A cached value (a spaCy ``Language``, the ranking kernel's arrays, the
    vocabulary by column...) is rebuilt from the object's own state on first
    use, so it is left out of the pickle (model files stay small and load
    fast) and dropped by :meth:`_drop_caches` when that state changes
    (``fit``). The caches are found on the class, so a new one needs no
    bookkeeping.
    """

    @classmethod
    def _cache_names(cls) -> set[str]:
        return {name for klass in cls.__mro__ for name, value in vars(klass).items()
                if isinstance(value, cached_property)}

    def _drop_caches(self) -> None:
        for name in self._cache_names():
            self.__dict__.pop(name, None)

    def __getstate__(self):
        # After BaseEstimator's (which records the scikit-learn version) when there is one.
        state = super().__getstate__()
        cached = self._cache_names()
        return {key: value for key, value in (state or {}).items() if key not in cached}
