#!/usr/bin/env python3
"""cloudfake: local stand-ins for the clouds skein's cloud steps talk to.

One program, several roles, each an HTTP server on 127.0.0.1 with its own
free port, all in one process so that they share credentials: a token the
fake Google token endpoint issues is one the fake Vertex AI accepts, and
keys from the fake STS or IMDS are ones the fake SageMaker accepts.

    cloudfake.py serve --roles vertex,token,metadata,sagemaker,sts,imds,moto ...
        prints one JSON line when every role listens:
        {"pid": 1234, "urls": {"vertex": "http://127.0.0.1:40001", ...}}
        and exits when its stdin reaches EOF, when --owner-pid dies, after
        --max-seconds, or on SIGTERM/SIGINT.
    cloudfake.py make-sa-key OUT.json --token-uri URL [--register URL]
    cloudfake.py make-authorized-user OUT.json [--register URL]
    cloudfake.py selftest

README.md next to this file describes every role, route, check, the control
API under /_fake/ and the fault knobs. The roles follow the published REST
references (Vertex AI v1 CustomJob, Google OAuth 2.0 for service accounts,
the GCE metadata server, SageMaker over AWS JSON 1.1 with SigV4, STS
AssumeRoleWithWebIdentity, IMDSv2, container credentials).

Only the standard library is needed, except for the token role and
make-sa-key (RSA: the `cryptography` package) and the moto role (moto).
Secrets (tokens, secret keys, assertions) are never logged and never
appear in /_fake/stats.
"""

import argparse
import base64
import datetime
import hashlib
import hmac
import json
import os
import random
import re
import secrets
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape as xml_escape

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
LOG_CAP = 200000  # request timestamps kept per route
BODY_CAP = 8 << 20  # largest request body read

VERBOSE = False


def log(msg):
    if VERBOSE:
        sys.stderr.write("cloudfake: %s\n" % msg)
        sys.stderr.flush()


# ---------------------------------------------------------------------------
# Small helpers


def rfc3339(t):
    """Google's timestamp form: UTC, microseconds, Z."""
    d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def iso8601_s(t):
    """AWS's form in XML and credential JSON: UTC, whole seconds, Z."""
    d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch(t):
    """AWS JSON protocols send timestamps as epoch seconds (a number)."""
    return round(t, 3)


def b64url_decode_strict(s):
    """base64url without padding, as JWTs require; raises ValueError."""
    if not isinstance(s, str) or not re.fullmatch(r"[A-Za-z0-9_-]*", s):
        raise ValueError("not base64url without padding")
    if len(s) % 4 == 1:
        raise ValueError("bad base64url length")
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def load_arg_value(v):
    """A command-line value, or the contents of the file after '@'."""
    if v.startswith("@"):
        with open(v[1:], encoding="utf-8") as f:
            return f.read().strip()
    return v


def role_json_arg(spec, what):
    """ROLE=JSON or ROLE=@FILE -> (role, parsed JSON)."""
    if "=" not in spec:
        raise SystemExit("cloudfake: %s wants ROLE=JSON or ROLE=@FILE, got %r" % (what, spec))
    role, value = spec.split("=", 1)
    try:
        return role, json.loads(load_arg_value(value))
    except ValueError as e:
        raise SystemExit("cloudfake: %s for %s: bad JSON: %s" % (what, role, e))


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return True


class Dropped(Exception):
    """The handler closed the connection on purpose (fault injection)."""


class Reply(Exception):
    """Raised by a handler to answer at once (an error, usually)."""

    def __init__(self, status, body, ctype="application/json; charset=UTF-8", headers=None):
        super().__init__(status)
        self.status = status
        self.body = body
        self.ctype = ctype
        self.headers = headers or {}


# ---------------------------------------------------------------------------
# Credentials shared by the roles of one process


class Store:
    """Google access tokens and AWS keys, whoever issued them."""

    def __init__(self):
        self.lock = threading.Lock()
        self.google = {}  # access token -> {expires, scopes, subject, source}
        self.aws = {}  # access key id -> {secret, token, expires, source}

    def add_google(self, token, ttl, scopes, subject, source):
        with self.lock:
            self.google[token] = {
                "expires": None if ttl is None else time.time() + ttl,
                "scopes": list(scopes),
                "subject": subject,
                "source": source,
            }

    def google_lookup(self, token):
        with self.lock:
            return self.google.get(token)

    def expire_google(self):
        with self.lock:
            for rec in self.google.values():
                rec["expires"] = time.time() - 1

    def add_aws(self, akid, secret, token=None, ttl=None, source="static"):
        with self.lock:
            self.aws[akid] = {
                "secret": secret,
                "token": token,
                "expires": None if ttl is None else time.time() + ttl,
                "source": source,
            }

    def aws_lookup(self, akid):
        with self.lock:
            return self.aws.get(akid)

    def expire_aws_sessions(self):
        with self.lock:
            for rec in self.aws.values():
                if rec["token"] is not None:
                    rec["expires"] = time.time() - 1

    def new_aws_session(self, ttl, source):
        akid = "ASIA" + "".join(random.SystemRandom().choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))
        secret = secrets.token_urlsafe(30)[:40]
        token = "IQoJb3JpZ2luX2Vj" + secrets.token_urlsafe(96)
        self.add_aws(akid, secret, token, ttl, source)
        return akid, secret, token, time.time() + ttl


# ---------------------------------------------------------------------------
# Fault injection

FAULT_KINDS = {
    "throttle": "throttle", "429": "throttle",
    "503": "503", "unavailable": "503",
    "500": "500", "internal": "500",
    "reset": "reset",
    "slow": "slow",
    "lost_reply": "lost_reply",
}


class Faults:
    """An ordered list of rules; see README.md, "Fault injection"."""

    def __init__(self, rng):
        self.rng = rng
        self.rules = []

    @staticmethod
    def parse(rules):
        if isinstance(rules, dict):
            rules = [rules]
        if not isinstance(rules, list):
            raise ValueError("faults must be a list of rules")
        out = []
        for r in rules:
            if not isinstance(r, dict) or "kind" not in r:
                raise ValueError("a fault rule is an object with a kind: %r" % (r,))
            kind = FAULT_KINDS.get(str(r["kind"]))
            if kind is None:
                raise ValueError("unknown fault kind %r (one of %s)" % (r["kind"], ", ".join(sorted(FAULT_KINDS))))
            route = r.get("route", "*")
            routes = [route] if isinstance(route, str) else list(route)
            p = r.get("probability")
            count = r.get("count")
            if p is None and count is None:
                count = 1
            if p is not None and not (0 <= float(p) <= 1):
                raise ValueError("probability must be within [0, 1]")
            rule = dict(r)
            rule.update({
                "kind": kind, "routes": routes,
                "probability": None if p is None else float(p),
                "count": None if count is None else int(count),
                "after": int(r.get("after", 0)),
                "seen": 0, "fired": 0,
            })
            if kind == "slow":
                rule["delay_ms"] = int(r.get("delay_ms", 1000))
            out.append(rule)
        return out

    def pick(self, route, method):
        """(delay seconds, the rule that fires or None). Call under the role lock."""
        delay = 0.0
        for rule in self.rules:
            if "*" not in rule["routes"] and route not in rule["routes"]:
                continue
            if rule.get("method") and rule["method"] != method:
                continue
            rule["seen"] += 1
            if rule["seen"] <= rule["after"]:
                continue
            if rule["count"] is not None and rule["fired"] >= rule["count"]:
                continue
            if rule["probability"] is not None and self.rng.random() >= rule["probability"]:
                continue
            rule["fired"] += 1
            if rule["kind"] == "slow":
                delay += rule["delay_ms"] / 1000.0
                continue
            return delay, rule
        return delay, None


# ---------------------------------------------------------------------------
# The HTTP side


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cloudfake/1"
    sys_version = ""

    def log_message(self, fmt, *args):
        # The request line only: paths carry no secrets here, headers and
        # bodies (tokens, keys, assertions) are never logged.
        log("%s %s" % (self.server.role.name, fmt % args))

    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def do_PATCH(self):
        self.dispatch()

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            total = 0
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > BODY_CAP:
                    raise ValueError("body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        if n > BODY_CAP:
            raise ValueError("body too large")
        return self.rfile.read(n) if n > 0 else b""

    def dispatch(self):
        role = self.server.role
        self.rawpath, self.rawquery, self.query, self.body = self.path, "", {}, b""
        self.is_control = False
        try:
            try:
                self.body = self.read_body()
            except ValueError:
                self.close_connection = True
                self.reply(413, b"request body too large\n", "text/plain")
                return
            parts = urllib.parse.urlsplit(self.path)
            self.rawpath = parts.path
            self.rawquery = parts.query
            self.query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
            if parts.path.startswith("/_fake/"):
                self.is_control = True
                role.control(self, parts.path[len("/_fake/"):])
            else:
                role.serve(self)
        except Reply as r:
            self.reply(r.status, r.body, r.ctype, r.headers)
        except Dropped:
            pass
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # a bug in the fake: say so, do not hang the client
            sys.stderr.write("cloudfake: %s: internal error on %s %s: %r\n" % (role.name, self.command, self.rawpath, e))
            import traceback
            traceback.print_exc()
            try:
                self.reply(500, b'{"fake_error":"internal error in cloudfake"}')
            except OSError:
                pass

    def reply(self, status, body, ctype="application/json; charset=UTF-8", headers=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()
        if not self.is_control:
            self.server.role.count_status(status)

    def drop(self, how="rst"):
        """Closes the connection without a reply: RST (SO_LINGER 0) or FIN."""
        self.close_connection = True
        try:
            self.wfile.flush()
        except OSError:
            pass
        sock = self.connection
        try:
            if how == "rst":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        # The fd closes only once the makefile() objects are closed too.
        for f in (self.rfile, self.wfile):
            try:
                f.close()
            except OSError:
                pass
        try:
            sock.close()
        except OSError:
            pass
        raise Dropped()

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass

    def header(self, name):
        return self.headers.get(name)

    def header_values(self, name):
        return self.headers.get_all(name) or []


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, OSError)):
            return
        super().handle_error(request, client_address)


# ---------------------------------------------------------------------------
# Roles


class Role:
    """What every role has: stats, faults, the control API."""

    name = "?"

    def __init__(self, app, initial_config):
        self.app = app
        self.store = app.store
        self.lock = threading.RLock()
        self.url = None
        self.initial_config = initial_config or []
        self.reset_state()

    # -- state ------------------------------------------------------------

    def reset_state(self):
        with self.lock:
            self.rng = random.Random("%s:%s" % (self.app.seed, self.name))
            self.faults = Faults(self.rng)
            self.stats_reset()
            self.init_state()
            for cfg in self.initial_config:
                self.apply_config(cfg)

    def init_state(self):
        pass

    def stats_reset(self):
        self.since = time.time()
        self.requests = {}
        self.responses = {}
        self.route_log = {}
        self.fault_counts = {}
        self.auth_failures = 0
        self.extra_stats_reset()

    def extra_stats_reset(self):
        pass

    def count_status(self, status):
        with self.lock:
            k = str(status)
            self.responses[k] = self.responses.get(k, 0) + 1

    # -- the request path -----------------------------------------------

    def begin(self, h, route, auth=None):
        """Counts the request, runs the role's authorisation check `auth`
        (a callable raising Reply), then applies the faults that come before
        handling. Returns the fault rule to apply after handling
        (lost_reply), if any."""
        now = time.time()
        with self.lock:
            key = "%s %s" % (h.command, route)
            self.requests[key] = self.requests.get(key, 0) + 1
            lg = self.route_log.setdefault(route, [])
            if len(lg) < LOG_CAP:
                lg.append(round(now, 3))
        if auth is not None:
            try:
                auth()
            except Reply:
                with self.lock:
                    self.auth_failures += 1
                raise
        with self.lock:
            delay, rule = self.faults.pick(route, h.command)
            if delay:
                self.fault_counts["slow"] = self.fault_counts.get("slow", 0) + 1
            if rule is not None:
                self.fault_counts[rule["kind"]] = self.fault_counts.get(rule["kind"], 0) + 1
        if delay:
            time.sleep(delay)
        if rule is None:
            return None
        kind = rule["kind"]
        if kind == "reset":
            h.drop(rule.get("close", "rst"))
        if kind == "lost_reply":
            return rule
        raise self.fault_reply(kind, rule)

    def fault_reply(self, kind, rule):
        """The error reply of a fault, in this role's wire format."""
        status = {"throttle": 429, "503": 503, "500": 500}[kind]
        headers = {}
        if rule.get("retry_after") is not None:
            headers["Retry-After"] = str(rule["retry_after"])
        return Reply(status, {"error": rule.get("message", "injected fault %s" % kind)}, headers=headers)

    def after(self, h, rule):
        """Applies a lost_reply fault once the request was handled."""
        if rule is not None:
            h.drop(rule.get("close", "rst"))

    def serve(self, h):
        raise Reply(404, {"error": "not found"})

    # -- control API -------------------------------------------------------

    def control(self, h, what):
        if what == "stats" and h.command == "GET":
            with_log = h.query.get("log", ["1"])[0] not in ("0", "false", "no")
            with self.lock:
                s = self.stats(with_log)
            h.reply(200, s)
        elif what == "config" and h.command == "POST":
            try:
                cfg = json.loads(h.body or b"{}")
                if not isinstance(cfg, dict):
                    raise ValueError("the body must be a JSON object")
                with self.lock:
                    self.apply_config(cfg)
            except (ValueError, KeyError, TypeError) as e:
                h.reply(400, {"fake_error": "bad config: %s" % e})
                return
            h.reply(200, {"ok": True})
        elif what == "reset" and h.command == "POST":
            self.reset_state()
            h.reply(200, {"ok": True})
        elif what == "jobs" and h.command == "GET":
            with self.lock:
                h.reply(200, self.jobs_dump())
        else:
            h.reply(404, {"fake_error": "control routes: GET stats, POST config, POST reset, GET jobs"})

    def apply_config(self, cfg):
        if "seed" in cfg:
            self.rng.seed("%s:%s" % (cfg["seed"], self.name))
        if "faults" in cfg:
            self.faults.rules = Faults.parse(cfg["faults"])
        if "add_faults" in cfg:
            self.faults.rules += Faults.parse(cfg["add_faults"])
        self.apply_role_config(cfg)

    def apply_role_config(self, cfg):
        pass

    def stats(self, with_log):
        s = {
            "role": self.name,
            "since": round(self.since, 3),
            "now": round(time.time(), 3),
            "requests_total": sum(self.requests.values()),
            "requests": dict(self.requests),
            "responses": dict(self.responses),
            "faults": dict(self.fault_counts),
            "faults_total": sum(v for k, v in self.fault_counts.items() if k != "slow"),
            "throttled": self.fault_counts.get("throttle", 0),
            "auth_failures": self.auth_failures,
            "fault_rules": [
                {k: r[k] for k in ("kind", "routes", "probability", "count", "after", "seen", "fired")}
                for r in self.faults.rules
            ],
        }
        if with_log:
            s["log"] = {k: list(v) for k, v in self.route_log.items()}
        s.update(self.extra_stats())
        return s

    def extra_stats(self):
        return {}

    def jobs_dump(self):
        return {}


