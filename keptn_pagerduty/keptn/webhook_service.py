"""A faithful simulation of Keptn's webhook-service (keptn/keptn 0.19.x to 1.4.x), as a library.

Why: a webhook.yaml that looks fine can still be rejected, corrupted or made to fail by the
webhook-service, and Keptn says so only in a log line or a failed task. This module replays what the
service does with one file and one event, step by step, with Keptn's own error texts, so a generator
can prove its output before writing it.

The behaviour follows the Go source of keptn/keptn 1.4.5 (``webhook-service/lib/webhook_config.go``,
``lib/curl_executor.go``, ``lib/request_validator.go``, ``lib/ip_resolver.go``, ``lib/common.go``,
``handler/handler.go``), go-utils v0.20.4 (``pkg/sdk``, ``pkg/lib/v0_2_0``), gopkg.in/yaml.v3 and Go
1.20's ``fmt`` and ``net/url``. Where a step cannot be reproduced offline (DNS, running curl, HTTP
status), the docstring says what is assumed.

Flow of one event (``simulate``): task-event filter -> event decoding -> ``.started`` events ->
secrets -> for each request: create (URL deny list) -> template -> curl checks -> (curl runs) ->
``.finished`` events.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import yaml

from .gotemplate import Memo, StringMap, TemplateError, UnsupportedTemplateError, render

API_V1ALPHA1 = "webhookconfig.keptn.sh/v1alpha1"
API_V1BETA1 = "webhookconfig.keptn.sh/v1beta1"

#: ConfigMap ``keptn-webhook-config``, key ``denyList``, as Keptn's Helm chart installs it. The
#: webhook-service adds entries derived from KUBERNETES_SERVICE_HOST/PORT (cluster specific, not here).
DEFAULT_DENY_LIST: tuple[str, ...] = (
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
    "svc.cluster.local",
    "cluster.local",
    "localhost",
    "127.0.0.1",
    "::1",
)
#: v1alpha1 strings are checked against this list compiled into the service (``lib/common.go``),
#: never against the ConfigMap.
ALPHA_DENY_LIST: tuple[str, ...] = DEFAULT_DENY_LIST

DENIED_CHARACTERS: tuple[str, ...] = ("$", "|", ";", ">", "$(", " &", "&&", "`", "/var/run")
DENIED_OPTIONS: tuple[str, ...] = ("-o", "--output", "-F", "--form", "-T", "--upload-file", "-K", "--config")
REQUIRED_OPTIONS: tuple[str, ...] = ("--fail-with-body",)
SUPPORTED_METHODS: tuple[str, ...] = ("POST", "PUT", "GET", "HEAD")
#: The service execs curl with the command's arguments, and Linux takes an argument of at most this many bytes,
#: its NUL included (MAX_ARG_STRLEN, 32 pages of 4 KiB): a longer body never reaches curl. An argument that
#: holds a NUL is refused before that, by Go (EINVAL).
MAX_ARGUMENT_BYTES = 131072

_INVALID = "Webhook configuration invalid: "


class DecodeError(Exception):
    """The file would be rejected by Keptn (and skipped with a log line); ``str()`` is Keptn's text."""


@dataclass(frozen=True)
class Request:
    """One request. v1alpha1 strings set only ``raw``; mappings (v1beta1, or v1alpha1 too) set the rest.

    Fields that Keptn decodes to empty (absent, or not a string) are ``""``.
    """

    url: str | None
    method: str | None
    headers: tuple[tuple[str, str], ...]
    payload: str
    options: str
    raw: str | None


@dataclass(frozen=True)
class Webhook:
    type: str
    subscription_id: str
    send_finished: bool
    send_started: bool
    env_from: tuple[tuple[str, str, str], ...]  # (name, secretRef.name, secretRef.key)
    requests: tuple[Request, ...]


@dataclass(frozen=True)
class WebhookConfig:
    api_version: str
    webhooks: tuple[Webhook, ...]


@dataclass(frozen=True)
class RequestResult:
    """What became of one request.

    ``command`` is the rendered command (None if the request failed before rendering). ``argv`` is the
    argument list the service hands to exec, with ``"curl"`` as argv[0] and ending with
    ``--fail-with-body``. ``url``, ``method`` and ``body`` are read from argv as curl would get them:
    ``url`` is the last argument Keptn built for a mapping request (so a ``%``-corrupted command shows
    ``%!s(MISSING)``), the last non-option argument of a v1alpha1 string; ``body`` joins several
    ``--data`` values with ``&`` as curl does. ``error`` is Keptn's message (secrets masked) when Keptn
    refuses or fails the request; it is also ``Simulation.error``.
    """

    command: str | None
    argv: tuple[str, ...] | None
    url: str | None
    method: str | None
    body: str | None
    json_body: object | None
    error: str | None


@dataclass(frozen=True)
class Simulation:
    """Outcome for one event.

    ``sent_back`` lists the events the service sends to Keptn, in order, as full CloudEvent types;
    a ``.finished`` event with ``result: fail, status: errored`` carries the suffix ``":fail"``.
    ``error`` is the message Keptn logs (and puts in those ``.finished`` events); ``ignored`` says why
    the webhook never ran (the event was dropped before the handler; nothing is sent back).
    """

    results: tuple[RequestResult, ...]
    sent_back: tuple[str, ...]
    error: str | None = None
    ignored: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.ignored is None

    @property
    def fails_task(self) -> bool:
        """A ``.finished`` with result fail goes back: the user's task fails."""
        return any(e.endswith(":fail") for e in self.sent_back)

    @property
    def leaves_task_open(self) -> bool:
        """As many ``.started`` as ``.finished`` do not go back: the shipyard-controller finishes a task when
        the two counts are equal and above zero, so it waits forever (or, with ``.finished`` alone, ends
        the task when another service's ``.started`` makes the counts meet)."""
        started = sum(e.endswith(".started") for e in self.sent_back)
        return started != len(self.sent_back) - started


# --------------------------------------------------------------------------------------------------
# Decoding: gopkg.in/yaml.v3 into Keptn's structs, then DecodeWebHookConfigYAML's checks.
# --------------------------------------------------------------------------------------------------


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Composes nodes only; untagged scalars keep a marker tag so yaml.v3's own resolution can apply."""

    DEFAULT_SCALAR_TAG = "!implicit"
    yaml_implicit_resolvers: dict = {}

    def resolve(self, kind: type, value: object, implicit: object) -> str:
        """What PyYAML's resolver answers with no implicit or path resolvers, without its lookups: this runs
        for every node of every generated file."""
        if kind is yaml.ScalarNode:
            return self.DEFAULT_SCALAR_TAG
        return self.DEFAULT_SEQUENCE_TAG if kind is yaml.SequenceNode else self.DEFAULT_MAPPING_TAG


