"""Table-driven tests of canonical policy comparison (plugins/module_utils/_policy.py)."""

from __future__ import annotations

import json

import pytest
from ansible_collections.koprogo.storage.plugins.module_utils._policy import (
    DEFAULT_VERSION,
    PolicyError,
    canonical_or_raw,
    canonical_policy,
    load_policy,
    policies_equal,
    policy_json,
)

READ = {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::docs/*"]}
LIST = {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": ["arn:aws:s3:::docs"]}
BASE = {"Version": "2012-10-17", "Statement": [READ, LIST]}


def variant(**changes):
    policy = json.loads(json.dumps(BASE))
    policy.update(changes)
    return policy


@pytest.mark.parametrize("left, right", [
    pytest.param(BASE, variant(Statement=[LIST, READ]), id="statement order"),
    pytest.param(BASE, variant(Statement=[{**READ, "Action": "s3:GetObject"}, LIST]), id="string vs list"),
    pytest.param(BASE, variant(Statement=[{**READ, "Resource": "arn:aws:s3:::docs/*"}, LIST]),
                 id="resource string vs list"),
    pytest.param(BASE, {"Statement": [READ, LIST]}, id="default Version"),
    pytest.param(BASE, variant(Statement=[READ, LIST, READ]), id="duplicate statement"),
    pytest.param(BASE, variant(Statement=[{**READ, "Action": ["s3:GetObject", "s3:GetObject"]}, LIST]),
                 id="duplicate action"),
    pytest.param(BASE, variant(Statement=[{**READ, "Action": ["s3:GetObject"]}, {**LIST, "Sid": ""}]),
                 id="empty Sid"),
    pytest.param(variant(Statement=[{**READ, "Principal": "*"}]),
                 variant(Statement=[{**READ, "Principal": {"AWS": ["*"]}}]), id="Principal * vs AWS list"),
    pytest.param(variant(Statement=[{**READ, "Principal": {"AWS": "*"}}]),
                 variant(Statement=[{**READ, "Principal": {"AWS": ["*"]}}]), id="Principal AWS string"),
    pytest.param(BASE, json.dumps(BASE), id="dict vs JSON text"),
    pytest.param(BASE, json.dumps(BASE).encode(), id="dict vs bytes"),
    pytest.param(variant(Statement=READ), variant(Statement=[READ]), id="single Statement object"),
    pytest.param(
        variant(Statement=[{**READ, "Condition": {"StringEquals": {"s3:prefix": "a/"}}}]),
        variant(Statement=[{**READ, "Condition": {"StringEquals": {"s3:prefix": ["a/"]}}}]),
        id="condition value string vs list"),
    pytest.param(None, None, id="both absent"),
])
def test_policies_equal(left, right):
    first, second = left, right
    assert policies_equal(first, second)
    assert policies_equal(second, first)


@pytest.mark.parametrize("left, right", [
    pytest.param(BASE, variant(Statement=[READ]), id="missing statement"),
    pytest.param(BASE, variant(Statement=[{**READ, "Effect": "Deny"}, LIST]), id="effect"),
    pytest.param(BASE, variant(Statement=[{**READ, "Action": ["s3:GetObject", "s3:PutObject"]}, LIST]),
                 id="extra action"),
    pytest.param(BASE, variant(Version="2008-10-17"), id="other Version"),
    pytest.param(BASE, variant(Statement=[{**READ, "Sid": "read"}, LIST]), id="Sid"),
    pytest.param(BASE, None, id="one absent"),
    pytest.param(variant(Statement=[{**READ, "Principal": "*"}]),
                 variant(Statement=[{**READ, "Principal": {"AWS": ["arn:aws:iam::1:root"]}}]), id="principal"),
])
def test_policies_differ(left, right):
    assert not policies_equal(left, right)


@pytest.mark.parametrize("left, right", [
    pytest.param({"Statement": []}, BASE, id="invalid vs valid"),
    pytest.param("{not json", "{not json", id="both malformed"),
])
def test_invalid_policy_equals_nothing(left, right):
    first, second = left, right
    assert not policies_equal(first, second)
    assert not policies_equal(second, first)


@pytest.mark.parametrize("document, expected", [
    pytest.param(variant(Statement=[LIST, READ]), BASE, id="valid: canonical"),
    pytest.param(json.dumps(variant(Statement=[LIST, READ])), BASE, id="valid text: canonical"),
    pytest.param({"Statement": [], "x": 1}, {"Statement": [], "x": 1}, id="invalid dict: as is"),
    pytest.param('{"Statement": []}', {"Statement": []}, id="invalid JSON text: decoded"),
    pytest.param("{not json", "{not json", id="not JSON: as is"),
])
def test_canonical_or_raw(document, expected):
    assert canonical_or_raw(document) == expected


def test_canonical_policy_adds_default_version_and_sorts():
    canon = canonical_policy({"Statement": [{"Effect": "Allow", "Action": ["s3:B", "s3:A"], "Resource": "r"}]})
    assert canon == {"Version": DEFAULT_VERSION,
                     "Statement": [{"Effect": "Allow", "Action": ["s3:A", "s3:B"], "Resource": ["r"]}]}


def test_canonical_policy_keeps_id():
    assert canonical_policy({"Id": "p1", "Statement": [READ]})["Id"] == "p1"


def test_policy_json_is_compact_and_stable():
    text = policy_json(variant(Statement=[LIST, READ]))
    assert text == policy_json(BASE)
    assert " " not in text
    assert json.loads(text)["Version"] == "2012-10-17"


@pytest.mark.parametrize("policy, reason", [
    pytest.param("{not json", "malformed policy JSON", id="malformed JSON"),
    pytest.param('{"Statement": [', "malformed policy JSON", id="truncated JSON"),
    pytest.param("[1, 2]", "JSON object", id="JSON list"),
    pytest.param(42, "JSON object", id="number"),
    pytest.param({"Statement": []}, "non-empty Statement", id="empty Statement"),
    pytest.param({"Version": "2012-10-17"}, "non-empty Statement", id="no Statement"),
    pytest.param({"Statement": [READ], "Extra": 1}, "unknown policy key", id="unknown top key"),
    pytest.param({"Statement": ["s3:GetObject"]}, "must be an object", id="statement not object"),
    pytest.param({"Statement": [{**READ, "Effect": "allow"}]}, "Allow or Deny", id="lowercase effect"),
    pytest.param({"Statement": [{"Effect": "Allow", "Resource": "r"}]}, "Action or NotAction", id="no action"),
    pytest.param({"Statement": [{**READ, "Actions": ["x"]}]}, "unknown Statement key", id="typo key"),
    pytest.param({"Statement": [{**READ, "Action": {"a": 1}}]}, "string or a list", id="action dict"),
    pytest.param({"Statement": [{**READ, "Principal": ["*"]}]}, "Principal must be", id="principal list"),
    pytest.param({"Statement": [{**READ, "Condition": ["x"]}]}, "Condition must be an object", id="condition"),
    pytest.param({"Statement": [{**READ, "Condition": {"StringEquals": "x"}}]}, "must map keys",
                 id="condition operator"),
])
def test_invalid_policies(policy, reason):
    with pytest.raises(PolicyError, match=reason):
        canonical_policy(policy)


def test_policy_error_is_a_value_error():
    assert issubclass(PolicyError, ValueError)


def test_load_policy_accepts_dict_text_and_bytes():
    assert load_policy(BASE) is BASE
    assert load_policy(json.dumps(BASE)) == BASE
    assert load_policy(json.dumps(BASE).encode()) == BASE
