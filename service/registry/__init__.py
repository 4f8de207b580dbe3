"""The problem registry: problems, their dedup/contamination metadata, benchmarks,
and difficulty counters, in SQLite (embedded mode) or Redis (distributed mode).

One module per store plus the domain:

* :mod:`.registry`: :class:`Registry`, the domain (registration, benchmarks, lookups, difficulty);
* :mod:`.sqlite_store`: :class:`SQLiteRegistryStore`;
* :mod:`.redis_store`: :class:`RedisRegistryStore` (its Redis key layout is documented there);
* :mod:`.stats`: the difficulty counters both stores keep.
"""

from .redis_store import RedisRegistryStore
from .registry import Registry
from .sqlite_store import SQLiteRegistryStore

__all__ = ["Registry", "RedisRegistryStore", "SQLiteRegistryStore"]
