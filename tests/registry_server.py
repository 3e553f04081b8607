#!/usr/bin/env python3
"""registry_server.py: a small registry for the pull tests (standard library only).

    python3 tests/registry_server.py ROOT

serves ROOT/manifests/NS/MODEL/TAG and ROOT/blobs/sha256-HEX the way Ollama's
registry does: GET /v2/NS/MODEL/manifests/TAG, and GET /v2/NS/MODEL/blobs/DIGEST
answered with a redirect to /storage/sha256-HEX (the "storage host"), which
honours Range. GET /files/PATH serves ROOT/files/PATH as the storage host does
(a .gguf at a plain URL, for pulls by URL). It binds 127.0.0.1 on a free port and writes the port to
ROOT/port once listening.

Misbehaviour comes from ROOT/config.json, read at every request (absent: none;
the counts below start again whenever its text changes):
  {"auth": true}                      /v2 wants "Bearer secret" (401 + challenge; /token gives it)
  {"fail": {"status": 429, "count": 1, "match": "blobs"}}
                                      the first count requests whose path holds match get status
  {"drop_after": N, "drops": 1}       the first `drops` storage responses close after N body bytes
  {"corrupt": true}                   storage responses have one byte flipped
  {"trickle": 0.5}                    storage responses send 64 bytes every so many seconds
  {"no_range": true}                  storage responses ignore Range (200, the whole file)
After each request ROOT/stats.json holds {"storage_bytes": body bytes sent by the
storage host and /files, "requests": ["GET path range", ...]}.
"""
import http.server
import json
import os
import re
import socket
import sys
import threading
import time

ROOT = sys.argv[1]
lock = threading.Lock()
stats = {"storage_bytes": 0, "requests": []}
counters = {"fail": 0, "drops": 0, "config": None}


def config():
    """The misbehaviour asked for; a new config.json starts its counts afresh."""
    try:
        with open(os.path.join(ROOT, "config.json")) as f:
            text = f.read()
    except OSError:
        text = "{}"
    with lock:
        if text != counters["config"]:
            counters.update(fail=0, drops=0, config=text)
    try:
        return json.loads(text)
    except ValueError:
        return {}


def save_stats():
    tmp = os.path.join(ROOT, "stats.json.tmp")
    with open(tmp, "w") as f:
        json.dump(stats, f)
    os.replace(tmp, os.path.join(ROOT, "stats.json"))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        cfg = config()
        with lock:
            stats["requests"].append("GET %s %s" % (self.path, self.headers.get("Range", "")))
            save_stats()
        path = self.path.split("?")[0]
        fail = cfg.get("fail")
        if fail and fail.get("match", "") in path and not path.startswith("/token"):
            with lock:
                hit = counters["fail"] < fail.get("count", 1)
                counters["fail"] += hit
            if hit:
                return self.reply(fail["status"], b'{"errors":[{"code":"TEST","message":"injected"}]}')
        if path.startswith("/token"):
            return self.reply(200, b'{"token": "secret"}', {"Content-Type": "application/json"})
        if path.startswith("/v2/") and cfg.get("auth") and \
                self.headers.get("Authorization") != "Bearer secret":
            host = "http://127.0.0.1:%d" % self.server.server_address[1]
            return self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', {
                "WWW-Authenticate": 'Bearer realm="%s/token",service="test",scope="repository:x:pull"' % host})
        m = re.fullmatch(r"/v2/([\w.-]+)/([\w.-]+)/manifests/([\w.-]+)", path)
        if m:
            f = os.path.join(ROOT, "manifests", *m.groups())
            if not os.path.isfile(f):
                return self.reply(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
            with open(f, "rb") as fh:
                body = fh.read()
            return self.reply(200, body, {
                "Content-Type": "application/vnd.docker.distribution.manifest.v2+json"})
        m = re.fullmatch(r"/v2/[\w.-]+/[\w.-]+/blobs/sha256:([0-9a-f]{64})", path)
        if m:
            return self.reply(307, b"", {"Location": "/storage/sha256-" + m.group(1)})
        m = re.fullmatch(r"/storage/(sha256-[0-9a-f]{64})", path)
        if m:
            return self.storage(os.path.join(ROOT, "blobs", m.group(1)), cfg)
        m = re.fullmatch(r"/files/([\w.-]+(?:/[\w.-]+)*)", path)
        if m and ".." not in m.group(1):
            return self.storage(os.path.join(ROOT, "files", m.group(1)), cfg)
        return self.reply(404, b"not found")

    def storage(self, f, cfg):
        if not os.path.isfile(f):
            return self.reply(404, b"no such blob")
        size = os.path.getsize(f)
        start, end, status = 0, size - 1, 200
        rng = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if rng and not cfg.get("no_range"):
            start = int(rng.group(1))
            end = min(int(rng.group(2)), size - 1) if rng.group(2) else size - 1
            if start >= size:
                return self.reply(416, b"", {"Content-Range": "bytes */%d" % size})
            status = 206
        n = end - start + 1
        drop = None
        if "drop_after" in cfg:
            with lock:
                if counters["drops"] < cfg.get("drops", 1):
                    counters["drops"] += 1
                    drop = cfg["drop_after"]
        self.send_response(status)
        self.send_header("Content-Length", str(n))
        self.send_header("Accept-Ranges", "none" if cfg.get("no_range") else "bytes")
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end, size))
        self.end_headers()
        sent = 0
        with open(f, "rb") as fh:
            fh.seek(start)
            while sent < n:
                chunk = fh.read(min(64 if cfg.get("trickle") else 1 << 16, n - sent))
                if not chunk:
                    break
                if cfg.get("corrupt") and sent == 0:
                    chunk = bytes([chunk[0] ^ 0xFF]) + chunk[1:]
                if drop is not None and sent + len(chunk) > drop:
                    chunk = chunk[:max(drop - sent, 0)]
                try:
                    self.wfile.write(chunk)
                    self.wfile.flush()
                except OSError:
                    return
                sent += len(chunk)
                with lock:
                    stats["storage_bytes"] += len(chunk)
                    save_stats()
                if drop is not None and sent >= drop:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if cfg.get("trickle"):
                    time.sleep(cfg["trickle"])


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


srv = Server(("127.0.0.1", 0), Handler)
with open(os.path.join(ROOT, "port.tmp"), "w") as f:
    f.write(str(srv.server_address[1]))
os.replace(os.path.join(ROOT, "port.tmp"), os.path.join(ROOT, "port"))
srv.serve_forever()
