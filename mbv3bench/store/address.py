"""What `--db` names: a PostgreSQL URL (`postgresql://USER[:PASSWORD]@HOST[:PORT]/DB`, or
`postgres://`) or an SQLite file's path. Any other `scheme://` is refused, so a mistyped URL never
becomes a file under a folder named after the scheme. An address is shown without its password,
everywhere."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from ..core.errors import UserError, shown

DEFAULT_DB = Path("reports/results.sqlite")
PG_SCHEMES = ("postgresql", "postgres")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
DB_ALLOWED = "a file path (SQLite) or postgresql://USER@HOST[:PORT]/DATABASE"


@dataclass(frozen=True)
class StoreAddress:
    """`file` for an SQLite store; `url` (with its password, never shown) for PostgreSQL."""
    file: Path | None = None
    url: str | None = field(default=None, repr=False)
    host: str | None = None
    port: int | None = None
    database: str | None = None
    user: str | None = None

    @property
    def is_postgresql(self) -> bool:
        return self.url is not None

    def __str__(self) -> str:
        if self.file is not None:
            return str(self.file)
        who = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        return f"postgresql://{who}{self.host or 'localhost'}{port}/{self.database or ''}"


def store_address(value: str | Path | StoreAddress) -> StoreAddress:
    """The store `--db` VALUE names; a URL of another scheme, or one without a database, is one line."""
    if isinstance(value, StoreAddress):
        return value
    text = str(value)
    match = _SCHEME.match(text)
    if match is None:
        return StoreAddress(file=Path(text))
    if match.group(1).lower() not in PG_SCHEMES:
        raise UserError(f"--db {shown(_no_password(text), 80)}: the scheme {match.group(1)}:// is not a store; "
                        f"allowed: {DB_ALLOWED}")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as e:
        raise UserError(f"--db {shown(_no_password(text), 80)}: not a PostgreSQL URL ({e}); allowed: {DB_ALLOWED}"
                        ) from None
    query = dict(parse_qsl(parts.query))
    database = unquote(parts.path.lstrip("/")) or query.get("dbname")
    address = StoreAddress(url=text, host=parts.hostname or query.get("host"), port=port or _int(query.get("port")),
                           database=database, user=unquote(parts.username) if parts.username else query.get("user"))
    if not database:
        raise UserError(f"--db {address}: the URL names no database; allowed: {DB_ALLOWED}")
    return address


def _int(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def _no_password(text: str) -> str:
    """A URL as typed, its password (user:PASSWORD@, ?password=) taken out."""
    text = re.sub(r"(://[^/@:]*):[^/@]*@", r"\1:***@", text)
    return re.sub(r"(?i)(password=)[^&]*", r"\1***", text)
