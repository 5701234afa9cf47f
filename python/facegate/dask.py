"""facegate.dask: the check over a ``dask.bag`` of sources on a ``dask.distributed`` cluster
(README, "On a cluster: Dask").

The header reads and the local rules spread over the workers: each partition is checked
offline by a Checker of its own, on the worker that holds it (``check_offline``). The detector
calls for the passes are then made from one place, the client process (``check``): the
account's rate limit is global (the model's requests per second, for every process that uses
the key), and one process keeps to it, with one ledger, which a cluster of workers calling at
once would not. Only the passes travel back for a call; the records of the rest are final.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Optional

import facegate

__all__ = ["check", "check_offline"]

# The options of facegate.check that are about the remote call, which the workers never make.
_REMOTE_OPTIONS = frozenset({"key", "base_url", "region", "ledger", "upload", "refresh",
                             "retry_ambiguous", "max_calls", "rps", "grace"})


def _check_partition(sources: Iterable[Any], model: str, options: Mapping[str, Any]) -> list[dict[str, Any]]:
    """On a worker: the offline records of one partition, in its order."""
    return list(facegate.check(sources, model, order="input", remote="offline", **options))


def check_offline(sources: Any, model: str, **options: Any) -> Any:
    """A ``dask.bag.Bag`` of the records of ``sources`` (a bag of inputs facegate.check takes:
    paths the workers can read, URLs, bytes, dicts), one per input in the bag's order, each
    partition checked offline on its worker with facegate.check's ``options``."""
    unknown = _REMOTE_OPTIONS.intersection(options) | ({"remote", "order"} & set(options))
    if unknown:
        raise facegate.UsageError(f"check_offline makes no remote call: {sorted(unknown)}")
    return sources.map_partitions(_check_partition, model, dict(options))


def _pass_input(record: Mapping[str, Any]) -> dict[str, Any]:
    """The input of the call for a pass: its source, model and id as the worker judged them."""
    call = {"source": record["source"], "model": record["model"]}
    if "id" in record:
        call["id"] = record["id"]
    return call


def check(sources: Any, model: str, *, client: Optional[Any] = None, remote: str = "offline",
          **options: Any) -> Iterator[dict[str, Any]]:
    """Yields one record per input of the bag ``sources``, as ``facegate.check(...)`` over the
    same inputs would, partition by partition as they complete on the cluster of ``client``
    (default: the current ``distributed`` client).

    The workers check offline (check_offline). With ``remote="online"`` (or "dry_run") the
    passes are then checked again here, in this one process, which reads each header again
    (for the ledger's validators) and calls the detector at the model's rate; their records
    are those of that call. Options about the call (key, base_url, ledger, rps, ...) apply
    here only; the others apply on the workers and here alike. A dict input's own
    ``parameters`` or ``ratio`` are not carried to the call (records do not hold them): give
    them as options."""
    import distributed

    client = client or distributed.get_client()
    local_options = {k: v for k, v in options.items() if k not in _REMOTE_OPTIONS | {"order"}}
    partitions = client.compute(check_offline(sources, model, **local_options).to_delayed())
    finished = distributed.as_completed(partitions)
    if remote == "offline":
        for partition in finished:
            yield from partition.result()
            partition.release()
        return
    final: collections.deque[dict[str, Any]] = collections.deque()

    def passes() -> Iterator[dict[str, Any]]:
        for partition in finished:
            for record in partition.result():
                if record["decision"] == "pass":
                    yield _pass_input(record)
                else:
                    final.append(record)
            partition.release()

    with facegate.check(passes(), model, remote=remote, **options) as called:
        for record in called:
            while final:
                yield final.popleft()
            yield record
    while final:
        yield final.popleft()
