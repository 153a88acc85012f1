"""Legacy Token and JWT authentication as Label Studio answers it (BEHAVIOUR.md section 3)."""

import json
import socket
import sqlite3
import time
import uuid
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import httpx
import jwt
import pytest
from conftest import ADA_TOKEN, FAST, HANK_TOKEN, TLS, Emulator, LocalEmulator
from jwt.utils import base64url_encode

from .envelope import assert_error, assert_invalid

RUNS = "/api/prompts/1/versions/1/inference-runs"
NOT_PROVIDED = "Authentication credentials were not provided."
INVALID_TOKEN = "Invalid token."
LEGACY_DISABLED = (
    "Authentication token no longer valid: "
    "legacy token authentication has been disabled for this organization"
)
FOREIGN_SECRET = "a-key-this-server-never-signed-with-0123456789"
TOKEN_EXISTS = "You already have a valid token. Please revoke it before creating a new one."


def forged_jwt(secret: str, token_type: str = "access", lifetime: int = 300, **claims) -> str:
    """A JWT signed with a secret; a claim given as None is left out."""
    now = int(time.time())
    payload = {
        "token_type": token_type,
        "exp": now + lifetime,
        "iat": now,
        "jti": uuid.uuid4().hex,
        "user_id": "1",
        **claims,
    }
    payload = {name: value for name, value in payload.items() if value is not None}
    return jwt.encode(payload, secret, algorithm="HS256")


def assert_unauthorized(response: httpx.Response, detail: str) -> None:
    assert_error(response, 401, detail)
    assert response.headers["www-authenticate"] == "Token"


# --- legacy tokens --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("authorization", "detail"),
    [
        pytest.param(None, NOT_PROVIDED, id="no-header"),
        pytest.param("", NOT_PROVIDED, id="empty-header"),
        pytest.param("Token wrong-key", INVALID_TOKEN, id="wrong-key"),
        pytest.param(f"Token {ADA_TOKEN}x", INVALID_TOKEN, id="key-with-extra-char"),
        pytest.param("Token", "Invalid token header. No credentials provided.", id="no-key"),
        pytest.param(
            "Token a b",
            "Invalid token header. Token string should not contain spaces.",
            id="key-with-space",
        ),
        pytest.param("Bearer garbage", NOT_PROVIDED, id="bearer-garbage"),
        pytest.param("Bearer", NOT_PROVIDED, id="bearer-alone"),
        pytest.param(f"Bearer {ADA_TOKEN}", NOT_PROVIDED, id="bearer-legacy-key"),
        pytest.param(f"Bearer {forged_jwt(FOREIGN_SECRET)}", NOT_PROVIDED, id="bearer-foreign-jwt"),
        pytest.param("Basic YWRhOnNlY3JldA==", NOT_PROVIDED, id="basic"),
        pytest.param(f"Key {ADA_TOKEN}", NOT_PROVIDED, id="other-scheme"),
        pytest.param(ADA_TOKEN, NOT_PROVIDED, id="key-without-scheme"),
    ],
)
def test_bad_credentials_are_401_with_www_authenticate_token(server, authorization, detail):
    headers = {} if authorization is None else {"Authorization": authorization}

    response = httpx.get(server.url + RUNS, headers=headers, verify=TLS)

    assert_unauthorized(response, detail)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", RUNS),
        ("POST", RUNS),
        ("POST", RUNS + "/1/cancel"),
        ("GET", "/api/projects/1/subsets"),
        ("GET", "/api/prompts/1/versions/1/prediction-count?project=1"),
        ("GET", "/api/token/"),
        ("POST", "/api/token/"),
        ("POST", "/api/token/rotate/"),
        ("GET", "/api/projects/"),
        ("POST", "/api/projects/"),
        ("GET", "/api/projects/1/"),
        ("PATCH", "/api/projects/1/"),
        ("DELETE", "/api/projects/1/"),
        ("GET", "/api/model-provider-connections/"),
        ("POST", "/api/model-provider-connections/"),
        ("GET", "/api/model-provider-connections/provider-choices"),
        ("GET", "/api/model-provider-connections/1/"),
        ("PATCH", "/api/model-provider-connections/1/"),
        ("PUT", "/api/model-provider-connections/1/"),
        ("DELETE", "/api/model-provider-connections/1/"),
        ("GET", "/api/current-user/whoami"),
    ],
)
def test_missing_token_is_401_on_every_endpoint(server, method, path):
    response = httpx.request(method, server.url + path, json={"project": 1}, verify=TLS)

    assert_unauthorized(response, NOT_PROVIDED)


