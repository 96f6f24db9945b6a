"""Receives invoice-edge webhooks (Python 3, standard library only): checks the
Invoice-Edge-Signature header, refuses a body changed on the way or a delivery more than 5 minutes
old, and handles each event once, however often it is delivered (delivery is at least once).
Usage: WEBHOOK_SECRET=whsec_... python3 webhook_receiver.py [--port 8080]
It prints one JSON line per delivery: {"event": ...}, {"duplicate": id} or {"refused": true}.
Or import verify_signature and receive from it in your own server."""
import argparse, hashlib, hmac, json, os, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer

TOLERANCE_SECONDS = 300


def verify_signature(secret: str, header: str, raw_body: bytes, now: int | None = None) -> bool:
    """True when header (t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">) signs raw_body, the
    bytes exactly as received, under secret, and t is within 5 minutes of now."""
    fields = dict(part.strip().split("=", 1) for part in (header or "").split(",") if "=" in part)
    t, v1 = fields.get("t", ""), fields.get("v1", "")
    if not (t.isdigit() and len(t) <= 12 and len(v1) == 64):
        return False
    if abs((int(time.time()) if now is None else now) - int(t)) > TOLERANCE_SECONDS:
        return False
    expected = hmac.new(secret.encode(), t.encode() + b"." + raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, v1)


def receive(secret: str, header: str, raw_body: bytes, seen: set, now: int | None = None):
    """(event, duplicate) for a delivery whose signature holds, else None. seen stands for a
    table with a unique key on the event id in production, so a restart forgets nothing."""
    if not verify_signature(secret, header, raw_body, now):
        return None
    event = json.loads(raw_body)
    duplicate = event["id"] in seen
    seen.add(event["id"])
    return event, duplicate


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8080)
    port = parser.parse_args().port
    secret, seen = os.environ["WEBHOOK_SECRET"], set()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            result = receive(secret, self.headers.get("Invoice-Edge-Signature"), body, seen)
            if result is None:
                line, status = {"refused": True}, 400
            else:
                event, duplicate = result
                line, status = ({"duplicate": event["id"]} if duplicate else {"event": event}), 200
            print(json.dumps(line), flush=True)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    # One thread: the seen set is checked and updated without a race.
    HTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    sys.exit(main())
