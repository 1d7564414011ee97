"""Prove every webhook before anything is written.

Each generated webhook.yaml is decoded the way Keptn's webhook-service decodes it, and each webhook in it is
run through the webhook-service simulation for realistic sample events of its type and hostile variants of
them (message absent, quotes, `;`, `%`, backticks, non-ASCII text, 5,000 characters...). Every request must
pass Keptn's checks, every body must pass PagerDuty's schema, and the behaviour must be what the profile
asked for: the right action and severity per result, one dedup key per service so that a passing event
resolves what a failing one opened, change events to the change endpoint.

Identical requests are proven once: a webhook that sits in several files (one per stage) is decoded with its
file (files alike but for their names once per shape: `keptn.decode_cache`), but simulated only once per
distinct request.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import operator
import os
import pickle
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from . import events, pagerduty, payload
from .keptn import gotemplate, webhook_service
from .keptn.decode_cache import DecodeCache, document
from .model import Notification, opening_and_closing
from .payload import RESULTS, SCRIPT_ROUTING_KEY, SEVERITIES
from .placeholders import kinds
from .problems import Problem, UserError
from .proofcache import ProofCache
from .render import WebhookFile, setting_path
from .write import atomic_write
from .yamlsource import format_path

# A routing key of the right shape for the proof; scripts get a placeholder instead, never a key.
PROOF_ROUTING_KEY = "PR00FR0UT1NGKEY0000000000000000K"



@dataclass
class SampleBody:
    """What PagerDuty would receive for one sample event: for send scripts and the README."""

    label: str
    url: str
    body: str
    action: str  # trigger severity, resolve, acknowledge, or change


@dataclass
class Proof:
    """The outcome for one notification: the bodies PagerDuty would receive for its sample events."""

    samples: list[SampleBody] = field(default_factory=list)


@dataclass
class ProofReport:
    proofs: dict[str, Proof] = field(default_factory=dict)  # by subscription id
    simulations: int = 0  # sample events run through the webhook-service simulation
    distinct_requests: int = 0  # requests proven (each distinct request once)
    reused: int = 0  # distinct requests an earlier run had proven (from the proof cache)


# Sample events are aimed at these names, and proofs run under this subscription ID, so one proof serves
# every notification with the same request: names print as they are (placeholders never transform them),
# so a body for project X is the sentinel body with the names replaced. Each proof checks that once, with a
# real simulation for the notification it was proven for (`_prove_shape`).
SENTINELS = ("kpdsentinelproject", "kpdsentinelstage", "kpdsentinelservice",
             "5e471ae1-0000-5000-8000-000000000000")

# Template work shared by every proof this process runs: requests differ in text but share their actions.
_MEMO = gotemplate.Memo()


@lru_cache(maxsize=None)
def _samples(event_type: events.EventType) -> tuple[tuple[str, str, tuple[str, str]], ...]:
    """Realistic samples and their hostile variants, aimed at the sentinel names, as JSON text.

    Each comes with the stage and service the sample had, used where a subscription covers every stage
    or service.
    """
    result = []
    for label, event in events.sample_events(event_type):
        data = event.get("data", {})
        original = (str(data.get("stage", "")), str(data.get("service", "")))
        for name, variant in [(label, event)] + [(f"{label}/{v}", e) for v, e in events.hostile_variants(event)]:
            variant.setdefault("data", {}).update(zip(("project", "stage", "service"), SENTINELS))
            result.append((name, json.dumps(variant), original))
    return tuple(result)


@lru_cache(maxsize=None)
def _sample_events(event_type: events.EventType) -> tuple[tuple[str, dict, tuple[str, str]], ...]:
    """`_samples` decoded once for every proof: the simulation and the checks only read an event."""
    return tuple((label, json.loads(text), original) for label, text, original in _samples(event_type))


@dataclass
class _ShapeProof:
    """The outcome for every webhook of one shape: the first rule broken, or the sentinel sample bodies."""

    failure: tuple[str, str, tuple | None, str] | None = None  # message, hint, setting key, sample label
    bodies: list[tuple[str, str, str, str, tuple[str, str]]] = field(default_factory=list)  # label, url, body, action, stage/service
    exact_only: bool = False  # substitution failed its check: simulate every notification's samples

    def entry(self) -> dict:
        """As the proof cache keeps it (passing proofs only)."""
        return {"exact_only": self.exact_only, "bodies": [[*body[:4], list(body[4])] for body in self.bodies]}

    @classmethod
    def from_entry(cls, entry: dict) -> _ShapeProof:
        return cls(bodies=[(*body[:4], tuple(body[4])) for body in entry["bodies"]], exact_only=entry["exact_only"])


class ProofStore:
    """Proofs shared by the processes of one run, as files in a folder: a request proven by one process is
    not proven again by another.

    A process claims a request before proving it (an exclusive create), so that two never prove the same
    one at once; one that finds a claim without a proof yet makes other projects first (`Prover.ready`).
    """

    def __init__(self, folder: Path):
        self.folder = folder

    def get(self, key: str) -> _ShapeProof | None:
        try:
            return pickle.loads((self.folder / f"{key}.proof").read_bytes())
        except FileNotFoundError:
            return None

    def claim(self, key: str) -> bool:
        try:
            os.close(os.open(self.folder / f"{key}.claim", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return False
        except OSError as exc:
            raise self._failed(exc) from None
        return True

    def put(self, key: str, proof: _ShapeProof) -> None:
        try:
            atomic_write(self.folder / f"{key}.proof", pickle.dumps(proof))
        except OSError as exc:
            raise self._failed(exc) from None

    def _failed(self, exc: OSError) -> UserError:
        return UserError([Problem(str(self.folder), message=f"cannot write the proofs the run's processes share: "
                                                            f"{exc.strerror}",
                                  hint="free some space in the temporary folder, or point TMPDIR at another")])


class Prover:
    """Proves webhook files project by project, remembering every request it has proven already."""

    def __init__(self, store: ProofStore | None = None, cache: ProofCache | None = None) -> None:
        self.report = ProofReport()
        self._shapes: dict[tuple, _ShapeProof] = {}  # by `_shape`
        self._done: set[str] = set()
        self._store = store
        self._cache = cache
        self._decoded: dict[str, object] = {}  # webhook.yaml document -> decoded config, between ready and prove
        self._decodes = DecodeCache()  # files that differ only in names are decoded once per process

    def ready(self, files: list[WebhookFile]) -> bool:
        """False when another process is proving a request these files need (or taking it from the proof cache):
        make another project first."""
        if self._store is None:
            return True
        waiting = False
        for file in files:
            config = self._decode(file)
            if config is None:
                continue
            for hook in file.webhooks:
                found = webhook_service.find_webhook(config, hook.notification.subscription_id)
                if found is None:
                    continue
                shape = _shape(config, found, hook.notification)
                if shape in self._shapes:
                    continue
                key = _shape_digest(shape)
                proof = self._store.get(key)
                if proof is not None:
                    self._shapes[shape] = proof
                elif not self._store.claim(key):
                    waiting = True
                else:  # the claim holder takes it from the proof cache, or proves it, for every process
                    proof = self._cached(key) or self._prove_new(key, config, found, hook.notification)
                    self._shapes[shape] = proof
                    self._store.put(key, proof)
        return not waiting

    def forget_store(self) -> None:
        """Prove everything here from now on (another process took too long)."""
        self._store = None

    def prove(self, files: list[WebhookFile]) -> None:
        """Raise `UserError` with one located problem per failing webhook; record sample bodies otherwise."""
        problems: list[Problem] = []
        for file in files:
            try:
                config = self._config(file)
            except webhook_service.DecodeError as exc:
                problems.append(Problem(file.output_path, 1, 1, "", f"Keptn would not load this file: {exc}",
                                        "a template in templates/ produces an invalid webhook.yaml; fix the template"))
                continue
            for hook in file.webhooks:
                problems.extend(self._prove_webhook(file, config, hook.notification))
        self._decoded.clear()
        if problems:
            raise UserError(sorted(set(problems)))

    def _decode(self, file: WebhookFile):
        try:
            return self._config(file)
        except webhook_service.DecodeError:
            return None  # prove() reports it

    def _config(self, file: WebhookFile):
        """The decoded file; files that differ only in their header comment, like a project's files for its
        stages, are decoded once (an error names the lines of the text it came from: errors are not kept),
        and files that differ only in their project's name and subscription IDs, once per process."""
        key = document(file.text)
        config = self._decoded.get(key)
        if config is None:
            names = [file.project.name, *(hook.notification.subscription_id for hook in file.webhooks)]
            config = self._decoded[key] = self._decodes.decode(file.text, names, key)
        return config

    def _cached(self, key: str) -> _ShapeProof | None:
        """The proof an earlier run made of this request, from the proof cache."""
        entry = self._cache.get(key) if self._cache is not None else None
        if entry is None:
            return None
        if entry.get("run") != self._cache.run:  # not stored by another process of this run
            self.report.reused += 1
        return _ShapeProof.from_entry(entry)

    def _prove_new(self, key: str, config, webhook, n: Notification) -> _ShapeProof:
        proof = _prove_shape(config, webhook, n)
        self.report.distinct_requests += 1
        self.report.simulations += len(_samples(n.event))
        if self._cache is not None and proof.failure is None:
            self._cache.put(key, proof.entry())
        return proof

    def _prove_webhook(self, file: WebhookFile, config, n: Notification) -> list[Problem]:
        found = webhook_service.find_webhook(config, n.subscription_id)
        if found is None:
            return [Problem(file.output_path, 1, 1, "", f"no webhook with subscriptionID {n.subscription_id}",
                            "a template in templates/ drops webhooks; fix the template")]
        if n.subscription_id in self._done:
            return []
        self._done.add(n.subscription_id)
        wrong_secret = _secret_problem(file, found, n)
        if wrong_secret:
            return [wrong_secret]
        shape = _shape(config, found, n)
        proof = self._shapes.get(shape)
        if proof is None:
            key = _shape_digest(shape)
            proof = self._shapes[shape] = self._cached(key) or self._prove_new(key, config, found, n)
        if proof.failure:
            return [_problem(n, file, proof.failure)]
        bodies = _bodies(proof, config, found, n)
        if isinstance(bodies, Problem):
            return [dataclasses.replace(bodies, details=(f"output file: {file.output_path}", *bodies.details))]
        self.report.proofs[n.subscription_id] = Proof(bodies)
        return []