@pytest.mark.parametrize(
    "authorization",
    [
        f"token {ADA_TOKEN}",
        f"TOKEN {ADA_TOKEN}",
        f"Token  {ADA_TOKEN}",
        f"Token\t{ADA_TOKEN}",
    ],
    ids=["lowercase", "uppercase", "two-spaces", "tab"],
)
def test_token_header_is_split_on_whitespace(server, authorization):
    response = httpx.get(server.url + RUNS, headers={"Authorization": authorization}, verify=TLS)

    assert response.status_code == 200, response.text
    assert isinstance(response.json(), list)


# DRF splits the header's latin-1 bytes, on ASCII whitespace only: a no-break space (U+00A0)
# or NEL (U+0085) joins "Token" and the key into one word, so no token scheme is named at all.
@pytest.mark.parametrize("separator", [b"\xa0", b"\x85"], ids=["nbsp", "nel"])
def test_non_ascii_whitespace_does_not_separate_the_token_keyword(server, separator):
    authorization = b"Token" + separator + ADA_TOKEN.encode()

    response = httpx.get(server.url + RUNS, headers={"Authorization": authorization}, verify=TLS)

    assert_unauthorized(response, NOT_PROVIDED)


def test_non_ascii_whitespace_after_the_key_is_part_of_the_key(server):
    # b"key\xa0" is one word, and not UTF-8: DRF's "invalid characters".
    authorization = b"Token " + ADA_TOKEN.encode() + b"\xa0"

    response = httpx.get(server.url + RUNS, headers={"Authorization": authorization}, verify=TLS)

    assert_unauthorized(
        response, "Invalid token header. Token string should not contain invalid characters."
    )


def test_non_ascii_whitespace_inside_the_key_is_part_of_the_key(server):
    authorization = ("Token " + ADA_TOKEN[:4] + "\u00a0" + ADA_TOKEN[4:]).encode()

    response = httpx.get(server.url + RUNS, headers={"Authorization": authorization}, verify=TLS)

    assert_unauthorized(response, INVALID_TOKEN)


def test_token_header_with_trailing_space_is_accepted(server):
    # httpx refuses to send a header value ending in a space, so the request is written by hand.
    url = httpx.URL(server.url)
    request = (
        f"GET {RUNS} HTTP/1.1\r\nHost: {url.host}:{url.port}\r\n"
        f"Authorization: Token {ADA_TOKEN} \r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection((url.host, url.port), timeout=30) as connection:
        connection.sendall(request.encode())
        answer = b"".join(iter(lambda: connection.recv(65536), b""))

    assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]


def test_bad_token_with_broken_body_is_401_not_400(server):
    response = httpx.post(
        server.url + RUNS,
        content=b'{"project": ',
        headers={"Authorization": "Token wrong-key", "Content-Type": "application/json"},
        verify=TLS,
    )

    assert_unauthorized(response, INVALID_TOKEN)


def test_missing_token_with_unsupported_media_type_is_401_not_415(server):
    response = httpx.post(
        server.url + RUNS, content=b"hi", headers={"Content-Type": "text/plain"}, verify=TLS
    )

    assert_unauthorized(response, NOT_PROVIDED)


def test_request_without_token_creates_nothing(server, api):
    before = len(api.get(RUNS).json())

    response = httpx.post(server.url + RUNS, json={"project": 1}, verify=TLS)

    assert_unauthorized(response, NOT_PROVIDED)
    assert len(api.get(RUNS).json()) == before