# ---------------------------------------------------------------------------
# Vertex AI


VERTEX_STATES = [
    "JOB_STATE_UNSPECIFIED", "JOB_STATE_QUEUED", "JOB_STATE_PENDING", "JOB_STATE_RUNNING",
    "JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED",
    "JOB_STATE_PAUSED", "JOB_STATE_EXPIRED", "JOB_STATE_UPDATING", "JOB_STATE_PARTIALLY_SUCCEEDED",
]
VERTEX_TERMINAL = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED",
                   "JOB_STATE_EXPIRED", "JOB_STATE_PARTIALLY_SUCCEEDED"}
VERTEX_FIELDS = {
    # CustomJob's fields (REST v1), with the snake_case names the JSON
    # mapping also accepts.
    "name": "name", "displayName": "displayName", "display_name": "displayName",
    "jobSpec": "jobSpec", "job_spec": "jobSpec", "state": "state",
    "createTime": "createTime", "create_time": "createTime",
    "startTime": "startTime", "start_time": "startTime",
    "endTime": "endTime", "end_time": "endTime",
    "updateTime": "updateTime", "update_time": "updateTime",
    "error": "error", "labels": "labels",
    "encryptionSpec": "encryptionSpec", "encryption_spec": "encryptionSpec",
    "webAccessUris": "webAccessUris", "web_access_uris": "webAccessUris",
    "satisfiesPzs": "satisfiesPzs", "satisfies_pzs": "satisfiesPzs",
    "satisfiesPzi": "satisfiesPzi", "satisfies_pzi": "satisfiesPzi",
}
VERTEX_OUTPUT_ONLY = {"name", "state", "createTime", "startTime", "endTime", "updateTime",
                      "error", "webAccessUris", "satisfiesPzs", "satisfiesPzi"}
LABEL_RE = re.compile(r"[a-z][a-z0-9_-]{0,63}")
LABEL_VALUE_RE = re.compile(r"[a-z0-9_-]{0,64}")
GRPC_CODES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
              404: "NOT_FOUND", 409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED",
              500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


def vstate(s):
    s = str(s).upper()
    if not s.startswith("JOB_STATE_"):
        s = "JOB_STATE_" + s
    if s not in VERTEX_STATES:
        raise ValueError("unknown Vertex job state %r" % s)
    return s


def expand_script(states, norm):
    """["A", {"state": "B", "repeat": 3}] -> ["A", "B", "B", "B"]."""
    out = []
    for s in states:
        if isinstance(s, dict):
            out += [norm(s["state"])] * int(s.get("repeat", 1))
        else:
            out.append(norm(s))
    if not out:
        raise ValueError("a script needs at least one state")
    return out


def google_error(code, message, status=None, details=None, headers=None):
    err = {"code": code, "message": message, "status": status or GRPC_CODES.get(code, "UNKNOWN")}
    if details:
        err["details"] = details
    return Reply(code, {"error": err}, headers=headers)


class FilterError(ValueError):
    pass


class VertexFilter:
    """The list filter of AIP-160 as Vertex documents it for customJobs:
    displayName/display_name (=, !=, : with * wildcards), state (=, !=),
    createTime/create_time (=, !=, <, <=, >, >=, RFC 3339), labels.KEY=VALUE,
    labels.KEY!=VALUE, labels.KEY:* and labels.KEY:VALUE; AND, OR, NOT, -,
    parentheses. As in AIP-160, OR binds tighter than AND."""

    TOKEN = re.compile(r'\s*(?:(\()|(\))|("(?:[^"\\]|\\.)*")|(<=|>=|!=|=|<|>|:)|([^\s()"<>=!:]+))')

    def __init__(self, text):
        self.toks = self.lex(text or "")
        self.i = 0
        self.tree = None if not self.toks else self.parse_and()
        if self.i != len(self.toks):
            raise FilterError("unexpected %r" % (self.toks[self.i][1],))

    def lex(self, text):
        toks = []
        pos = 0
        text = text.strip()
        while pos < len(text):
            m = self.TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise FilterError("cannot parse filter at %r" % text[pos:])
            pos = m.end()
            if m.group(1):
                toks.append(("(", "("))
            elif m.group(2):
                toks.append((")", ")"))
            elif m.group(3):
                toks.append(("str", json.loads(m.group(3))))
            elif m.group(4):
                toks.append(("op", m.group(4)))
            else:
                w = m.group(5)
                toks.append(("kw", w) if w in ("AND", "OR", "NOT") else ("word", w))
        return toks

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else (None, None)

    def take(self):
        t = self.peek()
        if t[0] is None:
            raise FilterError("unexpected end of filter")
        self.i += 1
        return t

    def parse_and(self):
        node = self.parse_or()
        while True:
            t = self.peek()
            if t == ("kw", "AND"):
                self.take()
                node = ("and", node, self.parse_or())
            elif t[0] in ("word", "(") or t == ("kw", "NOT"):
                node = ("and", node, self.parse_or())  # juxtaposition is AND
            else:
                return node

    def parse_or(self):
        node = self.parse_term()
        while self.peek() == ("kw", "OR"):
            self.take()
            node = ("or", node, self.parse_term())
        return node

    def parse_term(self):
        t = self.take()
        if t == ("kw", "NOT"):
            return ("not", self.parse_term())
        if t[0] == "(":
            node = self.parse_and()
            if self.take()[0] != ")":
                raise FilterError("missing )")
            return node
        if t[0] != "word":
            raise FilterError("expected a field, got %r" % (t[1],))
        field = t[1]
        neg = False
        if field.startswith("-"):
            neg, field = True, field[1:]
        op = self.take()
        if op[0] != "op":
            raise FilterError("expected an operator after %s" % field)
        val = self.take()
        if val[0] not in ("str", "word"):
            raise FilterError("expected a value after %s%s" % (field, op[1]))
        if field in ("display_name", "displayName"):
            if op[1] not in ("=", "!=", ":"):
                raise FilterError("displayName supports =, != and :")
            node = ("cmp", "displayName", op[1], val[1])
        elif field == "state":
            if op[1] not in ("=", "!="):
                raise FilterError("state supports = and !=")
            node = ("cmp", "state", op[1], val[1])
        elif field in ("create_time", "createTime"):
            node = ("time", op[1], val[1])
        elif field.startswith("labels."):
            key = field[len("labels."):]
            if not key or op[1] not in ("=", "!=", ":"):
                raise FilterError("labels supports labels.KEY=VALUE, != and labels.KEY:*")
            node = ("label", key, op[1], val[1])
        else:
            raise FilterError("unsupported filter field %s" % field)
        return ("not", node) if neg else node

    @staticmethod
    def wildcard(pattern, s):
        return re.fullmatch(".*".join(re.escape(p) for p in pattern.split("*")), s) is not None

    def match(self, job, node=None):
        if self.tree is None:
            return True
        node = node or self.tree
        kind = node[0]
        if kind == "and":
            return self.match(job, node[1]) and self.match(job, node[2])
        if kind == "or":
            return self.match(job, node[1]) or self.match(job, node[2])
        if kind == "not":
            return not self.match(job, node[1])
        if kind == "cmp":
            _, f, op, v = node
            have = job.get(f, "")
            if op == ":":
                return self.wildcard(v, have)
            return (have == v) == (op == "=")
        if kind == "label":
            _, key, op, v = node
            labels = job.get("labels") or {}
            if op == ":":
                return key in labels and (v == "*" or self.wildcard(v, labels[key]))
            if op == "=":
                return labels.get(key) == v
            return labels.get(key) != v
        if kind == "time":
            _, op, v = node
            try:
                want = datetime.datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()
            except ValueError:
                raise FilterError("createTime must be RFC 3339")
            have = job["_t"]
            return {"=": have == want, "!=": have != want, "<": have < want, "<=": have <= want,
                    ">": have > want, ">=": have >= want}[op]
        return False


