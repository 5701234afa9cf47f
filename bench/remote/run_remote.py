#!/usr/bin/env python3
"""Remote-headers benchmark: facegate's URL probe against npm probe-image-size 7.x.

usage: run_remote.py --facegate BUILDDIR/tools/facegate/facegate
                     [--corpus DIR] [--concurrency 16 4] [--runs 5] [--repeat 5]
                     [--policy FIRST:FURTHER:GROWTH ...] [--work DIR]

One run of this script:
 1. Serves the corpus with nginx on 127.0.0.1 (a free port; started and stopped here; Content-Type
    from /etc/nginx/mime.types, checked to be image/* for every extension served). The corpus is
    the JPEG and PNG files of Debian's libjxl-testdata plus the conversions of make_corpus.py
    (WebP, BMP, baseline/progressive/phone-style JPEG), made into --corpus when it is empty.
    The URL list is the corpus --repeat times over (longer runs, steadier timings).
 2. For each concurrency C, --runs times, the clients one after the other, in rotating order:
      facegate probe --json --allow-private-network --jobs C --per-host C @urls
      node peer_probe_image_size.mjs urls C results     (a promise pool of C probe(url) calls)
      range_probe FIRST FURTHER GROWTH C C urls         (one per --policy: facegate's fetcher
                                                         with another range policy)
    Every client runs with socket_bytes.so preloaded (LD_PRELOAD), which counts in the client's
    own process the bytes read from TCP sockets connected to nginx's port, and its connects.
 3. Prints markdown tables (medians over the runs): totals per client, body bytes per URL by
    kind of file, and whether the clients agree on every image's width and height.

What is counted, the same way for every client:
  body bytes     response body bytes the client received: facegate's bytes_transferred (its
                 libcurl write callback), node's http.IncomingMessage 'data' events
  socket bytes   bytes the client process read from its TCP sockets (socket_bytes.so), response
                 headers included; for node also cross-checked with net.Socket.bytesRead
  nginx sent     $bytes_sent of the access log: what the server wrote, including what sat in
                 loopback socket buffers when the client closed the connection (never read)
  wall s         the client process from exec to exit (startup included); URLs/s = URLs / wall
Needs: nginx, node with `npm ci` done in bench/remote, g++ (socket_bytes.so, range_probe).
"""
import argparse
import collections
import http.client
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.path.dirname(os.path.dirname(HERE))
TESTDATA = "/usr/share/libjxl-testdata"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
PEER_PACKAGE = os.path.join(HERE, "node_modules", "probe-image-size", "package.json")
PEER_NAME = None  # "probe-image-size VERSION", set by main() from PEER_PACKAGE

NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  log_format bench '$connection $connection_requests $status $bytes_sent $body_bytes_sent '
                   '"$http_range" $request_uri';
  access_log {prefix}/access.log bench;
  client_body_temp_path {prefix}/tmp;
  proxy_temp_path {prefix}/tmp;
  fastcgi_temp_path {prefix}/tmp;
  uwsgi_temp_path {prefix}/tmp;
  scgi_temp_path {prefix}/tmp;
  sendfile on;
  keepalive_requests 100000;
  server {{
    listen 127.0.0.1:{port};
    root {root};
  }}
}}
"""


def free_port():
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        return probe_socket.getsockname()[1]


def list_images(directory):
    found = []
    for parent, _, names in os.walk(directory, followlinks=True):
        for name in names:
            if name.lower().endswith(IMAGE_SUFFIXES):
                found.append(os.path.relpath(os.path.join(parent, name), directory))
    return sorted(found)


class Nginx:
    """nginx serving `root` on 127.0.0.1, in the foreground as one process owned by this script."""

    def __init__(self, work, root):
        self.prefix = os.path.join(work, "nginx")
        os.makedirs(os.path.join(self.prefix, "tmp"), exist_ok=True)
        self.port = free_port()
        self.access_log = os.path.join(self.prefix, "access.log")
        conf = os.path.join(self.prefix, "nginx.conf")
        with open(conf, "w") as out:
            out.write(NGINX_CONF.format(prefix=self.prefix, port=self.port, root=root))
        self.process = subprocess.Popen(
            ["nginx", "-p", self.prefix, "-c", conf, "-e", os.path.join(self.prefix, "error.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._wait_ready()

    def _wait_ready(self):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("nginx exited: " + self.process.stderr.read().decode())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not start listening on port %d" % self.port)

    def content_type(self, path):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        connection.request("HEAD", path)
        response = connection.getresponse()
        connection.close()
        return response.status, response.getheader("Content-Type", "")

    def log_size(self):
        return os.path.getsize(self.access_log) if os.path.exists(self.access_log) else 0

    def log_lines_since(self, offset):
        with open(self.access_log) as log:
            log.seek(offset)
            return [line.split(" ", 5) for line in log.read().splitlines()]

    def stop(self):
        self.process.send_signal(signal.SIGTERM)  # nginx: fast shutdown
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def compile_helpers(args, work):
    """socket_bytes.so always; range_probe (linked to the build's libfacegate) for --policy."""
    counter = os.path.join(work, "socket_bytes.so")
    subprocess.run(["g++", "-std=c++20", "-O2", "-shared", "-fPIC",
                    os.path.join(HERE, "socket_bytes.cc"), "-o", counter, "-ldl"], check=True)
    range_probe = None
    if args.policy:
        build_dir = os.path.dirname(os.path.dirname(os.path.dirname(args.facegate)))
        range_probe = os.path.join(work, "range_probe")
        subprocess.run(["g++", "-std=c++20", "-O2", "-I" + os.path.join(SOURCE_ROOT, "include"),
                        "-I" + os.path.join(SOURCE_ROOT, "lib"),
                        os.path.join(HERE, "range_probe.cc"), "-o", range_probe,
                        "-L" + build_dir, "-lfacegate", "-lcurl", "-Wl,-rpath," + build_dir],
                       check=True)
    return counter, range_probe


def run_process(command, counter, port, work):
    """Runs one client process; returns (stdout, wall seconds, CPU seconds, socket counts)."""
    counts_path = os.path.join(work, "socket-counts.json")
    env = dict(os.environ, LD_PRELOAD=counter, SOCKET_BYTES_PORT=str(port),
               SOCKET_BYTES_OUT=counts_path)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):  # facegate: 1 = some input failed, reported per URL
        raise RuntimeError("%s failed (%d): %s" % (command[0], done.returncode,
                                                   done.stderr.decode()))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    with open(counts_path) as counts:
        socket_counts = json.load(counts)
    return done.stdout.decode(), wall, cpu, socket_counts


def fetcher_result(stdout, wall, cpu, sockets):
    """A run of facegate probe --json or range_probe: one JSON record per URL."""
    records = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    return {
        "wall": wall, "cpu": cpu,
        "sizes": [(r["width"], r["height"]) if r["error"] is None else None for r in records],
        "url_bytes": [r["bytes_transferred"] for r in records],
        "errors": [(r["source"], r["error"]) for r in records if r["error"] is not None],
        "body_bytes": sum(r["bytes_transferred"] for r in records),
        "requests": sum(r["requests"] for r in records),
        "socket_bytes": sockets["bytes"], "connects": sockets["connects"],
    }


class Clients:
    """The command of every client and how its output becomes a result."""

    def __init__(self, args, urls_path, counter, range_probe, port, work):
        self.args, self.urls_path, self.counter = args, urls_path, counter
        self.range_probe, self.port, self.work = range_probe, port, work

    def names(self):
        return ["facegate probe", PEER_NAME] + ["facegate, ranges " + p for p in self.args.policy]

    def run(self, name, concurrency):
        c = str(concurrency)
        if name == "facegate probe":
            return fetcher_result(*run_process(
                [self.args.facegate, "probe", "--json", "--allow-private-network", "--jobs", c,
                 "--per-host", c, "@" + self.urls_path], self.counter, self.port, self.work))
        if name == PEER_NAME:
            return self._run_peer(c)
        first, further, growth = name.rsplit(" ", 1)[1].split(":")
        return fetcher_result(*run_process(
            [self.range_probe, first, further, growth, c, c, self.urls_path],
            self.counter, self.port, self.work))

    def _run_peer(self, concurrency):
        results_path = os.path.join(self.work, "peer-results.jsonl")
        stdout, wall, cpu, sockets = run_process(
            ["node", os.path.join(HERE, "peer_probe_image_size.mjs"), self.urls_path,
             concurrency, results_path], self.counter, self.port, self.work)
        summary = json.loads(stdout.strip().splitlines()[-1])
        with open(results_path) as results:
            records = [json.loads(line) for line in results if line.strip()]
        repeat = self.args.repeat  # the peer's per-URL bytes sum over the list's copies
        return {
            "wall": wall, "cpu": cpu, "inner_seconds": summary["seconds"],
            "sizes": [(r["width"], r["height"]) if r["error"] is None else None for r in records],
            "url_bytes": [r["body_bytes"] / repeat for r in records],
            "errors": [(r["url"], r["error"]) for r in records if r["error"] is not None],
            "body_bytes": summary["body_bytes"], "requests": summary["responses"],
            "socket_bytes": sockets["bytes"], "connects": sockets["connects"],
            "node_socket_bytes_read": summary["socket_bytes_read"],
        }


