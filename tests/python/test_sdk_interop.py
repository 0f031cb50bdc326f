#!/usr/bin/env python3
"""Alibaba Cloud's official Python SDKs as clients of mqid's OpenAPI emulator.

Proves that the emulator (and so the signing code it shares with mqid's OpenAPI client) speaks
the protocol the official SDKs speak:

* alibabacloud-onsmqtt20200420 + alibabacloud-tea-openapi, signature V3 (ACS3-HMAC-SHA256, the
  SDK's default) and, with signature_algorithm="v2", V1 RPC HMAC-SHA1;
* aliyun-python-sdk-core (CommonRequest), V1 RPC HMAC-SHA1, as GET and as a form POST.

Each client pages through every identity of the emulator's identities file (and the blacklist and
permissions files, when given) and must get exactly the file's records back, in pages of at most --size, with
NextToken only while more remain; a wrong AccessKey secret must get SignatureDoesNotMatch.

The emulator must already be running. crates/mqid-emulator/tests/python_sdk.rs starts one and runs
this script; by hand:

    pip install -r tests/python/requirements.txt
    python3 tests/python/test_sdk_interop.py --endpoint 127.0.0.1:PORT \\
        --access-key-id ID --access-key-secret SECRET --instance-id mqtt-local \\
        --identities identities.json [--blacklist blacklist.json] \\
        [--permissions permissions.json] [--size 3]

Every option may come from the environment instead: MQID_EMULATOR_ENDPOINT,
MQID_EMULATOR_ACCESS_KEY_ID, MQID_EMULATOR_ACCESS_KEY_SECRET, MQID_EMULATOR_INSTANCE_ID,
MQID_EMULATOR_IDENTITIES, MQID_EMULATOR_BLACKLIST, MQID_EMULATOR_PERMISSIONS, MQID_EMULATOR_SIZE.

Exit status: 0 all checks passed, 1 a check failed, 2 bad arguments, 3 an SDK is not installed.
"""

import argparse
import json
import os
import sys
import traceback

MISSING_SDK_EXIT = 3
REQUIREMENTS = "tests/python/requirements.txt"

try:
    from alibabacloud_onsmqtt20200420 import models as mqtt_models
    from alibabacloud_onsmqtt20200420.client import Client as MqttClient
    from alibabacloud_tea_openapi import models as open_api_models
    from alibabacloud_tea_util import models as util_models
    from aliyunsdkcore.acs_exception.exceptions import ServerException
    from aliyunsdkcore.client import AcsClient
    from aliyunsdkcore.request import CommonRequest
except ImportError as e:  # pragma: no cover - environment problem, reported plainly
    print(
        f"MISSING PYTHON SDK: {e}. Install the official SDKs with: "
        f"pip install -r {REQUIREMENTS}",
        file=sys.stderr,
    )
    sys.exit(MISSING_SDK_EXIT)

API_VERSION = "2020-04-20"


def parse_args():
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--endpoint", default=env("MQID_EMULATOR_ENDPOINT"),
                   help="host:port of the emulator (plain HTTP)")
    p.add_argument("--access-key-id", default=env("MQID_EMULATOR_ACCESS_KEY_ID"))
    p.add_argument("--access-key-secret", default=env("MQID_EMULATOR_ACCESS_KEY_SECRET"))
    p.add_argument("--instance-id", default=env("MQID_EMULATOR_INSTANCE_ID", "mqtt-local"))
    p.add_argument("--identities", default=env("MQID_EMULATOR_IDENTITIES"),
                   help="the identities file the emulator serves (the expected records)")
    p.add_argument("--blacklist", default=env("MQID_EMULATOR_BLACKLIST"),
                   help="the blacklist file the emulator serves, if any")
    p.add_argument("--permissions", default=env("MQID_EMULATOR_PERMISSIONS"),
                   help="the permissions file the emulator serves, if any")
    p.add_argument("--size", type=int, default=int(env("MQID_EMULATOR_SIZE", "3")))
    a = p.parse_args()
    missing = [n for n in ("endpoint", "access_key_id", "access_key_secret", "identities")
               if not getattr(a, n)]
    if missing:
        p.error("missing: " + ", ".join("--" + m.replace("_", "-") for m in missing))
    a.endpoint = a.endpoint.removeprefix("http://").rstrip("/")
    return a