# Upserted beside the demo data: two organizations, one of which disabled legacy tokens.
LEGACY_SEED = {
    "organizations": [
        {"id": 901, "title": "Open", "legacy_api_tokens_enabled": True},
        {"id": 902, "title": "Locked", "legacy_api_tokens_enabled": False},
    ],
    "users": [
        {"id": 901, "username": "olive", "organization": 901, "token": "open-olive-key"},
        {"id": 902, "username": "lou", "organization": 902, "token": "locked-lou-key"},
    ],
    "projects": [
        {"id": 901, "title": "Open project", "organization": 901, "tasks": 3},
        {"id": 902, "title": "Locked project", "organization": 902, "tasks": 3},
    ],
}


def test_legacy_key_is_refused_when_its_organization_disabled_legacy_tokens(server, fresh_state):
    with server.client(None) as control:
        control.post("/_emulator/seed", json=LEGACY_SEED).raise_for_status()

    with server.client("open-olive-key") as olive, server.client("locked-lou-key") as lou:
        allowed = olive.get("/api/projects/901/subsets")
        refused = lou.get("/api/projects/902/subsets")

    assert allowed.status_code == 200, allowed.text
    assert_unauthorized(refused, LEGACY_DISABLED)


# --- personal access tokens (JWT) -----------------------------------------------------------


@pytest.fixture(scope="module")
def jwt_server(tmp_path_factory: pytest.TempPathFactory):
    """An emulator of its own: creating a personal access token changes the user for good."""
    emulator = LocalEmulator(tmp_path_factory.mktemp("jwt"), dict(FAST)).start()
    yield emulator
    emulator.stop()


@pytest.fixture(scope="module")
def created(jwt_server) -> httpx.Response:
    """Ada's one personal access token, created once for the module."""
    with jwt_server.client() as client:
        return client.post("/api/token/")


@pytest.fixture(scope="module")
def refresh(created) -> str:
    assert created.status_code == 201, created.text
    return created.json()["token"]


@pytest.fixture
def access(jwt_server, refresh) -> str:
    response = httpx.post(
        jwt_server.url + "/api/token/refresh/", json={"refresh": refresh}, verify=TLS
    )
    assert response.status_code == 200, response.text
    return response.json()["access"]


@pytest.fixture(scope="module")
def secret(jwt_server) -> str:
    """The server's signing key, read from its database, to sign tokens it would sign."""
    database = Path(jwt_server.data_dir) / "lse-emulator.sqlite3"
    with closing(sqlite3.connect(database)) as connection:
        (key,) = connection.execute("SELECT secret_key FROM emulator_state WHERE id = 1").fetchone()
    return key


def post_refresh(server: LocalEmulator, **kwargs) -> httpx.Response:
    return httpx.post(server.url + "/api/token/refresh/", **kwargs, verify=TLS)


def test_creating_a_token_answers_201_with_a_refresh_jwt(created):
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == {"token", "created_at", "expires_at"}
    assert jwt.get_unverified_header(body["token"])["alg"] == "HS256"
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert claims["token_type"] == "refresh"
    assert claims["user_id"] == "1"


def test_second_token_create_is_409(jwt_server, refresh):
    with jwt_server.client() as client:
        response = client.post("/api/token/")

    assert_error(response, 409, TOKEN_EXISTS)


def test_token_list_shows_the_created_token_without_its_signature(jwt_server, created):
    with jwt_server.client() as client:
        response = client.get("/api/token/")

    assert response.status_code == 200
    header, payload, _signature = created.json()["token"].split(".")
    assert response.json() == [created.json() | {"token": f"{header}.{payload}"}]


def test_refresh_answers_an_access_token_without_authorization(jwt_server, refresh):
    response = post_refresh(jwt_server, json={"refresh": refresh})

    assert response.status_code == 200, response.text
    assert list(response.json()) == ["access"]


def test_refresh_ignores_a_bad_authorization_header(jwt_server, refresh):
    response = post_refresh(
        jwt_server, json={"refresh": refresh}, headers={"Authorization": "Token wrong-key"}
    )

    assert response.status_code == 200, response.text