def add_server_counts(result, nginx, log_offset):
    time.sleep(0.3)  # aborted requests are logged once nginx notices the closed connection
    lines = nginx.log_lines_since(log_offset)
    result["nginx_requests"] = len(lines)
    result["nginx_sent"] = sum(int(fields[3]) for fields in lines)
    return result


def prepare_corpus(args, work):
    corpus = os.path.abspath(args.corpus or os.path.join(work, "conversions"))
    if not os.path.isdir(corpus) or not list_images(corpus):
        print("making the conversion corpus in %s ..." % corpus, file=sys.stderr)
        subprocess.run([sys.executable, os.path.join(HERE, "make_corpus.py"), corpus], check=True)
    root = os.path.join(work, "www")
    os.makedirs(root, exist_ok=True)
    for name, target in (("testdata", TESTDATA), ("conversions", corpus)):
        link = os.path.join(root, name)
        if not os.path.islink(link):
            os.symlink(target, link)
    paths = ["/testdata/" + p for p in list_images(TESTDATA)]
    paths += ["/conversions/" + p for p in list_images(corpus)]
    sizes = [os.path.getsize(os.path.join(root, p.lstrip("/"))) for p in paths]
    return root, paths, sizes


def check_content_types(nginx, paths):
    """Every extension served must come back as image/* (the peer and real CDNs rely on it)."""
    types = {}
    for path in paths:
        suffix = os.path.splitext(path)[1].lower()
        if suffix in types:
            continue
        status, content_type = nginx.content_type(urllib.parse.quote(path))
        if status != 200 or not content_type.startswith("image/"):
            raise RuntimeError("nginx serves %s as %d %r" % (path, status, content_type))
        types[suffix] = content_type
    return types


def kind_of(path):
    """The row of the per-kind table: where the file comes from and what it is."""
    suffix = os.path.splitext(path)[1].lower().lstrip(".").replace("jpeg", "jpg")
    if path.startswith("/testdata/"):
        return "libjxl-testdata " + suffix
    name = os.path.basename(path)
    if ".phone-" in name:
        return "phone-style jpg (EXIF thumbnail)"
    for variant in ("baseline", "progressive", "lossy", "lossless", "v3", "v5"):
        if "." + variant + "." in name:
            return "%s %s" % (variant, suffix)
    return suffix


def median_of(runs, key):
    return statistics.median(run[key] for run in runs)


def number(value):
    return "{:,}".format(int(round(value)))


