// A webhook receiver written with only Node's `crypto` and `http`: it checks
// X-ThinnestAI-Signature, the hex HMAC-SHA256 of the raw body keyed by the signing
// secret string (WEBHOOK_SECRET). Prints `listening <port>`, then one JSON line per request.
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";

const secret = process.env.WEBHOOK_SECRET;

function verify(body, header) {
  if (!header || !header.startsWith("sha256=")) return false;
  const expected = Buffer.from(createHmac("sha256", secret).update(body).digest("hex"));
  const given = Buffer.from(header.slice("sha256=".length));
  return expected.length === given.length && timingSafeEqual(expected, given);
}

const server = createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks);
    const verified = verify(body, req.headers["x-thinnestai-signature"]);
    let eventId = null;
    try { eventId = JSON.parse(body.toString("utf8")).id; } catch { /* not JSON */ }
    console.log(JSON.stringify({ path: req.url, event_id: eventId, verified, body: body.toString("utf8") }));
    res.writeHead(verified ? 200 : 400, { "content-type": "application/json" });
    res.end(verified ? '{"ok":true}' : '{"error":"bad signature"}');
  });
});

server.listen(0, "127.0.0.1", () => console.log(`listening ${server.address().port}`));
