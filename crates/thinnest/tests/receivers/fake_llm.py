"""A local stand-in for an OpenAI-compatible chat completions server. Prints
`listening <port>`, then one JSON line per request (its path, Authorization and body).
It answers with the model's name, the user's last message, and whether the system
message carried any knowledge passages; streamed word by word when asked to stream."""
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        print(json.dumps({"path": self.path, "authorization": self.headers.get("Authorization"),
                          "body": body}), flush=True)
        system = body["messages"][0]["content"]
        last = body["messages"][-1]["content"]
        content = f"[{body['model']}] you said: {last}; context: {str('returns' in system).lower()}"
        if body.get("stream"):
            # Server-sent events, a word at a time, as OpenAI-compatible servers stream.
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            for word in content.split(" "):
                piece = json.dumps({"choices": [{"index": 0, "delta": {"content": word + " "}}]})
                self.wfile.write(f"data: {piece}\n\n".encode())
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")
            self.close_connection = True
            return
        reply = json.dumps({"id": "chatcmpl-1", "object": "chat.completion", "model": body["model"],
                            "choices": [{"index": 0, "finish_reason": "stop",
                                         "message": {"role": "assistant", "content": content}}]}).encode()
        self.send_response(200 if self.path == "/v1/chat/completions" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"listening {server.server_address[1]}", flush=True)
server.serve_forever()