def canonical(records):
    """Records as a sorted list of JSON strings: the comparison ignores order."""
    return sorted(json.dumps(r, sort_keys=True) for r in records)


def expected_identities(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def expected_blacklist(path):
    with open(path, encoding="utf-8") as f:
        raw = json.load(f)
    return [
        {"ClientId": r, "PermitAction": "CONNECT", "Effect": "DENY"} if isinstance(r, str) else r
        for r in raw
    ]


def expected_permissions(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def check_pages(name, pages, expected, size):
    """pages: list of (results, next_token) as the client saw them."""
    got = [r for results, _ in pages for r in results]
    assert canonical(got) == canonical(expected), (
        f"{name}: records differ\n got: {canonical(got)}\nwant: {canonical(expected)}")
    for i, (results, token) in enumerate(pages):
        assert len(results) <= size, f"{name}: page {i} has {len(results)} > {size} records"
        last = i == len(pages) - 1
        assert bool(token) != last, f"{name}: page {i} NextToken={token!r}, last page: {last}"
    want_pages = max(1, -(-len(expected) // size))
    assert len(pages) == want_pages, f"{name}: {len(pages)} pages, want {want_pages}"
    return f"{len(got)} records in {len(pages)} pages"


# --- alibabacloud-tea-openapi (V3 by default, V1 with signature_algorithm="v2") ---------------

def tea_client(a, secret=None, signature_algorithm=None):
    config = open_api_models.Config(
        access_key_id=a.access_key_id,
        access_key_secret=secret or a.access_key_secret,
        endpoint=a.endpoint,
        protocol="http",
        region_id="cn-hangzhou",
        signature_algorithm=signature_algorithm,
    )
    return MqttClient(config)


def page_all(fetch):
    """Every page of a paged query, as (results, next token); fetch(token) answers one page
    (its body, a dict)."""
    pages, token = [], ""
    while True:
        body = fetch(token)
        assert body.get("Success") is True and body.get("Code") == 200, body
        data = body.get("Data") or {}
        results = data.get("Results") or []
        token = data.get("NextToken") or ""
        pages.append((results, token))
        if not token:
            return pages
        assert len(pages) < 10000, "paging does not end"


def tea_page_all(client, a, query):
    runtime = util_models.RuntimeOptions()

    def fetch(token):
        if query == "identity":
            req = mqtt_models.QueryCustomAuthIdentityRequest(
                instance_id=a.instance_id, size=a.size, next_token=token)
            resp = client.query_custom_auth_identity_with_options(req, runtime)
        elif query == "permission":
            req = mqtt_models.QueryCustomAuthPermissionRequest(
                instance_id=a.instance_id, size=a.size, next_token=token)
            resp = client.query_custom_auth_permission_with_options(req, runtime)
        else:
            req = mqtt_models.QueryCustomAuthConnectBlackRequest(
                instance_id=a.instance_id, size=a.size, next_token=token)
            resp = client.query_custom_auth_connect_black_with_options(req, runtime)
        body = resp.body.to_map()
        assert resp.status_code == 200, body
        return body

    return page_all(fetch)


def check_tea_v3_identities(a):
    pages = tea_page_all(tea_client(a), a, "identity")
    return check_pages("tea V3 identities", pages, expected_identities(a.identities), a.size)


def check_tea_v1_identities(a):
    pages = tea_page_all(tea_client(a, signature_algorithm="v2"), a, "identity")
    return check_pages("tea V1 identities", pages, expected_identities(a.identities), a.size)


def check_tea_v3_blacklist(a):
    pages = tea_page_all(tea_client(a), a, "black")
    return check_pages("tea V3 blacklist", pages, expected_blacklist(a.blacklist), a.size)


def check_tea_v3_permissions(a):
    pages = tea_page_all(tea_client(a), a, "permission")
    return check_pages("tea V3 permissions", pages, expected_permissions(a.permissions), a.size)


def check_tea_v1_permissions(a):
    pages = tea_page_all(tea_client(a, signature_algorithm="v2"), a, "permission")
    return check_pages("tea V1 permissions", pages, expected_permissions(a.permissions), a.size)


def check_tea_v3_permission_filters(a):
    """Identity, IdentityType and Topic as filters, one rule at a time: every rule comes back
    alone (Topic holds '/', '+', '#', spaces and UTF-8, which the signature must survive)."""
    records = expected_permissions(a.permissions)
    client, runtime = tea_client(a), util_models.RuntimeOptions()
    for r in records:
        req = mqtt_models.QueryCustomAuthPermissionRequest(
            instance_id=a.instance_id, size=100, identity=r["Identity"],
            identity_type=r["IdentityType"], topic=r["Topic"])
        body = client.query_custom_auth_permission_with_options(req, runtime).body.to_map()
        want = [x for x in records if (x["Identity"], x["IdentityType"], x["Topic"])
                == (r["Identity"], r["IdentityType"], r["Topic"])]
        got = body["Data"]["Results"]
        assert canonical(got) == canonical(want), f"rule {r}: {got}"
    identities = sorted({r["Identity"] for r in records})
    for ident in identities:
        req = mqtt_models.QueryCustomAuthPermissionRequest(
            instance_id=a.instance_id, size=100, identity=ident)
        got = client.query_custom_auth_permission_with_options(req, runtime).body.to_map()
        want = [x for x in records if x["Identity"] == ident]
        assert canonical(got["Data"]["Results"]) == canonical(want), f"Identity {ident!r}"
    return f"{len(records)} rules, {len(identities)} identities"


def check_tea_v3_filters(a):
    """Each distinct Username as a filter: exercises the encoding of spaces, '+', '/', UTF-8."""
    records = expected_identities(a.identities)
    client, runtime = tea_client(a), util_models.RuntimeOptions()
    usernames = sorted({r["Username"] for r in records})
    for name in usernames:
        req = mqtt_models.QueryCustomAuthIdentityRequest(
            instance_id=a.instance_id, size=100, username=name)
        results = client.query_custom_auth_identity_with_options(req, runtime).body.to_map()
        results = results["Data"]["Results"]
        want = [r for r in records if r["Username"] == name]
        assert canonical(results) == canonical(want), f"Username {name!r}: {results}"
    return f"{len(usernames)} usernames"


def check_tea_v3_form_post(a):
    """The generic call_api as a POST with a form body: V3 over a body hash and content-type."""
    client = tea_client(a)
    params = open_api_models.Params(
        action="QueryCustomAuthIdentity", version=API_VERSION, protocol="HTTP",
        pathname="/", method="POST", auth_type="AK", style="RPC",
        req_body_type="formData", body_type="json")
    pages, token = [], ""
    while True:
        req = open_api_models.OpenApiRequest(
            body={"InstanceId": a.instance_id, "Size": a.size, "NextToken": token})
        body = client.call_api(params, req, util_models.RuntimeOptions())["body"]
        assert body.get("Success") is True, body
        token = body["Data"].get("NextToken") or ""
        pages.append((body["Data"]["Results"], token))
        if not token:
            break
    return check_pages("tea V3 form POST", pages, expected_identities(a.identities), a.size)


def expect_tea_signature_error(client, a, string_to_sign_start):
    req = mqtt_models.QueryCustomAuthIdentityRequest(instance_id=a.instance_id, size=a.size)
    try:
        client.query_custom_auth_identity_with_options(req, util_models.RuntimeOptions())
    except Exception as e:  # the SDK raises ClientException with .code
        code = getattr(e, "code", None)
        assert code == "SignatureDoesNotMatch", f"code {code!r}: {e}"
        assert getattr(e, "status_code", None) == 400, f"status {getattr(e, 'status_code', None)}"
        # The server's string to sign shows which signature it checked.
        marker = "server string to sign is:" + string_to_sign_start
        assert marker in str(e), f"{marker!r} not in {e}"
        return "SignatureDoesNotMatch (400)"
    raise AssertionError("a wrong secret was accepted")


def check_tea_v3_wrong_secret(a):
    client = tea_client(a, secret=a.access_key_secret + "x")
    return expect_tea_signature_error(client, a, "ACS3-HMAC-SHA256\n")


def check_tea_v1_wrong_secret(a):
    client = tea_client(a, secret=a.access_key_secret + "x", signature_algorithm="v2")
    return expect_tea_signature_error(client, a, "GET&%2F&")


# --- aliyun-python-sdk-core (CommonRequest, V1 RPC HMAC-SHA1) ----------------------------------

def core_client(a, secret=None):
    return AcsClient(a.access_key_id, secret or a.access_key_secret, "cn-hangzhou",
                     auto_retry=False)


def core_request(a, action, method, token):
    req = CommonRequest()
    req.set_domain(a.endpoint)
    req.set_protocol_type("http")
    req.set_method(method)
    req.set_version(API_VERSION)
    req.set_action_name(action)
    req.set_accept_format("json")
    params = {"InstanceId": a.instance_id, "Size": str(a.size), "NextToken": token}
    for k, v in params.items():
        if method == "POST":
            req.add_body_params(k, v)
        else:
            req.add_query_param(k, v)
    return req


def core_page_all(a, action, method):
    client = core_client(a)
    return page_all(lambda token: json.loads(
        client.do_action_with_exception(core_request(a, action, method, token))))


def check_core_v1_identities_get(a):
    pages = core_page_all(a, "QueryCustomAuthIdentity", "GET")
    return check_pages("core V1 GET identities", pages, expected_identities(a.identities), a.size)


def check_core_v1_identities_post(a):
    pages = core_page_all(a, "QueryCustomAuthIdentity", "POST")
    return check_pages("core V1 POST identities", pages, expected_identities(a.identities),
                       a.size)


def check_core_v1_blacklist(a):
    pages = core_page_all(a, "QueryCustomAuthConnectBlack", "GET")
    return check_pages("core V1 blacklist", pages, expected_blacklist(a.blacklist), a.size)


def check_core_v1_permissions(a):
    pages = core_page_all(a, "QueryCustomAuthPermission", "GET")
    return check_pages("core V1 permissions", pages, expected_permissions(a.permissions), a.size)


def check_core_v1_filters(a):
    records = expected_identities(a.identities)
    client = core_client(a)
    usernames = sorted({r["Username"] for r in records})
    for name in usernames:
        req = core_request(a, "QueryCustomAuthIdentity", "GET", "")
        req.add_query_param("Username", name)
        req.add_query_param("Size", "100")
        results = json.loads(client.do_action_with_exception(req))["Data"]["Results"]
        want = [r for r in records if r["Username"] == name]
        assert canonical(results) == canonical(want), f"Username {name!r}: {results}"
    return f"{len(usernames)} usernames"


def check_core_v1_wrong_secret(a):
    client = core_client(a, secret=a.access_key_secret + "x")
    try:
        client.do_action_with_exception(core_request(a, "QueryCustomAuthIdentity", "GET", ""))
    except ServerException as e:
        assert e.get_error_code() == "SignatureDoesNotMatch", str(e)
        assert e.get_http_status() == 400, str(e)
        assert "server string to sign is:GET&%2F&" in str(e), str(e)
        return "SignatureDoesNotMatch (400)"
    raise AssertionError("a wrong secret was accepted")


def main():
    a = parse_args()
    checks = [
        check_tea_v3_identities,
        check_tea_v1_identities,
        check_tea_v3_filters,
        check_tea_v3_form_post,
        check_tea_v3_wrong_secret,
        check_tea_v1_wrong_secret,
        check_core_v1_identities_get,
        check_core_v1_identities_post,
        check_core_v1_filters,
        check_core_v1_wrong_secret,
    ]
    if a.blacklist:
        checks += [check_tea_v3_blacklist, check_core_v1_blacklist]
    if a.permissions:
        checks += [check_tea_v3_permissions, check_tea_v1_permissions,
                   check_tea_v3_permission_filters, check_core_v1_permissions]
    passed = failed = 0
    for check in checks:
        name = check.__name__.removeprefix("check_")
        try:
            detail = check(a)
        except Exception:  # report every failure, then fail as a whole
            failed += 1
            print(f"FAIL {name}\n{traceback.format_exc()}", flush=True)
        else:
            passed += 1
            print(f"ok   {name}: {detail}", flush=True)
    print(f"interop: {passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