_TAG_PREFIX = "tag:yaml.org,2002:"

# yaml.v3 resolve() for plain scalars decoded into interface{} (requests and their fields).
_RESOLVE_MAP = {"true", "True", "TRUE", "false", "False", "FALSE", "", "~", "null", "Null", "NULL",
                ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF",
                "-.inf", "-.Inf", "-.INF"}
_NULLS = {"", "~", "null", "Null", "NULL"}
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_BOOLS_11 = {**{s: True for s in ("y", "Y", "yes", "Yes", "YES", "on", "On", "ON")},
             **{s: False for s in ("n", "N", "no", "No", "NO", "off", "Off", "OFF")}}
_YAML_INT = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|[0-9]+)\Z")
_YAML_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?\Z")
_YAML_TIMESTAMP = re.compile(
    r"\d{4}-\d{1,2}-\d{1,2}(?:[Tt]\d{1,2}:\d{1,2}:\d{1,2}(?:\.\d*)?(?:Z|[+-]\d{2}:\d{2})"
    r"| \d{1,2}:\d{1,2}:\d{1,2}(?:\.\d*)?)?\Z")


# A decoded non-string scalar (int, float, bool, timestamp): all that mapstructure needs to know.
_NOT_A_STRING = object()


def _resolve_tag(node: yaml.ScalarNode) -> str:
    """yaml.v3's resolved short tag of a scalar (only what decides string or not)."""
    if node.tag != "!implicit":  # an explicit tag
        tag = "!!" + node.tag[len(_TAG_PREFIX):] if node.tag.startswith(_TAG_PREFIX) else node.tag
        if tag not in ("!!int", "!!float", "!!bool", "!!null", "!!timestamp"):
            return "!!str"
        implicit = implicit_tag(node.value)
        if implicit == tag or (tag == "!!float" and implicit == "!!int"):
            return tag
        raise DecodeError(f"yaml: cannot decode {implicit} `{node.value}` as a {tag}")
    if node.style:  # quoted, literal or folded: always a string (plain is None, or "" with libyaml)
        return "!!str"
    return implicit_tag(node.value)


@functools.lru_cache(maxsize=4096)  # keys and short values repeat in every file
def implicit_tag(v: str) -> str:
    """yaml.v3's resolved short tag of a plain scalar with this text."""
    if v in _NULLS:
        return "!!null"
    if v in _BOOLS:
        return "!!bool"
    if v in _RESOLVE_MAP:
        return "!!float"
    first = v[0]
    if first == ".":
        try:
            float(v)
            return "!!float"
        except ValueError:
            return "!!str"
    if first in "+-0123456789":
        if _YAML_TIMESTAMP.match(v):
            return "!!timestamp"
        plain = v.replace("_", "")
        if _YAML_INT.match(plain):
            return "!!int"
        if _YAML_FLOAT.match(plain):
            return "!!float"
    return "!!str"


# Go struct shapes: ("struct", go type, {yaml key: shape}) | ("slice", go type, element) | "string" |
# "bool" | "iface".
_SECRET_REF = ("struct", "lib.WebHookSecretRef", {"key": "string", "name": "string"})
_ENV_FROM = ("struct", "lib.EnvFrom", {"secretRef": _SECRET_REF, "name": "string"})
_WEBHOOK = ("struct", "lib.Webhook", {
    "type": "string", "subscriptionID": "string", "sendFinished": "bool", "sendStarted": "bool",
    "envFrom": ("slice", "[]lib.EnvFrom", _ENV_FROM), "requests": ("slice", "[]interface {}", "iface")})
_CONFIG = ("struct", "lib.WebHookConfig", {
    "apiVersion": "string", "kind": "string",
    "metadata": ("struct", "lib.Metadata", {"name": "string"}),
    "spec": ("struct", "lib.WebHookConfigSpec", {"webhooks": ("slice", "[]lib.Webhook", _WEBHOOK)})})


