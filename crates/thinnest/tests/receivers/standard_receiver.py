"""A webhook receiver that verifies the Standard Webhooks headers with the PyPI
`standardwebhooks` library, which also refuses stale timestamps. The secret comes from
WEBHOOK_SECRET. Prints `listening <port>`, then one JSON line per request."""
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

hook = Webhook(os.environ["WEBHOOK_SECRET"])


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            payload = hook.verify(body, dict(self.headers.items()))
            verified, event_id = True, payload["id"]
        except WebhookVerificationError:
            verified, event_id = False, None
        print(json.dumps({"path": self.path, "event_id": event_id, "verified": verified,
                          "webhook_id": self.headers.get("webhook-id"),
                          "body": body.decode("utf-8")}), flush=True)
        self.send_response(204 if verified else 400)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"listening {server.server_address[1]}", flush=True)
server.serve_forever()
