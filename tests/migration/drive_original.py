#!/usr/bin/env python3
"""Drive a running Python MiniMost 0.0.4 over HTTP to fill its data directory.

Used by make_python_data.sh; it needs only the standard library. Every action a migration must
carry over is exercised once: accounts, public messages, a reply, an edit, a delete, mentions,
reactions, attachments (an image and a file), DMs written in two different orders and cases,
a hidden DM, a private channel with a member added later, an avatar, profile settings and read
state. Afterwards every account reads back what it can see, and the whole record is written as
JSON: the migration test compares the imported store against it.

Usage: drive_original.py BASE_URL MANIFEST_OUT
"""

import http.cookiejar
import json
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

BASE = sys.argv[1].rstrip("/")
OUT = sys.argv[2]

# Passwords satisfy the original's policy: 15+ characters, upper, lower, digit, special.
USERS = {
    "alice": "Alice-Password-2024!",
    "Bob": "Bob#Secret-Phrase-99",
    "carol": "Carol_Long_Pass_777?",
    "dave": "Dave+Very+Long+Pw+42",
}

# A 1x1 PNG: the importer never decodes images, any bytes would do, but a real one keeps the
# fixture honest if someone opens it.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


class Client:
    """One logged-in browser: a cookie jar and the helpers the routes need."""

    def __init__(self):
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def request(self, method, path, body=None, headers=None):
        req = urllib.request.Request(BASE + path, data=body, method=method, headers=headers or {})
        try:
            with self.opener.open(req, timeout=30) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def ok(self, method, path, body=None, headers=None):
        status, data = self.request(method, path, body, headers)
        if status >= 400:
            raise SystemExit(f"{method} {path} -> {status}: {data[:200]!r}")
        return data

    def form(self, path, fields):
        body = urllib.parse.urlencode(fields).encode()
        return self.ok("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"})

    def json_post(self, path, obj):
        return self.ok("POST", path, json.dumps(obj).encode(), {"Content-Type": "application/json"})

    def multipart(self, path, fields, files):
        boundary = "----mm" + uuid.uuid4().hex
        parts = []
        for name, value in fields:
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
                + value.encode()
                + b"\r\n"
            )
        for name, filename, data, ctype in files:
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                f'filename="{filename}"\r\nContent-Type: {ctype}\r\n\r\n'.encode()
                + data
                + b"\r\n"
            )
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        return self.ok(
            "POST", path, body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        )

    def get_json(self, path):
        return json.loads(self.ok("GET", path))

    def csrf(self, page):
        html = self.ok("GET", page).decode()
        match = re.search(r'name="csrf_token"\s+value="([^"]+)"', html) or re.search(
            r'value="([^"]+)"\s+name="csrf_token"', html
        )
        if not match:
            raise SystemExit(f"no csrf_token on {page}")
        return match.group(1)

    def signup(self, name, password):
        token = self.csrf("/signup")
        self.form(
            "/signup",
            {
                "username": name,
                "password": password,
                "confirm_password": password,
                "csrf_token": token,
            },
        )
        # A successful signup redirects into the app; a refused one re-renders the form.
        if not any(c.name == "session" for c in self.jar):
            raise SystemExit(f"signup of {name} did not log in")

    def send(self, channel, text="", reply_to=None, files=()):
        path = "/send/" + urllib.parse.quote(channel, safe="")
        fields = [("text", text)]
        if reply_to is not None:
            fields.append(("reply_to_id", str(reply_to)))
        self.multipart(path, fields, [("files", f, d, c) for f, d, c in files])
        # The original's clock is time.time(): keep sends apart so ordering is unambiguous.
        time.sleep(0.02)

    def messages(self, channel):
        path = "/messages/" + urllib.parse.quote(channel, safe="") + "?after=0&limit=200"
        return self.get_json(path)

    def last_id(self, channel):
        return self.messages(channel)[-1]["id"]


def wait_up():
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(BASE + "/login", timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.2)
    raise SystemExit("the original never answered on " + BASE)