class _YamlV3:
    """Decodes a PyYAML node tree the way yaml.v3 decodes into Keptn's structs, collecting type errors."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def terror(self, node: yaml.Node, go_type: str) -> None:
        if isinstance(node, yaml.ScalarNode):
            value = node.value
            value = f" `{value[:7]}...`" if len(value) > 10 else f" `{value}`"
            tag = _resolve_tag(node)
        else:
            value, tag = "", "!!seq" if isinstance(node, yaml.SequenceNode) else "!!map"
        self.errors.append(f"line {node.start_mark.line + 1}: cannot unmarshal {tag}{value} into {go_type}")

    def unique_keys(self, node: yaml.MappingNode) -> bool:
        pairs = node.value
        names = [key.value for key, _ in pairs if type(key) is yaml.ScalarNode]
        if len(set(names)) == len(names):  # the common case, in one pass
            return True
        before = len(self.errors)
        for i, (ki, _) in enumerate(pairs):
            for kj, _ in pairs[i + 1:]:
                if type(ki) is type(kj) and getattr(ki, "value", None) == getattr(kj, "value", None) \
                        and isinstance(ki, yaml.ScalarNode):
                    self.errors.append(f"line {kj.start_mark.line + 1}: mapping key {_go_quote(kj.value)} "
                                       f"already defined at line {ki.start_mark.line + 1}")
        return len(self.errors) == before

    def decode(self, node: yaml.Node, shape: Any) -> Any:
        """Returns the Go zero value's stand-in (None) when yaml.v3 would leave the target untouched."""
        if isinstance(node, yaml.MappingNode) and not self.unique_keys(node):
            return None  # yaml.v3 checks duplicate keys before looking at the target type
        if isinstance(node, yaml.ScalarNode) and shape != "iface" and _resolve_tag(node) == "!!null":
            return None
        if shape == "string":
            if isinstance(node, yaml.ScalarNode):
                return node.value
            self.terror(node, "string")
        elif shape == "bool":
            if isinstance(node, yaml.ScalarNode):
                tag = _resolve_tag(node)
                if tag == "!!bool":
                    return _BOOLS[node.value]
                if tag == "!!str" and node.value in _BOOLS_11:
                    return _BOOLS_11[node.value]
            self.terror(node, "bool")
        elif shape == "iface":
            return self.generic(node)
        elif shape[0] == "struct":
            if not isinstance(node, yaml.MappingNode):
                self.terror(node, shape[1])
            else:
                fields: dict[str, Any] = {}
                for key, value in node.value:
                    if not isinstance(key, yaml.ScalarNode):
                        self.terror(key, "string")  # a key is decoded into a string first
                    elif key.value in shape[2]:
                        fields[key.value] = self.decode(value, shape[2][key.value])
                return fields
        elif shape[0] == "slice":
            if not isinstance(node, yaml.SequenceNode):
                self.terror(node, shape[1])
                return None
            items = []
            for item in node.value:
                if shape[2] != "iface" and isinstance(item, yaml.ScalarNode) and _resolve_tag(item) == "!!null":
                    continue  # yaml.v3 drops null elements of a typed slice
                decoded = self.decode(item, shape[2])
                if decoded is not None or shape[2] == "iface":
                    items.append(decoded)
            return items
        return None

    def generic(self, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            tag = _resolve_tag(node)
            return node.value if tag == "!!str" else None if tag == "!!null" else _NOT_A_STRING
        if isinstance(node, yaml.SequenceNode):
            return [self.generic(n) for n in node.value]
        if not self.unique_keys(node):
            return None
        out: dict[Any, Any] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and _resolve_tag(key) == "!!str":
                out[key.value] = self.generic(value)
            else:  # a non-string key: never matched by mapstructure
                out[object()] = self.generic(value)
        return out


def _mapstructure_str(fields: Mapping[Any, Any], name: str) -> Any:
    """mapstructure's field lookup: exact name first, then case-insensitive (first in file order)."""
    if name in fields:
        return fields[name]
    folded = name.casefold()
    for key, value in fields.items():
        if isinstance(key, str) and key.casefold() == folded:
            return value
    return None


def _as_str(value: Any) -> str:
    """mapstructure without weak typing: a non-string is an (ignored) error and leaves ``""``."""
    return value if isinstance(value, str) else ""


def _to_request(item: Any) -> Request:
    """lib.ConvertToRequest (mapstructure.Decode, error ignored), or the raw v1alpha1 string."""
    if isinstance(item, str):
        return Request(url=None, method=None, headers=(), payload="", options="", raw=item)
    if not isinstance(item, dict):
        return Request(url="", method="", headers=(), payload="", options="", raw=None)
    headers = _mapstructure_str(item, "Headers")
    pairs: list[tuple[str, str]] = []
    if isinstance(headers, list):
        for header in headers:
            if isinstance(header, dict):
                pairs.append((_as_str(_mapstructure_str(header, "Key")), _as_str(_mapstructure_str(header, "Value"))))
            else:
                pairs.append(("", ""))
    return Request(url=_as_str(_mapstructure_str(item, "URL")),
                   method=_as_str(_mapstructure_str(item, "Method")),
                   headers=tuple(pairs),
                   payload=_as_str(_mapstructure_str(item, "Payload")),
                   options=_as_str(_mapstructure_str(item, "Options")),
                   raw=None)


def _verify_beta_request(request: Request) -> None:
    if not request.url:
        raise DecodeError(_INVALID + "webhook request URL empty")
    if not request.method:
        raise DecodeError(_INVALID + "webhook request method empty")
    if request.method not in SUPPORTED_METHODS:
        raise DecodeError(_INVALID + "unsupported webhook request method")
    for key, value in request.headers:
        if not key or not value:
            raise DecodeError(_INVALID + "webhook request header or value empty")


def _is_merge(node: yaml.Node) -> bool:
    """yaml.v3's isMerge: a plain `<<` key (or one tagged !!merge)."""
    return (isinstance(node, yaml.ScalarNode) and node.value == "<<"
            and (node.tag in (_Loader.DEFAULT_SCALAR_TAG, "!", _TAG_PREFIX + "merge") and not node.style))


def _merged(node: yaml.Node, done: dict[int, yaml.Node]) -> yaml.Node:
    """The node with yaml.v3's merge keys applied: a mapping's own keys first, then those of the mapping (or
    of each mapping of the sequence, in order) given to `<<` that it does not have yet. A mapping with two
    `<<` keys is left as it is, for the duplicate-key check to refuse."""
    if id(node) in done:  # an alias: the same node object, merged once
        return done[id(node)]
    if isinstance(node, yaml.SequenceNode):
        result: yaml.Node = yaml.SequenceNode(node.tag, [], node.start_mark, node.end_mark, node.flow_style)
        done[id(node)] = result
        result.value = [_merged(item, done) for item in node.value]
        return result
    if not isinstance(node, yaml.MappingNode):
        return node
    merges = [value for key, value in node.value if _is_merge(key)]
    result = yaml.MappingNode(node.tag, [], node.start_mark, node.end_mark, node.flow_style)
    done[id(node)] = result
    if len(merges) != 1:
        result.value = [(key, _merged(value, done)) for key, value in node.value]
        return result
    pairs = [(key, _merged(value, done)) for key, value in node.value if not _is_merge(key)]
    sources = merges[0].value if isinstance(merges[0], yaml.SequenceNode) else [merges[0]]
    seen = {key.value for key, _ in pairs if isinstance(key, yaml.ScalarNode)}
    for source in sources:
        source = _merged(source, done)
        if not isinstance(source, yaml.MappingNode):
            raise DecodeError("yaml: map merge requires map or sequence of maps as the value")
        for key, value in source.value:
            if not isinstance(key, yaml.ScalarNode) or key.value not in seen:
                pairs.append((key, value))
                if isinstance(key, yaml.ScalarNode):
                    seen.add(key.value)
    result.value = pairs
    return result


def _check_directives(text: str) -> None:
    """yaml.v3 reads YAML 1.1 only: a `%YAML 1.2` directive (which PyYAML accepts) makes Keptn skip the file."""
    for line in text.split("\n"):
        if line.startswith("---"):
            return
        words = line.split()
        if words[:1] == ["%YAML"] and words[1:2] != ["1.1"]:
            raise DecodeError("yaml: found incompatible YAML document")


def decode(text: str) -> WebhookConfig:
    """Parse and validate a webhook.yaml as ``lib.DecodeWebHookConfigYAML`` does, or raise DecodeError.

    One bad entry invalidates the whole file, as in Keptn. YAML syntax errors carry PyYAML's wording
    (Keptn's would be yaml.v3's); type errors and the Keptn checks carry Keptn's exact text.
    """
    return config_of(compose(text))


def compose(text: str) -> yaml.Node | None:
    """The first document's node tree, merge keys applied, as yaml.v3 reads it (None for no document)."""
    if text.startswith("%") or "\n%" in text.partition("\n---")[0]:
        _check_directives(text)
    try:
        node = next(iter(yaml.compose_all(text, Loader=_Loader)), None)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f"line {mark.line + 1}: " if mark is not None else ""
        raise DecodeError(f"yaml: {line}{exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise DecodeError(f"yaml: {exc}") from None
    if node is not None and "<<" in text:
        node = _merged(node, {})
    return node


def config_of(node: yaml.Node | None) -> WebhookConfig:
    """Keptn's structs from a composed file, and DecodeWebHookConfigYAML's checks of them."""
    decoder = _YamlV3()
    root = decoder.decode(node, _CONFIG) if node is not None else None
    if decoder.errors:
        raise DecodeError("yaml: unmarshal errors:\n  " + "\n  ".join(decoder.errors))
    root = root or {}
    api_version = root.get("apiVersion") or ""
    if api_version not in (API_V1ALPHA1, API_V1BETA1):
        raise DecodeError(_INVALID + f"unsupported webhook configuration version '{api_version}'")
    raw_hooks = ((root.get("spec") or {}).get("webhooks")) or []
    if not raw_hooks:
        raise DecodeError(_INVALID + "missing 'webhooks[]' part")
    for hook in raw_hooks:
        if not hook.get("type"):
            raise DecodeError(_INVALID + "missing 'webhooks[].Type' part")
        if not hook.get("subscriptionID"):
            raise DecodeError(_INVALID + "missing 'webhooks[].SubscriptionID' part")
        if not hook.get("requests"):
            raise DecodeError(_INVALID + "missing 'webhooks[].Requests[]' part")
    webhooks = []
    for hook in raw_hooks:
        if api_version == API_V1BETA1:  # every entry goes through mapstructure; a string decodes to nothing
            requests = tuple(_to_request(item if isinstance(item, dict) else None) for item in hook["requests"])
            for request in requests:
                _verify_beta_request(request)
        else:
            requests = tuple(_to_request(item) for item in hook["requests"])
        env_from = tuple(((e.get("name") or ""), ((e.get("secretRef") or {}).get("name") or ""),
                          ((e.get("secretRef") or {}).get("key") or "")) for e in hook.get("envFrom") or ())
        send_started = hook.get("sendStarted")
        webhooks.append(Webhook(type=hook["type"], subscription_id=hook["subscriptionID"],
                                send_finished=bool(hook.get("sendFinished")),
                                send_started=True if send_started is None else send_started,
                                env_from=env_from, requests=requests))
    return WebhookConfig(api_version=api_version, webhooks=tuple(webhooks))


def find_webhook(config: WebhookConfig, subscription_id: str) -> Webhook | None:
    """The first webhook with this subscriptionID (Keptn never looks further)."""
    for webhook in config.webhooks:
        if webhook.subscription_id == subscription_id:
            return webhook
    return None


# --------------------------------------------------------------------------------------------------
# Building the command: handler.buildBetaCurlRequest and Go's fmt.Sprintf with string operands.
# --------------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=4096)
def build_command(api_version: str, request: Request) -> str:
    """The untemplated command string exactly as Keptn builds it.

    A v1alpha1 string is used as is. A mapping goes through Keptn's chain of ``fmt.Sprintf`` calls in
    which the string built so far is the *format*: a literal ``%`` in a header, the payload or the
    options is read as a verb by a later step (``90%}`` eats the URL: ``%!}(string=https://...)``
    then ``%!s(MISSING)``). ``api_version`` is accepted for symmetry; the request's form decides, as in
    Keptn's ``CreateRequest``.
    """
    if request.raw is not None:
        return request.raw
    command = ""
    if request.method:
        command = go_sprintf("curl --request %s", (request.method,))
    for key, value in request.headers:
        command = go_sprintf(command + " --header '%s: %s'", (key, value))
    if request.payload:
        command = go_sprintf(command + " --data '%s'", (request.payload,))
    if request.options:
        command = go_sprintf(command + " %s", (request.options,))
    if request.url:
        command = go_sprintf(command + " %s", (request.url,))
    return command


@dataclass
class _Fmt:
    sharp: bool = False
    zero: bool = False
    plus: bool = False
    minus: bool = False
    space: bool = False
    sharp_v: bool = False
    wid: int = 0
    wid_present: bool = False
    prec: int = 0
    prec_present: bool = False


def _parsenum(s: str, start: int, end: int) -> tuple[int, bool, int]:
    if start >= end:
        return 0, False, end
    num, isnum, i = 0, False, start
    while i < end and "0" <= s[i] <= "9":
        if num > 1_000_000:  # fmt's tooLarge
            return 0, False, end
        num, isnum, i = num * 10 + ord(s[i]) - 48, True, i + 1
    return num, isnum, i


def _parse_arg_number(s: str) -> tuple[int, int, bool]:
    if len(s) < 3:
        return 0, 1, False
    for i in range(1, len(s)):
        if s[i] == "]":
            width, ok, newi = _parsenum(s, 1, i)
            if not ok or newi != i:
                return 0, i + 1, False
            return width - 1, i + 1, True
    return 0, 1, False


def _arg_number(s: str, i: int, argnum: int, nargs: int, reordered: bool) -> tuple[int, int, bool, bool, bool]:
    """fmt's argNumber: (argnum, i, found, bad index, reordered) for an optional ``[n]``."""
    if i >= len(s) or s[i] != "[":
        return argnum, i, False, False, reordered
    index, wid, ok = _parse_arg_number(s[i:])
    if ok and 0 <= index < nargs:
        return index, i + wid, True, False, True
    return argnum, i + wid, ok, True, True


def _pad(f: _Fmt, s: str) -> str:
    if not f.wid_present or f.wid == 0:
        return s
    fill = ("0" if f.zero else " ") * (f.wid - len(s))
    return s + fill if f.minus else fill + s


def _fmt_s(f: _Fmt, s: str) -> str:
    if f.prec_present:
        s = s[:f.prec]
    return _pad(f, s)


def _fmt_q(f: _Fmt, s: str) -> str:
    if f.prec_present:
        s = s[:f.prec]
    if f.sharp and "`" not in s and all(c == "\t" or (c >= " " and c != "\x7f") for c in s) and "\ufeff" not in s:
        return _pad(f, "`" + s + "`")
    return _pad(f, _go_quote(s, ascii_only=f.plus))


def _fmt_sx(f: _Fmt, s: str, upper: bool) -> str:
    data = s.encode("utf-8", "surrogatepass")
    if f.prec_present:
        data = data[:f.prec]
    if not data:
        return ("0" if f.zero else " ") * f.wid if f.wid_present else ""
    x = "X" if upper else "x"
    pieces = [format(b, "02X" if upper else "02x") for b in data]
    if f.space:
        text = " ".join(("0" + x + p) if f.sharp else p for p in pieces)
    else:
        text = ("0" + x if f.sharp else "") + "".join(pieces)
    if f.wid_present and f.wid > len(text):
        fill = ("0" if f.zero else " ") * (f.wid - len(text))
        text = text + fill if f.minus else fill + text
    return text


def _print_arg(f: _Fmt, arg: str, verb: str) -> str:
    if verb == "T":
        return _fmt_s(f, "string")
    if verb == "v":
        return _fmt_q(f, arg) if f.sharp_v else _fmt_s(f, arg)
    if verb == "s":
        return _fmt_s(f, arg)
    if verb == "x" or verb == "X":
        return _fmt_sx(f, arg, verb == "X")
    if verb == "q":
        return _fmt_q(f, arg)
    # badVerb, %p included: the operand is printed with %v and the current flags
    return f"%!{verb}(string={_fmt_s(f, arg)})"


def go_sprintf(format_: str, args: Sequence[str]) -> str:
    """Go 1.20 ``fmt.Sprintf`` for string operands, errors included (``%!d(string=x)``, ``%!s(MISSING)``,
    ``%!(EXTRA ...)``, ``%!(NOVERB)``, ``%!(BADWIDTH)``, ``%!v(BADINDEX)``)."""
    out: list[str] = []
    end, i, argnum, nargs, reordered = len(format_), 0, 0, len(args), False
    while i < end:
        j = format_.find("%", i)
        if j < 0:
            out.append(format_[i:])
            break
        out.append(format_[i:j])
        i = j + 1
        f = _Fmt()
        good = True
        simple = False
        while i < end:
            c = format_[i]
            if c == "#":
                f.sharp = True
            elif c == "0":
                f.zero = not f.minus
            elif c == "+":
                f.plus = True
            elif c == "-":
                f.minus, f.zero = True, False
            elif c == " ":
                f.space = True
            else:
                if "a" <= c <= "z" and argnum < nargs:
                    if c == "v":
                        f.sharp_v, f.sharp, f.plus = f.sharp, False, False
                    out.append(_print_arg(f, args[argnum], c))
                    argnum, i, simple = argnum + 1, i + 1, True
                break
            i += 1
        if simple:
            continue

        argnum, i, after_index, bad, reordered = _arg_number(format_, i, argnum, nargs, reordered)
        good = good and not bad
        if i < end and format_[i] == "*":
            i += 1
            if argnum < nargs:  # a string is never a valid width
                argnum += 1
            out.append("%!(BADWIDTH)")
            after_index = False
        else:
            f.wid, f.wid_present, i = _parsenum(format_, i, end)
            if after_index and f.wid_present:
                good = False
        if i + 1 < end and format_[i] == ".":
            i += 1
            if after_index:
                good = False
            argnum, i, after_index, bad, reordered = _arg_number(format_, i, argnum, nargs, reordered)
            good = good and not bad
            if i < end and format_[i] == "*":
                i += 1
                if argnum < nargs:
                    argnum += 1
                f.prec, f.prec_present = 0, False
                out.append("%!(BADPREC)")
                after_index = False
            else:
                f.prec, f.prec_present, i = _parsenum(format_, i, end)
                if not f.prec_present:
                    f.prec, f.prec_present = 0, True
        if not after_index:
            argnum, i, after_index, bad, reordered = _arg_number(format_, i, argnum, nargs, reordered)
            good = good and not bad
        if i >= end:
            out.append("%!(NOVERB)")
            break
        verb = format_[i]
        i += 1
        if verb == "%":
            out.append("%")
        elif not good:
            out.append(f"%!{verb}(BADINDEX)")
        elif argnum >= nargs:
            out.append(f"%!{verb}(MISSING)")
        else:
            if verb == "v":
                f.sharp_v, f.sharp, f.plus = f.sharp, False, False
            out.append(_print_arg(f, args[argnum], verb))
            argnum += 1
    if not reordered and argnum < nargs:
        out.append("%!(EXTRA " + ", ".join("string=" + a for a in args[argnum:]) + ")")
    return "".join(out)


_QUOTE_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def _go_quote(s: str, ascii_only: bool = False) -> str:
    """strconv.Quote (QuoteToASCII with ``ascii_only``)."""
    out = ['"']
    for c in s:
        o = ord(c)
        if c == '"' or c == "\\":
            out.append("\\" + c)
        elif (o < 0x80 or not ascii_only) and c.isprintable() and not 0xD800 <= o <= 0xDFFF:
            out.append(c)
        elif 0xDC80 <= o <= 0xDCFF:  # an invalid UTF-8 byte (surrogateescape)
            out.append(f"\\x{o - 0xDC00:02x}")
        elif c in _QUOTE_ESCAPES:
            out.append(_QUOTE_ESCAPES[c])
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


# --------------------------------------------------------------------------------------------------
# Checks on the rendered command: lib.CmdCurlExecutor.parseArgs.
# --------------------------------------------------------------------------------------------------

class CurlCommandError(Exception):
    """Keptn refuses a command; ``str()`` is the webhook-service's message."""




_SPLIT_SPECIAL = re.compile(r"[ \t'\"\\]")


def split_command(command: str) -> list[str]:
    """Keptn's ``parseCommandLine``, quirks included.

    Quotes group text with no escaping inside; a backslash outside quotes takes the next character
    literally; the very first character is always taken literally. The Go code walks *bytes* and
    appends ``string(byte)``, so every non-ASCII character reaches curl double-encoded (``é`` becomes
    ``Ã©``): the returned strings hold exactly the runes Go holds. Raises ValueError on an unclosed quote.
    """
    text = command if command.isascii() else command.encode("utf-8", "surrogatepass").decode("latin-1")
    args: list[str] = []
    current: list[str] = [text[:1]]  # escapeNext starts true: the first character is literal
    in_arg, i, n = False, 1, len(text)
    while i < n:
        match = _SPLIT_SPECIAL.search(text, i)
        j = match.start() if match else n
        if j > i:
            current.append(text[i:j])
            in_arg = True
        if j == n:
            break
        c = text[j]
        if c == "\\":  # the next character, literally; the state does not change
            current.append(text[j + 1:j + 2])
            i = j + 2
        elif c == "'" or c == '"':
            close = text.find(c, j + 1)
            if close < 0:
                raise ValueError("unclosed quote in command")
            current.append(text[j + 1:close])
            args.append("".join(current))
            current, in_arg, i = [], False, close + 1
        else:  # space or tab
            if in_arg:
                args.append("".join(current))
                current, in_arg = [], False
            i = j + 1
    args.append("".join(current))
    return [a for a in args if a]


def check_command(command: str) -> list[str]:
    """The argv Keptn would exec for a rendered command (``curl`` first, ``--fail-with-body`` last).

    Raises ``CurlCommandError`` with Keptn's message when the command is refused.
    """
    args = _parse_args(command)
    return args + [o for o in REQUIRED_OPTIONS if o not in args]


def _parse_args(command: str) -> list[str]:
    """CmdCurlExecutor.parseArgs up to (not including) appending the required options, in Keptn's order."""
    words = command.split(" ")
    if len(words) == 1 and words[0] == "":
        raise CurlCommandError("no command provided")
    for char in DENIED_CHARACTERS:
        if char in command:
            raise CurlCommandError(f"curl command contains denied character '{char}'")
    try:
        args = split_command(command)
    except ValueError:
        raise CurlCommandError("could not parse curl command") from None
    if words[0] != "curl":
        raise CurlCommandError("only curl commands are allowed to be executed")
    for i, arg in enumerate(args):
        if arg.startswith(DENIED_OPTIONS):
            option = next(o for o in DENIED_OPTIONS if arg.startswith(o))
            raise CurlCommandError(f"curl command contains invalid option '{option}'")
        if arg == "--data" or arg == "-d":
            if i + 1 >= len(args):  # Keptn's bounds check is off by one: the goroutine panics
                raise CurlCommandError(f"panic: runtime error: index out of range [{i + 1}] with length {len(args)}"
                                 " (the webhook-service crashes)")
            if args[i + 1].startswith("@"):
                raise CurlCommandError("file uploads using @ in --data is not allowed")
    return args


# --------------------------------------------------------------------------------------------------
# URL checks before templating: handler.validateAlphaCurlRequest and lib.requestValidator.Validate.
# --------------------------------------------------------------------------------------------------

_HOST_OK = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~!$&'()*+,;=:[]<>\"")
_USERINFO_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._:~!$&'()*+,;=%@")
_HEX = frozenset(b"0123456789abcdefABCDEF")


class _URLError(Exception):
    pass


def _unescape_check(text: str, host: bool) -> None:
    """net/url unescape's validation (on bytes, as Go): well-formed %XX; a host allows only %80-%FF,
    %25 and a few ASCII characters."""
    s = text.encode("utf-8", "surrogatepass")
    i = 0
    while i < len(s):
        c = s[i]
        if c == 0x25:  # %
            if i + 2 >= len(s) or s[i + 1] not in _HEX or s[i + 2] not in _HEX:
                raise _URLError(f"invalid URL escape {_go_quote(s[i:i + 3].decode('utf-8', 'surrogateescape'))}")
            if host and int(chr(s[i + 1]), 16) < 8 and s[i:i + 3] != b"%25":
                raise _URLError(f"invalid URL escape {_go_quote(s[i:i + 3].decode())}")
            i += 3
            continue
        if host and c < 0x80 and c not in _HOST_OK:
            raise _URLError(f"invalid character {_go_quote(chr(c))} in host name")
        i += 1


def _valid_port(port: str) -> bool:
    return port == "" or (port[0] == ":" and all("0" <= c <= "9" for c in port[1:]))


def _url_hostname(raw: str) -> str:
    """Go 1.20 ``url.Parse(raw).Hostname()``; raises _URLError with Go's ``parse "...": ...`` text."""
    u, _, frag = raw.partition("#")
    try:
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in u):
            raise _URLError("net/url: invalid control character in URL")
        host = ""
        if u != "*":
            scheme, rest = "", u
            for i, c in enumerate(u):
                if c.isascii() and c.isalpha():
                    continue
                if c in "0123456789+-." and i > 0:
                    continue
                if c == ":":
                    if i == 0:
                        raise _URLError("missing protocol scheme")
                    scheme, rest = u[:i], u[i + 1:]
                break
            if rest.endswith("?") and rest.count("?") == 1:
                rest = rest[:-1]
            else:
                rest = rest.partition("?")[0]
            opaque = False
            if not rest.startswith("/"):
                if scheme:
                    opaque = True
                elif ":" in rest.partition("/")[0]:
                    raise _URLError("first path segment in URL cannot contain colon")
            if not opaque and rest.startswith("//") and (scheme or not rest.startswith("///")):
                authority, slash, path = rest[2:].partition("/")
                rest = slash + path
                userinfo, at, hostport = authority.rpartition("@")
                if hostport.startswith("["):
                    close = hostport.rfind("]")
                    if close < 0:
                        raise _URLError("missing ']' in host")
                    if not _valid_port(hostport[close + 1:]):
                        raise _URLError(f"invalid port {_go_quote(hostport[close + 1:])} after host")
                elif ":" in hostport and not _valid_port(hostport[hostport.rfind(":"):]):
                    raise _URLError(f"invalid port {_go_quote(hostport[hostport.rfind(':'):])} after host")
                _unescape_check(hostport, host=True)
                if at:
                    if any(c not in _USERINFO_OK for c in userinfo):
                        raise _URLError("net/url: invalid userinfo")
                    user, _, password = userinfo.partition(":")
                    _unescape_check(user, host=False)
                    _unescape_check(password, host=False)
                host = hostport
                colon = host.rfind(":")
                if colon >= 0 and _valid_port(host[colon:]):
                    host = host[:colon]
                if host.startswith("[") and host.endswith("]"):
                    host = host[1:-1]
            if not opaque:
                _unescape_check(rest, host=False)
    except _URLError as exc:
        raise _URLError(f"parse {_go_quote(u)}: {exc}") from None
    if frag:
        try:
            _unescape_check(frag, host=False)
        except _URLError as exc:
            raise _URLError(f"parse {_go_quote(raw)}: {exc}") from None
    return host


def _check_beta_url(url: str, deny_list: Sequence[str]) -> None:
    """lib.requestValidator.Validate on the *untemplated* URL.

    Keptn resolves the host by DNS first (so a templated host fails) and then checks each deny-list
    entry against the URL text and against the resolved IPs and their PTR names. Offline we assume a
    literal host name resolves and its IPs/PTR names are not denied; an IP-literal host is checked.
    An empty host name fails exactly as Go's resolver does.
    """
    if not url:
        raise CurlCommandError("curl command contains empty URL")
    try:
        hostname = _url_hostname(url)
    except _URLError as exc:
        raise CurlCommandError(str(exc)) from None
    if not hostname:
        raise CurlCommandError("lookup : no such host")
    try:
        ip = str(ipaddress.ip_address(hostname))
    except ValueError:
        ip = None
    for denied in deny_list:
        if denied in url:
            raise CurlCommandError(f"curl command contains denied URL '{denied}'")
        if ip is not None and denied in ip:
            raise CurlCommandError(f"curl command contains denied IP address '{denied}'")


@functools.lru_cache(maxsize=4096)
def _beta_url_problem(url: str, deny_list: tuple[str, ...]) -> str | None:
    """`_check_beta_url`'s message, or None: once per URL, as every sample event of a proof checks the same."""
    try:
        _check_beta_url(url, deny_list)
    except CurlCommandError as exc:
        return str(exc)
    return None


def _check_alpha_command(raw: str) -> None:
    """handler.validateAlphaCurlRequest: the fixed list, substring of the raw string minus backslashes."""
    sanitized = raw.replace("\\", "")
    for denied in ALPHA_DENY_LIST:
        if denied in sanitized:
            raise CurlCommandError(f"curl command contains denied URL '{denied}'")


# --------------------------------------------------------------------------------------------------
# The handler: event filtering, template data, per-request steps and the events sent back.
# --------------------------------------------------------------------------------------------------

_STRING_ATTRS = ("contenttype", "id", "shkeptncontext", "shkeptnspecversion", "specversion",
                 "triggeredid", "gitcommitid")
_RFC3339 = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})\Z")
_DATA_BODY_OPTIONS = frozenset(("-d", "--data", "--data-raw", "--data-binary", "--data-ascii"))
_METHOD_OPTIONS = frozenset(("-X", "--request"))
_VALUE_OPTIONS = frozenset((
    "-X", "--request", "-H", "--header", "-d", "--data", "--data-raw", "--data-binary", "--data-ascii",
    "--data-urlencode", "--json", "-m", "--max-time", "--connect-timeout", "-u", "--user", "-A",
    "--user-agent", "-e", "--referer", "-b", "--cookie", "-c", "--cookie-jar", "--retry", "--retry-delay",
    "--retry-max-time", "-x", "--proxy", "--cacert", "--cert", "-E", "--key", "-w", "--write-out", "--url",
    "--oauth2-bearer", "--resolve", "--connect-to", "-r", "--range", "-Y", "--speed-limit", "-y",
    "--speed-time"))


