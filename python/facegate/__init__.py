"""facegate: decide from an image's header whether a paid face-detect call could pass.

The Python face of the C++ library (README, "Python"):

- ``probe(source)`` reads one header (a path, bytes, or an http(s) URL) into a ``ProbeResult``;
- ``check(inputs, model=...)`` judges inputs against a model's rules and yields one record per
  input, as a dict with the keys of ``facegate check --json``, as each one completes;
- ``rules()`` gives the models and their rules;
- errors are exceptions of the ``Error`` hierarchy.

The library reads, parses and waits with the GIL released.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Optional, Union

from . import _facegate

#: The library's version (meson.build's project(), as `facegate --version` says it).
__version__: str = _facegate.__version__

__all__ = [
    "__version__",
    "CheckIterator", "Error", "ImageError", "InternalError", "IoError", "NetworkError",
    "ProbeResult", "RulesError", "SourceError", "UsageError", "CancelledError", "check",
    "error_for", "probe", "probe_files", "rules",
]


# ---------------------------------------------------------------------------------------------
# Errors


class Error(Exception):
    """Every error facegate raises. ``code`` is the library's stable error name
    (facegate::ErrorCode: "truncated", "dns", ...) or None for a usage error without one."""

    def __init__(self, message: str, code: Optional[str] = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class UsageError(Error, ValueError):
    """The call itself is wrong: an unknown model, a bad option, an unusable input."""


class RulesError(UsageError):
    """A rules file that cannot be read or does not follow the rules-file schema."""


class ImageError(Error):
    """The image's own fault (truncated, malformed, unsupported_format): its bytes were read."""


class SourceError(Error):
    """The bytes could not be had."""


class IoError(SourceError):
    """A local file could not be opened or read (io)."""


class NetworkError(SourceError):
    """A URL could not be fetched: bad_url, scheme, private_address, dns, connect, tls,
    timeout, network, too_many_redirects, http_status, bad_range, protocol, byte_cap."""


class CancelledError(Error):
    """The run was cancelled before the input was checked."""


class InternalError(Error):
    """A setup failure (libcurl, memory) or a bug."""


_ERROR_CLASSES: dict[str, type[Error]] = {
    "truncated": ImageError, "malformed": ImageError, "unsupported_format": ImageError,
    "io": IoError,
    **{code: NetworkError for code in (
        "bad_url", "scheme", "private_address", "dns", "connect", "tls", "timeout", "network",
        "too_many_redirects", "http_status", "bad_range", "protocol", "byte_cap")},
    "invalid_call": UsageError, "bad_input": UsageError,
    "cancelled": CancelledError,
    "internal": InternalError,
}


def error_for(code: str, message: str) -> Error:
    """The exception for one of the library's error codes (an ``InternalError`` for a code
    this version does not know)."""
    return _ERROR_CLASSES.get(code, InternalError)(message, code)


# ---------------------------------------------------------------------------------------------
# probe


@dataclasses.dataclass(slots=True)  # not frozen: a frozen one takes 6x longer to make
class ProbeResult:
    """What a header says (facegate::ProbeResult), with the fields and names of the probe
    records of ``facegate probe --json``. Values are the header's own; ``None`` where unknown.
    ``http_status``, ``bytes_transferred`` and ``requests`` are set for URLs only."""

    source: str
    format: Optional[str]
    subtype: Optional[str]
    width: Optional[int]
    height: Optional[int]
    orientation: Optional[int]
    animated: bool
    file_size: Optional[int]
    bytes_read: int
    http_status: Optional[int]
    bytes_transferred: Optional[int]
    requests: Optional[int]
    error_code: Optional[str]
    error_message: Optional[str]
    leniency: Optional[str]

    @property
    def ok(self) -> bool:
        """True when the probe reached its answer."""
        return self.error_code is None

    def raise_for_error(self) -> "ProbeResult":
        """Raises the ``Error`` subclass of the probe's error, if any; returns self."""
        if self.error_code is not None:
            raise error_for(self.error_code, f"{self.source}: {self.error_message}")
        return self

    def to_json(self) -> dict[str, Any]:
        """The record of ``facegate probe --json`` for this source."""
        record: dict[str, Any] = {
            "source": self.source, "format": self.format, "subtype": self.subtype,
            "width": self.width, "height": self.height, "orientation": self.orientation,
            "animated": self.animated, "file_size": self.file_size, "bytes_read": self.bytes_read}
        if self.requests is not None:
            record.update(http_status=self.http_status, bytes_transferred=self.bytes_transferred,
                          requests=self.requests)
        record["error"] = (None if self.error_code is None
                           else {"code": self.error_code, "message": self.error_message})
        return record


Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview]