def _secret_problem(file: WebhookFile, webhook, n: Notification) -> Problem | None:
    """The secret Keptn reads must be the one the profile names. Proofs run under a stand-in secret, and
    requests that differ only in it share one, so the reference is checked here, for each webhook: a name
    or key that YAML reads as something else (`null`, `-`) would make Keptn send an empty routing key."""
    secret = n.pagerduty["routing_key_secret"]
    expected = ((payload.ENV_NAME, secret["name"], secret["key"]),)
    found = tuple(tuple(env) for env in webhook.env_from)
    if found == expected:
        return None
    read = " and ".join(f"{env[0]} from key {env[2]!r} of secret {env[1]!r}" for env in found) or "no secret"
    path = ("pagerduty", "routing_key_secret")
    return n.profile.problem(path, f"Keptn would read {read}, not {payload.ENV_NAME} from key {secret['key']!r} "
                                   f"of secret {secret['name']!r} as the profile says",
                             "a template in templates/ writes the secret reference so that YAML reads it "
                             "differently (quote it); fix the template",
                             details=(f"output file: {file.output_path}",
                                      f"webhook: {n.event.type} (subscriptionID {n.subscription_id})"))


def _shape(config, webhook, n: Notification) -> tuple:
    """What decides the outcome of a proof: the request, its secrets and sending rules, the event, the results.

    Names are left out on purpose: the samples are aimed at sentinel names (see SENTINELS). Requests with
    equal shapes share one proof: in a run by this tuple, across processes and runs by its `_shape_digest`.
    """
    results = n.settings.get("results")
    head = (config.api_version, tuple(e[0] for e in webhook.env_from), webhook.send_started, webhook.send_finished,
            n.event.type, n.settings.get("kind"),
            tuple(sorted(results.items())) if isinstance(results, dict) else repr(results))
    return (head, *map(_REQUEST_FIELDS, webhook.requests))