def is_task_event_type(event_type: str) -> bool:
    """go-utils IsTaskEventType: exactly five non-empty dot-separated parts."""
    parts = event_type.split(".")
    return len(parts) == 5 and all(parts)


def _go_time(value: Any) -> str:
    """time.Time through JSON: RFC 3339 in, RFC3339Nano out (trailing fraction zeros dropped, UTC as Z)."""
    if not isinstance(value, str):
        return "0001-01-01T00:00:00Z"
    m = _RFC3339.match(value)
    if not m:
        return value
    fraction = (m.group(2) or "")[:9].rstrip("0")
    zone = "Z" if m.group(3) in ("Z", "+00:00", "-00:00") else m.group(3)
    return m.group(1) + ("." + fraction if fraction else "") + zone


def _event_problem(data: Any) -> str | None:
    """lib.NewEventDataAdapter: keptnv2.EventData must decode and name project, stage and service."""
    if data is not None and not isinstance(data, dict):
        return "could not decode incoming event payload"
    data = data or {}
    for key in ("project", "stage", "service", "status", "result", "message"):
        if data.get(key) is not None and not isinstance(data[key], str):
            return "could not decode incoming event payload"
    labels = data.get("labels")
    if labels is not None and not (isinstance(labels, dict) and all(
            v is None or isinstance(v, str) for v in labels.values())):
        return "could not decode incoming event payload"
    if not (data.get("project") and data.get("stage") and data.get("service")):
        return "project, stage and service must be present in the event data"
    return None