def probe(source: Source, *, allow_loopback: bool = False, allow_private_network: bool = False,
          timeout: float = 20.0, label: str = "<bytes>") -> ProbeResult:
    """Reads the header of a local file (a ``str`` or ``os.PathLike`` path), of bytes in
    memory (``bytes``, ``bytearray``, ``memoryview``; ``label`` is their ``source``) or of an
    http(s) URL (a ``str`` that starts with a scheme and "://"), reading only the bytes the
    header needs. The result holds the error, if any (``raise_for_error()`` raises it).

    URLs: non-public addresses are refused (``private_address``) unless ``allow_loopback``
    (127.0.0.0/8 and ::1 only) or ``allow_private_network``; ``timeout`` bounds all of one
    URL's requests, in seconds."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return ProbeResult(label, *_facegate.probe_buffer(source))
    if isinstance(source, str) and _facegate.looks_like_url(source):
        return ProbeResult(source, *_facegate.probe_url(source, allow_loopback,
                                                         allow_private_network, timeout))
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        return ProbeResult(path, *_facegate.probe_path(path))
    raise UsageError(f"probe() takes a path, bytes or a URL, not {type(source).__name__}")


def probe_files(paths: Iterable[Union[str, "os.PathLike[str]"]]) -> list[ProbeResult]:
    """Probes many local files at once (facegate::probe_files: every core, io_uring where
    it pays); one result per path, in order, each the same as ``probe(path)``'s."""
    names = [os.fsdecode(os.fspath(path)) for path in paths]
    return [ProbeResult(name, *fields) for name, fields in zip(names, _facegate.probe_files(names))]


# ---------------------------------------------------------------------------------------------
# rules


def rules(model: Optional[str] = None, *, rules_file: Optional[str] = None) -> dict[str, Any]:
    """The models and their rules, in the rules-file schema (``facegate rules --json``): a
    dict from model name to that model's object, in the file's order; with ``model``, that
    model's object alone. ``rules_file`` reads another rules file than the built-in one."""
    try:
        text = _facegate.rules_json(os.fspath(rules_file) if rules_file is not None else "")
    except ValueError as error:
        raise RulesError(str(error)) from None
    models = {entry["name"]: entry for entry in json.loads(text)["models"]}
    if model is None:
        return models
    if model not in models:
        raise UsageError(f"unknown model '{model}' (known: {', '.join(models)})")
    return models[model]


# ---------------------------------------------------------------------------------------------
# check

Input = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, Mapping[str, Any]]
_INPUT_KEYS = frozenset({"source", "bytes", "id", "model", "parameters", "ratio"})
_WAIT_SECONDS = 0.1  # how long the iterator waits at a time: signals are handled in between


def _parameter_pairs(parameters: Optional[Mapping[str, str]], ratio: Optional[str]) -> list[tuple[str, str]]:
    pairs = [(str(name), str(value)) for name, value in (parameters or {}).items()]
    if ratio is not None:
        pairs.append(("ratio", str(ratio)))
    return pairs