def test_refresh_accepts_a_form_body(jwt_server, refresh):
    response = post_refresh(jwt_server, data={"refresh": refresh})

    assert response.status_code == 200, response.text


def test_access_token_claims(access):
    assert jwt.get_unverified_header(access)["alg"] == "HS256"
    claims = jwt.decode(access, options={"verify_signature": False})

    assert {"token_type", "exp", "iat", "jti", "user_id"} <= set(claims)
    assert claims["token_type"] == "access"
    assert claims["user_id"] == "1"
    assert isinstance(claims["jti"], str) and claims["jti"]
    assert claims["exp"] - claims["iat"] == 300


def test_bearer_access_token_authenticates(jwt_server, access):
    response = httpx.get(
        jwt_server.url + RUNS, headers={"Authorization": f"Bearer {access}"}, verify=TLS
    )

    assert response.status_code == 200, response.text
    assert isinstance(response.json(), list)


def test_bearer_access_token_acts_as_its_user(jwt_server, access):
    response = httpx.post(
        jwt_server.url + RUNS,
        json={"project": 1},
        headers={"Authorization": f"Bearer {access}"},
        verify=TLS,
    )

    assert response.status_code == 201, response.text
    assert response.json()["created_by"]["id"] == 1


@pytest.mark.parametrize("separator", [b"\xa0", b"\x85"], ids=["nbsp", "nel"])
def test_non_ascii_whitespace_does_not_separate_bearer(jwt_server, access, separator):
    authorization = b"Bearer" + separator + access.encode()

    response = httpx.get(
        jwt_server.url + RUNS, headers={"Authorization": authorization}, verify=TLS
    )

    assert_unauthorized(response, NOT_PROVIDED)


def test_refresh_jwt_used_as_bearer_is_401_not_provided(jwt_server, refresh):
    response = httpx.get(
        jwt_server.url + RUNS, headers={"Authorization": f"Bearer {refresh}"}, verify=TLS
    )

    assert_unauthorized(response, NOT_PROVIDED)


def test_access_jwt_sent_with_token_keyword_is_invalid_token(jwt_server, access):
    response = httpx.get(
        jwt_server.url + RUNS, headers={"Authorization": f"Token {access}"}, verify=TLS
    )

    assert_unauthorized(response, INVALID_TOKEN)


def test_tampered_access_jwt_is_401_not_provided(jwt_server, access):
    header, _, signature = access.split(".")
    claims = jwt.decode(access, options={"verify_signature": False})
    payload = base64url_encode(json.dumps({**claims, "user_id": "2"}).encode()).decode()
    tampered = f"{header}.{payload}.{signature}"

    response = httpx.get(
        jwt_server.url + RUNS, headers={"Authorization": f"Bearer {tampered}"}, verify=TLS
    )

    assert_unauthorized(response, NOT_PROVIDED)


def test_expired_access_jwt_is_401_not_provided(jwt_server, secret):
    expired = forged_jwt(secret, lifetime=-60)
    valid = forged_jwt(secret)

    refused = httpx.get(
        jwt_server.url + RUNS, headers={"Authorization": f"Bearer {expired}"}, verify=TLS
    )
    accepted = httpx.get(
        jwt_server.url + RUNS, headers={"Authorization": f"Bearer {valid}"}, verify=TLS
    )

    assert accepted.status_code == 200, accepted.text
    assert_unauthorized(refused, NOT_PROVIDED)


@pytest.mark.parametrize("missing", ["exp", "jti", "token_type"])
def test_access_jwt_without_a_required_claim_is_401_not_provided(jwt_server, secret, missing):
    complete = forged_jwt(secret)
    incomplete = forged_jwt(secret, **{missing: None})

    accepted = httpx.get(
        jwt_server.url + RUNS, headers={"Authorization": f"Bearer {complete}"}, verify=TLS
    )
    refused = httpx.get(
        jwt_server.url + RUNS, headers={"Authorization": f"Bearer {incomplete}"}, verify=TLS
    )

    assert accepted.status_code == 200, accepted.text
    assert_unauthorized(refused, NOT_PROVIDED)


