#!/usr/bin/env python3
"""A hostile client against a covenant binary on loopback, bounded in time and size.

    bench/hostile.py [--binary target/release/covenant] [--store-kind file|sled] [--quick]

Starts the binary on 127.0.0.1:0 with its defaults and a fresh store, then replays the battery of
issue 10: id overflow, oversized schemas of every format (records, enums, unions, JSON
properties, Protobuf fields) checked against themselves, two worst-case checks running while a
plain GET /schemas/ids/1 is timed, stalled request bodies, malformed and wrongly shaped bodies,
invalid escapes, and protocol-level garbage. It prints one line per probe and a summary:
requests tried, 5xx, unshaped errors (an error without a JSON {"error_code", "message"} body),
hangs (no answer within 30 s), the largest RSS of the server and the slowest response.

Only the standard library is used; nothing leaves 127.0.0.1.
"""
import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HANG = 30.0


class Target:
    def __init__(self, binary, store_kind, extra):
        self.dir = tempfile.mkdtemp(prefix="covenant-hostile-")
        store = f"{store_kind}://{self.dir}/data"
        self.process = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:0", "--store", store, *extra],
            stdout=subprocess.PIPE, stderr=open(os.path.join(self.dir, "server.log"), "w"),
            env={**os.environ, "RUST_LOG": "warn"})
        line = self.process.stdout.readline().decode()
        if not line.startswith("listening on "):
            raise SystemExit(f"the server did not start: {line!r}")
        self.url = line.split(" ", 2)[2].strip()
        self.host, self.port = self.url.replace("http://", "").rsplit(":", 1)
        self.port = int(self.port)
        self.tried = 0
        self.server_errors = []
        self.unshaped = []
        self.hangs = []
        self.slowest = (0.0, "")
        self.peak_rss = 0
        self.lock = threading.Lock()
        self.sampling = True
        threading.Thread(target=self._sample_rss, daemon=True).start()

    def rss(self):
        try:
            with open(f"/proc/{self.process.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def _sample_rss(self):
        while self.sampling:
            try:
                with open(f"/proc/{self.process.pid}/status") as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            rss = int(line.split()[1]) * 1024
                            self.peak_rss = max(self.peak_rss, rss)
            except OSError:
                return
            time.sleep(0.05)

    def call(self, method, path, body=None, raw=None, headers=None, label=None, expect_json=True):
        """One request; returns (status, parsed body or None, seconds). Records the outcome."""
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/vnd.schemaregistry.v1+json",
                                                  **(headers or {})})
        started = time.monotonic()
        status, text = None, ""
        try:
            with urllib.request.urlopen(request, timeout=HANG) as response:
                status, text = response.status, response.read().decode(errors="replace")
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode(errors="replace")
        except (TimeoutError, socket.timeout):
            pass
        except (urllib.error.URLError, ConnectionError) as error:
            status, text = -1, str(error)
        took = time.monotonic() - started
        name = label or f"{method} {path[:60]}"
        with self.lock:
            self.tried += 1
            if took > self.slowest[0]:
                self.slowest = (took, name)
            if status is None:
                self.hangs.append(name)
            elif status >= 500 or status == -1:
                self.server_errors.append(f"{name}: {status} {text[:120]}")
            elif status >= 400 and expect_json:
                try:
                    parsed = json.loads(text)
                    if not (isinstance(parsed, dict) and isinstance(parsed.get("error_code"), int)
                            and isinstance(parsed.get("message"), str)):
                        self.unshaped.append(f"{name}: {status} {text[:80]}")
                except ValueError:
                    self.unshaped.append(f"{name}: {status} {text[:80]!r}")
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = None
        return status, parsed, took

    def from_other_source(self, path):
        """A GET from 127.0.0.2 (another source address on loopback); returns its status."""
        import http.client
        with self.lock:
            self.tried += 1
        started = time.monotonic()
        try:
            connection = http.client.HTTPConnection(self.host, self.port, timeout=HANG,
                                                    source_address=("127.0.0.2", 0))
            connection.request("GET", path)
            status = connection.getresponse().status
            connection.close()
        except (TimeoutError, socket.timeout):
            with self.lock:
                self.hangs.append(f"GET {path} from 127.0.0.2")
            return None
        took = time.monotonic() - started
        with self.lock:
            if took > self.slowest[0]:
                self.slowest = (took, f"GET {path} from 127.0.0.2 while bodies stall")
        return status

    def raw_socket(self, payload, label, wait=5.0):
        """Protocol-level garbage; returns the first bytes of the answer."""
        with self.lock:
            self.tried += 1
        try:
            with socket.create_connection((self.host, self.port), timeout=wait) as sock:
                sock.sendall(payload)
                answer = sock.recv(4096).decode(errors="replace")
        except (socket.timeout, TimeoutError):
            answer = ""
        except OSError as error:
            answer = f"(connection: {error})"
        status_line = answer.split("\r\n", 1)[0]
        body = answer.split("\r\n\r\n", 1)[1] if "\r\n\r\n" in answer else ""
        match = re.match(r"HTTP/1\.[01] (\d+)", status_line)
        status = int(match.group(1)) if match else None
        with self.lock:
            if status and status >= 500:
                self.server_errors.append(f"{label}: {status_line}")
            elif status and status >= 400 and '"error_code"' not in body:
                self.unshaped.append(f"{label}: {status_line} (body {body[:40]!r})")
        return status_line

    def stop(self):
        self.sampling = False
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()