def template_data(event: Mapping[str, Any], subscription_id: str, env: Mapping[str, str]) -> dict[str, Any]:
    """What the template sees: the event as go-utils' KeptnContextExtendedCE re-encodes it, plus ``env``.

    Unknown top-level keys are dropped, empty string attributes vanish (omitempty), ``source``/``type``
    are always there, ``time`` is re-encoded, and the distributor's subscription id is in
    ``.data.temporaryData.distributor.subscriptionID``. The event is not modified.
    """
    out: dict[str, Any] = {}
    for key in _STRING_ATTRS:
        value = event.get(key)
        if isinstance(value, str) and value:
            out[key] = value
    data = event.get("data")  # JSON numbers are float64 to the template simulator, ints included
    if data is None or isinstance(data, dict):  # controlplane's AddTemporaryData
        data = dict(data or {})
        tmp = data.get("temporaryData")
        if tmp is None and "temporaryData" not in data:
            data["temporaryData"] = {"distributor": {"subscriptionID": subscription_id}}
        elif isinstance(tmp, dict) and "distributor" in tmp:
            data["temporaryData"] = {**tmp, "distributor": {"subscriptionID": subscription_id}}
    out["data"] = data
    if event.get("extensions") is not None:
        out["extensions"] = event["extensions"]
    out["source"] = event.get("source")
    out["type"] = event.get("type")
    out["time"] = _go_time(event.get("time"))
    out["env"] = StringMap(env)  # Go map[string]string: `index .env "x"` of a missing key is ""
    return out