def _input_fields(item: Input) -> tuple[str, str, Any, str, str, Optional[list[tuple[str, str]]]]:
    """(kind, source, bytes, id as JSON, model, parameters) of one input of check()."""
    if isinstance(item, (bytes, bytearray, memoryview)):
        return ("memory", "<bytes>", item, "", "", None)
    if isinstance(item, str):
        return ("text", item, None, "", "", None)
    if isinstance(item, os.PathLike):
        return ("path", os.fsdecode(os.fspath(item)), None, "", "", None)
    if isinstance(item, Mapping):
        unknown = set(item) - _INPUT_KEYS
        if unknown or ("source" not in item and "bytes" not in item):
            raise UsageError(f"an input dict needs 'source' (or 'bytes') and may have only "
                             f"{sorted(_INPUT_KEYS)}: {dict(item)!r}")
        id_json = json.dumps(item["id"], separators=(",", ":")) if "id" in item else ""
        parameters = None
        if "parameters" in item or "ratio" in item:
            parameters = _parameter_pairs(item.get("parameters"), item.get("ratio"))
        model = str(item.get("model", ""))
        if "bytes" in item:
            return ("memory", str(item.get("source", "<bytes>")), item["bytes"], id_json, model, parameters)
        kind, source, _, _, _, _ = _input_fields(item["source"])
        return (kind, source, None, id_json, model, parameters)
    raise UsageError(f"a check input is a path, a URL, bytes or a dict, not {type(item).__name__}")


class CheckIterator(Iterator[dict[str, Any]]):
    """The records of one check() run. Pulls inputs only as the run has room for them (at
    most ``max_in_flight`` inputs submitted and not yet yielded), so a generator of inputs
    is read lazily and memory stays bounded. ``close()`` (also on garbage collection, at the
    end of a ``with`` block, or when the iteration raises, KeyboardInterrupt included)
    cancels the run: no new detector call, calls in flight get ``grace`` seconds. An input
    that is not one (or an exception of the iterable) is raised after the records of the
    inputs before it, and ends the run."""

    def __init__(self, inputs: Iterable[Input], run: Any, max_in_flight: int, in_input_order: bool) -> None:
        self._inputs = iter(inputs)
        self._run = run
        self._max_in_flight = max_in_flight
        self._in_input_order = in_input_order
        self._staged: Optional[tuple] = None  # an input taken from the iterable, not submitted
        self._inputs_done = False
        self._input_error: Optional[Exception] = None  # raised once the records before it are out
        self._submitted = 0
        self._yielded = 0  # records handed out or dropped (cancelled, not an image)
        self._held: dict[int, Optional[dict[str, Any]]] = {}  # input order: done, not yet due
        self._ready: list[Optional[dict[str, Any]]] = []  # completion order: arrived, not yielded

    def __iter__(self) -> "CheckIterator":
        return self

    def __next__(self) -> dict[str, Any]:
        if self._run is None:
            raise StopIteration
        try:
            while True:
                found, record = self._take_due()
                if found:
                    self._yielded += 1
                    if record is not None:
                        return record
                    continue
                self._submit_while_room()
                if self._inputs_done and self._staged is None and self._yielded == self._submitted:
                    self.close()
                    if self._input_error is not None:
                        raise self._input_error
                    raise StopIteration
                arrived = self._run.wait_record(_WAIT_SECONDS)
                if arrived is not None:
                    self._file(*arrived)
        except StopIteration:
            raise
        except BaseException:
            self.close()
            raise

    def _take_due(self) -> tuple[bool, Optional[dict[str, Any]]]:
        if self._in_input_order:
            if self._yielded in self._held:
                return True, self._held.pop(self._yielded)
            return False, None
        if self._ready:
            return True, self._ready.pop()
        return False, None

    def _file(self, sequence: int, text: Optional[str]) -> None:
        record = json.loads(text) if text is not None else None
        if self._in_input_order:
            self._held[sequence] = record
        else:
            self._ready.append(record)

    def _submit_while_room(self) -> None:
        while self._submitted - self._yielded < self._max_in_flight:
            if self._staged is None:
                if self._inputs_done:
                    return
                try:
                    self._staged = _input_fields(next(self._inputs))
                except StopIteration:
                    self._inputs_done = True
                    return
                except Exception as error:  # a bad input, or the iterable failed
                    self._input_error = error
                    self._inputs_done = True
                    return
            status = self._run.try_submit(*self._staged)
            if status == "full":
                return
            self._staged = None
            if status == "cancelled":
                self._inputs_done = True
                return
            self._submitted += 1

    def close(self) -> None:
        """Cancels the run (see the class) and waits until it has stopped."""
        run, self._run = self._run, None
        if run is not None:
            run.close()

    def __enter__(self) -> "CheckIterator":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


