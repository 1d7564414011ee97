"""A file decoded from its shape must decode exactly as the file itself: same config, or the same error."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from keptn_pagerduty.keptn import webhook_service
from keptn_pagerduty.keptn.decode_cache import DecodeCache, document

BASE = """\
{directive}# Header for {name}: a comment.
---
apiVersion: {api}
kind: WebhookConfig
metadata:
  name: webhook-configuration
spec:
  webhooks:
    # From profiles/{name}.yaml: {comment}
    - type: sh.keptn.event.evaluation.finished
      subscriptionID: {sid}
      sendFinished: false
      envFrom:
        - name: routingKey
          secretRef:
            name: "pagerduty"
            key: {secret}
      requests:
        - {urlkey}: {url}
          method: {method}
          headers:
            - key: Content-Type
              value: {header}
          payload: {payload}
"""
DEFAULTS = {"directive": "", "urlkey": "url", "method": "POST", "api": "webhookconfig.keptn.sh/v1beta1", "comment": "{name}",
            "sid": "5c23ea17-{name}", "secret": "routing-key", "url": "https://events.pagerduty.com/{name}",
            "header": "application/json", "payload": "|-\n            {{\"project\": \"{name}\"}}"}
# Where a name may sit in a file: each changes how YAML or Keptn reads it in its own way.
PLACES = {
    "directive": ["", "%YAML 1.1\n", "%YAML 1.2\n"],
    "urlkey": ["url", "URL"],
    "method": ["POST", "{name}"],
    "api": ["webhookconfig.keptn.sh/{name}", "webhookconfig.keptn.sh/v1beta1",
            "webhookconfig.keptn.sh/v1alpha1"],
    "comment": ["{name}", "{name} and {name}", "&{name} *{name} !{name}"],
    "sid": ["{name}", "\"{name}\"", "'{name}'", "x-{name}", "!!str {name}", "!{name} x", "&{name} x",
            "{name} # {name}", ">-\n        {name}\n        {name}"],
    "secret": ["{name}", "\"\\x4bPDNAME0Z-{name}\"", "\"\\x4bPDNAME0Z\"", "\"a\\n{name}\"", "[{name}]",
               "{{{name}: x}}"],
    "url": ["https://events.pagerduty.com/{name}", "{name}", "\"{name}\"", "https://{name}/x",
            "!!{name} https://x/", "https://x.test/{name}\n          {name}: https://other.test/"],
    "header": ["application/json", "{name}", "\"{name}\"", "\"a\u2028b\"", "x\n          {name}: https://o.test/",
               "x\n          x-name: &k {name}\n          *k : https://o.test/", "{name}\n              {name}: x"],
    "payload": ["|-\n            {{\"project\": \"{name}\"}}\n            # {name}",
                "|-\n            # {name}\n            {{}}", "{name}", "'{name}'",
                "|-\n            {{}}\n    # {name}", "\"{name}\"\n          {name}: x",
                "|-\n            {{}}\n---\n{name}: x"],
}
SPECIAL_NAMES = ["null", "true", "false", "y", "n", "yes", "no", "on", "off", "123", "0x1f", "0o17", "1e3", "1-2",
                 "2024-01-01", "url", "method", "type", "payload", "v1beta1", "v1alpha1", "routing", "key", "x",
                 "a-b", "5c23ea17", "pagerduty", "events", "json", "sh", "keptn", "fleet-00001"]
NAMES = st.one_of(st.sampled_from(SPECIAL_NAMES), st.from_regex(r"[a-z0-9][a-z0-9-]{0,12}", fullmatch=True))
# Names found nowhere else in the file: the shapes of two files then match more often.
PLAIN_NAMES = st.sampled_from(["abc", "fleet-1", "q9", "team-a", "z7-b"])


def render(name: str, **chosen: str) -> str:
    fields = {**DEFAULTS, **chosen}
    return BASE.format(**{key: value.format(name=name) for key, value in fields.items()}, name=name)


def outcome(decode, text: str) -> object:
    try:
        return decode(text)
    except webhook_service.DecodeError as exc:
        return f"DecodeError: {exc}"


def decoded_after(first: str, second: str, names: tuple[str, str]) -> tuple[object, DecodeCache]:
    """The second file as the cache decodes it, after the first (of the same shape, with the other name)."""
    cache = DecodeCache()
    outcome(lambda text: cache.decode(text, [names[0]]), first)
    return outcome(lambda text: cache.decode(text, [names[1]]), second), cache


def test_files_that_differ_in_names_are_decoded_once_per_shape() -> None:
    cache = DecodeCache()
    names = ["fleet-00000", "fleet-00001", "fleet-00002"]
    for name in names:
        assert cache.decode(render(name), [name, "unused"]) == webhook_service.decode(render(name))
    assert cache.reused == 2  # the first file shows its shape; the others are filled in
    assert webhook_service.decode(render("fleet-00002")).webhooks[0].subscription_id == "5c23ea17-fleet-00002"


# Files where a name changes how YAML or Keptn reads them, for the names given.
MEANINGFUL = [
    ({"sid": "{name}"}, ("abc", "null")),  # a plain value that YAML reads as null: no subscription ID
    ({"url": "{name}"}, ("abc", "123")),  # a number: Keptn's URL is empty
    ({"url": "{name}"}, ("abc", "2024-01-01")),  # a timestamp
    ({"api": "webhookconfig.keptn.sh/{name}"}, ("v1beta1", "v1alpha1")),  # compared with fixed values
    ({"urlkey": "URL", "header": "x\n          {name}: https://other.test/"}, ("abc", "url")),  # a key
    ({"urlkey": "URL", "header": "x\n          x-name: &k {name}\n          *k : https://other.test/"},
     ("abc", "url")),  # a value that is a key too, through an alias
    ({"sid": "&{name} x"}, ("abc", "def")),  # an anchor
    ({"directive": "%YAML 1.2\n"}, ("abc", "def")),  # a YAML version Keptn does not read
    ({"url": "!!{name} https://x.test/"}, ("abc", "int")),  # a tag
    # An escape that spells a marker, with a marker in a comment after a value to make up the count.
    ({"secret": "\"\\x4bPDNAME0Z\"", "sid": "{name} # {name}"}, ("abc", "def")),
    # A line break that only YAML sees (U+2028) shifts its line numbers: the first line of the block below
    # must not count as a comment line too, which would make up for the marker in the tag.
    ({"header": "\"a\u2028b\"", "payload": "|-\n            # {name}\n            {{}}",
      "url": "!!{name} https://x.test/"}, ("abc", "int")),
]


@pytest.mark.parametrize(("chosen", "names"), MEANINGFUL)
def test_a_name_that_changes_how_the_file_reads_is_decoded_as_it_is(chosen: dict[str, str],
                                                                   names: tuple[str, str]) -> None:
    first, second = render(names[0], **chosen), render(names[1], **chosen)
    got, cache = decoded_after(first, second, names)
    assert got == outcome(webhook_service.decode, second)
    assert cache.reused == 0


@pytest.mark.parametrize(("place", "text"), [
    ("sid", "\"{name}\""), ("sid", "'{name}'"), ("sid", ">-\n        {name}\n        {name}"),
    ("payload", "|-\n            {{\"project\": \"{name}\"}}\n            # {name}"),  # a comment-like line in a value
    ("payload", "|-\n            {{}}\n    # {name}"),  # a comment line right after a block
])
def test_names_in_values_and_comment_lines_are_filled_in(place: str, text: str) -> None:
    first, second = render("abc", **{place: text}), render("fleet-1", **{place: text})
    got, cache = decoded_after(first, second, ("abc", "fleet-1"))
    assert got == webhook_service.decode(second)
    assert cache.reused == 1


@settings(max_examples=400, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(chosen=st.fixed_dictionaries({}, optional={place: st.sampled_from(texts) for place, texts in PLACES.items()}),
       first=st.one_of(PLAIN_NAMES, NAMES), second=st.one_of(PLAIN_NAMES, NAMES))
@example(chosen={"sid": "{name}"}, first="abc", second="null")
def test_a_file_decodes_from_its_shape_as_it_does_itself(chosen: dict[str, str], first: str, second: str) -> None:
    texts = render(first, **chosen), render(second, **chosen)
    got, _ = decoded_after(*texts, (first, second))
    assert got == outcome(webhook_service.decode, texts[1])


def test_a_file_with_marker_text_of_its_own_is_decoded_as_it_is() -> None:
    text = render("abc", sid="KPDNAME0Z")
    cache = DecodeCache()
    assert [cache.decode(text, ["abc"]) for _ in range(3)] == [webhook_service.decode(text)] * 3
    assert cache.reused == 0


def test_document_drops_only_a_header_of_comment_lines() -> None:
    header = "# a comment\n---\n"
    assert document(header + "apiVersion: x\n") == "\n---\napiVersion: x\n"
    assert document("%YAML 1.2\n---\napiVersion: x\n") == "%YAML 1.2\n---\napiVersion: x\n"
    assert document("apiVersion: x\n---\nkind: y\n") == "apiVersion: x\n---\nkind: y\n"


def test_every_text_of_a_request_is_filled_in() -> None:
    # v1alpha1 requests given as mappings are not checked: a method is taken as it is.
    chosen = {"api": "webhookconfig.keptn.sh/v1alpha1", "method": "{name}", "sid": "{name}"}
    got, cache = decoded_after(render("abc", **chosen), render("def", **chosen), ("abc", "def"))
    assert cache.reused == 1
    assert got == webhook_service.decode(render("def", **chosen))
    assert got.webhooks[0].requests[0].method == "def"


def test_the_cache_remembers_a_bounded_number_of_shapes() -> None:
    cache = DecodeCache(limit=1)
    kinds = [{}, {"header": "text/plain"}]  # two shapes
    for name in ("abc", "def", "ghi"):
        for chosen in kinds:
            assert cache.decode(render(name, **chosen), [name]) == webhook_service.decode(render(name, **chosen))
    assert cache.reused == 2  # the first shape's later files; the second shape was never kept