def _subscription_found(data: Any) -> bool:
    tmp = data.get("temporaryData") if isinstance(data, dict) else None
    dist = tmp.get("distributor") if isinstance(tmp, dict) else None
    sid = dist.get("subscriptionID") if isinstance(dist, dict) else None
    return isinstance(sid, str) and bool(sid)


def _mask(message: str, env: Mapping[str, str]) -> str:
    """handler.removeSecretsFromMessage (an empty secret value garbles the message, as in Go)."""
    for value in env.values():
        message = message.replace(value, "***")
    return message


def _read_argv(argv: Sequence[str], beta_url: str | None) -> tuple[str | None, str, str | None]:
    """URL, method and body as curl reads them from argv."""
    method, bodies, positional = None, [], []
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg in _VALUE_OPTIONS and i + 1 < len(argv):
            value = argv[i + 1]
            if arg in _METHOD_OPTIONS:
                method = value
            elif arg in _DATA_BODY_OPTIONS:
                bodies.append(value)
            elif arg == "--url":
                positional.append(value)
            i += 2
            continue
        if not arg.startswith("-"):
            positional.append(arg)
        i += 1
    body = "&".join(bodies) if bodies else None
    if method is None:
        method = "POST" if bodies else "HEAD" if ("-I" in argv or "--head" in argv) else "GET"
    url = beta_url if beta_url is not None else (positional[-1] if positional else None)
    return url, method, body