def _api_key(remote: str, key: Optional[str]) -> str:
    if key is not None or remote == "offline":
        return key or ""
    found, why = _facegate.find_api_key()
    if found is None and remote == "online":
        raise UsageError(f"remote='online' needs an API key: {why}")
    return found or ""


def _ledger_path(remote: str, ledger: Union[bool, str, "os.PathLike[str]", None]) -> Optional[str]:
    if remote != "online" or ledger is None or ledger is False:
        return None
    if ledger is True:
        return _facegate.default_ledger_path()
    return os.fsdecode(os.fspath(ledger))


def check(inputs: Union[Input, Iterable[Input]], model: str, *,
          parameters: Optional[Mapping[str, str]] = None, ratio: Optional[str] = None,
          remote: str = "offline", key: Optional[str] = None, base_url: Optional[str] = None,
          region: str = "cn-beijing",
          ledger: Union[bool, str, "os.PathLike[str]", None] = True, upload: bool = True,
          refresh: bool = False,
          retry_ambiguous: bool = False, max_calls: Optional[int] = None,
          rps: Optional[int] = None, rules_file: Optional[str] = None, strict: bool = False,
          deep: bool = False, only_images: bool = False, allow_loopback: bool = False,
          allow_private_network: bool = False, order: str = "completion",
          max_in_flight: int = 1024, threads: int = 0, jobs: int = 32, per_host: int = 6,
          grace: float = 10.0) -> CheckIterator:
    """Checks inputs against ``model``'s rules and yields one record per input, a dict with
    the keys of ``facegate check --json`` (README, "facegate check").

    ``inputs`` is one input or an iterable of them (a generator is pulled lazily): a path
    (``str`` or ``os.PathLike``), an http(s) URL (a ``str``), bytes, or a dict like a line of
    ``--input-format jsonl``: ``source`` (or ``bytes``), and optionally ``id`` (any JSON
    value, echoed in the record), ``model``, ``parameters`` / ``ratio``.

    ``order``: "completion" (default) yields each record as it completes, "input" in input
    order. ``remote``: "offline" (default: never call the detector), "dry_run" (records carry
    no call; the request that would be sent is not shown) or "online" (calls the detector for
    every pass, with ``key`` or the key load_api_key finds: $DASHSCOPE_API_KEY, then the key
    file; through the ledger at ``ledger``: True = the default path, False = none). Online,
    a local file that passes is uploaded to the vendor's temporary storage and checked by its
    oss:// URL (the record's remote.upload); ``upload=False`` keeps local files local.
    ``region`` (README, "Regions") picks the documented base URL unless ``base_url`` or
    $DASHSCOPE_HTTP_BASE_URL gives one; a model not offered there is a UsageError unless
    ``remote`` is "offline".
    ``allow_loopback`` / ``allow_private_network`` let URLs on such addresses be fetched (and
    judged as reachable). The other options are the CLI's of the same names."""
    if order not in ("completion", "input"):
        raise UsageError(f"order must be 'completion' or 'input', not {order!r}")
    if max_in_flight < 1:
        raise UsageError("max_in_flight must be at least 1")
    if isinstance(inputs, (str, bytes, bytearray, memoryview, os.PathLike, Mapping)):
        inputs = [inputs]
    try:
        run = _facegate.start_check(
            model=model, parameters=_parameter_pairs(parameters, ratio), remote=remote,
            key=_api_key(remote, key), base_url=base_url or "", region=region,
            ledger=_ledger_path(remote, ledger), upload=upload, refresh=refresh,
            retry_ambiguous=retry_ambiguous,
            max_calls=max_calls, rps=rps,
            rules_file=os.fspath(rules_file) if rules_file is not None else "", strict=strict,
            deep=deep, only_images=only_images, allow_loopback=allow_loopback,
            allow_private_network=allow_private_network, max_in_flight=max_in_flight,
            threads=threads, jobs=jobs, per_host=per_host, grace=grace)
    except ValueError as error:
        if rules_file is not None and str(error).startswith(os.fspath(rules_file) + ":"):
            raise RulesError(str(error)) from None
        raise UsageError(str(error)) from None
    return CheckIterator(inputs, run, max_in_flight, order == "input")
