"""An in-process stand-in for the parts of Keptn's HTTP API that configure-keptn.sh calls.

Why: the generated setup script must be exercised with real curl against something that answers
like Keptn (paths, status codes, error bodies), without a cluster. Behaviour follows the source of
keptn/keptn 1.4.5 (unchanged since 0.19.0 for these handlers):

- api-gateway nginx (installer/manifests/keptn/templates/api-gateway-nginx.yaml): x-token checked for
  every /api/... call, 401 body below, client_max_body_size 5m (values.yaml) checked before auth.
- shipyard-controller (internal/handler/uniformintegrationhandler.go, internal/db/mongodb_uniform_repo.go).
- resource-service (handler/*_resource_handler.go, handler/resource_manager.go, handler/common.go,
  models/resource.go, errors/errors.go).
- secret-service (pkg/handler/secrethandler.go, pkg/backend/secretbackend_k8s.go, pkg/model/secret.go).

Deliberate differences are listed on KeptnApiStandIn.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
import posixpath
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, unquote_plus, urlsplit

WEBHOOK_SERVICE = "webhook-service"
# Keptn ids an integration by sha1("<name>-<namespace>-<node>") (go-utils IntegrationID.Hash).
WEBHOOK_SERVICE_ID = hashlib.sha1(b"webhook-service-keptn-standin-node").hexdigest()
MAX_BODY_BYTES = 5 * 1024 * 1024  # nginx "client_max_body_size 5m"
SECRET_SCOPES = ("dynatrace-service", "keptn-default", "keptn-prometheus-service", "keptn-webhook-service")
DEFAULT_PROJECTS: dict[str, Any] = {"sockshop": {"stages": {"staging": ["carts"], "production": ["carts"]}}}

# nginx answers these itself; "return 401 '...'" has no default_type, hence text/plain.
_NGINX_401 = b'{"code":401, "message":"unauthenticated or invalid credentials"}'
_NGINX_413 = (
    b"<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n"
    b"<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
_NO_DOCUMENTS = "mongo: no documents in result"
_INVALID_FORMAT = "Invalid request format"  # resource-service, for any JSON it cannot bind
_K8S_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_K8S_KEY = re.compile(r"[-._a-zA-Z0-9]+")


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the stand-in saw it; the x-token value is redacted in `headers`."""

    method: str
    path: str  # raw, with query string
    headers: dict[str, str]  # lower-case names
    body: bytes
    authenticated: bool
    token: str | None = field(default=None, repr=False)  # what was sent, for assertions only

    def json(self) -> Any:
        """The body parsed as JSON, so tests can assert on what a script sent."""
        return json.loads(self.body)


@dataclass
class _Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Request:
    method: str
    params: dict[str, str]
    query: dict[str, list[str]]
    body: bytes

    def arg(self, name: str) -> str:
        return self.query.get(name, [""])[0]


class _BadJSON(Exception):
    """A body Go's encoding/json (via gin's ShouldBindJSON) would refuse."""


def _go_json(status: int, obj: Any) -> _Response:
    """JSON like gin's c.JSON: compact, and <, >, & escaped as Go's encoder does."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        text = text.replace(char, escaped)
    return _Response(status, text.encode())


def _error(status: int, message: str) -> _Response:
    return _go_json(status, {"code": status, "message": message})


def _go_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    return {str: "string", int: "number", float: "number", dict: "object", list: "array"}.get(type(value), "null")


def _fold(obj: dict[str, Any]) -> dict[str, Any]:
    """Go matches JSON keys to struct fields case-insensitively."""
    return {key.lower(): value for key, value in obj.items()}


def _load_object(body: bytes, go_type: str) -> dict[str, Any]:
    """Decode a JSON object the way Go does: empty body is EOF, null is an empty struct."""
    if not body.strip():
        raise _BadJSON("EOF")
    try:
        doc = json.loads(body)
    except ValueError as exc:  # Go words this differently ("invalid character ..."); same status
        raise _BadJSON(f"invalid character in JSON: {exc}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise _BadJSON(f"json: cannot unmarshal {_go_kind(doc)} into Go value of type {go_type}")
    return _fold(doc)


def _optional(value: Any, want: type, where: str, go_type: str) -> Any:
    """Return value if it is null or of the wanted JSON type, else fail like Go's Unmarshal."""
    if value is not None and not isinstance(value, want):
        raise _BadJSON(f"json: cannot unmarshal {_go_kind(value)} into Go struct field {where} of type {go_type}")
    return value