def avro_record(fields, name="Big"):
    return json.dumps({"type": "record", "name": name,
                       "fields": [{"name": f"f{i}", "type": "int"} for i in range(fields)]})


def avro_enum(symbols):
    return json.dumps({"type": "enum", "name": "BigEnum", "symbols": [f"S{i}" for i in range(symbols)]})


def avro_union_of_fixed(branches):
    union = [{"type": "fixed", "name": f"F{i}", "size": 4} for i in range(branches)]
    return json.dumps({"type": "record", "name": "U", "fields": [{"name": "u", "type": union}]})


def json_schema(properties):
    return json.dumps({"type": "object", "properties": {f"p{i}": {"type": "integer"} for i in range(properties)}})


def protobuf(fields):
    # Field numbers 19000 to 19999 are reserved by Protobuf.
    numbers = [n for n in range(1, fields + 1001) if not 19000 <= n <= 19999][:fields]
    body = "\n".join(f"  int32 f{i} = {n};" for i, n in enumerate(numbers))
    return 'syntax = "proto3";\nmessage Big {\n' + body + "\n}\n"


def self_check(target, subject, schema, schema_type=None):
    """Registers a big schema, then checks it against itself (the worst case the issue times)."""
    body = {"schema": schema}
    if schema_type:
        body["schemaType"] = schema_type
    target.call("PUT", f"/config/{subject}", {"compatibility": "FULL_TRANSITIVE"})
    status, answer, took = target.call("POST", f"/subjects/{subject}/versions", body,
                                       label=f"register {subject}")
    check_status, check, check_took = target.call(
        "POST", f"/compatibility/subjects/{subject}/versions?verbose=true", body,
        label=f"check {subject} against itself")
    verdict = check.get("is_compatible") if isinstance(check, dict) else check
    print(f"  {subject}: {len(schema) // 1024} KiB, register {status} in {took:.2f}s, "
          f"self-check {check_status} ({verdict}) in {check_took:.2f}s, server RSS now {target.rss() / 2**20:.0f} MiB")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default="target/release/covenant")
    parser.add_argument("--store-kind", default="file")
    parser.add_argument("--quick", action="store_true", help="smaller schemas and fewer connections")
    parser.add_argument("--server-arg", action="append", default=[],
                        help="an argument for `covenant serve` (repeatable), e.g. --server-arg=--max-schema-bytes=8388608")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    target = Target(args.binary, args.store_kind, args.server_arg)
    print(f"hostile battery against {args.binary} at {target.url}")
    try:
        # In a context of its own: ids are per context, and the default one must keep its ids.
        print("id overflow (in context .overflow)")
        target.call("PUT", "/mode/:.overflow:", {"mode": "IMPORT"})
        target.call("POST", "/subjects/:.overflow:a/versions",
                    {"schema": avro_record(1, "A"), "id": 2147483647, "version": 1})
        target.call("PUT", "/mode/:.overflow:", {"mode": "READWRITE"})
        results = [target.call("POST", f"/subjects/:.overflow:{s}/versions", {"schema": avro_record(2, s.upper())})
                   for s in ("b", "c")]
        ids = [answer.get("id") if isinstance(answer, dict) else None for _, answer, _ in results]
        wrapped = any(isinstance(i, int) and i < 0 for i in ids)
        print(f"  after id 2147483647: {[status for status, _, _ in results]}, ids {ids}"
              f"{'  WRAPPED' if wrapped else ''}")

        print("oversized schemas (the issue's sizes), each checked against itself")
        target.call("PUT", "/config", {"compatibility": "NONE"})
        self_check(target, "big-avro-record", avro_record(100_000 // scale))
        self_check(target, "big-avro-enum", avro_enum(100_000 // scale))
        self_check(target, "big-json", json_schema(100_000 // scale), "JSON")
        self_check(target, "big-protobuf", protobuf(100_000 // scale), "PROTOBUF")
        self_check(target, "big-avro-union-4000", avro_union_of_fixed(4000 // scale))
        self_check(target, "big-avro-union-25000", avro_union_of_fixed(25_000 // scale))
        print("the largest schemas the default limits accept (50,000 elements), each checked against itself")
        self_check(target, "max-avro-record", avro_record(9_900 // scale))
        self_check(target, "max-avro-enum", avro_enum(49_000 // scale))
        self_check(target, "max-json", json_schema(12_400 // scale), "JSON")
        self_check(target, "max-protobuf", protobuf(6_200 // scale), "PROTOBUF")
        self_check(target, "max-avro-union", avro_union_of_fixed(7_000 // scale))

        print("a plain read while two worst-case checks run")
        target.call("POST", "/subjects/small/versions", {"schema": '"string"'})
        small = target.call("GET", "/subjects/small/versions/1")[1] or {}
        small_id = small.get("id", 1)
        # The most expensive checks the limits allow: the issue's sizes where the limits were
        # raised to take them, else the largest the defaults accept.
        heavy = [("big-protobuf", {"schema": protobuf(100_000 // scale), "schemaType": "PROTOBUF"}),
                 ("big-json", {"schema": json_schema(100_000 // scale), "schemaType": "JSON"}),
                 ("max-protobuf", {"schema": protobuf(6_200 // scale), "schemaType": "PROTOBUF"}),
                 ("max-json", {"schema": json_schema(12_400 // scale), "schemaType": "JSON"})]
        accepted = [(subject, body) for subject, body in heavy
                    if target.call("GET", f"/subjects/{subject}/versions", label=f"versions of {subject}")[0] == 200]
        heavy = accepted[:2]
        threads = [threading.Thread(target=target.call, args=(
            "POST", f"/compatibility/subjects/{subject}/versions", body),
            kwargs={"label": f"concurrent worst-case check of {subject}"}) for subject, body in heavy]
        for thread in threads:
            thread.start()
        reads = []
        while (any(thread.is_alive() for thread in threads) or len(reads) < 20) and len(reads) < 500:
            reads.append(target.call("GET", f"/schemas/ids/{small_id}", label="GET /schemas/ids during checks")[2])
        busy = sum(1 for thread in threads if thread.is_alive())
        for thread in threads:
            thread.join()
        if reads:
            reads.sort()
            print(f"  {len(reads)} reads while the checks ran: median {reads[len(reads) // 2] * 1000:.1f} ms, "
                  f"slowest {reads[-1] * 1000:.1f} ms (checks still running at the last read: {busy})")

        print("stalled request bodies")
        stalled = []
        for _ in range(2000 // scale):
            try:
                sock = socket.create_connection((target.host, target.port), timeout=5)
                sock.sendall(b"POST /subjects/s/versions HTTP/1.1\r\nHost: x\r\n"
                             b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
                stalled.append(sock)
            except OSError:
                break
        fresh = [target.from_other_source("/subjects") for _ in range(20)]
        print(f"  {len(stalled)} stalled connections open from 127.0.0.1; requests from 127.0.0.2 answered {sorted(set(map(str, fresh)))}")
        answers = {}
        for sock in stalled:
            sock.settimeout(15)
            try:
                line = sock.recv(64).decode(errors="replace").split("\r\n", 1)[0]
            except OSError:
                line = "(no answer)"
            answers[line] = answers.get(line, 0) + 1
            sock.close()
        print(f"  stalled connections were answered: {answers}")

        print("malformed and wrongly shaped bodies")
        bad = [
            (b"{not json", "not JSON"), (b"", "empty"), (b"null", "null"), (b"[]", "an array"),
            (b'{"schema": 5}', "a number schema"), (b'{"schema": {}}', "an object schema"),
            (b'{"schema": "\\"int\\"", "metadata": "x"}', "metadata a string"),
            (b'{"schema": "\\"int\\"", "metadata": []}', "metadata an array"),
            (b'{"schema": "\\"int\\"", "metadata": {"properties": {"a": 1}}}', "a numeric property"),
            (b'{"schema": "\\"int\\"", "ruleSet": {"domainRules": [{"expr": 5}]}}', "a numeric expr"),
            (b'{"schema": "\\"int\\"", "version": 99}', "a version that is not the next"),
            (b'{"schema": "\\"int\\"", "id": 99999999999}', "an id out of range"),
            (b'{"schema": "\\"int\\"", "references": [{"name": "x", "subject": "y", "version": -1}]}', "a reference to nothing"),
            (b'{"schema": "' + b"[" * 5000 + b'"}', "deep nesting"),
            (b'{"schema": "{\\"type\\":\\"record\\",\\"name\\":\\"R\\",\\"fields\\":[{\\"name\\":\\"u\\",\\"type\\":[\\"null\\",\\"int\\"],\\"default\\":5}]}"}', "a union default on the second branch"),
            (b'{"schema": "{\\"type\\":\\"enum\\",\\"name\\":\\"E\\",\\"symbols\\":[\\"A\\"],\\"default\\":\\"Z\\"}"}', "an enum default not a symbol"),
        ]
        for payload, name in bad:
            status, answer, _ = target.call("POST", "/subjects/bad/versions", raw=payload, label=f"body: {name}")
            print(f"  {name}: {status} {json.dumps(answer)[:110] if answer is not None else ''}")
        for path in ["/subjects/%fe/versions", "/subjects/%ff/versions", "/subjects/%c0/versions",
                     "/subjects/a%00b/versions", "/schemas/ids/99999999999999", "/subjects/s/versions/0",
                     "/schemas?limit=-5&offset=-3", "/schemas?limit=abc", "/config/%2e%2e%2f"]:
            status, answer, _ = target.call("GET", path, label=f"GET {path}")
            print(f"  GET {path}: {status} {json.dumps(answer)[:90] if answer is not None else ''}")

        print("protocol-level garbage")
        for payload, name in [
            (b"GARBAGE\r\n\r\n", "a bad request line"),
            (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n", "huge headers"),
            (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", "a huge request line"),
            (b"POST /subjects/s/versions HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", "a bad content length"),
        ]:
            print(f"  {name}: {target.raw_socket(payload, name) or '(closed)'}")
    finally:
        target.stop()
    print()
    print(f"requests tried: {target.tried}")
    print(f"5xx: {len(target.server_errors)}" + "".join(f"\n  {e}" for e in target.server_errors))
    print(f"unshaped errors: {len(target.unshaped)}" + "".join(f"\n  {e}" for e in target.unshaped))
    print(f"hangs: {len(target.hangs)}" + "".join(f"\n  {e}" for e in target.hangs))
    print(f"largest RSS: {target.peak_rss / 1024 / 1024:.0f} MiB")
    print(f"slowest response: {target.slowest[0]:.2f}s ({target.slowest[1]})")


if __name__ == "__main__":
    sys.exit(main())