@functools.lru_cache(maxsize=256)
def _curl_input(rendered: str, mapping: bool) -> tuple[tuple[str, ...], str | None, str | None, str | None, object]:
    """What curl is given for a rendered command (`mapping`: a v1beta1 request): argv, URL, method, body, and
    the body as JSON (shared: not to be changed). Kept for recent commands, as sample events that differ only
    in fields a request does not use render the same command."""
    args = _parse_args(rendered)
    argv = args + [o for o in REQUIRED_OPTIONS if o not in args]
    url, method, body = _read_argv(argv, args[-1] if mapping else None)
    return tuple(argv), url, method, body, _json_or_none(body)


def refused_argument(argv: Sequence[str]) -> int:
    """Bytes of the first argument exec would refuse (over `MAX_ARGUMENT_BYTES`), its NUL included; 0 if none.
    Only long arguments are encoded: a character is at most 4 bytes."""
    for arg in argv:
        if len(arg) * 4 >= MAX_ARGUMENT_BYTES and (size := argument_bytes(arg)) > MAX_ARGUMENT_BYTES:
            return size
    return 0


def argument_bytes(arg: str) -> int:
    """Bytes of an argument as exec gets it, its NUL included."""
    return len(arg.encode("utf-8", "surrogatepass")) + 1


