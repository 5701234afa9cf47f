"""facegate.dask on a LocalCluster of 2 worker processes (1 thread each) over 20,000 URLs
served by nginx on 127.0.0.1: the CLI's records, every input exactly once; and the calls for
the passes made from the client process, against the tests' fake of the service."""

import collections
import json
import os
import subprocess
import urllib.request

import dask.bag
import distributed
import pytest

import facegate
import facegate.dask
from conftest import SOURCE_ROOT, MODEL, example_paths

URLS = 20_000


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as dask_client:
            yield dask_client


def sample_urls(server_url, count):
    """`count` distinct URLs over the samples: each sample's URL with ?n=<i>."""
    names = [os.path.basename(path) for path in example_paths()]
    return [server_url(names[i % len(names)]) + f"?n={i}" for i in range(count)]


def differences(records, expected):
    """(source, key, value, CLI's value) of every field where a record differs from the CLI's."""
    by_source = {record["source"]: record for record in expected}
    found = []
    for record in records:
        theirs = by_source[record["source"]]
        for key in set(record) | set(theirs):
            if key == "image":
                found += [(record["source"], field, record[key].get(field), theirs[key].get(field))
                          for field in set(record[key]) | set(theirs[key])
                          if record[key].get(field) != theirs[key].get(field)]
            elif record.get(key) != theirs.get(key):
                found.append((record["source"], key, record.get(key), theirs.get(key)))
    return found[:10]


def canonical(records):
    return sorted(json.dumps(record, sort_keys=True) for record in records)


def test_offline_over_20000_urls_gives_the_clis_records_once_each(client, nginx, facegate_exe, cli, tmp_path):
    urls = sample_urls(nginx.url, URLS)
    listing = tmp_path / "urls.txt"
    listing.write_text("\n".join(urls) + "\n")
    expected = cli(facegate_exe, "check", "--offline", "--json", "--allow-private-network",
                   "--model", MODEL, f"@{listing}")
    bag = dask.bag.from_sequence(urls, npartitions=16)
    records = list(facegate.dask.check(bag, MODEL, client=client, allow_private_network=True))
    assert len(records) == URLS
    assert collections.Counter(r["source"] for r in records) == collections.Counter(urls)
    assert differences(records, expected) == []
    decisions = collections.Counter(r["decision"] for r in records)
    assert decisions["pass"] == URLS * 3 // 8 and decisions["error"] == URLS // 8
    workers = client.run(lambda: os.getpid())
    assert len(set(workers.values()) | {os.getpid()}) == 3  # two worker processes and this one


def test_check_offline_is_a_bag_in_the_bags_order(client):
    paths = example_paths() * 4
    bag = dask.bag.from_sequence(paths, npartitions=4)
    records = facegate.dask.check_offline(bag, MODEL).compute()
    assert [r["source"] for r in records] == paths
    assert records == list(facegate.check(paths, MODEL, order="input"))
    with pytest.raises(facegate.UsageError, match="remote"):
        facegate.dask.check_offline(bag, MODEL, key="sk-x")


@pytest.fixture(scope="module")
def fake_dashscope():
    """The tests' fake of the service (tests/servers/fake_dashscope.py)."""
    process = subprocess.Popen(
        ["/usr/bin/python3", str(SOURCE_ROOT / "tests" / "servers" / "fake_dashscope.py"),
         "--key", "sk-dask-test"],
        stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    assert line.startswith("PORT "), line
    yield f"http://127.0.0.1:{int(line.split()[1])}"
    process.terminate()
    process.wait(timeout=10)


def test_online_calls_only_the_passes_from_the_client(client, nginx, fake_dashscope, facegate_exe, tmp_path):
    urls = sample_urls(nginx.url, 40)
    options = dict(allow_private_network=True, base_url=f"{fake_dashscope}/api/v1",
                   key="sk-dask-test", ledger=False)
    bag = dask.bag.from_sequence(urls, npartitions=4)
    records = list(facegate.dask.check(bag, MODEL, client=client, remote="online", **options))
    urllib.request.urlopen(urllib.request.Request(f"{fake_dashscope}/__reset", method="POST"))
    listing = tmp_path / "urls.txt"
    listing.write_text("\n".join(urls) + "\n")
    env = dict(os.environ, DASHSCOPE_API_KEY="sk-dask-test")
    result = subprocess.run([facegate_exe, "check", "--json", "--allow-private-network",
                             "--no-ledger", "--base-url",
                             f"{fake_dashscope}/api/v1", "--model", MODEL, f"@{listing}"],
                            capture_output=True, text=True, env=env, timeout=120)
    expected = [json.loads(line) for line in result.stdout.splitlines()]

    def without_request_ids(rows):
        for row in rows:
            if row.get("remote"):
                row["remote"].pop("request_id", None)
        return canonical(rows)

    assert without_request_ids(records) == without_request_ids(expected)
    called = [r for r in records if r["remote"] is not None]
    assert len(called) == 15 and all(r["decision"] == "pass" for r in called)
    assert {r["remote"]["outcome"] for r in called} == {"passed"}