def _decode_subscription(body: bytes) -> dict[str, Any]:
    """Bind an apimodels.EventSubscription; None keeps Go's nil-slice apart from an empty list."""
    doc = _load_object(body, "models.EventSubscription")
    event = _optional(doc.get("event"), str, "EventSubscription.event", "string") or ""
    raw_filter = _optional(doc.get("filter"), dict, "EventSubscription.filter", "models.EventSubscriptionFilter")
    raw_filter = _fold(raw_filter or {})
    result_filter: dict[str, list[str] | None] = {}
    for key in ("projects", "stages", "services"):
        items = _optional(raw_filter.get(key), list, f"EventSubscription.filter.{key}", "[]string")
        for item in items or []:
            _optional(item, str, f"EventSubscription.filter.{key}", "string")
        result_filter[key] = None if items is None else [item or "" for item in items]
    return {"event": event, "filter": result_filter}


def _subscription_problem(subscription: dict[str, Any], check_project: bool) -> str | None:
    """UniformParamsValidator's rules, including its nil-versus-empty quirks."""
    if not subscription["event"]:
        return "the event must be specified when setting up a subscription"
    flt = subscription["filter"]
    if flt["services"] is not None and flt["stages"] is None:
        return "at least one stage must be specified when setting up a subscription filter for a service"
    if check_project and (flt["projects"] is None or len(flt["projects"]) > 1):
        return "webhook should refer to exactly one project"
    return None


def _decode_resources(body: bytes) -> list[tuple[str, str]]:
    """Bind CreateResourcesPayload into (resourceURI, resourceContent) pairs."""
    doc = _load_object(body, "models.CreateResourcesPayload")
    items = _optional(doc.get("resources"), list, "resources", "[]models.Resource") or []
    pairs = []
    for item in items:
        item = _fold(_optional(item, dict, "resources", "models.Resource") or {})
        uri = _optional(item.get("resourceuri"), str, "Resource.resourceURI", "string") or ""
        content = _optional(item.get("resourcecontent"), str, "Resource.resourceContent", "string") or ""
        pairs.append((uri, content))
    return pairs


