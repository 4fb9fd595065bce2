#!/usr/bin/env python3
"""A strict OTLP/HTTP receiver for tests: decodes every request with PyPI's official
`opentelemetry-proto` and writes a JSON summary.

    python3 ci/otlp_receiver.py --port-file PORT_FILE --out SUMMARY.json [--script 429,503]

Listens on 127.0.0.1 (a free port, written to PORT_FILE once listening) and accepts
POST /v1/metrics (ExportMetricsServiceRequest) and POST /v1/logs (ExportLogsServiceRequest),
as protobuf (application/x-protobuf) or OTLP JSON (application/json), optionally gzipped.

Strict: a body that does not decode, a protobuf body holding fields the official messages do
not define (its size differs from the re-encoded message's), or an unknown JSON field is an
error: answered 400 and listed under "errors" in the summary.

--script answers the first requests with these statuses (429 carries `Retry-After: 1`), then
200 with an empty response message.

The summary (rewritten after every request, atomically) holds:
  requests: [{path, content_type, content_encoding, bytes, status}]
  metrics:  {name: {type, unit, points: [{attributes, value | count, sum, min, max,
             bucket_counts, explicit_bounds, start_time_unix_nano, time_unix_nano}]}}
            (from the latest request that had the metric)
  logs:     {count, by_severity: {"13 WARN": n}, records: [the first 5,000, as dicts]}
  resource: the resource attributes of the latest request
  errors:   [str]
Stops after --max-seconds (default 120) or on SIGTERM.
"""

import argparse
import gzip
import http.server
import json
import os
import signal
import sys
import threading

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

MAX_RECORDS = 5000
LOCK = threading.Lock()
SUMMARY = {
    "requests": [],
    "metrics": {},
    "logs": {"count": 0, "by_severity": {}, "records": []},
    "resource": {},
    "errors": [],
}


def any_value(v):
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "int_value":
        return v.int_value
    if kind == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, kind)


def attributes(kvs):
    return {kv.key: any_value(kv.value) for kv in kvs}


def number(p):
    kind = p.WhichOneof("value")
    return None if kind is None else getattr(p, kind)


def summarize_metrics(req):
    for rm in req.resource_metrics:
        SUMMARY["resource"] = attributes(rm.resource.attributes)
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                entry = {"type": kind, "unit": m.unit, "description": m.description, "points": []}
                data = getattr(m, kind)
                if kind == "sum":
                    entry["is_monotonic"] = data.is_monotonic
                if kind in ("sum", "histogram"):
                    entry["temporality"] = data.aggregation_temporality
                for p in data.data_points:
                    point = {
                        "attributes": attributes(p.attributes),
                        "start_time_unix_nano": p.start_time_unix_nano,
                        "time_unix_nano": p.time_unix_nano,
                    }
                    if kind == "histogram":
                        point.update(
                            count=p.count,
                            sum=p.sum if p.HasField("sum") else None,
                            min=p.min if p.HasField("min") else None,
                            max=p.max if p.HasField("max") else None,
                            bucket_counts=list(p.bucket_counts),
                            explicit_bounds=list(p.explicit_bounds),
                        )
                    else:
                        point["value"] = number(p)
                    entry["points"].append(point)
                SUMMARY["metrics"][m.name] = entry


def summarize_logs(req):
    logs = SUMMARY["logs"]
    for rl in req.resource_logs:
        SUMMARY["resource"] = attributes(rl.resource.attributes)
        for sl in rl.scope_logs:
            for r in sl.log_records:
                logs["count"] += 1
                key = f"{r.severity_number} {r.severity_text}"
                logs["by_severity"][key] = logs["by_severity"].get(key, 0) + 1
                if len(logs["records"]) < MAX_RECORDS:
                    logs["records"].append(
                        {
                            "time_unix_nano": r.time_unix_nano,
                            "observed_time_unix_nano": r.observed_time_unix_nano,
                            "severity_number": r.severity_number,
                            "severity_text": r.severity_text,
                            "body": any_value(r.body),
                            "attributes": attributes(r.attributes),
                        }
                    )


def write_summary(path):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(SUMMARY, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    script = []
    out = None

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        encoding = self.headers.get("Content-Encoding")
        types = {
            "/v1/metrics": (ExportMetricsServiceRequest, ExportMetricsServiceResponse, summarize_metrics),
            "/v1/logs": (ExportLogsServiceRequest, ExportLogsServiceResponse, summarize_logs),
        }
        with LOCK:
            status, error = 200, None
            if Handler.script:
                status = Handler.script.pop(0)
            if self.path not in types:
                status, error = 404, f"unknown path {self.path}"
            elif status == 200:
                req_type, _, summarize = types[self.path]
                try:
                    raw = gzip.decompress(body) if encoding == "gzip" else body
                    req = req_type()
                    if ctype == "application/x-protobuf":
                        req.ParseFromString(raw)
                        if req.ByteSize() != len(raw):
                            raise ValueError(
                                f"{len(raw)} bytes, re-encoded {req.ByteSize()}: fields the official messages do not define"
                            )
                    elif ctype == "application/json":
                        json_format.Parse(raw.decode("utf-8"), req)
                    else:
                        raise ValueError(f"unexpected Content-Type {ctype!r}")
                    summarize(req)
                except Exception as e:  # noqa: BLE001 - every failure is reported
                    status, error = 400, f"{self.path}: {type(e).__name__}: {e}"
            SUMMARY["requests"].append(
                {
                    "path": self.path,
                    "content_type": ctype,
                    "content_encoding": encoding,
                    "bytes": len(body),
                    "status": status,
                }
            )
            if error:
                SUMMARY["errors"].append(error)
            write_summary(Handler.out)
        if status == 200:
            resp_type = types[self.path][1]
            if ctype == "application/json":
                payload, rtype = b"{}", "application/json"
            else:
                payload, rtype = resp_type().SerializeToString(), "application/x-protobuf"
        else:
            payload, rtype = (error or "scripted failure").encode(), "text/plain"
        self.send_response(status)
        self.send_header("Content-Type", rtype)
        self.send_header("Content-Length", str(len(payload)))
        if status == 429:
            self.send_header("Retry-After", "1")
        self.end_headers()
        self.wfile.write(payload)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--script", default="")
    ap.add_argument("--max-seconds", type=float, default=120)
    args = ap.parse_args()
    Handler.script = [int(s) for s in args.script.split(",") if s.strip()]
    Handler.out = args.out
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    write_summary(args.out)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(tmp, args.port_file)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    timer = threading.Timer(args.max_seconds, server.shutdown)
    timer.daemon = True
    timer.start()
    server.serve_forever()
    with LOCK:
        write_summary(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
