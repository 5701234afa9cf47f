#!/usr/bin/env python3
"""Misbehaving HTTP server for the fetch tests (tests/fetch_test.cc). Standard library only.

usage: fault_server.py ROOT_DIRECTORY

Listens on 127.0.0.1 at a free port, prints the port on the first line of stdout, and serves
until killed. The first path segment picks the behaviour; FILE is a path below ROOT:

  /ignore_range/FILE       200 with the whole file, whatever Range says
  /wrong_range/FILE        206 whose Content-Range starts 100 bytes after the asked start
  /overlong_range/FILE     206 "bytes 0-99/size" then the whole file from 0 (body > range)
  /sliced_range/FILE       206 with at most 100 bytes of the asked range (less than asked)
  /gzip_range/FILE         206 for the asked range, but gzip-encoded
  /star_total/FILE         206 for the asked range, total unknown: "bytes a-b/*"; 416
                           "bytes */size" for a range that starts at or past the end
  /short_length/FILE       200 with Content-Length 50, then the whole file
  /long_length/FILE        200 with Content-Length size+1000, the file, then close
  /cut/N/FILE              200 with Content-Length size, only N bytes, then close
  /endless/FILE            200 without length: the file, then zeros forever
  /endless_segments        200 without length: JPEG SOI then APP15 segments forever
  /hang                    200 headers without length, then nothing ever
  /drip/FILE               200 with length, one byte per second
  /huge_headers            a 200 whose header lines never end
  /huge_header_line        a 200 with one header line of 1 MB
  /garbage_status          a status line that is not HTTP
  /endless_interim         1xx interim responses forever, never a final one
  /loop/N                  302 to /loop/N+1, forever
  /fat_redirect/NAME/FILE  302 to /ignore_range/FILE with a 50 MB body on a kept-alive
                           connection; the body bytes written so far are in ROOT/sent-NAME
  /to_file                 302 to file:///etc/passwd
  /to_private              302 to http://10.0.0.1:9/x (a client must never connect there)
  /redirect/FILE           302 to /ignore_range/FILE on this server
  /status/CODE             that status with a short text body
  /chunked/FILE            200 with Transfer-Encoding: chunked (no length), 1000-byte chunks
  /chunk_extension/NAME    200 chunked whose first chunk-size line is "1;" then an extension
                           that never ends; the bytes written so far are in ROOT/sent-NAME
  /tiny_chunks/NAME        200 chunked: JPEG SOI then APP15 segments forever, one byte per
                           chunk ("1\r\nX\r\n"); the bytes written so far are in ROOT/sent-NAME
  /gzip/FILE               200 with Content-Encoding: gzip that nobody asked for
  /empty                   200 with an empty body
"""
import gzip
import http.server
import os
import re
import socket
import socketserver
import sys
import time


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fault_server"

    def log_message(self, format, *args):  # keep test output quiet
        pass

    def do_GET(self):
        parts = self.path.lstrip("/").split("/", 1)
        mode = parts[0]
        rest = parts[1] if len(parts) > 1 else ""
        handler = getattr(self, "mode_" + mode, None)
        try:
            if handler is None:
                self.send_text(404, "unknown mode")
            else:
                handler(rest)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading: what a header fetch does
        except FileNotFoundError:
            self.send_text(404, "no such file")

    # Helpers -------------------------------------------------------------------------------

    def file_bytes(self, relative):
        # Symbolic links below ROOT are followed (the tests link the corpus in); ".." is not.
        path = os.path.normpath(os.path.join(self.server.root, relative))
        if not path.startswith(self.server.root + os.sep):
            raise FileNotFoundError(relative)
        with open(path, "rb") as f:
            return f.read()

    def asked_range(self, size):
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if not match:
            return 0, size - 1
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) else size - 1
        return first, min(last, size - 1)

    def send_text(self, status, text, extra_headers=()):
        body = text.encode()
        self.send_response(status)
        for name, value in extra_headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def start(self, status, headers):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()

    def redirect(self, location):
        self.send_text(302, "moved", [("Location", location)])

    def close_after(self):
        self.close_connection = True

    def send_counted_forever(self, head, piece, name):
        # A small send buffer, so that what was written is close to what the client took.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
        self.close_after()
        count_file = os.path.join(self.server.root, "sent-" + name)
        self.connection.sendall(head)
        sent = len(head)
        while True:
            view = memoryview(piece)
            while view:
                taken = self.connection.send(view[:4096])
                sent += taken
                view = view[taken:]
                with open(count_file, "w") as f:
                    f.write(str(sent))

    # Modes ---------------------------------------------------------------------------------

    def mode_ignore_range(self, rest):
        data = self.file_bytes(rest)
        self.start(200, [("Content-Length", str(len(data)))])
        self.wfile.write(data)

    def mode_wrong_range(self, rest):
        data = self.file_bytes(rest)
        first, last = self.asked_range(len(data))
        first, last = first + 100, min(last + 100, len(data) - 1)
        body = data[first : last + 1]
        self.start(206, [("Content-Range", "bytes %d-%d/%d" % (first, last, len(data))),
                         ("Content-Length", str(len(body)))])
        self.wfile.write(body)

    def mode_overlong_range(self, rest):
        data = self.file_bytes(rest)
        self.close_after()
        self.start(206, [("Content-Range", "bytes 0-99/%d" % len(data)), ("Connection", "close")])
        self.wfile.write(data)

    def mode_sliced_range(self, rest):
        data = self.file_bytes(rest)
        first, last = self.asked_range(len(data))
        last = min(last, first + 99)
        body = data[first : last + 1]
        self.start(206, [("Content-Range", "bytes %d-%d/%d" % (first, last, len(data))),
                         ("Content-Length", str(len(body)))])
        self.wfile.write(body)

    def mode_gzip_range(self, rest):
        data = self.file_bytes(rest)
        first, last = self.asked_range(len(data))
        body = gzip.compress(data[first : last + 1])
        self.start(206, [("Content-Range", "bytes %d-%d/%d" % (first, last, len(data))),
                         ("Content-Encoding", "gzip"), ("Content-Length", str(len(body)))])
        self.wfile.write(body)

    def mode_star_total(self, rest):
        data = self.file_bytes(rest)
        first, last = self.asked_range(len(data))
        if first >= len(data):
            self.send_text(416, "past the end", [("Content-Range", "bytes */%d" % len(data))])
            return
        body = data[first : last + 1]
        self.start(206, [("Content-Range", "bytes %d-%d/*" % (first, last)),
                         ("Content-Length", str(len(body)))])
        self.wfile.write(body)

    def mode_short_length(self, rest):
        data = self.file_bytes(rest)
        self.close_after()
        self.start(200, [("Content-Length", "50"), ("Connection", "close")])
        self.wfile.write(data)

    def mode_long_length(self, rest):
        data = self.file_bytes(rest)
        self.close_after()
        self.start(200, [("Content-Length", str(len(data) + 1000)), ("Connection", "close")])
        self.wfile.write(data)

    def mode_cut(self, rest):
        count, relative = rest.split("/", 1)
        data = self.file_bytes(relative)
        self.close_after()
        self.start(200, [("Content-Length", str(len(data))), ("Connection", "close")])
        self.wfile.write(data[: int(count)])

    def mode_endless(self, rest):
        data = self.file_bytes(rest)
        self.close_after()
        self.start(200, [("Connection", "close")])
        self.wfile.write(data)
        zeros = bytes(65536)
        while True:
            self.wfile.write(zeros)

    def mode_endless_segments(self, rest):
        # ITU T.81 B.1.1.4: APP15 (FF EF) with the largest length, 65535, payload of filler.
        segment = b"\xff\xef\xff\xff" + b"\x20" * 65533
        self.close_after()
        self.start(200, [("Connection", "close")])
        self.wfile.write(b"\xff\xd8")
        while True:
            self.wfile.write(segment)

    def mode_hang(self, rest):
        self.close_after()
        self.start(200, [("Connection", "close")])
        self.wfile.flush()
        while True:
            time.sleep(1)

    def mode_drip(self, rest):
        data = self.file_bytes(rest)
        self.start(200, [("Content-Length", str(len(data)))])
        for i in range(len(data)):
            self.wfile.write(data[i : i + 1])
            self.wfile.flush()
            time.sleep(1)

    def mode_huge_headers(self, rest):
        self.close_after()
        self.wfile.write(b"HTTP/1.1 200 OK\r\n")
        line = b"X-Filler: " + b"x" * 1000 + b"\r\n"
        while True:
            self.wfile.write(line)

    def mode_huge_header_line(self, rest):
        self.close_after()
        self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Filler: " + b"x" * (1 << 20) + b"\r\n\r\n")

    def mode_garbage_status(self, rest):
        self.close_after()
        self.wfile.write(b"GARBAGE \x01\x02 NOT HTTP\r\n\r\n" + b"z" * 100)

    def mode_endless_interim(self, rest):
        # RFC 9110 15.2: a client must accept any number of 1xx before the final response.
        self.close_after()
        while True:
            self.wfile.write(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n")

    def mode_fat_redirect(self, rest):
        name, relative = rest.split("/", 1)
        size = 50 << 20
        self.start(302, [("Location", "/ignore_range/" + relative),
                         ("Content-Length", str(size))])
        piece = bytes(65536)
        sent = 0
        count_file = os.path.join(self.server.root, "sent-" + name)
        while sent < size:
            self.wfile.write(piece)
            sent += len(piece)
            with open(count_file, "w") as f:
                f.write(str(sent))

    def mode_loop(self, rest):
        self.redirect("/loop/%d" % (int(rest or "0") + 1))

    def mode_to_file(self, rest):
        self.redirect("file:///etc/passwd")

    def mode_to_private(self, rest):
        self.redirect("http://10.0.0.1:9/x")

    def mode_redirect(self, rest):
        self.redirect("/ignore_range/" + rest)

    def mode_status(self, rest):
        self.send_text(int(rest), "status %s" % rest)

    def mode_chunked(self, rest):
        data = self.file_bytes(rest)
        self.start(200, [("Transfer-Encoding", "chunked")])
        for i in range(0, len(data), 1000):
            chunk = data[i : i + 1000]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.wfile.write(b"0\r\n\r\n")

    def mode_chunk_extension(self, rest):
        # RFC 9112 7.1.1: chunk-size [ chunk-ext ] CRLF; the extension here never ends.
        head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n1;"
        self.send_counted_forever(head, b"a" * 65536, rest)

    def mode_tiny_chunks(self, rest):
        # ITU T.81 B.1.1.4: APP15 (FF EF) segments of the largest length, so the header never
        # ends; each byte of the body travels in a chunk of its own (6 bytes on the wire).
        body = b"\xff\xef\xff\xff" + b"\x20" * 65533
        piece = b"".join(b"1\r\n%c\r\n" % byte for byte in body)
        head = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                b"2\r\n\xff\xd8\r\n")
        self.send_counted_forever(head, piece, rest)

    def mode_gzip(self, rest):
        body = gzip.compress(self.file_bytes(rest))
        self.start(200, [("Content-Encoding", "gzip"), ("Content-Length", str(len(body)))])
        self.wfile.write(body)

    def mode_empty(self, rest):
        self.start(200, [("Content-Length", "0")])


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # Clients that reset a connection (a header fetch stopping a body) are expected.
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


def main():
    server = Server(("127.0.0.1", 0), Handler)
    server.root = os.path.realpath(sys.argv[1])
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