def _shape_digest(shape: tuple) -> str:
    """A `_shape` as a file name, for the proofs shared between processes and runs."""
    head, *requests = shape
    parts = [repr(head)]
    for fields in requests:
        for value in fields:  # texts as they are, each after its length: a repr costs more
            text, kind = (value, "s") if type(value) is str else (repr(value), "r")
            parts.append(f"{kind}{len(text)}:{text}")
    return hashlib.sha256("".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


# Every field of a request, as a plain tuple (a dataclass's own repr is Python code, and slower).
_REQUEST_FIELDS = operator.attrgetter(*(f.name for f in dataclasses.fields(webhook_service.Request)))


def prove(files: list[WebhookFile]) -> ProofReport:
    """Prove all `files` at once (see `Prover`)."""
    prover = Prover()
    prover.prove(files)
    return prover.report


def _prove_shape(config, webhook, n: Notification) -> _ShapeProof:
    proof = _ShapeProof()
    secrets = _stand_in_secrets(webhook)
    dedup_keys: dict[str, str] = {}
    validated: dict[tuple[str, str], list] = {}
    sentinel_webhook = dataclasses.replace(webhook, subscription_id=SENTINELS[3])
    for label, event, original in _sample_events(n.event):
        simulation = webhook_service.simulate(config, sentinel_webhook, event, secrets, memo=_MEMO,
                                              event_key=(n.event, label))  # as `_samples` tells them apart
        failure = _check_one(n, event, simulation, dedup_keys, validated)
        if failure:
            proof.failure = failure + (label,)
            return proof
        if "/" not in label:
            # The scripts fill the key in by text, so their body is this one with the key swapped for the marker.
            result = simulation.results[0]
            body = (result.body or "").replace(PROOF_ROUTING_KEY, SCRIPT_ROUTING_KEY)
            proof.bodies.append((label, result.url or "", body, _action(result.json_body), original))
    if proof.bodies:  # check, once, that this notification's names put in by text give what Keptn would send
        label, url, body, action, original = proof.bodies[0]
        names = _names(n, original)
        exact, error = _exact(config, webhook, _samples(n.event)[0][1], names)
        proof.exact_only = error is not None or exact != _substitute(body, names)
    return proof


def _stand_in_secrets(webhook) -> dict[tuple[str, str], str]:
    """Every secret the webhook reads, holding the proof's routing key (`_secret_problem` checks the names)."""
    return {(env[1], env[2]): PROOF_ROUTING_KEY for env in webhook.env_from}


def _names(n: Notification, original: tuple[str, str]) -> tuple[str, str, str, str]:
    return (n.project, n.stages[0] if n.stages else original[0], n.services[0] if n.services else original[1],
            n.subscription_id)


def _substitute(text: str, names: tuple[str, ...]) -> str:
    """`text` with each sentinel replaced by its name (in one pass: a name is never searched for sentinels)."""
    pieces = _cut(text)
    if len(pieces) == 1:
        return text
    out = pieces.copy()
    for i in range(1, len(out), 2):
        out[i] = names[out[i]]
    return "".join(out)


_SENTINEL = re.compile("|".join(map(re.escape, SENTINELS)))


@lru_cache(maxsize=4096)
def _cut(text: str) -> list:
    """`text` cut at its sentinels: its pieces, with the index of the sentinel between each two. A proof's
    sample bodies are cut once and filled in for every notification the proof serves."""
    pieces: list = []
    start = 0
    for match in _SENTINEL.finditer(text):
        pieces += (text[start:match.start()], SENTINELS.index(match.group()))
        start = match.end()
    pieces.append(text[start:])
    return pieces


def _bodies(proof: _ShapeProof, config, webhook, n: Notification) -> list[SampleBody] | Problem:
    """The sample bodies for this notification's own project, stage and service, or the problem its names
    cause: the proof ran under sentinel names, and real ones can form what Keptn refuses (`NAMES_CAN_FORM`)."""
    result = []
    for label, url, body, action, original in proof.bodies:
        names = _names(n, original)
        error = None
        if proof.exact_only:
            body, error = _exact(config, webhook, _sample_text(n, label), names)
        else:
            body = _substitute(body, names)
            if NAMES_CAN_FORM in body:  # a proven body has none: these names made it
                error = _exact(config, webhook, _sample_text(n, label), names)[1] or _DENIED_BY_NAMES
        if error is not None:
            return n.profile.problem(
                n.path, f"with these names Keptn's webhook-service would fail this request: {short_error(error)}",
                f"Keptn refuses every request that contains {NAMES_CAN_FORM}: rename, or put another separator "
                f"than / around the name placeholders of this event's texts",
                details=(f"webhook: {n.event.type} (subscriptionID {n.subscription_id})",
                         f"names: project {names[0]}, stage {names[1]}{'' if n.stages else ' (from a sample event)'}, "
                         f"service {names[2]}{'' if n.services else ' (from a sample event)'}",
                         f"sample event: {n.event.short} [{label}]"))
        result.append(SampleBody(label, _substitute(url, names), body, action))
    return result


# The one text Keptn refuses that names (lower-case letters, digits, `-`) can help to form: every other denied
# text is made only of characters that no name has.
NAMES_CAN_FORM = "/var/run"
_DENIED_BY_NAMES = f"curl command contains denied character '{NAMES_CAN_FORM}'"
assert NAMES_CAN_FORM in webhook_service.DENIED_CHARACTERS


def _sample_text(n: Notification, label: str) -> str:
    return next(text for lbl, text, _ in _samples(n.event) if lbl == label)


def _exact(config, webhook, text: str, names: tuple[str, ...]) -> tuple[str, str | None]:
    """The body Keptn would send for this sample aimed at these names, or its error."""
    event = json.loads(text)
    event["data"].update(zip(("project", "stage", "service"), names))
    secrets = _stand_in_secrets(webhook)
    simulation = webhook_service.simulate(config, webhook, event, secrets)
    if simulation.ignored or simulation.error:
        return "", simulation.ignored or simulation.error
    return (simulation.results[0].body or "").replace(PROOF_ROUTING_KEY, SCRIPT_ROUTING_KEY), None


def _problem(n: Notification, file: WebhookFile, failure: tuple[str, str, tuple | None, str]) -> Problem:
    rule, hint, key, label = failure
    path = setting_path(n, key) if key else n.path
    file_name, line, column = n.profile.origin(path)
    return Problem(file_name, line, column, format_path(path), rule, hint,
                   details=(f"output file: {file.output_path}",
                            f"webhook: {n.event.type} (subscriptionID {n.subscription_id})",
                            f"sample event: {n.event.short} [{label}]"))


def _action(body: object) -> str:
    if not isinstance(body, dict):
        return "?"
    if "event_action" not in body:
        return "change"
    if body["event_action"] == "trigger":
        return body.get("payload", {}).get("severity", "?")
    return str(body["event_action"])


def _check_one(n: Notification, event: dict, simulation: webhook_service.Simulation, dedup_keys: dict[str, str],
               validated: dict[tuple[str, str], list]) -> tuple[str, str, tuple | None] | None:
    """The first rule this sample's simulation breaks, as (message, hint, setting key), or None.

    `validated` keeps PagerDuty's verdict on bodies already seen: samples that differ only in fields a
    request does not use give the same body.
    """
    if simulation.ignored or (simulation.error and not simulation.results):
        return (f"Keptn's webhook-service would not run this webhook: {simulation.ignored or simulation.error}",
                "check the event type and the secret reference", None)
    for result in simulation.results:
        if result.error:
            hint = (_TOO_LONG_HINT if result.error.endswith("argument list too long") else
                    "check the placeholders of this event's texts; see the troubleshooting table in README.md")
            return (f"Keptn's webhook-service would fail this request: {short_error(result.error)}", hint, None)
        if result.argv and (grown := _with_longest_names(result.argv)) > webhook_service.MAX_ARGUMENT_BYTES:
            return (f"with names of {_NAME_MAX} characters an argument Keptn passes to curl reaches {grown} bytes; "
                    f"Linux takes at most {webhook_service.MAX_ARGUMENT_BYTES}, so Keptn could not run curl",
                    _TOO_LONG_HINT, None)
        if result.json_body is None:
            return ("the body Keptn would send is not valid JSON",
                    "check templates given with --templates; with the bundled templates this is a bug to report", None)
        url_path = urlsplit(result.url or "").path
        key = (url_path, result.body or "")
        violations = validated.get(key)
        if violations is None:
            violations = validated[key] = pagerduty.validate_event(url_path, result.json_body)
        if violations:
            first = violations[0]
            return (f"PagerDuty would reject the body (400): {first.message}",
                    "shorten or fix the text that fills this field", _setting_for(first.path))
        expected = _expected(n, event)
        if n.settings.get("kind") == "change":
            if url_path != pagerduty.CHANGE_URL_PATH:
                return ("a change event is not sent to the change endpoint", "", None)
            continue
        body = result.json_body
        action = body.get("event_action")
        severity = body.get("payload", {}).get("severity")
        if expected in SEVERITIES and (action != "trigger" or severity != expected):
            return (f"expected trigger with severity {expected}, the body says {action} {severity}", "", ("results",))
        if expected not in SEVERITIES and action != expected:
            return (f"expected {expected}, the body says {action}", "", ("results",))
        scope = f"{event['data'].get('stage')}/{event['data'].get('service')}"
        known = dedup_keys.setdefault(scope, body.get("dedup_key", ""))
        if known != body.get("dedup_key") and _stable(n):
            return (f"the dedup key differs between sample events of one service ({known!r} and "
                    f"{body.get('dedup_key')!r}), so a resolve would not reach the alert a failure opened",
                    "keep per-event fields out of the dedup key", ("dedup_key",))
    if simulation.sent_back:
        return (f"the webhook-service would send {', '.join(simulation.sent_back)} back to Keptn for a request that "
                f"went well, which changes the task's outcome", "", None)
    return None


_TOO_LONG_HINT = ("Keptn passes the body to curl as one argument, which Linux limits to 128 KiB: shorten this "
                  "event's texts (custom_details, summary, links)")
_NAME_MAX = int(kinds()["name"]["max_length"])  # type: ignore[call-overload]


def _with_longest_names(argv: tuple[str, ...]) -> int:
    """Bytes of the longest argument once every sentinel name in it is a name of the longest kind: proofs
    run under sentinel names, and a body grows with the names it prints. 0 for short arguments (a character
    is at most 4 bytes; a sentinel, at least 16 characters, grows by less than 3 times its length)."""
    longest = 0
    for arg in argv:
        if len(arg) * 7 > webhook_service.MAX_ARGUMENT_BYTES:
            growth = sum(arg.count(s) * (_NAME_MAX - len(s)) for s in SENTINELS[:3])
            longest = max(longest, webhook_service.argument_bytes(arg) + growth)
    return longest


def short_error(error: str) -> str:
    """Keptn quotes the whole command in its errors; the reason after it is what a reader needs."""
    prefix = "could not execute request '"
    if error.startswith(prefix) and "': " in error:
        return "could not execute request '...': " + error.rsplit("': ", 1)[1]
    flat = " ".join(error.split())
    return flat if len(flat) <= 300 else flat[:300] + "..."


def _stable(n: Notification) -> bool:
    """One event type that both opens and closes alerts: its dedup key must not change between events."""
    return all(opening_and_closing(n.settings.get("results", {})))


def _expected(n: Notification, event: dict) -> str:
    result = event.get("data", {}).get("result") or "none"
    if result not in RESULTS:
        result = "none"
    results = n.settings.get("results", {})
    return results.get(result, results.get("none", "info"))


def _setting_for(json_path: str) -> tuple | None:
    mapping = {"payload.summary": ("summary",), "payload.source": ("source",), "dedup_key": ("dedup_key",),
               "payload.component": ("component",), "payload.group": ("group",), "payload.class": ("class",)}
    return mapping.get(json_path)