def totals_table(urls, results_by_concurrency):
    lines = ["| client | C | URLs | errors | requests/URL | TCP connects | body bytes | "
             "socket bytes read | nginx bytes sent | wall s | CPU s | URLs/s |",
             "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for concurrency, results in results_by_concurrency.items():
        for name, runs in results.items():
            wall = median_of(runs, "wall")
            lines.append("| %s | %d | %d | %d | %.2f | %s | %s | %s | %s | %.2f | %.2f | %s |" % (
                name, concurrency, len(urls), len(runs[0]["errors"]),
                median_of(runs, "requests") / len(urls), number(median_of(runs, "connects")),
                number(median_of(runs, "body_bytes")), number(median_of(runs, "socket_bytes")),
                number(median_of(runs, "nginx_sent")), wall, median_of(runs, "cpu"),
                number(len(urls) / wall)))
    return lines


def kinds_table(paths, file_sizes, results):
    """Mean body bytes per URL by kind of file, from the first run of each client."""
    names = list(results)
    lines = ["| files | n | mean file bytes | " + " | ".join(
        "%s B/URL" % name for name in names) + " |", "|---|--:|--:|" + "--:|" * len(names)]
    groups = collections.defaultdict(list)
    for index, path in enumerate(paths):
        groups[kind_of(path)].append(index)
    for kind in sorted(groups):
        members = groups[kind]
        cells = [number(statistics.mean(results[name][0]["url_bytes"][i] for i in members))
                 for name in names]
        lines.append("| %s | %d | %s | %s |" % (
            kind, len(members), number(statistics.mean(file_sizes[i] for i in members)),
            " | ".join(cells)))
    return lines


def agreement_notes(urls, concurrency, results):
    """Sizes compared URL by URL between facegate probe and every other client."""
    reference = results["facegate probe"][0]
    peer_runs = results[PEER_NAME]
    ours = results["facegate probe"]
    notes = ["C=%d: facegate receives %.1fx fewer socket bytes and %.1fx fewer body bytes than "
             "%s, at %.2fx its URLs/s; node in-loop time %.2f s (process %.2f s); node "
             "Socket.bytesRead %s vs socket_bytes.so %s; nginx requests facegate %d, peer %d" % (
                 concurrency,
                 median_of(peer_runs, "socket_bytes") / median_of(ours, "socket_bytes"),
                 median_of(peer_runs, "body_bytes") / median_of(ours, "body_bytes"),
                 PEER_NAME, median_of(peer_runs, "wall") / median_of(ours, "wall"),
                 median_of(peer_runs, "inner_seconds"), median_of(peer_runs, "wall"),
                 number(peer_runs[0]["node_socket_bytes_read"]),
                 number(peer_runs[0]["socket_bytes"]),
                 reference["nginx_requests"], peer_runs[0]["nginx_requests"])]
    for name, runs in results.items():
        for run in runs:
            for url, error in run["errors"]:
                notes.append("  %s error: %s %s" % (name, url, error))
        if name == "facegate probe":
            continue
        differing = [(url, mine, theirs) for url, mine, theirs
                     in zip(urls, reference["sizes"], runs[0]["sizes"])
                     if mine is not None and theirs is not None and mine != theirs]
        notes.append("  sizes: facegate probe vs %s: %d of %d URLs differ" % (
            name, len(differing), len(urls)))
        for url, mine, theirs in differing:
            notes.append("    %s: facegate %s, %s %s" % (url, mine, name, theirs))
    return notes


def peer_name():
    """"probe-image-size VERSION" as installed by `npm ci` in bench/remote."""
    if not os.path.exists(PEER_PACKAGE):
        sys.exit("run_remote.py: probe-image-size is not installed: run `npm ci` in " + HERE)
    with open(PEER_PACKAGE) as package:
        return "probe-image-size " + json.load(package)["version"]


def main():
    global PEER_NAME
    PEER_NAME = peer_name()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--facegate", required=True, help="BUILDDIR/tools/facegate/facegate")
    parser.add_argument("--corpus", help="conversion corpus directory (made when empty)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 4])
    parser.add_argument("--runs", type=int, default=5, help="runs per client and concurrency")
    parser.add_argument("--repeat", type=int, default=5, help="the URL list this many times over")
    parser.add_argument("--policy", nargs="*", default=[],
                        help="extra rows: facegate's fetcher with range policy FIRST:FURTHER:GROWTH")
    parser.add_argument("--work", help="work directory (default: a temporary one, removed)")
    args = parser.parse_args()
    args.facegate = os.path.abspath(args.facegate)

    work = args.work or tempfile.mkdtemp(prefix="facegate-rbench-")
    os.makedirs(work, exist_ok=True)
    nginx = None
    try:
        root, paths, file_sizes = prepare_corpus(args, work)
        counter, range_probe = compile_helpers(args, work)
        nginx = Nginx(work, root)
        types = check_content_types(nginx, paths)
        base = "http://127.0.0.1:%d" % nginx.port
        urls = [base + urllib.parse.quote(p) for p in paths] * args.repeat
        urls_path = os.path.join(work, "urls.txt")
        with open(urls_path, "w") as out:
            out.write("\n".join(urls) + "\n")
        clients = Clients(args, urls_path, counter, range_probe, nginx.port, work)
        names = clients.names()

        results_by_concurrency = {}
        for concurrency in args.concurrency:
            results = {name: [] for name in names}
            for run in range(args.runs):
                for shift in range(len(names)):
                    name = names[(run + shift) % len(names)]
                    offset = nginx.log_size()
                    results[name].append(
                        add_server_counts(clients.run(name, concurrency), nginx, offset))
            results_by_concurrency[concurrency] = results

        print("Corpus: %d files, %s bytes (%s); %d URLs a run (the corpus %d times); "
              "medians of %d runs; nginx %s on 127.0.0.1:%d.\n" % (
                  len(paths), number(sum(file_sizes)),
                  ", ".join("%s %s" % item for item in sorted(types.items())), len(urls),
                  args.repeat, args.runs, nginx_version(), nginx.port))
        print("\n".join(totals_table(urls, results_by_concurrency)))
        print()
        first = results_by_concurrency[args.concurrency[0]]
        print("\n".join(kinds_table(paths, file_sizes, first)))
        print()
        for concurrency, results in results_by_concurrency.items():
            print("\n".join(agreement_notes(urls, concurrency, results)))
    finally:
        if nginx is not None:
            nginx.stop()
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


def nginx_version():
    done = subprocess.run(["nginx", "-v"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    return done.stderr.decode().strip().rsplit("/", 1)[-1]


if __name__ == "__main__":
    main()