class VertexRole(Role):
    name = "vertex"
    PATH = re.compile(r"^/v1/projects/([^/]+)/locations/([^/]+)/customJobs(?:/([^/:]+))?(:cancel)?$")

    def __init__(self, app, cfg, accept_any_token=False, project_number="987654321098"):
        self.cli_accept_any = accept_any_token
        self.cli_project_number = project_number
        super().__init__(app, cfg)

    def init_state(self):
        self.jobs = {}  # name -> job record
        self.seq = 0
        self.accept_any_token = self.cli_accept_any
        self.default_project_number = self.cli_project_number
        self.project_numbers = {}
        self.required_scope = CLOUD_PLATFORM
        self.advance = "get"
        self.step_seconds = 1.0
        self.cancel_polls = 1
        self.scripts = []
        self.default_script = {"states": ["QUEUED", "PENDING", "RUNNING", "SUCCEEDED"]}
        self.retry_delay = "3.5s"

    def extra_stats_reset(self):
        self.creates = {}
        self.creates_by_name = {}
        self.cancels = {}
        self.gets = {}

    def apply_role_config(self, cfg):
        if "accept_any_token" in cfg:
            self.accept_any_token = bool(cfg["accept_any_token"])
        if "project_number" in cfg:
            self.default_project_number = str(cfg["project_number"])
        if "project_numbers" in cfg:
            self.project_numbers.update({str(k): str(v) for k, v in cfg["project_numbers"].items()})
        if "required_scope" in cfg:
            self.required_scope = cfg["required_scope"]
        if "advance" in cfg:
            if cfg["advance"] not in ("get", "time"):
                raise ValueError("advance is get or time")
            self.advance = cfg["advance"]
        if "step_seconds" in cfg:
            self.step_seconds = float(cfg["step_seconds"])
        if "cancel_polls" in cfg:
            self.cancel_polls = int(cfg["cancel_polls"])
        if "retry_delay" in cfg:
            self.retry_delay = str(cfg["retry_delay"])
        if "default_script" in cfg:
            self.default_script = self.check_script(cfg["default_script"])
        if "scripts" in cfg:
            self.scripts = [self.check_script(s) for s in cfg["scripts"]]
        if "add_scripts" in cfg:
            self.scripts += [self.check_script(s) for s in cfg["add_scripts"]]

    def check_script(self, s):
        if isinstance(s, list):
            s = {"states": s}
        s = dict(s)
        expand_script(s["states"], vstate)
        if s.get("advance") not in (None, "get", "time"):
            raise ValueError("advance is get or time")
        return s

    def project_number(self, p):
        if p.isdigit():
            return p
        return self.project_numbers.get(p, self.default_project_number)

    # -- auth ---------------------------------------------------------------

    def authorise(self, h):
        auth = h.header("Authorization") or ""
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            raise self.unauthenticated()
        if self.accept_any_token:
            return
        rec = self.store.google_lookup(auth[7:].strip())
        if rec is None or (rec["expires"] is not None and rec["expires"] <= time.time()):
            raise self.unauthenticated()
        if self.required_scope and self.required_scope not in rec["scopes"]:
            raise google_error(403, "Request had insufficient authentication scopes.", details=[{
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT", "domain": "googleapis.com"}],
                headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="insufficient_scope"'})

    @staticmethod
    def unauthenticated():
        return google_error(
            401,
            "Request had invalid authentication credentials. Expected OAuth 2 access token, "
            "login cookie or other valid authentication credential.",
            details=[{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                      "reason": "ACCESS_TOKEN_TYPE_UNSUPPORTED", "domain": "googleapis.com"}],
            headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'})

    def fault_reply(self, kind, rule):
        if kind == "throttle":
            return google_error(
                429, rule.get("message", "Quota exceeded for aiplatform.googleapis.com/"
                              "custom_job_requests with base model: global. Please submit a quota increase request."),
                details=[{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                          "retryDelay": str(rule.get("retry_delay", self.retry_delay))}],
                headers={"Retry-After": str(rule["retry_after"])} if rule.get("retry_after") is not None else None)
        if kind == "503":
            details = None
            if rule.get("retry_delay"):
                details = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": str(rule["retry_delay"])}]
            return google_error(503, rule.get("message", "The service is currently unavailable."), details=details)
        return google_error(500, rule.get("message", "Internal error encountered."))

    # -- routes -------------------------------------------------------------

    def serve(self, h):
        m = self.PATH.match(h.rawpath)
        if not m:
            self.begin(h, "other")
            raise google_error(404, "The requested URL %s was not found on this server." % h.rawpath)
        project, location, jid, cancel = (urllib.parse.unquote(x) if x else x for x in m.groups())
        if jid is None and not cancel and h.command == "POST":
            route = "create"
        elif jid is None and not cancel and h.command == "GET":
            route = "list"
        elif jid and not cancel and h.command == "GET":
            route = "get"
        elif jid and cancel and h.command == "POST":
            route = "cancel"
        else:
            self.begin(h, "other")
            raise google_error(404, "The requested URL %s was not found on this server." % h.rawpath)
        lost = self.begin(h, route, lambda: self.authorise(h))
        num = self.project_number(project)
        if route == "create":
            out = self.create(h, num, location)
        elif route == "list":
            out = self.list(h, num, location)
        elif route == "get":
            out = self.get("projects/%s/locations/%s/customJobs/%s" % (num, location, jid))
        else:
            out = self.cancel("projects/%s/locations/%s/customJobs/%s" % (num, location, jid))
        self.after(h, lost)
        h.reply(200, out)

    def bad(self, msg, field=None):
        details = None
        if field:
            details = [{"@type": "type.googleapis.com/google.rpc.BadRequest",
                        "fieldViolations": [{"field": field, "description": msg}]}]
        return google_error(400, msg, details=details)

    def validate(self, body):
        if not isinstance(body, dict):
            raise self.bad("Invalid JSON payload received. Expected an object (CustomJob).")
        job = {}
        for k, v in body.items():
            if k not in VERTEX_FIELDS:
                raise self.bad('Invalid JSON payload received. Unknown name "%s": Cannot find field.' % k, k)
            job[VERTEX_FIELDS[k]] = v
        dn = job.get("displayName")
        if not isinstance(dn, str) or not dn:
            raise self.bad("List of found errors:\t1.Field: custom_job.display_name; Message: Required field is not set.",
                           "custom_job.display_name")
        if len(dn) > 128:
            raise self.bad("Display name must be at most 128 characters long.", "custom_job.display_name")
        labels = job.get("labels", {})
        if not isinstance(labels, dict):
            raise self.bad("Invalid JSON payload received. labels must be a map of strings.", "custom_job.labels")
        if len(labels) > 64:
            raise self.bad("At most 64 labels may be set.", "custom_job.labels")
        for k, v in labels.items():
            if not isinstance(v, str):
                raise self.bad("Invalid value at 'custom_job.labels[%s]' (TYPE_STRING)" % k, "custom_job.labels")
            if not LABEL_RE.fullmatch(k):
                raise self.bad("Label keys must be 1-64 characters, start with a lowercase letter and contain "
                               "only lowercase letters, digits, '_' and '-': %r" % k, "custom_job.labels")
            if not LABEL_VALUE_RE.fullmatch(v):
                raise self.bad("Label values must be at most 64 characters and contain only lowercase letters, "
                               "digits, '_' and '-': %s=%r" % (k, v), "custom_job.labels")
        spec = job.get("jobSpec")
        if not isinstance(spec, dict):
            raise self.bad("List of found errors:\t1.Field: custom_job.job_spec; Message: Required field is not set.",
                           "custom_job.job_spec")
        pools = spec.get("workerPoolSpecs", spec.get("worker_pool_specs"))
        if not isinstance(pools, list) or not pools:
            raise self.bad("List of found errors:\t1.Field: custom_job.job_spec.worker_pool_specs; "
                           "Message: Required field is not set.", "custom_job.job_spec.worker_pool_specs")
        for i, p in enumerate(pools):
            if not isinstance(p, dict):
                raise self.bad("workerPoolSpecs[%d] must be an object" % i)
            if i > 0 and not p:
                continue  # an empty pool holds a place, as the reference allows
            ms = p.get("machineSpec", p.get("machine_spec"))
            if not isinstance(ms, dict) or not ms.get("machineType", ms.get("machine_type")):
                raise self.bad("workerPoolSpecs[%d].machineSpec.machineType is required" % i,
                               "custom_job.job_spec.worker_pool_specs[%d].machine_spec.machine_type" % i)
            cs = p.get("containerSpec", p.get("container_spec"))
            ps = p.get("pythonPackageSpec", p.get("python_package_spec"))
            if not ((isinstance(cs, dict) and cs.get("imageUri", cs.get("image_uri")))
                    or (isinstance(ps, dict) and ps.get("executorImageUri", ps.get("executor_image_uri")))):
                raise self.bad("workerPoolSpecs[%d] needs containerSpec.imageUri or "
                               "pythonPackageSpec.executorImageUri" % i)
            rc = p.get("replicaCount", p.get("replica_count", "1"))
            if not (isinstance(rc, int) and not isinstance(rc, bool) or (isinstance(rc, str) and rc.isdigit())):
                raise self.bad("Invalid value at 'custom_job.job_spec.worker_pool_specs[%d].replica_count' "
                               "(TYPE_INT64), %s" % (i, json.dumps(rc)))
        for k in VERTEX_OUTPUT_ONLY:
            job.pop(k, None)  # output-only fields in a request are ignored
        return job

    def pick_script(self, job):
        for s in self.scripts:
            m = s.get("match", {})
            if "display_name_contains" in m and m["display_name_contains"] not in job["displayName"]:
                continue
            if "display_name_regex" in m and not re.search(m["display_name_regex"], job["displayName"]):
                continue
            if "labels" in m and any(job.get("labels", {}).get(k) != v for k, v in m["labels"].items()):
                continue
            return s
        return self.default_script

    def create(self, h, num, location):
        try:
            body = json.loads(h.body or b"null")
        except ValueError:
            raise self.bad("Invalid JSON payload received. Unexpected token.")
        job = self.validate(body)
        now = time.time()
        with self.lock:
            self.seq += 1
            jid = str(4000000000000000000 + self.seq * 7919)
            name = "projects/%s/locations/%s/customJobs/%s" % (num, location, jid)
            script = self.pick_script(job)
            states = expand_script(script["states"], vstate)
            job.update({"name": name, "state": states[0], "createTime": rfc3339(now), "updateTime": rfc3339(now)})
            rec = {
                "job": job, "seq": self.seq, "t0": now, "pos": 0, "states": states,
                "advance": script.get("advance", self.advance),
                "step_seconds": float(script.get("step_seconds", self.step_seconds)),
                "error": script.get("error") or ({"message": script["error_message"]}
                                                 if "error_message" in script else None),
                "location": location, "number": num,
            }
            job["_t"] = now
            self.enter_state(rec, now)
            self.jobs[name] = rec
            labels = job.get("labels") or {}
            key = ",".join("%s=%s" % kv for kv in sorted(labels.items()))
            self.creates[key] = self.creates.get(key, 0) + 1
            dn = job["displayName"]
            self.creates_by_name[dn] = self.creates_by_name.get(dn, 0) + 1
            return self.public(job)

    @staticmethod
    def public(job):
        return {k: v for k, v in job.items() if not k.startswith("_")}

    def enter_state(self, rec, now):
        job = rec["job"]
        st = job["state"]
        if st == "JOB_STATE_RUNNING" and "startTime" not in job:
            job["startTime"] = rfc3339(now)
        if st in VERTEX_TERMINAL and "endTime" not in job:
            job["endTime"] = rfc3339(now)
            if "startTime" not in job and st != "JOB_STATE_CANCELLED":
                job["startTime"] = job["endTime"]
        if st == "JOB_STATE_FAILED":
            err = rec["error"] or {}
            job["error"] = {"code": int(err.get("code", 13)),
                            "message": err.get("message", "The replica workerpool0-0 exited with a non-zero status "
                                                          "of 1. Termination reason: Error.")}
        if st == "JOB_STATE_CANCELLED":
            job["error"] = {"code": 1, "message": "CANCELED"}

    def step(self, rec, now):
        if rec["advance"] == "time":
            pos = min(int((now - rec["t0"]) / max(rec["step_seconds"], 1e-6)), len(rec["states"]) - 1)
        else:
            pos = min(rec["pos"] + 1, len(rec["states"]) - 1)
        if pos != rec["pos"]:
            rec["pos"] = pos
            job = rec["job"]
            if job["state"] != rec["states"][pos]:
                job["state"] = rec["states"][pos]
                job["updateTime"] = rfc3339(now)
                self.enter_state(rec, now)

    def get(self, name):
        with self.lock:
            rec = self.jobs.get(name)
            if rec is None:
                raise google_error(404, 'The CustomJob "%s" does not exist.' % name)
            self.gets[name] = self.gets.get(name, 0) + 1
            self.step(rec, time.time())
            return self.public(rec["job"])

    def cancel(self, name):
        with self.lock:
            rec = self.jobs.get(name)
            if rec is None:
                raise google_error(404, 'The CustomJob "%s" does not exist.' % name)
            self.cancels[name] = self.cancels.get(name, 0) + 1
            st = rec["job"]["state"]
            if st in VERTEX_TERMINAL:
                raise google_error(400, "Cannot cancel CustomJob %s: it is in a terminal state %s." % (name, st),
                                   status="FAILED_PRECONDITION")
            if st != "JOB_STATE_CANCELLING":
                now = time.time()
                rec["states"] = ["JOB_STATE_CANCELLING"] * (1 + self.cancel_polls) + ["JOB_STATE_CANCELLED"]
                rec["pos"] = 0
                rec["t0"] = now
                rec["job"]["state"] = "JOB_STATE_CANCELLING"
                rec["job"]["updateTime"] = rfc3339(now)
            return {}

    def list(self, h, num, location):
        q = {k: v[-1] for k, v in h.query.items()}
        try:
            flt = VertexFilter(q.get("filter", ""))
        except FilterError as e:
            raise self.bad("Invalid filter: %s" % e, "filter")
        try:
            size = int(q.get("pageSize") or q.get("page_size") or 0)
        except ValueError:
            raise self.bad("Invalid value at 'page_size' (TYPE_INT32)", "page_size")
        if size < 0:
            raise self.bad("page_size must not be negative", "page_size")
        size = min(size or 100, 1000)
        fkey = hashlib.sha256(q.get("filter", "").encode()).hexdigest()[:12]
        before = None
        token = q.get("pageToken") or q.get("page_token") or ""
        if token:
            try:
                t = json.loads(b64url_decode_strict(token))
                if t["f"] != fkey:
                    raise ValueError("filter changed")
                before = int(t["s"])
            except (ValueError, KeyError, TypeError):
                raise self.bad("Invalid page token.", "page_token")
        with self.lock:
            # Newest first; a page token holds the last job's sequence
            # number, so jobs created between pages shift nothing.
            recs = sorted((r for r in self.jobs.values() if r["number"] == num and r["location"] == location),
                          key=lambda r: -r["seq"])
            picked = []
            more = False
            for r in recs:
                if before is not None and r["seq"] >= before:
                    continue
                if not flt.match(r["job"]):
                    continue
                if len(picked) == size:
                    more = True
                    break
                picked.append(r)
            out = {}
            if picked:  # Google leaves out empty repeated fields: {} for no jobs
                out["customJobs"] = [self.public(r["job"]) for r in picked]
            if more:
                out["nextPageToken"] = b64url(json.dumps({"s": picked[-1]["seq"], "f": fkey}).encode())
            return out

    def extra_stats(self):
        by_state = {}
        for r in self.jobs.values():
            st = r["job"]["state"]
            by_state[st] = by_state.get(st, 0) + 1
        return {"creates": dict(self.creates), "creates_by_name": dict(self.creates_by_name),
                "cancels": dict(self.cancels), "gets": dict(self.gets),
                "jobs": len(self.jobs), "jobs_by_state": by_state}

    def jobs_dump(self):
        return {"customJobs": [self.public(r["job"]) for r in sorted(self.jobs.values(), key=lambda r: r["seq"])]}


# ---------------------------------------------------------------------------
# Google token endpoint


def load_public_key(pem):
    from cryptography.hazmat.primitives import serialization
    return serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)


def public_half_of_key(key):
    """The public parts of a service-account key JSON (a dict)."""
    from cryptography.hazmat.primitives import serialization
    priv = serialization.load_pem_private_key(key["private_key"].encode(), password=None)
    pem = priv.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return {"client_email": key["client_email"], "private_key_id": key.get("private_key_id"), "public_key_pem": pem}


class TokenRole(Role):
    name = "token"

    def __init__(self, app, cfg, sa_keys=(), authorized_users=(), public_keys=()):
        # Identities outlive /_fake/reset, as issued tokens do.
        self.accounts = {}  # client_email -> {kid, key}
        self.users = {}  # client_id -> {secret, refresh_token, scopes}
        for k in sa_keys:
            self.add_account(public_half_of_key(k))
        for a in public_keys:
            self.add_account(a)
        for u in authorized_users:
            self.add_user(u)
        super().__init__(app, cfg)

    def init_state(self):
        self.token_ttl = 3599
        self.audiences = []
        self.max_skew = 300

    def extra_stats_reset(self):
        self.issued = {}
        self.errors = {}

    def add_account(self, a):
        self.accounts[a["client_email"]] = {"kid": a.get("private_key_id"), "key": load_public_key(a["public_key_pem"])}

    def add_user(self, u):
        self.users[u["client_id"]] = {"secret": u["client_secret"], "refresh_token": u["refresh_token"],
                                      "scopes": u.get("scopes", [CLOUD_PLATFORM])}

    def apply_role_config(self, cfg):
        for a in cfg.get("service_accounts", []):
            self.add_account(a)
        for k in cfg.get("service_account_keys", []):
            self.add_account(public_half_of_key(k))
        for u in cfg.get("authorized_users", []):
            self.add_user(u)
        if "token_ttl" in cfg:
            self.token_ttl = int(cfg["token_ttl"])
        if "audiences" in cfg:
            self.audiences = list(cfg["audiences"])
        if "max_skew" in cfg:
            self.max_skew = int(cfg["max_skew"])
        if cfg.get("expire_tokens"):
            self.store.expire_google()

    def fail(self, status, error, desc):
        with self.lock:
            self.errors[error] = self.errors.get(error, 0) + 1
        return Reply(status, {"error": error, "error_description": desc}, headers={"Cache-Control": "no-store"})

    def fault_reply(self, kind, rule):
        if kind == "throttle":
            return Reply(429, {"error": "rate_limit_exceeded", "error_description": "Rate Limit Exceeded"},
                         headers={"Retry-After": str(rule.get("retry_after", 1))})
        return Reply(int({"503": 503, "500": 500}[kind]), {"error": "internal_failure",
                                                           "error_description": "Backend Error"})

    def serve(self, h):
        if h.rawpath != "/token":
            raise Reply(404, {"error": "not_found"})
        if h.command != "POST":
            raise Reply(405, {"error": "invalid_request", "error_description": "POST required"})
        lost = self.begin(h, "token")
        ctype = (h.header("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            raise self.fail(400, "invalid_request", "Content-Type must be application/x-www-form-urlencoded")
        form = {k: v[-1] for k, v in urllib.parse.parse_qs(h.body.decode("utf-8", "replace"),
                                                            keep_blank_values=True).items()}
        grant = form.get("grant_type", "")
        if grant == JWT_BEARER:
            out = self.jwt_grant(form)
        elif grant == "refresh_token":
            out = self.refresh_grant(form)
        elif not grant:
            raise self.fail(400, "invalid_request", "Missing required parameter: grant_type")
        else:
            raise self.fail(400, "unsupported_grant_type", "Invalid grant_type: %s" % grant)
        self.after(h, lost)
        h.reply(200, out, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    def jwt_grant(self, form):
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding
        jwt = form.get("assertion")
        if not jwt:
            raise self.fail(400, "invalid_request", "Missing required parameter: assertion")
        parts = jwt.split(".")
        if len(parts) != 3:
            raise self.fail(400, "invalid_grant", "Invalid JWT: not three base64url segments")
        try:
            header = json.loads(b64url_decode_strict(parts[0]))
            claims = json.loads(b64url_decode_strict(parts[1]))
            sig = b64url_decode_strict(parts[2])
        except ValueError as e:
            raise self.fail(400, "invalid_grant", "Invalid JWT: %s" % e)
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise self.fail(400, "invalid_grant", "Invalid JWT: header and claims must be JSON objects")
        if header.get("alg") != "RS256":
            raise self.fail(400, "invalid_grant", "Invalid JWT: the algorithm must be RS256")
        if header.get("typ") not in (None, "JWT"):
            raise self.fail(400, "invalid_grant", "Invalid JWT: typ must be JWT")
        acct = self.accounts.get(claims.get("iss"))
        if acct is None:
            raise self.fail(400, "invalid_grant", "Invalid grant: account not found")
        if header.get("kid") is not None and acct["kid"] is not None and header["kid"] != acct["kid"]:
            raise self.fail(400, "invalid_grant", "Invalid JWT Signature.")
        try:
            acct["key"].verify(sig, (parts[0] + "." + parts[1]).encode(), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise self.fail(400, "invalid_grant", "Invalid JWT Signature.")
        token_url = self.url + "/token"
        if claims.get("aud") != token_url and claims.get("aud") not in self.audiences:
            raise self.fail(400, "invalid_grant", "Invalid JWT: Failed audience check. The right audience is %s"
                            % token_url)
        scope = claims.get("scope")
        if not isinstance(scope, str) or not scope.strip():
            raise self.fail(400, "invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        iat, exp = claims.get("iat"), claims.get("exp")
        now = time.time()
        timing = ("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
                  "Check your iat and exp values in the JWT claim.")
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in (iat, exp)):
            raise self.fail(400, "invalid_grant", timing)
        if exp - iat > 3600 or exp <= iat or exp <= now or iat > now + self.max_skew:
            raise self.fail(400, "invalid_grant", timing)
        token = "ya29.cf-" + secrets.token_urlsafe(40)
        self.store.add_google(token, self.token_ttl, scope.split(), claims.get("sub") or claims["iss"], "token")
        with self.lock:
            self.issued["jwt-bearer"] = self.issued.get("jwt-bearer", 0) + 1
        return {"access_token": token, "expires_in": self.token_ttl, "token_type": "Bearer"}

    def refresh_grant(self, form):
        user = self.users.get(form.get("client_id", ""))
        if user is None:
            raise self.fail(401, "invalid_client", "The OAuth client was not found.")
        if not hmac.compare_digest(user["secret"], form.get("client_secret", "")):
            raise self.fail(401, "invalid_client", "Unauthorized")
        if not hmac.compare_digest(user["refresh_token"], form.get("refresh_token", "")):
            raise self.fail(400, "invalid_grant", "Bad Request")
        token = "ya29.cf-" + secrets.token_urlsafe(40)
        self.store.add_google(token, self.token_ttl, user["scopes"], form["client_id"], "refresh_token")
        with self.lock:
            self.issued["refresh_token"] = self.issued.get("refresh_token", 0) + 1
        return {"access_token": token, "expires_in": self.token_ttl, "scope": " ".join(user["scopes"]),
                "token_type": "Bearer"}

    def extra_stats(self):
        return {"issued": dict(self.issued), "issued_total": sum(self.issued.values()),
                "errors": dict(self.errors), "service_accounts": len(self.accounts),
                "authorized_users": len(self.users)}


# ---------------------------------------------------------------------------
# GCE metadata server


class MetadataRole(Role):
    name = "metadata"

    def __init__(self, app, cfg, project_id="skein-test-project"):
        self.cli_project = project_id
        super().__init__(app, cfg)

    def init_state(self):
        self.project_id = self.cli_project
        self.numeric_project_id = None
        self.email = "skein-test@%s.iam.gserviceaccount.com" % self.cli_project
        self.scopes = [CLOUD_PLATFORM]
        self.token_ttl = 3599
        self.zone = "us-central1-a"

    def extra_stats_reset(self):
        self.issued = 0
        self.flavor_refused = 0

    def apply_role_config(self, cfg):
        for k in ("project_id", "email", "zone"):
            if k in cfg:
                setattr(self, k, str(cfg[k]))
        if "numeric_project_id" in cfg:
            self.numeric_project_id = str(cfg["numeric_project_id"])
        if "scopes" in cfg:
            self.scopes = list(cfg["scopes"])
        if "token_ttl" in cfg:
            self.token_ttl = int(cfg["token_ttl"])

    def number(self):
        if self.numeric_project_id:
            return self.numeric_project_id
        vr = self.app.roles.get("vertex")
        return vr.project_number(self.project_id) if vr else "987654321098"

    def fault_reply(self, kind, rule):
        status = {"throttle": 429, "503": 503, "500": 500}[kind]
        return Reply(status, "injected fault\n", "text/plain", {"Metadata-Flavor": "Google"})

    def text(self, s):
        raise Reply(200, s, "application/text", {"Metadata-Flavor": "Google"})

    def serve(self, h):
        path = h.rawpath
        if h.header("X-Forwarded-For") is not None or h.header("Metadata-Flavor") != "Google":
            with self.lock:
                self.flavor_refused += 1
            raise Reply(403, "Missing Metadata-Flavor:Google header or a forwarded request.\n", "text/html",
                        {"Metadata-Flavor": "Google"})
        if h.command != "GET":
            raise Reply(405, "Method not allowed\n", "text/plain", {"Metadata-Flavor": "Google"})
        base = "/computeMetadata/v1/"
        sa = base + "instance/service-accounts/"
        route = "other"
        m = re.fullmatch(re.escape(sa) + r"([^/]+)/(token|email|scopes|identity)?", path)
        if path in ("/", ""):
            route = "root"
        elif path == base:
            route = "v1"
        elif path == base + "project/project-id":
            route = "project-id"
        elif path == base + "project/numeric-project-id":
            route = "numeric-project-id"
        elif path == base + "instance/zone":
            route = "zone"
        elif path == sa:
            route = "service-accounts"
        elif m and m.group(1) in ("default", self.email):
            route = m.group(2) or "service-account"
        lost = self.begin(h, route)
        try:
            self.answer(h, route)
        except Reply as r:
            if 200 <= r.status < 300:
                self.after(h, lost)
            raise

    def answer(self, h, route):
        if route == "root":
            self.text("computeMetadata/\n")
        if route == "v1":
            self.text("instance/\nproject/\n")
        if route == "project-id":
            self.text(self.project_id)
        if route == "numeric-project-id":
            self.text(self.number())
        if route == "zone":
            self.text("projects/%s/zones/%s" % (self.number(), self.zone))
        if route == "service-accounts":
            self.text("default/\n%s/\n" % self.email)
        if route == "email":
            self.text(self.email)
        if route == "scopes":
            self.text("".join(s + "\n" for s in self.scopes))
        if route == "service-account":
            if h.query.get("recursive", [""])[0] == "true":
                raise Reply(200, {"aliases": ["default"], "email": self.email, "scopes": self.scopes},
                            "application/json", {"Metadata-Flavor": "Google"})
            self.text("aliases\nemail\nidentity\nscopes\ntoken\n")
        if route == "token":
            scopes = self.scopes
            if h.query.get("scopes"):
                scopes = [s for s in h.query["scopes"][-1].split(",") if s]
            token = "ya29.md-" + secrets.token_urlsafe(40)
            self.store.add_google(token, self.token_ttl, scopes, self.email, "metadata")
            with self.lock:
                self.issued += 1
            raise Reply(200, {"access_token": token, "expires_in": self.token_ttl, "token_type": "Bearer"},
                        "application/json", {"Metadata-Flavor": "Google"})
        if route == "identity":
            raise Reply(404, "not supported by cloudfake\n", "text/html", {"Metadata-Flavor": "Google"})
        raise Reply(404, "Not Found\n", "text/html", {"Metadata-Flavor": "Google"})

    def extra_stats(self):
        return {"issued": self.issued, "flavor_refused": self.flavor_refused}


# ---------------------------------------------------------------------------
# AWS Signature Version 4


class AwsError(Exception):
    def __init__(self, status, code, message, upper=False):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.upper = upper  # "Message" (SageMaker's modelled errors) instead of "message"


def aws_uri_encode(s, safe="-_.~"):
    return urllib.parse.quote(s, safe=safe)


def sigv4_canonical_query(raw):
    pairs = []
    if raw:
        for part in raw.split("&"):
            if part == "":
                continue
            k, _, v = part.partition("=")
            pairs.append((aws_uri_encode(urllib.parse.unquote(k)), aws_uri_encode(urllib.parse.unquote(v))))
    pairs.sort()
    return "&".join("%s=%s" % kv for kv in pairs)


def sigv4_canonical_uri(raw_path):
    """Non-S3 services: normalise the path, then encode each segment again
    (the wire path is already encoded once)."""
    segs = []
    for seg in raw_path.split("/"):
        if seg == "..":
            if segs:
                segs.pop()
        elif seg not in (".", ""):
            segs.append(seg)
    path = "/" + "/".join(aws_uri_encode(s) for s in segs)
    if raw_path.endswith("/") and len(segs) > 0:
        path += "/"
    return path


def sigv4_signature(secret, date, region, service, string_to_sign):
    def h(key, msg):
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()
    k = h(("AWS4" + secret).encode(), date)
    k = h(k, region)
    k = h(k, service)
    k = h(k, "aws4_request")
    return hmac.new(k, string_to_sign.encode(), hashlib.sha256).hexdigest()


def sigv4_string_to_sign(method, raw_path, raw_query, header_values, signed, body, amzdate, scope):
    """header_values: lowercase name -> list of raw values."""
    canon_headers = ""
    for name in signed:
        vals = [re.sub(r"\s+", " ", v.strip()) for v in header_values.get(name, [])]
        canon_headers += "%s:%s\n" % (name, ",".join(vals))
    creq = "\n".join([method, sigv4_canonical_uri(raw_path), sigv4_canonical_query(raw_query), canon_headers,
                      ";".join(signed), hashlib.sha256(body).hexdigest()])
    return "AWS4-HMAC-SHA256\n%s\n%s\n%s" % (amzdate, scope, hashlib.sha256(creq.encode()).hexdigest())


def parse_amz_date(s):
    return datetime.datetime.strptime(s, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()


def sigv4_verify(method, raw_path, raw_query, header_values, body, service, region, store, accept_any, now=None):
    """Checks a SigV4 Authorization header; returns the access key id or
    raises AwsError with the code AWS would send."""
    auth = (header_values.get("authorization") or [""])[0]
    if not auth:
        raise AwsError(400, "MissingAuthenticationTokenException", "Missing Authentication Token")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        raise AwsError(400, "IncompleteSignatureException",
                       "Authorization header requires the AWS4-HMAC-SHA256 algorithm.")
    fields = {}
    for part in auth[len("AWS4-HMAC-SHA256 "):].split(","):
        k, _, v = part.strip().partition("=")
        fields[k] = v
    for k in ("Credential", "SignedHeaders", "Signature"):
        if not fields.get(k):
            raise AwsError(400, "IncompleteSignatureException",
                           "Authorization header requires '%s' parameter. Authorization=%s"
                           % (k, "AWS4-HMAC-SHA256"))
    cred = fields["Credential"].split("/")
    if len(cred) != 5 or cred[4] != "aws4_request":
        raise AwsError(400, "IncompleteSignatureException",
                       "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term")
    akid, date, c_region, c_service, _ = cred
    if c_service != service:
        raise AwsError(403, "InvalidSignatureException",
                       "Credential should be scoped to correct service: '%s'." % service)
    if region and c_region != region:
        raise AwsError(403, "InvalidSignatureException",
                       "Credential should be scoped to a valid region, not '%s'." % c_region)
    amzdate = (header_values.get("x-amz-date") or [""])[0]
    if not amzdate:
        raise AwsError(400, "IncompleteSignatureException",
                       "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    try:
        t = parse_amz_date(amzdate)
    except ValueError:
        raise AwsError(400, "IncompleteSignatureException", "X-Amz-Date must be in the ISO8601 basic format.")
    if amzdate[:8] != date:
        raise AwsError(403, "InvalidSignatureException",
                       "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                       "'%s' != '%s', from '%s'." % (date, amzdate[:8], amzdate))
    now = time.time() if now is None else now
    if abs(now - t) > 15 * 60:
        raise AwsError(403, "InvalidSignatureException",
                       "Signature expired: %s is now earlier than %s (%s - 5 min.)"
                       % (amzdate, datetime.datetime.fromtimestamp(now - 300, datetime.timezone.utc)
                          .strftime("%Y%m%dT%H%M%SZ"),
                          datetime.datetime.fromtimestamp(now, datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")))
    signed = fields["SignedHeaders"].split(";")
    if signed != sorted(signed) or any(s != s.lower() for s in signed):
        raise AwsError(403, "InvalidSignatureException", "SignedHeaders must be lowercase and sorted.")
    if "host" not in signed:
        raise AwsError(403, "InvalidSignatureException", "'Host' must be a signed header.")
    if "x-amz-date" not in signed:
        raise AwsError(403, "InvalidSignatureException", "'X-Amz-Date' must be a signed header.")
    token = (header_values.get("x-amz-security-token") or [None])[0]
    if token is not None and "x-amz-security-token" not in signed:
        raise AwsError(403, "InvalidSignatureException", "'X-Amz-Security-Token' must be a signed header.")
    if accept_any:
        return akid
    rec = store.aws_lookup(akid)
    if rec is None:
        raise AwsError(403, "UnrecognizedClientException", "The security token included in the request is invalid.")
    if rec["token"] is not None or token is not None:
        if rec["token"] is None or token is None or not hmac.compare_digest(rec["token"], token):
            raise AwsError(403, "UnrecognizedClientException",
                           "The security token included in the request is invalid.")
        if rec["expires"] is not None and rec["expires"] <= now:
            raise AwsError(400, "ExpiredTokenException", "The security token included in the request is expired")
    scope = "%s/%s/%s/aws4_request" % (date, c_region, c_service)
    sts = sigv4_string_to_sign(method, raw_path, raw_query, header_values, signed, body, amzdate, scope)
    want = sigv4_signature(rec["secret"], date, c_region, c_service, sts)
    if not hmac.compare_digest(want, fields["Signature"]):
        raise AwsError(403, "InvalidSignatureException",
                       "The request signature we calculated does not match the signature you provided. Check your "
                       "AWS Secret Access Key and signing method. Consult the service documentation for details.")
    return akid


# ---------------------------------------------------------------------------
# SageMaker


NAME_RE = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
ROLE_ARN_RE = re.compile(r"arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+")
SM_TERMINAL = {"Completed", "Failed", "Stopped"}
SM_OP_RE = re.compile(r"(Create|Describe|Stop|List)(Training|Processing)Jobs?")


def sm_training_state(s):
    """"InProgress:Training" -> ("InProgress", "Training")."""
    status, _, secondary = str(s).partition(":")
    if status not in ("InProgress", "Completed", "Failed", "Stopping", "Stopped"):
        raise ValueError("unknown training job status %r" % status)
    return (status, secondary or {"InProgress": "Training"}.get(status, status))


def sm_processing_state(s):
    status = str(s).partition(":")[0]
    if status not in ("InProgress", "Completed", "Failed", "Stopping", "Stopped"):
        raise ValueError("unknown processing job status %r" % status)
    return (status, None)


class SageMakerRole(Role):
    name = "sagemaker"
    OPS = {"CreateTrainingJob", "DescribeTrainingJob", "StopTrainingJob", "ListTrainingJobs",
           "CreateProcessingJob", "DescribeProcessingJob", "StopProcessingJob", "ListProcessingJobs"}

    def __init__(self, app, cfg, region="us-east-1", account="123456789012", accept_any_key=False):
        self.cli_region = region
        self.cli_account = account
        self.cli_accept_any = accept_any_key
        super().__init__(app, cfg)

    def init_state(self):
        self.jobs = {"training": {}, "processing": {}}  # lowercase name -> record
        self.seq = 0
        self.region = self.cli_region
        self.account = self.cli_account
        self.accept_any_key = self.cli_accept_any
        self.advance = "get"
        self.step_seconds = 1.0
        self.stop_polls = 1
        self.scripts = []
        self.default_training = {"states": ["InProgress:Starting", "InProgress:Downloading", "InProgress:Training",
                                            "InProgress:Uploading", "Completed:Completed"]}
        self.default_processing = {"states": ["InProgress", "InProgress", "Completed"]}

    def extra_stats_reset(self):
        self.creates = {}
        self.conflicts = {}
        self.stops = {}
        self.describes = {}
        self.errors = {}

    def apply_role_config(self, cfg):
        if "region" in cfg:
            self.region = cfg["region"]
        if "account" in cfg:
            self.account = str(cfg["account"])
        if "accept_any_key" in cfg:
            self.accept_any_key = bool(cfg["accept_any_key"])
        if "advance" in cfg:
            if cfg["advance"] not in ("get", "time"):
                raise ValueError("advance is get or time")
            self.advance = cfg["advance"]
        if "step_seconds" in cfg:
            self.step_seconds = float(cfg["step_seconds"])
        if "stop_polls" in cfg:
            self.stop_polls = int(cfg["stop_polls"])
        if "default_training_script" in cfg:
            self.default_training = self.check_script(cfg["default_training_script"], "training")
        if "default_processing_script" in cfg:
            self.default_processing = self.check_script(cfg["default_processing_script"], "processing")
        if "scripts" in cfg:
            self.scripts = [self.check_script(s, s.get("kind", "training")) for s in cfg["scripts"]]
        if "add_scripts" in cfg:
            self.scripts += [self.check_script(s, s.get("kind", "training")) for s in cfg["add_scripts"]]
        for k in cfg.get("aws_keys", []):
            self.store.add_aws(k["access_key_id"], k["secret_access_key"], k.get("session_token"),
                               k.get("ttl"), "config")
        if cfg.get("expire_credentials"):
            self.store.expire_aws_sessions()

    def check_script(self, s, kind):
        if isinstance(s, list):
            s = {"states": s}
        s = dict(s)
        s.setdefault("kind", kind)
        if s["kind"] not in ("training", "processing"):
            raise ValueError("script kind is training or processing")
        expand_script(s["states"], sm_training_state if s["kind"] == "training" else sm_processing_state)
        return s

    # -- the wire -----------------------------------------------------------

    def error(self, e, headers=None):
        with self.lock:
            self.errors[e.code] = self.errors.get(e.code, 0) + 1
        body = {"__type": e.code, ("Message" if e.upper else "message"): e.message}
        hdrs = {"x-amzn-ErrorType": e.code, "x-amzn-RequestId": str(uuid.uuid4())}
        hdrs.update(headers or {})
        return Reply(e.status, body, "application/x-amz-json-1.1", hdrs)

    def fault_reply(self, kind, rule):
        if kind == "throttle":
            code = rule.get("code", "ThrottlingException")
            headers = {}
            if rule.get("retry_after_ms") is not None:
                headers["x-amz-retry-after"] = str(rule["retry_after_ms"])
            body = {"__type": "com.amazon.coral.availability#" + code, "message": rule.get("message", "Rate exceeded")}
            headers.update({"x-amzn-ErrorType": code + ":http://internal.amazon.com/coral/com.amazon.coral.availability/",
                            "x-amzn-RequestId": str(uuid.uuid4())})
            return Reply(int(rule.get("status", 400)), body, "application/x-amz-json-1.1", headers)
        if kind == "503":
            return self.error(AwsError(503, "ServiceUnavailable", rule.get("message", "Service Unavailable")))
        return self.error(AwsError(500, "InternalFailure",
                                   rule.get("message", "The request processing has failed because of an unknown "
                                                       "error, exception or failure.")))

    def serve(self, h):
        try:
            self.serve_aws(h)
        except AwsError as e:
            raise self.error(e)

    def serve_aws(self, h):
        if h.command != "POST" or h.rawpath != "/":
            self.begin(h, "other")
            raise AwsError(404, "UnknownOperationException", "Only POST / is served (AWS JSON 1.1).")
        target = h.header("X-Amz-Target") or ""
        op = target[len("SageMaker."):] if target.startswith("SageMaker.") else ""
        route = op if op in self.OPS else "unknown"
        hv = {}
        for k, v in h.headers.items():
            hv.setdefault(k.lower(), []).append(v)

        def auth():
            try:
                sigv4_verify(h.command, h.rawpath, h.rawquery, hv, h.body, "sagemaker", self.region, self.store,
                             self.accept_any_key)
            except AwsError as e:
                raise self.error(e)
        lost = self.begin(h, route, auth)
        if route == "unknown":
            raise AwsError(400, "UnknownOperationException", "Unknown operation %s" % (target or "(no X-Amz-Target)"))
        ctype = (h.header("Content-Type") or "").split(";")[0].strip()
        if ctype != "application/x-amz-json-1.1":
            raise AwsError(400, "SerializationException", "Content-Type must be application/x-amz-json-1.1")
        try:
            body = json.loads(h.body or b"{}")
        except ValueError:
            raise AwsError(400, "SerializationException", "Start of structure or map found where not expected.")
        if not isinstance(body, dict):
            raise AwsError(400, "SerializationException", "Start of structure or map found where not expected.")
        out = self.run_op(op, body)
        self.after(h, lost)
        h.reply(200, out, "application/x-amz-json-1.1", {"x-amzn-RequestId": str(uuid.uuid4())})

    # -- validation ---------------------------------------------------------

    @staticmethod
    def lower_camel(path):
        return ".".join(p[:1].lower() + p[1:] for p in path.split("."))

    def require(self, body, paths):
        errs = []
        for path in paths:
            cur = body
            for p in path.split("."):
                cur = cur.get(p) if isinstance(cur, dict) else None
            if cur is None:
                errs.append("Value null at '%s' failed to satisfy constraint: Member must not be null"
                            % self.lower_camel(path))
        return errs

    @staticmethod
    def raise_validation(errs):
        if errs:
            raise AwsError(400, "ValidationException", "%d validation error%s detected: %s"
                           % (len(errs), "" if len(errs) == 1 else "s", "; ".join(errs)))

    def check_name(self, body, field, errs):
        n = body.get(field)
        if n is not None and (not isinstance(n, str) or not NAME_RE.fullmatch(n)):
            errs.append("Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression "
                        "pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}" % (n, self.lower_camel(field)))

    def check_role(self, body, errs):
        r = body.get("RoleArn")
        if r is not None and (not isinstance(r, str) or not (20 <= len(r) <= 2048) or not ROLE_ARN_RE.fullmatch(r)):
            errs.append("Value '%s' at 'roleArn' failed to satisfy constraint: Member must satisfy regular "
                        "expression pattern: ^arn:aws[a-z\\-]*:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+$" % r)

    @staticmethod
    def check_types(body):
        hp = body.get("HyperParameters")
        if hp is not None and (not isinstance(hp, dict) or not all(isinstance(v, str) for v in hp.values())):
            raise AwsError(400, "SerializationException",
                           "HyperParameters must be a map of strings to strings (NUMBER_VALUE can not be converted "
                           "to a String)")
        for f in ("ResourceConfig.InstanceCount", "ResourceConfig.VolumeSizeInGB",
                  "StoppingCondition.MaxRuntimeInSeconds", "ProcessingResources.ClusterConfig.InstanceCount",
                  "ProcessingResources.ClusterConfig.VolumeSizeInGB"):
            cur = body
            for p in f.split("."):
                cur = cur.get(p) if isinstance(cur, dict) else None
            if cur is not None and (isinstance(cur, bool) or not isinstance(cur, int)):
                raise AwsError(400, "SerializationException",
                               "STRING_VALUE can not be converted to an Integer (%s)" % f)

    # -- jobs ---------------------------------------------------------------

    def pick_script(self, kind, name):
        for s in self.scripts:
            if s["kind"] != kind:
                continue
            m = s.get("match", {})
            if "name_contains" in m and m["name_contains"] not in name:
                continue
            if "name_regex" in m and not re.search(m["name_regex"], name):
                continue
            return s
        return self.default_training if kind == "training" else self.default_processing

    def arn(self, kind, name):
        return "arn:aws:sagemaker:%s:%s:%s-job/%s" % (self.region, self.account, kind, name.lower())

    def create(self, kind, body, name_field):
        self.check_types(body)
        name = body[name_field]
        now = time.time()
        with self.lock:
            key = "%s/%s" % (kind, name)
            if name.lower() in self.jobs[kind]:
                self.conflicts[key] = self.conflicts.get(key, 0) + 1
                what = "Training" if kind == "training" else "Processing"
                raise AwsError(400, "ResourceInUse",
                               "%s job names must be unique within an AWS account and region, and a %s job with this "
                               "name already exists (%s)" % (what, kind, self.arn(kind, name)), upper=True)
            script = self.pick_script(kind, name)
            states = expand_script(script["states"], sm_training_state if kind == "training" else sm_processing_state)
            self.seq += 1
            rec = {"kind": kind, "name": name, "body": body, "seq": self.seq, "t0": now, "created": now,
                   "modified": now, "pos": 0, "states": states, "state": states[0],
                   "advance": script.get("advance", self.advance),
                   "step_seconds": float(script.get("step_seconds", self.step_seconds)),
                   "failure_reason": script.get("failure_reason"), "transitions": [],
                   "start": None, "end": None}
            self.enter(rec, now)
            self.jobs[kind][name.lower()] = rec
            self.creates[key] = self.creates.get(key, 0) + 1
            return self.arn(kind, name)

    def enter(self, rec, now):
        status, secondary = rec["state"]
        rec["modified"] = now
        if rec["kind"] == "training":
            tr = rec["transitions"]
            if not tr or tr[-1]["Status"] != secondary:
                if tr:
                    tr[-1]["EndTime"] = epoch(now)
                msg = {"Starting": "Launching requested ML instances", "Downloading": "Downloading input data",
                       "Training": "Training image download completed. Training in progress.",
                       "Uploading": "Uploading generated training model", "Completed": "Training job completed",
                       "Failed": "Training job failed", "Stopping": "Stopping the training job",
                       "Stopped": "The training job was stopped"}.get(secondary, secondary)
                tr.append({"Status": secondary, "StartTime": epoch(now), "StatusMessage": msg})
                if status in SM_TERMINAL:
                    tr[-1]["EndTime"] = epoch(now)
            if secondary in ("Training", "Downloading") and rec["start"] is None:
                rec["start"] = now
        elif status == "InProgress" and rec["start"] is None:
            rec["start"] = now
        if status in SM_TERMINAL and rec["end"] is None:
            rec["end"] = now

    def step(self, rec, now):
        if rec["advance"] == "time":
            pos = min(int((now - rec["t0"]) / max(rec["step_seconds"], 1e-6)), len(rec["states"]) - 1)
        else:
            pos = min(rec["pos"] + 1, len(rec["states"]) - 1)
        if pos != rec["pos"]:
            rec["pos"] = pos
            if rec["state"] != rec["states"][pos]:
                rec["state"] = rec["states"][pos]
                self.enter(rec, now)

    def lookup(self, kind, name, missing):
        rec = self.jobs[kind].get(str(name).lower())
        if rec is None:
            raise missing
        return rec

    def describe(self, kind, body, name_field):
        errs = self.require(body, [name_field])
        self.raise_validation(errs)
        with self.lock:
            rec = self.lookup(kind, body[name_field],
                              AwsError(400, "ValidationException", "Requested resource not found."))
            key = "%s/%s" % (kind, rec["name"])
            self.describes[key] = self.describes.get(key, 0) + 1
            self.step(rec, time.time())
            return self.view(rec)

    def view(self, rec):
        status, secondary = rec["state"]
        b = rec["body"]
        if rec["kind"] == "training":
            out = {k: v for k, v in b.items() if k not in ("TrainingJobName", "Tags")}
            out.update({"TrainingJobName": rec["name"], "TrainingJobArn": self.arn("training", rec["name"]),
                        "TrainingJobStatus": status, "SecondaryStatus": secondary,
                        "CreationTime": epoch(rec["created"]), "LastModifiedTime": epoch(rec["modified"]),
                        "SecondaryStatusTransitions": [dict(t) for t in rec["transitions"]]})
            out.setdefault("HyperParameters", {})
            out.setdefault("EnableNetworkIsolation", False)
            if rec["start"] is not None:
                out["TrainingStartTime"] = epoch(rec["start"])
            if rec["end"] is not None:
                out["TrainingEndTime"] = epoch(rec["end"])
                if rec["start"] is not None:
                    secs = max(1, int(rec["end"] - rec["start"]))
                    out["TrainingTimeInSeconds"] = secs
                    out["BillableTimeInSeconds"] = secs
            if status == "Completed":
                prefix = (b.get("OutputDataConfig") or {}).get("S3OutputPath", "s3://unknown").rstrip("/")
                out["ModelArtifacts"] = {"S3ModelArtifacts": "%s/%s/output/model.tar.gz" % (prefix, rec["name"])}
            if status == "Failed":
                out["FailureReason"] = rec["failure_reason"] or "AlgorithmError: the training script exited with " \
                                                                "status 1"
        else:
            out = {k: v for k, v in b.items() if k not in ("ProcessingJobName", "Tags")}
            out.update({"ProcessingJobName": rec["name"], "ProcessingJobArn": self.arn("processing", rec["name"]),
                        "ProcessingJobStatus": status, "CreationTime": epoch(rec["created"]),
                        "LastModifiedTime": epoch(rec["modified"])})
            if rec["start"] is not None:
                out["ProcessingStartTime"] = epoch(rec["start"])
            if rec["end"] is not None:
                out["ProcessingEndTime"] = epoch(rec["end"])
            if status == "Failed":
                out["FailureReason"] = rec["failure_reason"] or "AlgorithmError: the processing script exited " \
                                                                "with status 1"
                out["ExitMessage"] = out["FailureReason"]
        return out

    def stop(self, kind, body, name_field):
        errs = self.require(body, [name_field])
        self.raise_validation(errs)
        with self.lock:
            rec = self.lookup(kind, body[name_field], AwsError(
                400, "ResourceNotFound", "Could not find %s job '%s'." % (kind, body[name_field]), upper=True))
            key = "%s/%s" % (kind, rec["name"])
            self.stops[key] = self.stops.get(key, 0) + 1
            status = rec["state"][0]
            if status in SM_TERMINAL:
                raise AwsError(400, "ValidationException",
                               "The request was rejected because the %s job is in status %s." % (kind, status))
            if status != "Stopping":
                now = time.time()
                if kind == "training":
                    stopping, stopped = ("Stopping", "Stopping"), ("Stopped", "Stopped")
                else:
                    stopping, stopped = ("Stopping", None), ("Stopped", None)
                rec["states"] = [stopping] * (1 + self.stop_polls) + [stopped]
                rec["pos"] = 0
                rec["t0"] = now
                rec["state"] = stopping
                self.enter(rec, now)
        return {}

    def list_jobs(self, kind, body):
        name_f = "TrainingJobName" if kind == "training" else "ProcessingJobName"
        status_f = "TrainingJobStatus" if kind == "training" else "ProcessingJobStatus"
        mx = body.get("MaxResults", 10)
        if isinstance(mx, bool) or not isinstance(mx, int) or not 1 <= mx <= 100:
            self.raise_validation(["Value '%s' at 'maxResults' failed to satisfy constraint: Member must have value "
                                   "less than or equal to 100" % mx])
        sort_by = body.get("SortBy", "CreationTime")
        order = body.get("SortOrder", "Ascending")
        if sort_by not in ("Name", "CreationTime", "Status") or order not in ("Ascending", "Descending"):
            self.raise_validation(["SortBy is Name, CreationTime or Status; SortOrder is Ascending or Descending"])
        start = 0
        if body.get("NextToken"):
            try:
                start = int(json.loads(b64url_decode_strict(body["NextToken"]))["o"])
            except (ValueError, KeyError, TypeError):
                self.raise_validation(["Invalid pagination token"])
        with self.lock:
            recs = list(self.jobs[kind].values())
            if body.get("NameContains"):
                recs = [r for r in recs if body["NameContains"].lower() in r["name"].lower()]
            if body.get("StatusEquals"):
                recs = [r for r in recs if r["state"][0] == body["StatusEquals"]]
            keyf = {"Name": lambda r: r["name"], "CreationTime": lambda r: r["seq"],
                    "Status": lambda r: r["state"][0]}[sort_by]
            recs.sort(key=keyf, reverse=(order == "Descending"))
            page = recs[start:start + mx]
            summaries = []
            for r in page:
                v = self.view(r)
                s = {name_f: r["name"], kind[0].upper() + kind[1:] + "JobArn": self.arn(kind, r["name"]),
                     "CreationTime": v["CreationTime"], "LastModifiedTime": v["LastModifiedTime"],
                     status_f: v[status_f]}
                if kind == "training":
                    s["SecondaryStatus"] = v["SecondaryStatus"]
                    if "TrainingEndTime" in v:
                        s["TrainingEndTime"] = v["TrainingEndTime"]
                elif "ProcessingEndTime" in v:
                    s["ProcessingEndTime"] = v["ProcessingEndTime"]
                summaries.append(s)
            out = {("TrainingJobSummaries" if kind == "training" else "ProcessingJobSummaries"): summaries}
            if start + mx < len(recs):
                out["NextToken"] = b64url(json.dumps({"o": start + mx}).encode())
            return out

    def op_CreateTrainingJob(self, body):
        errs = self.require(body, ["TrainingJobName", "AlgorithmSpecification", "RoleArn", "OutputDataConfig",
                                   "OutputDataConfig.S3OutputPath", "ResourceConfig",
                                   "ResourceConfig.VolumeSizeInGB", "StoppingCondition"])
        self.check_name(body, "TrainingJobName", errs)
        self.check_role(body, errs)
        alg = body.get("AlgorithmSpecification")
        if isinstance(alg, dict) and not (alg.get("TrainingImage") or alg.get("AlgorithmName")):
            errs.append("AlgorithmSpecification needs TrainingImage or AlgorithmName")
        self.raise_validation(errs)
        return {"TrainingJobArn": self.create("training", body, "TrainingJobName")}

    def op_CreateProcessingJob(self, body):
        errs = self.require(body, ["ProcessingJobName", "ProcessingResources", "ProcessingResources.ClusterConfig",
                                   "ProcessingResources.ClusterConfig.InstanceCount",
                                   "ProcessingResources.ClusterConfig.InstanceType",
                                   "ProcessingResources.ClusterConfig.VolumeSizeInGB",
                                   "AppSpecification", "AppSpecification.ImageUri", "RoleArn"])
        self.check_name(body, "ProcessingJobName", errs)
        self.check_role(body, errs)
        self.raise_validation(errs)
        return {"ProcessingJobArn": self.create("processing", body, "ProcessingJobName")}

    def run_op(self, op, body):
        """Answers one of OPS. Describe, Stop and List take the same steps
        for training and processing jobs, so the operation's name gives the
        kind and its name field; each kind's Create checks its own fields."""
        verb, what = SM_OP_RE.fullmatch(op).groups()
        if verb == "Create":
            return getattr(self, "op_" + op)(body)
        kind, name_field = what.lower(), what + "JobName"
        if verb == "Describe":
            return self.describe(kind, body, name_field)
        if verb == "Stop":
            return self.stop(kind, body, name_field)
        return self.list_jobs(kind, body)

    def extra_stats(self):
        by_state = {}
        for kind in ("training", "processing"):
            for r in self.jobs[kind].values():
                k = "%s/%s" % (kind, r["state"][0])
                by_state[k] = by_state.get(k, 0) + 1
        return {"creates": dict(self.creates), "create_conflicts": dict(self.conflicts), "stops": dict(self.stops),
                "describes": dict(self.describes), "errors": dict(self.errors),
                "jobs": sum(len(v) for v in self.jobs.values()), "jobs_by_state": by_state}

    def jobs_dump(self):
        return {kind: [self.view(r) for r in sorted(self.jobs[kind].values(), key=lambda r: r["seq"])]
                for kind in ("training", "processing")}


# ---------------------------------------------------------------------------
# STS


class StsRole(Role):
    name = "sts"
    NS = "https://sts.amazonaws.com/doc/2011-06-15/"

    def __init__(self, app, cfg, web_identity_token=None, role_arn=None, account="123456789012"):
        self.cli_token = web_identity_token
        self.cli_role = role_arn
        self.account = account
        super().__init__(app, cfg)

    def init_state(self):
        self.web_identity_token = self.cli_token
        self.role_arn = self.cli_role
        self.credential_ttl = None  # seconds; else DurationSeconds

    def extra_stats_reset(self):
        self.issued = 0
        self.errors = {}

    def apply_role_config(self, cfg):
        if "web_identity_token" in cfg:
            self.web_identity_token = cfg["web_identity_token"]
        if "role_arn" in cfg:
            self.role_arn = cfg["role_arn"]
        if "credential_ttl" in cfg:
            self.credential_ttl = None if cfg["credential_ttl"] is None else int(cfg["credential_ttl"])

    def xml_error(self, status, code, message, kind="Sender"):
        with self.lock:
            self.errors[code] = self.errors.get(code, 0) + 1
        body = ('<ErrorResponse xmlns="%s">\n  <Error>\n    <Type>%s</Type>\n    <Code>%s</Code>\n'
                '    <Message>%s</Message>\n  </Error>\n  <RequestId>%s</RequestId>\n</ErrorResponse>\n'
                % (self.NS, kind, code, xml_escape(message), uuid.uuid4()))
        return Reply(status, body, "text/xml", {"x-amzn-RequestId": str(uuid.uuid4())})

    def fault_reply(self, kind, rule):
        if kind == "throttle":
            return self.xml_error(400, "Throttling", rule.get("message", "Rate exceeded"))
        if kind == "503":
            return self.xml_error(503, "ServiceUnavailable", "Service is unable to handle request.", "Receiver")
        return self.xml_error(500, "InternalFailure", "An internal error occurred.", "Receiver")

    def serve(self, h):
        if h.rawpath != "/":
            raise self.xml_error(404, "NotFound", "Only / is served")
        if h.command == "POST":
            form = urllib.parse.parse_qs(h.body.decode("utf-8", "replace"), keep_blank_values=True)
        elif h.command == "GET":
            form = h.query
        else:
            raise self.xml_error(405, "InvalidAction", "POST or GET")
        form = {k: v[-1] for k, v in form.items()}
        action = form.get("Action", "")
        lost = self.begin(h, action if action == "AssumeRoleWithWebIdentity" else "other")
        if action != "AssumeRoleWithWebIdentity":
            raise self.xml_error(400, "InvalidAction", "Could not find operation %s for version %s"
                                 % (action or "(none)", form.get("Version", "NO_VERSION_SPECIFIED")))
        if form.get("Version") != "2011-06-15":
            raise self.xml_error(400, "InvalidAction", "Could not find operation %s for version %s"
                                 % (action, form.get("Version", "NO_VERSION_SPECIFIED")))
        errs = ["Value null at '%s' failed to satisfy constraint: Member must not be null" % f[0].lower() + f[1:]
                for f in ("RoleArn", "RoleSessionName", "WebIdentityToken") if not form.get(f)]
        if errs:
            raise self.xml_error(400, "ValidationError", "%d validation error%s detected: %s"
                                 % (len(errs), "" if len(errs) == 1 else "s", "; ".join(errs)))
        if not re.fullmatch(r"[\w+=,.@-]{2,64}", form["RoleSessionName"]):
            raise self.xml_error(400, "ValidationError", "1 validation error detected: Value at 'roleSessionName' "
                                 "failed to satisfy constraint: Member must satisfy regular expression pattern: "
                                 "[\\w+=,.@-]*")
        try:
            duration = int(form.get("DurationSeconds", "3600"))
        except ValueError:
            duration = -1
        if not 900 <= duration <= 43200:
            raise self.xml_error(400, "ValidationError", "1 validation error detected: Value at 'durationSeconds' "
                                 "failed to satisfy constraint: Member must have value between 900 and 43200")
        want = self.web_identity_token
        if want is not None and not hmac.compare_digest(want, form["WebIdentityToken"]):
            raise self.xml_error(400, "InvalidIdentityToken", "The web identity token that was passed could not be "
                                 "validated by AWS. Get a new identity token from the identity provider and then "
                                 "retry the request.")
        if self.role_arn is not None and form["RoleArn"] != self.role_arn:
            raise self.xml_error(403, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")
        ttl = self.credential_ttl if self.credential_ttl is not None else duration
        akid, secret, token, exp = self.store.new_aws_session(ttl, "sts")
        with self.lock:
            self.issued += 1
        role_name = form["RoleArn"].rsplit("/", 1)[-1]
        session = form["RoleSessionName"]
        body = """<AssumeRoleWithWebIdentityResponse xmlns="{ns}">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>system:serviceaccount:default:skein</SubjectFromWebIdentityToken>
    <Audience>sts.amazonaws.com</Audience>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::{acct}:assumed-role/{role}/{session}</Arn>
      <AssumedRoleId>AROACLOUDFAKEROLEID01:{session}</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <SessionToken>{token}</SessionToken>
      <SecretAccessKey>{secret}</SecretAccessKey>
      <Expiration>{exp}</Expiration>
      <AccessKeyId>{akid}</AccessKeyId>
    </Credentials>
    <Provider>oidc.eks.us-east-1.amazonaws.com/id/CLOUDFAKE</Provider>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata>
    <RequestId>{rid}</RequestId>
  </ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>
""".format(ns=self.NS, acct=self.account, role=xml_escape(role_name), session=xml_escape(session),
           token=xml_escape(token), secret=xml_escape(secret), exp=iso8601_s(exp), akid=akid, rid=uuid.uuid4())
        self.after(h, lost)
        h.reply(200, body, "text/xml", {"x-amzn-RequestId": str(uuid.uuid4())})

    def extra_stats(self):
        return {"issued": self.issued, "errors": dict(self.errors)}


# ---------------------------------------------------------------------------
# IMDSv2 and container credentials


class ImdsRole(Role):
    name = "imds"

    def __init__(self, app, cfg, role_name="skein-test-role", container_token=None, region="us-east-1",
                 account="123456789012"):
        self.cli_role = role_name
        self.cli_container_token = container_token
        self.region = region
        self.account = account
        super().__init__(app, cfg)

    def init_state(self):
        self.role_name = self.cli_role
        self.container_token = self.cli_container_token
        self.credential_ttl = 6 * 3600
        self.tokens = {}  # IMDS session token -> expiry

    def extra_stats_reset(self):
        self.issued = {"imds": 0, "container": 0}
        self.refused = 0

    def apply_role_config(self, cfg):
        if "role_name" in cfg:
            self.role_name = cfg["role_name"]
        if "container_token" in cfg:
            self.container_token = cfg["container_token"]
        if "credential_ttl" in cfg:
            self.credential_ttl = int(cfg["credential_ttl"])
        if cfg.get("expire_session_tokens"):
            for k in self.tokens:
                self.tokens[k] = time.time() - 1

    def refuse(self, status, body, ctype="text/plain"):
        with self.lock:
            self.refused += 1
        return Reply(status, body, ctype)

    def creds(self, source):
        akid, secret, token, exp = self.store.new_aws_session(self.credential_ttl, source)
        with self.lock:
            self.issued[source] += 1
        return akid, secret, token, exp

    def serve(self, h):
        path = h.rawpath
        if path.startswith("/v1/credentials") or path.startswith("/v2/credentials"):
            lost = self.begin(h, "container-credentials")
            if h.command != "GET":
                raise self.refuse(405, "method not allowed\n")
            auth = h.header("Authorization")
            ok = bool(auth) if self.container_token is None else \
                (auth is not None and hmac.compare_digest(auth, self.container_token))
            if not ok:
                raise self.refuse(401, {"Code": "AccessDenied", "Message": "invalid or missing authorization token"},
                                  "application/json")
            akid, secret, token, exp = self.creds("container")
            self.after(h, lost)
            h.reply(200, {"AccessKeyId": akid, "SecretAccessKey": secret, "Token": token,
                          "Expiration": iso8601_s(exp), "AccountId": self.account,
                          "RoleArn": "arn:aws:iam::%s:role/%s" % (self.account, self.role_name)})
            return
        if path == "/latest/api/token":
            lost = self.begin(h, "api-token")
            if h.command != "PUT":
                raise self.refuse(405, "")
            if h.header("X-Forwarded-For") is not None:
                raise self.refuse(403, "")
            try:
                ttl = int(h.header("X-aws-ec2-metadata-token-ttl-seconds") or "")
            except ValueError:
                ttl = -1
            if not 1 <= ttl <= 21600:
                raise self.refuse(400, "")
            tok = "AQAEA" + secrets.token_urlsafe(40)
            with self.lock:
                self.tokens[tok] = time.time() + ttl
            self.after(h, lost)
            h.reply(200, tok, "text/plain", {"X-aws-ec2-metadata-token-ttl-seconds": str(ttl)})
            return
        sc = "/latest/meta-data/iam/security-credentials/"
        if path == sc:
            route = "role-list"
        elif path.startswith(sc):
            route = "role-credentials"
        elif path == "/latest/meta-data/placement/region":
            route = "region"
        elif path == "/latest/dynamic/instance-identity/document":
            route = "identity-document"
        else:
            route = "other"
        lost = self.begin(h, route)
        if h.command != "GET":
            raise self.refuse(405, "")
        tok = h.header("X-aws-ec2-metadata-token")
        with self.lock:
            exp = self.tokens.get(tok or "")
        if exp is None or exp <= time.time():
            raise self.refuse(401, "")
        try:
            self.answer(path, route)
        except Reply as r:
            if 200 <= r.status < 300:
                self.after(h, lost)
            raise

    def answer(self, path, route):
        sc = "/latest/meta-data/iam/security-credentials/"
        if route == "role-list":
            raise Reply(200, self.role_name, "text/plain")
        if route == "role-credentials":
            if path[len(sc):] != self.role_name:
                raise Reply(404, "", "text/plain")
            akid, secret, token, exp = self.creds("imds")
            raise Reply(200, json.dumps({"Code": "Success", "LastUpdated": iso8601_s(time.time()),
                                         "Type": "AWS-HMAC", "AccessKeyId": akid, "SecretAccessKey": secret,
                                         "Token": token, "Expiration": iso8601_s(exp)}, indent=2), "text/plain")
        if route == "region":
            raise Reply(200, self.region, "text/plain")
        if route == "identity-document":
            raise Reply(200, {"accountId": self.account, "region": self.region, "instanceId": "i-0cloudfake0000001",
                              "availabilityZone": self.region + "a"}, "text/plain")
        raise Reply(404, "", "text/plain")

    def extra_stats(self):
        return {"issued": dict(self.issued), "refused": self.refused}


# ---------------------------------------------------------------------------
# The process


class App:
    def __init__(self, seed):
        self.seed = seed
        self.store = Store()
        self.roles = {}
        self.servers = []
        self.moto = None


def start_role(app, role, port):
    srv = Server(("127.0.0.1", port), Handler)
    srv.role = role
    role.url = "http://127.0.0.1:%d" % srv.server_address[1]
    app.roles[role.name] = role
    app.servers.append(srv)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True,
                     name="serve-" + role.name).start()


def cmd_serve(args):
    global VERBOSE
    VERBOSE = args.verbose
    roles = [r.strip() for r in args.roles.split(",") if r.strip()]
    known = ("vertex", "token", "metadata", "sagemaker", "sts", "imds", "moto")
    for r in roles:
        if r not in known:
            raise SystemExit("cloudfake: unknown role %r (roles: %s)" % (r, ", ".join(known)))
    ports = {}
    for spec in args.port:
        r, _, p = spec.partition("=")
        ports[r] = int(p)
    configs = {}
    for spec in args.config:
        r, cfg = role_json_arg(spec, "--config")
        configs.setdefault(r, []).append(cfg)
    for spec in args.faults:
        r, rules = role_json_arg(spec, "--faults")
        configs.setdefault(r, []).append({"add_faults": rules})
    for r in configs:
        if r not in roles:
            raise SystemExit("cloudfake: --config/--faults for %s, which is not among --roles" % r)

    app = App(args.seed)
    for spec in args.aws_key:
        akid, _, secret = load_arg_value(spec).partition(":")
        app.store.add_aws(akid, secret)
    for path in args.aws_key_file:
        with open(path, encoding="utf-8") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and not parts[0].startswith("#"):
                    app.store.add_aws(parts[0], parts[1])
    for t in args.google_token:
        app.store.add_google(load_arg_value(t), None, [CLOUD_PLATFORM], "static", "static")
    sa_keys = []
    for path in args.sa_key:
        with open(path, encoding="utf-8") as f:
            sa_keys.append(json.load(f))
    public_keys = []
    for spec in args.sa_public_key:
        email, _, path = spec.partition("=")
        if not email or not path:
            raise SystemExit("cloudfake: --sa-public-key wants EMAIL=PEMFILE")
        with open(path, encoding="utf-8") as f:
            public_keys.append({"client_email": email, "private_key_id": None, "public_key_pem": f.read()})
    users = []
    for path in args.authorized_user:
        with open(path, encoding="utf-8") as f:
            users.append(json.load(f))

    stop = threading.Event()

    def make(r):
        c = configs.get(r, [])
        if r == "vertex":
            return VertexRole(app, c, args.vertex_accept_any_token, args.vertex_project_number)
        if r == "token":
            return TokenRole(app, c, sa_keys, users, public_keys)
        if r == "metadata":
            return MetadataRole(app, c, args.metadata_project_id)
        if r == "sagemaker":
            return SageMakerRole(app, c, args.aws_region, args.aws_account, args.aws_accept_any_key)
        if r == "sts":
            tok = load_arg_value(args.sts_web_identity_token) if args.sts_web_identity_token else None
            return StsRole(app, c, tok, args.sts_role_arn, args.aws_account)
        if r == "imds":
            ct = load_arg_value(args.container_token) if args.container_token else None
            return ImdsRole(app, c, args.imds_role, ct, args.aws_region, args.aws_account)
        return None

    urls = {}
    for r in roles:
        if r == "moto":
            import logging
            from moto.server import ThreadedMotoServer
            if not VERBOSE:  # werkzeug's request lines; its errors still show
                logging.getLogger("werkzeug").setLevel(logging.WARNING)
            app.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=ports.get("moto", 0), verbose=False)
            app.moto.start()
            host, port = app.moto.get_host_and_port()
            urls["moto"] = "http://%s:%d" % (host, port)
            continue
        role = make(r)
        start_role(app, role, ports.get(r, 0))
        urls[r] = role.url

    def on_signal(signum, frame):
        stop.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    if not args.ignore_stdin:
        def watch_stdin():
            try:
                while sys.stdin.buffer.read1(65536):
                    pass
            except (OSError, ValueError):
                pass
            stop.set()
        threading.Thread(target=watch_stdin, daemon=True, name="stdin").start()

    sys.stdout.write(json.dumps({"pid": os.getpid(), "urls": urls}) + "\n")
    sys.stdout.flush()

    deadline = time.monotonic() + args.max_seconds if args.max_seconds > 0 else None
    why = "stdin closed or signal"
    while not stop.wait(0.2):
        if args.owner_pid and not pid_alive(args.owner_pid):
            why = "owner pid %d gone" % args.owner_pid
            break
        if deadline is not None and time.monotonic() >= deadline:
            why = "--max-seconds %s passed" % args.max_seconds
            break
    log("exiting: %s" % why)
    if deadline is not None and time.monotonic() >= deadline:
        sys.stderr.write("cloudfake: exiting after --max-seconds %s\n" % args.max_seconds)
    sys.stderr.flush()
    for srv in app.servers:
        srv.server_close()
    os._exit(0)


# ---------------------------------------------------------------------------
# Helpers for tests


def post_json(url, obj):
    req = urllib.request.Request(url, data=json.dumps(obj).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"{}")


def write_private(path, obj):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def cmd_make_sa_key(args):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = priv.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()
    key = {
        "type": "service_account",
        "project_id": args.project,
        "private_key_id": secrets.token_hex(20),
        "private_key": pem,
        "client_email": args.email or "skein-test@%s.iam.gserviceaccount.com" % args.project,
        "client_id": str(100000000000000000000 + random.SystemRandom().randrange(10 ** 20)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": args.token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "universe_domain": "googleapis.com",
    }
    write_private(args.out, key)
    if args.register:
        post_json(args.register.rstrip("/") + "/_fake/config", {"service_accounts": [public_half_of_key(key)]})


def cmd_make_authorized_user(args):
    user = {
        "type": "authorized_user",
        "client_id": "%d-cloudfake.apps.googleusercontent.com" % random.SystemRandom().randrange(10 ** 12),
        "client_secret": "GOCSPX-" + secrets.token_urlsafe(21),
        "refresh_token": "1//cf-" + secrets.token_urlsafe(60),
    }
    if args.quota_project:
        user["quota_project_id"] = args.quota_project
    write_private(args.out, user)
    if args.register:
        post_json(args.register.rstrip("/") + "/_fake/config", {"authorized_users": [user]})


def cmd_selftest(args):
    """The SigV4 code against the published test-suite vectors, and the
    Vertex filter parser on the reference's examples."""
    fails = 0
    secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    cases = [
        ("get-vanilla", "GET", None, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        ("post-vanilla", "POST", None, "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
        ("get-vanilla-with-session-token", "GET", "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267",
         "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"),
    ]
    for name, method, token, want in cases:
        hv = {"host": ["example.amazonaws.com"], "x-amz-date": ["20150830T123600Z"]}
        signed = ["host", "x-amz-date"]
        if token:
            hv["x-amz-security-token"] = [token]
            signed.append("x-amz-security-token")
        sts = sigv4_string_to_sign(method, "/", "", hv, signed, b"", "20150830T123600Z",
                                   "20150830/us-east-1/service/aws4_request")
        got = sigv4_signature(secret, "20150830", "us-east-1", "service", sts)
        ok = got == want
        fails += not ok
        print("%s sigv4 %s" % ("ok  " if ok else "FAIL", name))
        # The verifier accepts the vector's own Authorization header.
        store = Store()
        store.add_aws("AKIDEXAMPLE", secret, token)
        hv["authorization"] = ["AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
                               "SignedHeaders=%s, Signature=%s" % (";".join(signed), want)]
        try:
            sigv4_verify(method, "/", "", hv, b"", "service", "us-east-1", store, False,
                         now=parse_amz_date("20150830T123600Z"))
            print("ok   sigv4 verify %s" % name)
        except AwsError as e:
            fails += 1
            print("FAIL sigv4 verify %s: %s %s" % (name, e.code, e.message))
    jobs = [
        {"displayName": "my_job_1", "state": "JOB_STATE_SUCCEEDED", "labels": {"keya": "valuea"}, "_t": 1.0},
        {"displayName": "other", "state": "JOB_STATE_FAILED", "labels": {"keyb": "x"}, "_t": 2e9},
    ]
    fcases = [
        ('state="JOB_STATE_SUCCEEDED" AND displayName:"my_job_*"', [True, False]),
        ('state!="JOB_STATE_FAILED" OR displayName="my_job"', [True, False]),
        ('NOT displayName="my_job_1"', [False, True]),
        ('createTime>"2021-05-18T00:00:00Z"', [False, True]),
        ("labels.keya=valuea", [True, False]),
        ("labels.keyb:*", [False, True]),
        ('labels.keya="valuea" AND labels.keyb="x"', [False, False]),
    ]
    for text, want in fcases:
        f = VertexFilter(text)
        got = [f.match(j) for j in jobs]
        ok = got == want
        fails += not ok
        print("%s vertex filter %s -> %s" % ("ok  " if ok else "FAIL", text, got))
    print("selftest: %d failure(s)" % fails)
    return 1 if fails else 0


def main(argv=None):
    p = argparse.ArgumentParser(prog="cloudfake.py", description="Local fakes of the cloud APIs skein calls.")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="start the servers; print one JSON line when ready")
    s.add_argument("--roles", required=True, help="comma-separated: vertex,token,metadata,sagemaker,sts,imds,moto")
    s.add_argument("--owner-pid", type=int, default=0, help="exit when this process is gone")
    s.add_argument("--max-seconds", type=float, default=1800, help="exit after this long (0: never)")
    s.add_argument("--ignore-stdin", action="store_true", help="do not exit when stdin reaches EOF")
    s.add_argument("--seed", default="0", help="seed of the fault dice (per role)")
    s.add_argument("--port", action="append", default=[], metavar="ROLE=PORT", help="a fixed port (default: free)")
    s.add_argument("--config", action="append", default=[], metavar="ROLE=JSON|@FILE",
                   help="a /_fake/config body applied at start (and again on reset)")
    s.add_argument("--faults", action="append", default=[], metavar="ROLE=JSON|@FILE",
                   help="fault rules applied at start (and again on reset)")
    s.add_argument("--verbose", action="store_true", help="log request lines on stderr")
    s.add_argument("--vertex-accept-any-token", action="store_true")
    s.add_argument("--vertex-project-number", default="987654321098")
    s.add_argument("--google-token", action="append", default=[], metavar="TOKEN|@FILE",
                   help="a static access token the vertex role accepts (never expires)")
    s.add_argument("--sa-key", action="append", default=[], metavar="FILE",
                   help="a service-account key JSON whose public half the token role trusts")
    s.add_argument("--sa-public-key", action="append", default=[], metavar="EMAIL=PEMFILE",
                   help="a service account by its public key alone (PEM, as openssl pkey -pubout writes it)")
    s.add_argument("--authorized-user", action="append", default=[], metavar="FILE",
                   help="an authorized_user JSON the token role accepts for refresh_token grants")
    s.add_argument("--metadata-project-id", default="skein-test-project")
    s.add_argument("--aws-key", action="append", default=[], metavar="AKID:SECRET|@FILE")
    s.add_argument("--aws-key-file", action="append", default=[], metavar="FILE",
                   help="lines 'AKID SECRET' of keys the sagemaker role accepts")
    s.add_argument("--aws-accept-any-key", action="store_true",
                   help="sagemaker: check the SigV4 header's form and scope only")
    s.add_argument("--aws-region", default="us-east-1")
    s.add_argument("--aws-account", default="123456789012")
    s.add_argument("--sts-web-identity-token", metavar="TOKEN|@FILE",
                   help="the only WebIdentityToken STS accepts (default: any non-empty)")
    s.add_argument("--sts-role-arn", help="the only RoleArn STS accepts (default: any)")
    s.add_argument("--imds-role", default="skein-test-role")
    s.add_argument("--container-token", metavar="TOKEN|@FILE",
                   help="the Authorization value the container credentials endpoint wants (default: any non-empty)")
    k = sub.add_parser("make-sa-key", help="write a throwaway service-account key JSON")
    k.add_argument("out")
    k.add_argument("--token-uri", required=True, help="e.g. the token role's URL + /token")
    k.add_argument("--project", default="skein-test-project")
    k.add_argument("--email")
    k.add_argument("--register", metavar="TOKEN_ROLE_URL", help="also tell this token role the public half")
    u = sub.add_parser("make-authorized-user", help="write a throwaway authorized_user JSON")
    u.add_argument("out")
    u.add_argument("--quota-project")
    u.add_argument("--register", metavar="TOKEN_ROLE_URL", help="also tell this token role about it")
    sub.add_parser("selftest", help="SigV4 against the published vectors; the Vertex filter parser")
    args = p.parse_args(argv)
    if args.cmd == "serve":
        cmd_serve(args)
    elif args.cmd == "make-sa-key":
        cmd_make_sa_key(args)
    elif args.cmd == "make-authorized-user":
        cmd_make_authorized_user(args)
    elif args.cmd == "selftest":
        return cmd_selftest(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
