"""facegate.check: the CLI's records, lazily pulled inputs, bounded memory, errors as
exceptions, and cancellation (close, garbage collection, KeyboardInterrupt)."""

import gc
import json
import os
import signal
import socket
import threading
import time
import weakref
from pathlib import Path

import pytest

import facegate
from conftest import EXAMPLES, MODEL, example_paths


def by_source(records):
    return sorted(records, key=lambda record: json.dumps(record, sort_keys=True))


def test_offline_records_are_the_clis_in_input_order(facegate_exe, cli):
    paths = example_paths()
    expected = cli(facegate_exe, "check", "--offline", "--json", "--model", MODEL, *paths)
    assert list(facegate.check(paths, model=MODEL, order="input")) == expected
    decisions = {os.path.basename(r["source"]): r["decision"] for r in expected}
    assert decisions["portrait-640x800.jpg"] == "pass"
    assert decisions["small-300x300.png"] == "reject"
    assert decisions["cut-short.jpg"] == "error"


def test_completion_order_gives_the_same_records(facegate_exe, cli):
    paths = example_paths() * 20
    expected = cli(facegate_exe, "check", "--offline", "--json", "--model", MODEL, *paths)
    assert by_source(facegate.check(paths, model=MODEL)) == by_source(expected)


def without_times(records):
    """The records without the deep check's decoding time, which differs from run to run."""
    return [{key: value for key, value in record.items() if key != "deep_us"} for record in records]


def test_options_are_the_clis(facegate_exe, cli):
    paths = example_paths()
    for model, flags, options in [
        ("liveportrait-detect", ["--strict"], {"strict": True}),
        ("wan2.2-s2v-detect", ["--ratio", "1:1"], {"ratio": "1:1"}),
        ("wan2.2-s2v-detect", ["--only-images"], {"only_images": True}),
        ("emo-detect-v1", ["--deep"], {"deep": True}),
    ]:
        expected = cli(facegate_exe, "check", "--offline", "--json", "--model", model, *flags, *paths)
        got = list(facegate.check(paths, model=model, order="input", **options))
        assert without_times(got) == without_times(expected), flags
    banner = next(facegate.check(EXAMPLES / "banner-1600x400.webp", model="liveportrait-detect"))
    assert banner["decision"] == "reject"
    assert any(f["code"] == "aspect.above_max" for f in banner["findings"])


def test_urls_are_the_clis(facegate_exe, cli, nginx):
    urls = [nginx.url(os.path.basename(path)) + f"?n={i}" for i, path in enumerate(example_paths() * 3)]
    expected = cli(facegate_exe, "check", "--offline", "--json", "--allow-private-network",
                   "--model", MODEL, *urls)
    got = list(facegate.check(urls, model=MODEL, order="input", allow_private_network=True))
    assert got == expected
    assert got[0]["image"]["http_status"] == 206
    refused = next(facegate.check(urls[0], model=MODEL))
    assert refused["decision"] == "reject"
    assert refused["findings"][0]["code"] == "url.not_public"


def test_dict_inputs_carry_id_model_and_parameters():
    portrait = EXAMPLES / "portrait-640x800.jpg"
    records = list(facegate.check(
        [{"source": str(portrait), "id": {"row": 7}},
         {"source": str(EXAMPLES / "banner-1600x400.webp"), "id": 8, "model": "liveportrait-detect"},
         {"bytes": portrait.read_bytes(), "source": "memory:portrait", "id": "m", "ratio": "1:1"},
         portrait.read_bytes()],
        model=MODEL, order="input"))
    assert [r["id"] for r in records[:3]] == [{"row": 7}, 8, "m"]
    assert [r["model"] for r in records] == [MODEL, "liveportrait-detect", MODEL, MODEL]
    assert records[1]["decision"] == "reject"
    assert records[2]["source"] == "memory:portrait"
    assert "param.ratio.unknown" in [f["code"] for f in records[2]["findings"]]
    assert records[3]["source"] == "<bytes>" and "id" not in records[3]
    assert records[3]["image"]["width"] == 640


def test_a_generator_of_100000_inputs_is_pulled_lazily_in_bounded_memory():
    data = (EXAMPLES / "small-300x300.png").read_bytes()
    pulled = 0

    def inputs():
        nonlocal pulled
        for _ in range(100_000):
            pulled += 1
            yield data

    def rss_kib():
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))

    window = 256
    yielded = 0
    ahead = 0
    rss_after_warmup = None
    for record in facegate.check(inputs(), model=MODEL, max_in_flight=window):
        yielded += 1
        ahead = max(ahead, pulled - yielded)
        assert record["decision"] == "reject"
        if yielded == 10_000:
            rss_after_warmup = rss_kib()
    assert (yielded, pulled) == (100_000, 100_000)
    assert ahead <= window  # never more than max_in_flight inputs taken and not yet yielded
    assert rss_kib() - rss_after_warmup < 32 * 1024  # 90,000 more records: no growth with them


