"""The results store (store.py), its backends (sqlite.py, postgres.py) over one schema (schema.py),
what `--db` names (address.py), how its failures are said (errors.py), and copying one store into
another (copy.py)."""
from .address import DB_ALLOWED, DEFAULT_DB, StoreAddress, store_address
from .errors import BUSY_TIMEOUT_S, TIMEOUT_ENV, StoreError, busy_timeout
from .schema import MEASUREMENT_COLUMNS
from .store import Store, StoredArtifact, git_rev, measurement_key

__all__ = ["BUSY_TIMEOUT_S", "DB_ALLOWED", "DEFAULT_DB", "MEASUREMENT_COLUMNS", "TIMEOUT_ENV", "Store", "StoreAddress",
           "StoreError", "StoredArtifact", "busy_timeout", "git_rev", "measurement_key", "store_address"]