def _json_or_none(body: str | None) -> object | None:
    if body is None:
        return None
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except ValueError:
        return None


def _reject_constant(name: str) -> object:
    raise ValueError(name)


def simulate(config: WebhookConfig, webhook: Webhook | None, event: dict, secrets: dict[tuple[str, str], str],
             deny_list: tuple[str, ...] = DEFAULT_DENY_LIST, memo: Memo | None = None,
             event_key: object = None) -> Simulation:
    """Run one event through the webhook-service as ``handler.TaskHandler.Execute`` would.

    ``webhook`` None means no file held a matching webhook. ``secrets`` maps (secret name, key) to
    value: a secret with no entry at all cannot be read (an error); a missing key of a known secret
    renders as ``""``. ``deny_list`` is the ConfigMap list (plus any cluster entries) used for
    v1beta1 URLs; v1alpha1 strings use the fixed list. Curl itself is not run: an HTTP status >= 400
    would fail the request with ``.finished`` events as for any other failure.

    Raises UnsupportedTemplateError when the template uses something the template simulator cannot
    reproduce. A ``memo`` (see gotemplate.Memo) shares template work between simulations; ``event_key``, if
    given, names the event for it (equal keys: equal events).
    """
    event_type = event.get("type")
    if not isinstance(event_type, str) or not is_task_event_type(event_type):
        return Simulation((), (), ignored=f"Event type {event_type} does not match format for task events")
    triggered = event_type.endswith(".triggered")
    base = event_type.rsplit(".", 1)[0]
    started, finished, failed = base + ".started", base + ".finished", base + ".finished:fail"

    problem = _event_problem(event.get("data"))
    if problem is not None:  # sdkError only: automatic responses are off, nothing is sent
        return Simulation((), (), error="could not parse incoming event", ignored=problem)
    subscription_id = webhook.subscription_id if webhook is not None else "unknown"
    data = template_data(event, subscription_id, {})
    if not _subscription_found(data["data"]):
        return Simulation((), (), ignored="no subscription ID found in event")

    if webhook is None:  # onPreExecutionError
        error = "could not retrieve Webhook config: no valid webhook config found"
        return Simulation((), (started, failed) if triggered else (), error=error)

    sent: list[str] = []
    if triggered and webhook.send_started:
        sent += [started] * (1 if webhook.send_finished else len(webhook.requests))

    def fail(message: str, executed: int, results: Iterable[RequestResult], env: Mapping[str, str]) -> Simulation:
        if triggered:
            sent.extend([failed] * (1 if webhook.send_finished else len(webhook.requests) - executed))
        return Simulation(tuple(results), tuple(sent), error=_mask(message, env))

    known_secrets = {name for name, _ in secrets}
    env: dict[str, str] = {}
    for name, secret_name, key in webhook.env_from:
        if secret_name not in known_secrets:
            return fail(f"could not read secret {secret_name}.{key}", 0, (), {})
        env[name] = secrets.get((secret_name, key), "")
    data["env"] = StringMap(env)

    results: list[RequestResult] = []
    for executed, request in enumerate(webhook.requests):
        command = build_command(config.api_version, request)
        try:
            if request.raw is not None:
                _check_alpha_command(request.raw)
            elif (problem := _beta_url_problem(request.url or "", tuple(deny_list))) is not None:
                raise CurlCommandError(problem)
        except CurlCommandError as exc:
            message = f"creating CURL request failed: {exc}"
            results.append(RequestResult(None, None, None, None, None, None, _mask(message, env)))
            return fail(message, executed, results, env)
        try:
            rendered = render(command, data, "", memo,
                              None if event_key is None else (event_key, subscription_id, tuple(env.items())))
        except UnsupportedTemplateError:
            raise
        except TemplateError as exc:
            message = f"could not parse request '{command}' : {exc}"
            results.append(RequestResult(None, None, None, None, None, None, _mask(message, env)))
            return fail(message, executed, results, env)
        try:
            argv, url, method, body, json_body = _curl_input(rendered, request.raw is None)
        except CurlCommandError as exc:
            message = f"could not execute request '{command}': {exc}"
            results.append(RequestResult(rendered, None, None, None, None, None, _mask(message, env)))
            if str(exc).startswith("panic:"):  # the process dies: nothing more is sent
                return Simulation(tuple(results), tuple(sent), error=_mask(message, env))
            return fail(message, executed, results, env)
        nul = any("\0" in arg for arg in argv)  # Go refuses it before exec (EINVAL)
        if nul or refused_argument(argv):
            reason = "invalid argument" if nul else "argument list too long"
            message = f"could not execute request '{command}': fork/exec /usr/bin/curl: {reason}"
            results.append(RequestResult(rendered, argv, url, method, body, json_body, _mask(message, env)))
            return fail(message, executed, results, env)
        results.append(RequestResult(rendered, argv, url, method, body, json_body, None))
    if triggered and webhook.send_finished:
        sent.append(finished)
    return Simulation(tuple(results), tuple(sent))