def main():
    wait_up()
    c = {}
    for name, password in USERS.items():
        c[name] = Client()
        c[name].signup(name, password)
        time.sleep(0.02)
    alice, bob, carol, dave = c["alice"], c["Bob"], c["carol"], c["dave"]

    # Public history: plain text, mentions, a reply, an edit, a delete, @everyone.
    alice.send("general", "Hello team, this is alice")
    first = alice.last_id("general")
    bob.send("general", "Hi @alice and @CAROL, welcome")
    bob_hi = bob.last_id("general")
    carol.send("general", "Thanks Bob!", reply_to=bob_hi)
    alice.send("general", "This has a tpyo")
    typo = alice.last_id("general")
    alice.form(f"/edit/{typo}", {"text": "This had a typo, fixed @dave"})
    dave.send("general", "I will delete this")
    doomed = dave.last_id("general")
    dave.ok("POST", f"/delete/{doomed}")
    alice.send("general", "@everyone standup at ten")

    # Reactions, one of them from two people.
    bob.form(f"/react/{first}", {"reaction": "thumbsup"})
    carol.form(f"/react/{first}", {"reaction": "thumbsup"})
    alice.form(f"/react/{bob_hi}", {"reaction": "heart"})

    # Attachments with text: one send, three rows sharing a ts.
    alice.send(
        "software",
        "Design notes attached",
        files=[
            ("diagram.png", PNG, "image/png"),
            ("Release Notes v1.txt", b"line one\nline two\n", "text/plain"),
        ],
    )

    # DMs: the original keys them by its own (case-sensitive) sort of the names, and accepts
    # any order on send, so the same two people can end up with two conversations.
    bob.send("dm:Bob:alice", "Private hello from Bob")
    alice.send("dm:Bob:alice", "Hi Bob, got it")
    alice.send("dm:alice:Bob", "Same people, other order")
    carol.send("dm:alice:carol", "carol to alice")
    alice.ok("POST", "/mark_read/" + urllib.parse.quote("dm:alice:carol", safe=""))
    alice.json_post("/dms/close", {"channel": "dm:alice:carol"})

    # A private channel; carol is added later and so only sees what follows.
    created = json.loads(alice.json_post("/private_channels/create", {"name": "Secret plans", "members": ["Bob"]}))
    private = created["channel"]
    alice.send(private, "before carol joined")
    bob.send(private, "still before carol")
    time.sleep(0.05)
    alice.json_post(f"/private_channels/{created['id']}/add_member", {"username": "carol"})
    time.sleep(0.05)
    carol.send(private, "carol is here now")

    # Profile, avatar, read state.
    alice.json_post("/settings", {"name_color": "#AbCdEf", "bio": "Team lead"})
    bob.multipart("/avatar", [], [("avatar", "me.jpg", b"\xff\xd8\xff\xe0fake-jpeg\xff\xd9", "image/jpeg")])
    carol.ok("POST", "/mark_read/general")
    bob.ok("POST", "/mark_read/software")

    # Read back everything each account can see, from the original itself.
    manifest = {"base_url": BASE, "users": USERS, "private_channel": private, "views": {}}
    dms = {"alice": ["dm:Bob:alice", "dm:alice:Bob", "dm:alice:carol"],
           "Bob": ["dm:Bob:alice", "dm:alice:Bob"],
           "carol": ["dm:alice:carol"],
           "dave": []}
    for name, client in c.items():
        channels = client.get_json("/channels")
        channels += [p["channel"] for p in client.get_json("/private_channels")]
        channels += dms[name]
        view = {}
        for channel in channels:
            rows = client.messages(channel)
            view[channel] = [
                {
                    "sender": r["sender"],
                    "content": r["content"],
                    "filename": r["filename"],
                    "ts": r["ts"],
                    # Exact text of the double: JSON readers are not all correctly rounded.
                    "ts_repr": repr(float(r["ts"])),
                    "edited": r["edited"],
                    "reply_to_id": r["reply_to_id"],
                    "mentions": json.loads(r["mentions"]) if r["mentions"] else None,
                    "reactions": json.loads(r["reactions"]) if r["reactions"] else None,
                }
                for r in rows
            ]
        manifest["views"][name] = view
    manifest["last_read_general"] = {
        name: client.get_json("/last_read/general")["last_read_ts"] for name, client in c.items()
    }
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