@pytest.mark.parametrize("missing", ["exp", "jti"])
def test_refresh_jwt_without_a_required_claim_is_401_token_is_invalid(jwt_server, secret, missing):
    response = post_refresh(
        jwt_server, json={"refresh": forged_jwt(secret, "refresh", **{missing: None})}
    )

    assert_error(response, 401, "Token is invalid")


@pytest.mark.parametrize(
    "refresh_token", ["garbage", "a.b.c", forged_jwt(FOREIGN_SECRET, "refresh")]
)
def test_refresh_with_an_invalid_token_is_401_token_is_invalid(jwt_server, refresh_token):
    response = post_refresh(jwt_server, json={"refresh": refresh_token})

    assert_error(response, 401, "Token is invalid")
    assert response.headers["www-authenticate"] == 'Bearer realm="api"'


def test_refresh_with_an_access_token_is_401_wrong_type(jwt_server, access):
    response = post_refresh(jwt_server, json={"refresh": access})

    assert_error(response, 401, "Token has wrong type")
    assert response.headers["www-authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({}, {"refresh": ["This field is required."]}),
        ({"refresh": ""}, {"refresh": ["This field may not be blank."]}),
        ({"refresh": None}, {"refresh": ["This field may not be null."]}),
    ],
    ids=["missing", "blank", "null"],
)
def test_refresh_body_is_validated(jwt_server, body, errors):
    assert_invalid(post_refresh(jwt_server, json=body), errors)


# --- revoking and rotating personal access tokens --------------------------------------------

INVALID_OR_BLACKLISTED = "Token is invalid or already blacklisted."


@pytest.fixture
def own_server(server: Emulator, fresh_state: None) -> Emulator:
    """The shared in-process server, reset before and after the test (a reset drops every
    personal access token): revoking a token changes the user until then."""
    return server


def _new_token(client: httpx.Client) -> str:
    response = client.post("/api/token/")
    assert response.status_code == 201, response.text
    return response.json()["token"]


def test_blacklist_revokes_the_token_and_allows_a_new_one(own_server):
    with own_server.client() as client:
        token = _new_token(client)

        revoked = httpx.post(
            own_server.url + "/api/token/blacklist/", json={"refresh": token}, verify=TLS
        )

        assert revoked.status_code == 204
        assert revoked.content == b""
        assert client.get("/api/token/").json() == []
        assert_error(post_refresh(own_server, json={"refresh": token}), 401, "Token is blacklisted")
        again = httpx.post(
            own_server.url + "/api/token/blacklist/", json={"refresh": token}, verify=TLS
        )
        assert_error(again, 404, INVALID_OR_BLACKLISTED)
        assert _new_token(client) != token


@pytest.mark.parametrize("token", ["garbage", forged_jwt(FOREIGN_SECRET, "refresh")])
def test_blacklist_of_an_invalid_token_is_404(own_server, token):
    response = httpx.post(
        own_server.url + "/api/token/blacklist/", json={"refresh": token}, verify=TLS
    )

    assert_error(response, 404, INVALID_OR_BLACKLISTED)


def test_blacklist_body_is_validated(own_server):
    response = httpx.post(own_server.url + "/api/token/blacklist/", json={}, verify=TLS)

    assert_invalid(response, {"refresh": ["This field is required."]})


def test_rotate_revokes_the_token_and_answers_a_new_one(own_server):
    with own_server.client() as client:
        token = _new_token(client)

        rotated = client.post("/api/token/rotate/", json={"refresh": token})

        assert rotated.status_code == 200, rotated.text
        assert list(rotated.json()) == ["refresh"]
        new = rotated.json()["refresh"]
        assert new != token
        assert post_refresh(own_server, json={"refresh": new}).status_code == 200
        assert_error(post_refresh(own_server, json={"refresh": token}), 401, "Token is blacklisted")
        listed = client.get("/api/token/").json()
        assert [t["token"] for t in listed] == [".".join(new.split(".")[:2])]
        assert_error(
            client.post("/api/token/rotate/", json={"refresh": token}), 400, INVALID_OR_BLACKLISTED
        )


