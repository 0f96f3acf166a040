"""A stand-in for Grafana 11's HTTP API that keeps what it is sent and records every request.

Grafana itself cannot be installed here (no package in the registries this machine reaches, and no
downloads), so ``firegw dashboards push`` is tested against this local server. It keeps folders,
datasources and dashboards the way Grafana's HTTP API does, with the response shapes Grafana documents.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeGrafana(ThreadingHTTPServer):
    """Keeps folders, datasources and dashboards like Grafana 11's HTTP API and records every request.

    Only the endpoints ``push`` may use exist; anything else is a 404 the test will notice. Responses have
    the shapes Grafana documents (``secureJsonFields`` instead of secrets, ``meta.folderUid``, ``id`` and
    ``version`` added to stored dashboards).
    """

    def __init__(self, token: str = "test-token", basic: tuple[str, str] = ("admin", "secret")) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.token = token
        self.basic = basic
        self.requests: list[tuple[str, str, Any]] = []
        self.headers_seen: list[dict[str, str]] = []
        self.folders: dict[str, dict[str, Any]] = {}
        self.datasources: dict[str, dict[str, Any]] = {}
        self.dashboards: dict[str, dict[str, Any]] = {}
        self.next_id = 1

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def calls(self) -> list[tuple[str, str]]:
        return [(method, path) for method, path, _ in self.requests]

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id


class _Handler(BaseHTTPRequestHandler):
    server: FakeGrafana

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _reply(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        header = self.headers.get("Authorization", "")
        user, password = self.server.basic
        basic = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        return header in (f"Bearer {self.server.token}", basic)

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        path = urllib.parse.urlsplit(self.path).path
        self.server.requests.append((method, path, body))
        self.server.headers_seen.append(dict(self.headers))
        if not self._authorised():
            self._reply(401, {"message": "Unauthorized"})
            return
        s = self.server
        m = re.fullmatch(r"/api/folders/([^/]+)", path)
        if method == "GET" and m:
            folder = s.folders.get(m.group(1))
            self._reply(200, folder) if folder else self._reply(404, {"message": "folder not found"})
        elif method == "POST" and path == "/api/folders":
            if body["uid"] in s.folders:
                self._reply(409, {"message": "a folder with the same uid already exists"})
                return
            s.folders[body["uid"]] = {
                "id": s.new_id(),
                "uid": body["uid"],
                "title": body["title"],
                "version": 1,
            }
            self._reply(200, s.folders[body["uid"]])
        elif method == "PUT" and m:
            folder = s.folders[m.group(1)]
            folder.update(title=body["title"], version=folder["version"] + 1)
            self._reply(200, folder)
        elif (m := re.fullmatch(r"/api/datasources/uid/([^/]+)", path)) and method == "GET":
            source = s.datasources.get(m.group(1))
            if source is None:
                self._reply(404, {"message": "Data source not found"})
                return
            shown = {k: v for k, v in source.items() if k != "secureJsonData"}
            shown["secureJsonFields"] = {k: True for k in source.get("secureJsonData", {})}
            self._reply(200, shown)
        elif method == "POST" and path == "/api/datasources":
            if any(d["name"] == body["name"] for d in s.datasources.values()):
                self._reply(409, {"message": "data source with the same name already exists"})
                return
            source = {
                "id": s.new_id(),
                "orgId": 1,
                "isDefault": False,
                "readOnly": False,
                "basicAuth": False,
                **body,
            }
            s.datasources[body["uid"]] = source
            self._reply(200, {"datasource": source, "id": source["id"], "message": "Datasource added"})
        elif (m := re.fullmatch(r"/api/datasources/uid/([^/]+)", path)) and method == "PUT":
            old = s.datasources[m.group(1)]
            if old.get("readOnly"):
                self._reply(403, {"message": "Cannot update read-only data source"})
                return
            secrets = {**old.get("secureJsonData", {}), **body.get("secureJsonData", {})}
            s.datasources[m.group(1)] = {**old, **body, "secureJsonData": secrets}
            self._reply(200, {"message": "Datasource updated", "id": old["id"]})
        elif (m := re.fullmatch(r"/api/dashboards/uid/([^/]+)", path)) and method == "GET":
            stored = s.dashboards.get(m.group(1))
            if stored is None:
                self._reply(404, {"message": "Dashboard not found"})
                return
            self._reply(200, stored)
        elif method == "POST" and path == "/api/dashboards/db":
            dashboard = body["dashboard"]
            old = s.dashboards.get(dashboard["uid"])
            if old is not None and old["meta"].get("provisioned"):
                self._reply(400, {"message": "Cannot save provisioned dashboard"})
                return
            if body.get("folderUid") not in s.folders:
                self._reply(400, {"message": "folder not found"})
                return
            version = old["dashboard"]["version"] + 1 if old else 1
            ident = old["dashboard"]["id"] if old else s.new_id()
            s.dashboards[dashboard["uid"]] = {
                "dashboard": {**dashboard, "id": ident, "version": version},
                "meta": {"folderUid": body["folderUid"], "provisioned": False, "version": version},
            }
            self._reply(200, {"status": "success", "uid": dashboard["uid"], "id": ident, "version": version})
        else:
            self._reply(404, {"message": "Not found"})

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")
