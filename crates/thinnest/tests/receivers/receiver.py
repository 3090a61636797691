"""A webhook receiver written with only Python's standard library.

It checks X-ThinnestAI-Signature as a user would from the product page: the lowercase
hex HMAC-SHA256 of the raw body, keyed by the signing secret string (whsec_ included).
The secret comes from WEBHOOK_SECRET. It prints `listening <port>` and then one JSON
line per request. The query string of the endpoint URL sets how it answers:
  fail=N         answer `status` to the first N requests for each event, then 200
  status=CODE    the failing status (default 500)
  retry_after=S  send Retry-After: S with the failures
  delay_ms=MS    wait before answering
"""
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

SECRET = os.environ["WEBHOOK_SECRET"].encode("utf-8")
seen = {}
lock = threading.Lock()


def verify(body, header):
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header[len("sha256="):])


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        received = time.time()
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        try:
            event_id = json.loads(body)["id"]
        except (ValueError, KeyError):
            event_id = None
        with lock:
            count = seen.get((self.path, event_id), 0) + 1
            seen[(self.path, event_id)] = count
        status = 200
        if count <= int(query.get("fail", "0")):
            status = int(query.get("status", "500"))
        record = {
            "path": urlsplit(self.path).path,
            "event_id": event_id,
            "type": self.headers.get("X-ThinnestAI-Event"),
            "delivery": self.headers.get("X-ThinnestAI-Delivery"),
            "user_agent": self.headers.get("User-Agent"),
            "verified": verify(body, self.headers.get("X-ThinnestAI-Signature")),
            "body": body.decode("utf-8"),
            "answered": status,
            "at": received,
        }
        with lock:
            print(json.dumps(record), flush=True)
        # Logged on arrival; the answer waits.
        time.sleep(int(query.get("delay_ms", "0")) / 1000)
        reply = b'{"ok":true}' if status == 200 else b'{"error":"not now"}'
        self.send_response(status)
        if status != 200 and "retry_after" in query:
            self.send_header("Retry-After", query["retry_after"])
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"listening {server.server_address[1]}", flush=True)
server.serve_forever()
