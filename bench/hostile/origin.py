#!/usr/bin/env python3
"""Hostile loopback origins for the issue-13 run: three hosts, healthy files beside stalls, trickles, silence,
resets, a permanent 500, 503s with Retry-After and a large file. Usage: origin.py PORT (binds 127.0.0.61-63)."""
import os, socket, sys, threading, time, random
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler

random.seed(13)
BODY = os.urandom(100 * 1024)
LARGE = os.urandom(64 * 1024 * 1024)
hits = {}
lock = threading.Lock()

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def send_body(self, body, status=200, extra=()):
        rng = self.headers.get("Range")
        start, end = 0, len(body) - 1
        if rng and rng.startswith("bytes=") and status == 200:
            a, b = rng[6:].split("-")
            start = int(a)
            end = min(int(b), len(body) - 1) if b else len(body) - 1
            status = 206
        self.send_response(status)
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("ETag", '"v1"')
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end, len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body[start:end + 1])
    def do_GET(self):
        p = self.path
        with lock:
            n = hits[p] = hits.get(p, 0) + 1
        if p.startswith("/ok/"):
            time.sleep(0.05)
            return self.send_body(BODY)
        if p.startswith("/large"):
            return self.send_body(LARGE)
        if p.startswith("/trickle/"):
            self.send_response(200); self.send_header("Content-Length", str(len(BODY))); self.end_headers()
            for i in range(600):
                self.wfile.write(b"x"); self.wfile.flush(); time.sleep(1)
            return
        if p.startswith("/stall/"):
            self.send_response(200); self.send_header("Content-Length", str(len(BODY))); self.end_headers()
            self.wfile.write(BODY[:1024]); self.wfile.flush(); time.sleep(600); return
        if p.startswith("/silent/"):
            time.sleep(600); return
        if p.startswith("/reset/"):
            self.send_response(200); self.send_header("Content-Length", str(len(BODY))); self.end_headers()
            self.wfile.write(BODY[:10240]); self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.connection.close(); return
        if p.startswith("/500/"):
            return self.send_body(b"", 500)
        if p.startswith("/503/"):
            if n <= 2:
                return self.send_body(b"", 503, [("Retry-After", str(1 + (hash(p) % 3)))])
            return self.send_body(BODY)
        self.send_body(b"not found", 404)

class S(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

port = int(sys.argv[1])
for ip in ("127.0.0.61", "127.0.0.62", "127.0.0.63"):
    srv = S((ip, port), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
print("serving", port, flush=True)
while True:
    time.sleep(3600)