def test_rotate_needs_authentication_and_the_users_own_token(own_server):
    with own_server.client() as ada, own_server.client(HANK_TOKEN) as hank:
        token = _new_token(ada)

        anonymous = httpx.post(
            own_server.url + "/api/token/rotate/", json={"refresh": token}, verify=TLS
        )
        foreign = hank.post("/api/token/rotate/", json={"refresh": token})

        assert_unauthorized(anonymous, NOT_PROVIDED)
        assert_error(foreign, 400, INVALID_OR_BLACKLISTED)
        assert post_refresh(own_server, json={"refresh": token}).status_code == 200


@pytest.fixture(scope="module")
def signing_key(server: Emulator) -> str:
    """The key the shared server signs its tokens with (the state document carries it; a reset
    keeps it)."""
    with server.client(token=None) as control:
        return control.get("/_emulator/export").json()["secret_key"]


def stamp(seconds: int) -> str:
    """A JWT time claim as the API shows a datetime: ISO 8601 in UTC with a trailing Z."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_created_token_is_a_refresh_jwt_of_365_days_whose_times_are_shown(
    own_server, signing_key
):
    with own_server.client() as client:
        created = client.post("/api/token/")

    assert created.status_code == 201, created.text
    body = created.json()
    claims = jwt.decode(body["token"], signing_key, algorithms=["HS256"])
    assert sorted(claims) == ["exp", "iat", "jti", "token_type", "user_id"]
    assert (claims["token_type"], claims["user_id"]) == ("refresh", "1")
    assert claims["exp"] - claims["iat"] == 365 * 24 * 3600
    assert body == {
        "token": body["token"],
        "created_at": stamp(claims["iat"]),
        "expires_at": stamp(claims["exp"]),
    }


def test_rotated_token_is_a_new_refresh_jwt_of_the_same_user_and_lifetime(own_server, signing_key):
    with own_server.client(HANK_TOKEN) as hank:
        token = _new_token(hank)
        rotated = hank.post("/api/token/rotate/", json={"refresh": token}).json()["refresh"]
        listed = hank.get("/api/token/").json()

    old, new = (jwt.decode(t, signing_key, algorithms=["HS256"]) for t in (token, rotated))
    assert (new["token_type"], new["user_id"]) == ("refresh", "2")
    assert new["exp"] - new["iat"] == 365 * 24 * 3600
    assert new["jti"] != old["jti"]
    assert listed == [
        {
            "token": ".".join(rotated.split(".")[:2]),
            "created_at": stamp(new["iat"]),
            "expires_at": stamp(new["exp"]),
        }
    ]


def test_an_access_token_refreshed_from_a_created_one_acts_as_its_user(own_server, signing_key):
    with own_server.client(HANK_TOKEN) as hank:
        token = _new_token(hank)

    access = post_refresh(own_server, json={"refresh": token}).json()["access"]
    claims = jwt.decode(access, signing_key, algorithms=["HS256"])
    whoami = httpx.get(
        own_server.url + "/api/current-user/whoami",
        headers={"Authorization": f"Bearer {access}"},
        verify=TLS,
    )

    assert (claims["token_type"], claims["user_id"]) == ("access", "2")
    assert claims["exp"] - claims["iat"] == 300
    assert whoami.json()["username"] == "hank"


def test_an_expired_refresh_token_is_refused_by_refresh_blacklist_and_rotate(server, signing_key):
    expired = forged_jwt(signing_key, "refresh", lifetime=-60)

    refreshed = post_refresh(server, json={"refresh": expired})
    revoked = httpx.post(
        server.url + "/api/token/blacklist/", json={"refresh": expired}, verify=TLS
    )
    with server.client() as client:
        rotated = client.post("/api/token/rotate/", json={"refresh": expired})

    assert_error(refreshed, 401, "Token is expired")
    assert refreshed.headers["www-authenticate"] == 'Bearer realm="api"'
    assert_error(revoked, 404, INVALID_OR_BLACKLISTED)
    assert_error(rotated, 400, INVALID_OR_BLACKLISTED)


@pytest.mark.parametrize(
    ("token_type", "refresh_detail"),
    [("refresh", "Token is invalid"), ("access", "Token has wrong type")],
    ids=["refresh-never-created", "access"],
)
def test_a_token_signed_by_the_server_but_not_a_created_refresh_token_is_refused(
    server, token_type, refresh_detail, signing_key
):
    token = forged_jwt(signing_key, token_type)

    refreshed = post_refresh(server, json={"refresh": token})
    revoked = httpx.post(server.url + "/api/token/blacklist/", json={"refresh": token}, verify=TLS)
    with server.client() as client:
        rotated = client.post("/api/token/rotate/", json={"refresh": token})

    assert_error(refreshed, 401, refresh_detail)
    assert_error(revoked, 404, INVALID_OR_BLACKLISTED)
    assert_error(rotated, 400, INVALID_OR_BLACKLISTED)


def test_rotate_and_blacklist_bodies_are_validated(server):
    with server.client() as client:
        rotated = client.post("/api/token/rotate/", json={"refresh": ""})
    revoked = httpx.post(server.url + "/api/token/blacklist/", json={"refresh": None}, verify=TLS)

    assert_invalid(rotated, {"refresh": ["This field may not be blank."]})
    assert_invalid(revoked, {"refresh": ["This field may not be null."]})


def stored_token(pk: int, user: int, created: str, expires: str, revoked: str | None = None):
    """A row of the access_token table, as the state document carries it."""
    return {"id": pk, "user_id": user, "jti": f"jti-{pk}", "token": f"head{pk}.body{pk}.sig{pk}",
            "created_at": created, "expires_at": expires, "blacklisted_at": revoked}  # fmt: skip


def test_the_token_list_shows_the_users_live_tokens_only_in_the_order_asked(own_server):
    # One valid token at a time is all the API makes; a state document can hold several.
    with own_server.client(token=None) as control:
        document = control.get("/_emulator/export").json()
        document["tables"]["access_token"] = [
            stored_token(1, 1, "2026-01-02T00:00:00Z", "2099-01-01T00:00:00Z"),
            stored_token(2, 1, "2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z"),  # expired
            stored_token(3, 1, "2026-01-03T00:00:00Z", "2099-01-01T00:00:00Z",
                         "2026-01-04T00:00:00Z"),  # revoked
            stored_token(4, 1, "2026-01-01T00:00:00Z", "2098-01-01T00:00:00Z"),
            stored_token(5, 2, "2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z"),  # expired
            stored_token(6, 2, "2026-01-03T00:00:00Z", "2099-01-01T00:00:00Z",
                         "2026-01-04T00:00:00Z"),  # revoked
        ]  # fmt: skip
        control.post("/_emulator/import", json=document).raise_for_status()
    first = {"token": "head1.body1", "created_at": "2026-01-02T00:00:00Z",
             "expires_at": "2099-01-01T00:00:00Z"}  # fmt: skip
    fourth = {"token": "head4.body4", "created_at": "2026-01-01T00:00:00Z",
              "expires_at": "2098-01-01T00:00:00Z"}  # fmt: skip

    with own_server.client() as ada, own_server.client(HANK_TOKEN) as hank:
        listed = {
            ordering: ada.get("/api/token/", params={"ordering": ordering} if ordering else {})
            for ordering in (None, "created_at", "-created_at", "expires_at", "-expires_at")
        }
        assert hank.get("/api/token/").json() == []
        assert_error(ada.post("/api/token/"), 409, TOKEN_EXISTS)
        assert hank.post("/api/token/").status_code == 201  # expired and revoked ones do not count

    assert {ordering: answer.json() for ordering, answer in listed.items()} == {
        None: [first, fourth],
        "created_at": [fourth, first],
        "-created_at": [first, fourth],
        "expires_at": [fourth, first],
        "-expires_at": [first, fourth],
    }
