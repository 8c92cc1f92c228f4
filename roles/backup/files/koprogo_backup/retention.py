"""Run stamps and retention decisions (pure functions, unit-tested)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Optional

STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
BLOB_NAME = re.compile(r"^[0-9a-f]{64}$")
MANIFEST_NAME = re.compile(r"^manifest-(\d{8}T\d{6}Z)\.json\.gz\.gpg$")


def format_stamp(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).strftime(STAMP_FORMAT)


def parse_stamp(stamp) -> Optional[dt.datetime]:
    try:
        return dt.datetime.strptime(stamp, STAMP_FORMAT).replace(tzinfo=dt.timezone.utc)
    except (TypeError, ValueError):
        return None


def age_days(stamp: str, now: dt.datetime) -> Optional[float]:
    when = parse_stamp(stamp)
    return None if when is None else (now - when).total_seconds() / 86400


def next_stamp(previous: Iterable, now: dt.datetime) -> tuple:
    """(stamp, seconds to wait first) for a run strictly newer than every earlier one: a stamp names
    the manifest, so reusing one would overwrite the previous manifest."""
    valid = [p for p in previous if parse_stamp(p) is not None]
    last = max(valid) if valid else None
    stamp = format_stamp(now)
    if last is None or stamp > last:
        return stamp, 0.0
    following = parse_stamp(last) + dt.timedelta(seconds=1)
    return format_stamp(following), max((following - now).total_seconds(), 0.0)


def refresh_last_seen(last_seen: Mapping, offsite: Iterable, referenced: Iterable, stamp: str) -> dict:
    """Blob -> stamp of the newest run that needed it. Blobs found offsite that the state does not
    know (a new server, a lost state file) count as needed now: they are kept a full retention."""
    result = {blob: last_seen.get(blob, stamp) for blob in offsite}
    result.update({blob: stamp for blob in referenced})
    return result


def blobs_to_prune(last_seen: Mapping, referenced: Iterable, now: dt.datetime, retention_days: float) -> list:
    """Blobs no run within the retention needed. A manifest of stamp S references only blobs whose
    last_seen >= S, so every manifest still kept can be restored in full."""
    keep = set(referenced)
    ages = {blob: age_days(stamp, now) for blob, stamp in last_seen.items() if blob not in keep}
    # an unreadable stamp keeps its blob: pruning only ever deletes what is provably old
    return sorted(blob for blob, age in ages.items() if BLOB_NAME.match(blob) and age is not None
                  and age > retention_days)


def manifests_to_prune(names: Iterable, now: dt.datetime, keep_days: float) -> list:
    """Manifest names older than keep_days; the newest manifest is always kept."""
    dated = sorted((m.group(1), name) for name in names if (m := MANIFEST_NAME.match(name)))
    return [name for stamp, name in dated[:-1] if age_days(stamp, now) > keep_days]