def test_usage_errors_are_exceptions(tmp_path):
    with pytest.raises(facegate.UsageError, match="unknown model"):
        facegate.check([], model="no-such-model")
    with pytest.raises(facegate.UsageError, match="order"):
        facegate.check([], model=MODEL, order="random")
    with pytest.raises(facegate.UsageError, match="remote"):
        facegate.check([], model=MODEL, remote="sometimes")
    with pytest.raises(facegate.UsageError, match="http"):
        facegate.check([], model=MODEL, remote="dry_run", key="sk-test", base_url="ftp://x")
    bad_rules = tmp_path / "rules.json"
    bad_rules.write_text('{"schema": 1, "models": [{"name": 5}]}')
    with pytest.raises(facegate.RulesError):
        facegate.check([], model=MODEL, rules_file=str(bad_rules))
    iterator = facegate.check([str(EXAMPLES / "portrait-640x800.jpg"), 3.5], model=MODEL, order="input")
    assert next(iterator)["decision"] == "pass"
    with pytest.raises(facegate.UsageError, match="float"):
        next(iterator)
    with pytest.raises(StopIteration):  # the error closed the run
        next(iterator)


def test_online_without_a_key_is_a_usage_error(monkeypatch, tmp_path):
    monkeypatch.delenv("DASHSCOPE_API_KEY", raising=False)
    monkeypatch.setenv("DASHSCOPE_API_KEY_FILE_PATH", str(tmp_path / "no-key"))
    with pytest.raises(facegate.UsageError, match="API key"):
        facegate.check([], model=MODEL, remote="online")


def test_dry_run_records_say_no_call_was_made():
    record = next(facegate.check(EXAMPLES / "portrait-640x800.jpg", model=MODEL,
                                 remote="dry_run", key="sk-0123456789"))
    assert record["decision"] == "pass"
    assert "sk-0123456789" not in json.dumps(record)


def test_dry_run_shows_the_upload_of_a_local_pass_and_not_of_a_reject():
    records = {Path(r["source"]).name: r for r in facegate.check(
        [EXAMPLES / "portrait-640x800.jpg", EXAMPLES / "small-300x300.png"], model=MODEL,
        remote="dry_run", key="sk-0123456789", base_url="http://127.0.0.1:9/api/v1")}
    plan = records["portrait-640x800.jpg"]["remote"]["upload"]
    assert plan["policy_request"]["url"] == (
        "http://127.0.0.1:9/api/v1/uploads?action=getPolicy&model=" + MODEL)
    assert plan["upload"]["fields"][-1] == "file"
    assert records["small-300x300.png"]["remote"] is None
    off = next(facegate.check(EXAMPLES / "portrait-640x800.jpg", model=MODEL, remote="dry_run",
                              key="sk-0123456789", upload=False))
    assert off["remote"]["outcome"] == "not_sent"
    assert "upload" not in off["remote"]


def test_a_model_not_offered_in_the_region_is_a_usage_error():
    with pytest.raises(facegate.UsageError, match="region-bound"):
        facegate.check([], model=MODEL, remote="dry_run", key="sk-0123456789",
                       region="ap-southeast-1")
    # Offline nothing is sent: the region does not matter.
    assert next(facegate.check(EXAMPLES / "portrait-640x800.jpg", model=MODEL,
                               region="ap-southeast-1"))["decision"] == "pass"


def endless_inputs(counter):
    path = str(EXAMPLES / "portrait-640x800.jpg")
    while True:
        counter[0] += 1
        yield path


def test_close_cancels_and_stops_pulling():
    counter = [0]
    iterator = facegate.check(endless_inputs(counter), model=MODEL, max_in_flight=32)
    assert [next(iterator)["decision"] for _ in range(100)] == ["pass"] * 100
    iterator.close()
    pulled = counter[0]
    assert pulled <= 100 + 32 + 1
    with pytest.raises(StopIteration):
        next(iterator)
    assert counter[0] == pulled
    with facegate.check(endless_inputs(counter), model=MODEL) as scoped:
        next(scoped)
    with pytest.raises(StopIteration):
        next(scoped)


def test_garbage_collection_cancels_the_run():
    counter = [0]
    generator = endless_inputs(counter)
    generator_ref = weakref.ref(generator)
    iterator = facegate.check(generator, model=MODEL, max_in_flight=8)
    del generator
    next(iterator)
    iterator_ref = weakref.ref(iterator)
    del iterator
    gc.collect()
    assert iterator_ref() is None and generator_ref() is None  # run closed, inputs released


@pytest.fixture
def silent_server():
    """A loopback port that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    yield f"http://127.0.0.1:{server.getsockname()[1]}/slow.jpg"
    server.close()


def test_keyboard_interrupt_in_the_iterator_cancels_the_run(silent_server):
    iterator = facegate.check([f"{silent_server}?n={i}" for i in range(8)], model=MODEL,
                              allow_private_network=True, grace=0.5)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    started = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        next(iterator)  # no record can come: the server never answers
    assert time.monotonic() - started < 5  # not the fetch deadline (20 s)
    with pytest.raises(StopIteration):
        next(iterator)