def _b64decode(content: str) -> bytes | None:
    """Go's base64.StdEncoding: padding required, CR and LF ignored; None when invalid."""
    try:
        return base64.b64decode(content.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        return None


def _uri_invalid(uri: str) -> bool:
    return "~" in uri or ".." in uri


def _query_unescape(raw: str) -> str | None:
    """Go's url.QueryUnescape ('+' is a space); None where Go would return an error."""
    if re.search(r"%(?![0-9A-Fa-f]{2})", raw):
        return None
    return unquote_plus(raw)


def _file_key(uri: str) -> str:
    """The path a resourceURI lands on: Go joins "<dir>/" + uri, so "/a//b" and "a/b" are one file."""
    return posixpath.normpath("/" + uri).lstrip("/")


class KeptnApiStandIn:
    """A threaded HTTP server answering like Keptn's API gateway and the services behind it.

    Differences from a real Keptn 1.4.5, chosen on purpose:
    - strict_subscriptions=True (default) applies the subscription rules Keptn declares
      (event required; services need stages; webhook-service PUT needs exactly one project).
      The real handlers pass a pointer to a validator that only matches values, so Keptn 0.19-1.4.5
      accepts all of these; strict_subscriptions=False reproduces that.
    - A known path with an unsupported method answers 405 (gin there answers 404 "404 page not found").
    - Resources are keyed per level (project, stage, service, uri); Keptn's branch layout, where a
      stage-level "carts/x" is the service-level "x" of carts, is not modelled.
    - A request body must carry Content-Length (no chunked uploads).
    """

    def __init__(
        self,
        token: str,
        projects: dict[str, Any] | None = None,
        secrets: list[dict[str, Any]] | None = None,
        *,
        strict_subscriptions: bool = True,
    ) -> None:
        self.token = token
        self.strict_subscriptions = strict_subscriptions
        self._lock = threading.Lock()
        self._projects = copy.deepcopy(DEFAULT_PROJECTS if projects is None else projects)
        self._integrations = {i["id"]: i for i in _initial_integrations()}
        self._resources: dict[tuple[str, str | None, str | None, str], bytes] = {}
        self._commits: dict[str, str] = {}
        self._secrets: dict[str, dict[str, Any]] = {}
        for secret in secrets or []:
            data = dict(secret.get("data") or {})
            self._secrets[secret["name"]] = {"scope": secret.get("scope") or "keptn-default", "data": data}
        self._requests: list[RecordedRequest] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._routes = self._route_table()

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> "KeptnApiStandIn":
        """Listen on a free port of 127.0.0.1 in a background thread."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="keptn-api-standin", daemon=True)  # short poll: quick stop()
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening; safe to call twice."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join()
            self._server = self._thread = None

    def __enter__(self) -> "KeptnApiStandIn":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL; the API lives under $url/api like behind Keptn's gateway."""
        if self._server is None:
            raise RuntimeError("stand-in is not running")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def webhook_service_id(self) -> str:
        """The fixed id the webhook-service is registered under, for building expected paths."""
        return WEBHOOK_SERVICE_ID

    # --- state for assertions --------------------------------------------------------------

    def subscriptions(self, integration_id: str = WEBHOOK_SERVICE_ID) -> dict[str, dict[str, Any]]:
        """Subscription id -> {"event", "filter"} of one integration (the webhook-service by default)."""
        with self._lock:
            subs = self._integrations[integration_id]["subscriptions"]
            return {s["id"]: {"event": s["event"], "filter": copy.deepcopy(s["filter"])} for s in subs}

    def resources(self) -> dict[tuple[str, str | None, str | None, str], bytes]:
        """(project, stage or None, service or None, uri) -> decoded file content."""
        with self._lock:
            return dict(self._resources)

    def secrets(self) -> dict[str, dict[str, Any]]:
        """Secret name -> {"scope", "data"}, values included (GET never shows them; POST echoes them)."""
        with self._lock:
            return copy.deepcopy(self._secrets)

    def requests(self) -> list[RecordedRequest]:
        """Every request received, in order."""
        with self._lock:
            return list(self._requests)

    def unauthenticated_requests(self) -> list[RecordedRequest]:
        """Requests that lacked the right x-token: a setup script should make none."""
        return [r for r in self.requests() if not r.authenticated]

    # --- request handling ------------------------------------------------------------------

    def _handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes, too_large: bool) -> _Response:
        """Gateway order: body size, then token, then the service's routing."""
        sent = headers.get("x-token")
        authenticated = sent == self.token
        shown = dict(headers, **({"x-token": "<redacted>"} if sent is not None else {}))
        with self._lock:
            self._requests.append(RecordedRequest(method, raw_path, shown, body, authenticated, sent))
        if too_large:
            return _Response(413, _NGINX_413, "text/html")
        parts = urlsplit(raw_path)
        if not parts.path.startswith("/api/"):
            return _Response(404, b"404 page not found", "text/plain")
        if not authenticated:
            return _Response(401, _NGINX_401, "text/plain")
        for pattern, methods in self._routes:
            match = pattern.fullmatch(parts.path)
            if match is None:
                continue
            handler = methods.get(method)
            if handler is None:
                return _Response(405, b"405 method not allowed", "text/plain", {"Allow": ", ".join(sorted(methods))})
            params = {k: v for k, v in match.groupdict().items() if v is not None}
            request = _Request(method, params, parse_qs(parts.query), body)
            with self._lock:
                return handler(request)
        return _Response(404, b"404 page not found", "text/plain")

    def _route_table(self) -> list[tuple[re.Pattern[str], dict[str, Callable[[_Request], _Response]]]]:
        registration = "/api/controlPlane/v1/uniform/registration"
        level = (r"/api/resource-service/v1/project/(?P<project>[^/]+)"
                 r"(?:/stage/(?P<stage>[^/]+)(?:/service/(?P<service>[^/]+))?)?")
        routes = [
            (registration, {"GET": self._get_registrations}),
            (registration + r"/(?P<integration>[^/]+)/subscription",
             {"GET": self._list_subscriptions, "POST": self._create_subscription}),
            (registration + r"/(?P<integration>[^/]+)/subscription/(?P<subscription>[^/]+)",
             {"GET": self._get_subscription, "PUT": self._put_subscription, "DELETE": self._delete_subscription}),
            (level + "/resource", {"POST": self._write_resources, "PUT": self._write_resources}),
            (level + r"/resource/(?P<uri>[^/]+)",
             {"GET": self._get_resource, "PUT": self._put_resource, "DELETE": self._delete_resource}),
            ("/api/secrets/v1/secret", {"GET": self._get_secrets, "POST": self._create_secret,
                                        "PUT": self._update_secret, "DELETE": self._delete_secret}),
            ("/api/secrets/v1/scope", {"GET": lambda _r: _go_json(200, {"scopes": list(SECRET_SCOPES)})}),
        ]
        return [(re.compile(path), methods) for path, methods in routes]

    # --- shipyard-controller: uniform registrations and subscriptions ----------------------

    def _get_registrations(self, req: _Request) -> _Response:
        def matches(integ: dict[str, Any]) -> bool:
            meta = integ["metadata"]
            wanted = [("id", integ["id"]), ("name", integ["name"]),
                      ("namespace", meta["kubernetesmetadata"]["namespace"]), ("hostname", meta["hostname"])]
            if any(req.arg(key) and req.arg(key) != value for key, value in wanted):
                return False
            for key in ("project", "stage", "service"):
                values = [v for s in integ["subscriptions"] for v in (s["filter"][key + "s"] or [])]
                if req.arg(key) and req.arg(key) not in values:
                    return False
            return True

        return _go_json(200, [i for i in self._integrations.values() if matches(i)])

    def _integration_subs(self, req: _Request) -> list[dict[str, Any]] | None:
        integ = self._integrations.get(unquote(req.params["integration"]))
        return None if integ is None else integ["subscriptions"]

    def _list_subscriptions(self, req: _Request) -> _Response:
        subs = self._integration_subs(req)
        if subs is None:
            return _error(404, _NO_DOCUMENTS)
        return _go_json(200, subs or None)  # Go marshals the empty (nil) slice as null

    def _get_subscription(self, req: _Request) -> _Response:
        wanted = unquote(req.params["subscription"])
        found = [s for s in self._integration_subs(req) or [] if s["id"] == wanted]
        return _go_json(200, found[0]) if found else _error(404, _NO_DOCUMENTS)

    def _create_subscription(self, req: _Request) -> _Response:
        """POST: never checks the project, even for the webhook-service; unknown integration is 404."""
        try:
            sub = _decode_subscription(req.body)
        except _BadJSON as exc:
            return _error(400, str(exc))
        problem = self.strict_subscriptions and _subscription_problem(sub, check_project=False)
        if problem:
            return _error(400, problem)
        subs = self._integration_subs(req)
        if subs is None:
            return _error(404, _NO_DOCUMENTS)
        sub_id = str(uuid.uuid4())
        subs.append({"id": sub_id, **sub})
        return _go_json(201, {"id": sub_id})

    def _put_subscription(self, req: _Request) -> _Response:
        """PUT: create or replace under the caller's id; unknown integration is a 500 in Keptn."""
        try:
            sub = _decode_subscription(req.body)
        except _BadJSON as exc:
            return _error(400, str(exc))
        integ = self._integrations.get(unquote(req.params["integration"]))
        is_webhook = integ is not None and integ["name"] == WEBHOOK_SERVICE
        problem = self.strict_subscriptions and _subscription_problem(sub, check_project=is_webhook)
        if problem:
            return _error(400, problem)
        if integ is None:
            return _error(500, _NO_DOCUMENTS)
        sub_id = unquote(req.params["subscription"])
        new = {"id": sub_id, **sub}
        subs = integ["subscriptions"]
        index = next((i for i, s in enumerate(subs) if s["id"] == sub_id), None)
        if index is None:
            subs.append(new)
        else:
            subs[index] = new
        return _go_json(201, {"id": sub_id})

    def _delete_subscription(self, req: _Request) -> _Response:
        """DELETE: a missing subscription is still 200; an unknown integration is a 500."""
        subs = self._integration_subs(req)
        if subs is None:
            return _error(500, _NO_DOCUMENTS)
        wanted = unquote(req.params["subscription"])
        subs[:] = [s for s in subs if s["id"] != wanted]
        return _go_json(200, {})

    # --- resource-service ------------------------------------------------------------------

    def _context_error(self, req: _Request) -> _Response | None:
        """Keptn's answers for a level that does not exist (path values stay URL-encoded there)."""
        project, stage, service = (req.params.get(k) for k in ("project", "stage", "service"))
        if project not in self._projects:
            return _error(404, "Could not find credentials for upstream repository")  # no git-credentials-<p>
        stages = self._projects[project]["stages"]
        if stage is not None and stage not in stages:
            return _error(404, "Stage not found")
        if service is not None and service not in stages[stage]:
            return _error(404, "Service not found")
        return None

    def _level(self, req: _Request) -> tuple[str, str | None, str | None]:
        return req.params["project"], req.params.get("stage"), req.params.get("service")

    def _commit(self, project: str) -> dict[str, Any]:
        """A new fake commit id, answered like WriteResourceResponse."""
        commit = hashlib.sha1(f"{project}:{uuid.uuid4()}".encode()).hexdigest()
        self._commits[project] = commit
        return {"commitID": commit, "metadata": {"upstreamURL": _upstream(project), "version": commit}}

    def _write_resources(self, req: _Request) -> _Response:
        """POST (201) and PUT (200) on .../resource: both create or overwrite every file listed."""
        try:
            pairs = _decode_resources(req.body)
        except _BadJSON:
            return _error(400, _INVALID_FORMAT)
        decoded = []
        for uri, content in pairs:
            data = _b64decode(content)
            if data is None:
                return _error(400, "resource content is not base64 encoded")
            if _uri_invalid(uri):
                return _error(400, "invalid resource uri")
            decoded.append((_file_key(uri), data))
        problem = self._context_error(req)
        if problem:
            return problem
        if any(key in ("", ".") for key, _ in decoded):
            return _error(500, "Internal server error")  # Keptn would try to overwrite the directory itself
        for key, data in decoded:
            self._resources[(*self._level(req), key)] = data
        return _go_json(201 if req.method == "POST" else 200, self._commit(req.params["project"]))

    def _single_resource(self, req: _Request) -> tuple[Any, bytes, _Response | None]:
        """Checks of .../resource/{resourceURI} in Keptn's order: raw URI, PUT body, level, unescaping.

        Returns (storage key, decoded PUT content, error response or None).
        """
        raw, data = req.params["uri"], b""
        if _uri_invalid(raw):
            return None, data, _error(400, "invalid resource uri")
        if req.method == "PUT":
            try:
                doc = _load_object(req.body, "models.UpdateResourcePayload")
                content = _optional(doc.get("resourcecontent"), str, "resourceContent", "string") or ""
            except _BadJSON:
                return None, data, _error(400, _INVALID_FORMAT)
            data = _b64decode(content)
            if data is None:
                return None, b"", _error(400, "resource content is not base64 encoded")
        problem = self._context_error(req)
        if problem:
            return None, data, problem
        uri = _query_unescape(raw)  # Keptn maps a bad escape to an unmapped error: 500
        if uri is None or _file_key(uri) in ("", "."):
            return None, data, _error(500, "Internal server error")
        return (*self._level(req), _file_key(uri)), data, None

    def _get_resource(self, req: _Request) -> _Response:
        key, _, problem = self._single_resource(req)
        if problem:
            return problem
        if key not in self._resources:
            return _error(404, "Resource not found")
        project = req.params["project"]
        return _go_json(200, {
            "resourceContent": base64.b64encode(self._resources[key]).decode(),
            "resourceURI": req.params["uri"],  # Keptn echoes the path value, still URL-encoded
            "metadata": {"upstreamURL": _upstream(project), "version": self._commits.get(project, "")},
        })

    def _put_resource(self, req: _Request) -> _Response:
        key, data, problem = self._single_resource(req)
        if problem:
            return problem
        self._resources[key] = data
        return _go_json(200, self._commit(req.params["project"]))

    def _delete_resource(self, req: _Request) -> _Response:
        key, _, problem = self._single_resource(req)
        if problem:
            return problem
        if self._resources.pop(key, None) is None:
            return _error(404, "Resource not found")
        return _go_json(200, self._commit(req.params["project"]))

    # --- secret-service --------------------------------------------------------------------

    def _get_secrets(self, req: _Request) -> _Response:
        """Names, scopes and key names only; Kubernetes lists by name, keys are sorted here."""
        name, scope = req.arg("name"), req.arg("scope")
        items = [
            {"name": n, "scope": s["scope"], "keys": sorted(k for k in s["data"] if k)}
            for n, s in sorted(self._secrets.items())
            if (not name or n == name) and (not scope or s["scope"] == scope)
        ]
        return _go_json(200, {"Secrets": items})

    def _bind_secret(self, req: _Request) -> dict[str, Any]:
        doc = _load_object(req.body, "model.Secret")
        name = _optional(doc.get("name"), str, "Secret.name", "string") or ""
        scope = _optional(doc.get("scope"), str, "Secret.scope", "string") or ""
        data = _optional(doc.get("data"), dict, "Secret.data", "model.Data")
        for value in (data or {}).values():
            _optional(value, str, "Secret.data", "string")
        if not name:
            raise _BadJSON("Key: 'Secret.SecretMetadata.Name' "
                           "Error:Field validation for 'Name' failed on the 'required' tag")
        if data is not None:  # Go marshals map keys sorted; a JSON null value becomes ""
            data = {key: data[key] or "" for key in sorted(data)}
        return {"name": name, "scope": scope, "data": data}

    def _secret_problem(self, secret: dict[str, Any], verb: str) -> _Response | None:
        """Scope must be configured; then Kubernetes' own checks on the name and keys."""
        prefix = f"Unable to {verb} secret: "
        name, scope = secret["name"], secret["scope"]
        if scope not in SECRET_SCOPES:
            return _error(400, f"{prefix}unable to check defined scope {scope} for secret {name}: scope not found")
        if len(name) > 253 or any(len(k) > 253 for k in secret["data"] or {}):
            return _error(400, prefix + "name and key values must be no more than 253 characters")
        if not _K8S_NAME.fullmatch(name):
            return _error(500, f'{prefix}Secret "{name}" is invalid: metadata.name: Invalid value: "{name}": '
                               "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                               "'-' or '.', and must start and end with an alphanumeric character")
        bad_keys = [k for k in secret["data"] or {} if not _K8S_KEY.fullmatch(k)]
        if bad_keys:
            return _error(500, f'{prefix}Secret "{name}" is invalid: data[{bad_keys[0]}]: Invalid value: '
                               f'"{bad_keys[0]}": a valid config key must consist of alphanumeric characters, '
                               "'-', '_' or '.'")
        return None

    def _create_secret(self, req: _Request) -> _Response:
        """201 echoing the secret, values included, exactly as Keptn does."""
        try:
            secret = self._bind_secret(req)
        except _BadJSON as exc:
            return _error(400, f"Invalid request format: {exc}")
        secret["scope"] = secret["scope"] or "keptn-default"
        problem = self._secret_problem(secret, "create")
        if problem:
            return problem
        if secret["name"] in self._secrets:
            return _error(409, "Unable to create secret: secret already exists")
        self._secrets[secret["name"]] = {"scope": secret["scope"], "data": dict(secret["data"] or {})}
        return _go_json(201, secret)

    def _update_secret(self, req: _Request) -> _Response:
        """PUT replaces data and scope; unlike POST it does not default the scope."""
        try:
            secret = self._bind_secret(req)
        except _BadJSON as exc:
            return _error(400, f"Invalid request format: {exc}")
        problem = self._secret_problem(secret, "update")
        if problem:
            return problem
        if secret["name"] not in self._secrets:
            return _error(404, "Unable to update secret: secret not found")
        self._secrets[secret["name"]] = {"scope": secret["scope"], "data": dict(secret["data"] or {})}
        return _go_json(200, secret)

    def _delete_secret(self, req: _Request) -> _Response:
        name, scope = req.arg("name"), req.arg("scope")
        if not name or not scope:
            missing = "Name" if not name else "Scope"
            return _error(400, f"Invalid request format: Key: 'DeleteSecretQueryParams.{missing}' "
                               f"Error:Field validation for '{missing}' failed on the 'required' tag")
        if scope not in SECRET_SCOPES:
            return _error(400, f"Unable to delete secret: unable to check defined scope {scope} for secret {name}: "
                               "scope not found")
        if not any(s["scope"] == scope for s in self._secrets.values()):
            return _error(404, f"Unable to delete secret: could not delete secret {name} in scope {scope}: "
                               "secret not found")
        if self._secrets.pop(name, None) is None:
            return _error(404, "Unable to delete secret: secret not found")
        return _Response(200, b"", "text/plain")


def _upstream(project: str) -> str:
    return f"https://git.standin.invalid/keptn/{project}.git"


def _initial_integrations() -> list[dict[str, Any]]:
    """The webhook-service plus two core services, shaped like go-utils' Integration (id first)."""
    seen = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def integration(name: str, subscriptions: list[dict[str, Any]]) -> dict[str, Any]:
        integ_id = hashlib.sha1(f"{name}-keptn-standin-node".encode()).hexdigest()
        return {
            "id": integ_id,
            "name": name,
            "metadata": {
                "hostname": "standin-node",
                "integrationversion": "1.4.5",
                "distributorversion": "1.4.5",
                "location": "control-plane",
                "kubernetesmetadata": {"namespace": "keptn", "podname": f"{name}-0", "deploymentname": name},
                "lastseen": seen,
            },
            "subscriptions": subscriptions,
        }

    def sub(event: str) -> dict[str, Any]:
        return {"id": str(uuid.uuid4()), "event": event,
                "filter": {"projects": None, "stages": None, "services": None}}

    return [
        integration(WEBHOOK_SERVICE, []),
        integration("approval-service", [sub("sh.keptn.event.approval.triggered")]),
        integration("lighthouse-service",
                    [sub("sh.keptn.event.evaluation.triggered"), sub("sh.keptn.event.get-sli.finished")]),
    ]


def _handler_class(standin: KeptnApiStandIn) -> type[BaseHTTPRequestHandler]:
    """An HTTP/1.1 handler bound to one stand-in (HTTP/1.1 so curl's Expect: 100-continue is answered)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                self._send(_Response(411, b"stand-in needs Content-Length", "text/plain"), close=True)
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length <= MAX_BODY_BYTES else self._drain(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            self._send(standin._handle(self.command, self.path, headers, body, length > MAX_BODY_BYTES))

        def _drain(self, length: int) -> bytes:
            """Read and drop an oversized body so the client sees the 413, not a reset."""
            while length > 0:
                chunk = self.rfile.read(min(length, 1 << 20))
                if not chunk:
                    break
                length -= len(chunk)
            return b""

        def _send(self, response: _Response, close: bool = False) -> None:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output quiet
            pass

    return Handler
