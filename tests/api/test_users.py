"""The current user as Label Studio answers it (WhoAmIUser), for the demo seed's users."""

from conftest import HANK_TOKEN, contract_document, sqlite_file
from sqlalchemy import create_engine, text

CONTRACT = contract_document()
NOW = "2026-03-04T05:06:07Z"


def membership(organization: int) -> dict:
    # OrganizationMembership: the emulator's users own their organization.
    return {"active": True, "flex": None, "organization_id": organization, "role": "OWNER",
            "user_type": None}  # fmt: skip


def expected_whoami(user_id: int, first: str, last: str, username: str, email: str,
                    organization: int, title: str) -> dict:  # fmt: skip
    """WhoAmIUser of a seeded user (app/demo_seed.yaml), the clock frozen at NOW."""
    return {
        "id": user_id, "first_name": first, "last_name": last, "username": username,
        "email": email, "last_activity": NOW, "custom_hotkeys": {}, "avatar": None,
        "initials": first[0] + last[0], "phone": "", "active_organization": organization,
        "active_organization_meta": {"title": title}, "allow_newsletters": None,
        "date_joined": "2025-01-01T00:00:00Z",  # the seed's epoch
        "org_membership": [membership(organization)],
        "organization_membership": membership(organization),
        "lse_fields": {
            "active_organization_external_id": None, "email_notification_settings": {},
            "invite_activated": None, "invite_expired": None, "invite_expired_at": None,
            "invited_at": None, "invited_by": None, "onboarding_state": "complete",
            "social_auth_finished": None, "trial_company": None,
            "trial_experience_labeling": None, "trial_license_enterprise": None,
            "trial_models_in_production": None, "trial_role": None,
        },
        "pause": None, "permissions": [], "social_accounts": [],
    }  # fmt: skip


def test_whoami_is_the_seeded_user_with_every_field_of_the_contract(server):
    with server.client(None) as control:
        control.post("/_emulator/clock", json={"freeze": True}).raise_for_status()
        control.post("/_emulator/clock", json={"set": NOW}).raise_for_status()
    try:
        with server.client() as ada, server.client(HANK_TOKEN) as hank:
            answers = [c.get("/api/current-user/whoami") for c in (ada, hank)]
    finally:
        with server.client(None) as control:
            control.post("/_emulator/reset").raise_for_status()
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].json() == expected_whoami(
        1, "Ada", "Lovelace", "ada", "ada@acme.test", 1, "Acme"
    )
    assert answers[1].json() == expected_whoami(
        2, "Hank", "Scorpio", "hank", "hank@globex.test", 2, "Globex"
    )
    schema = CONTRACT["components"]["schemas"]
    assert set(answers[0].json()) == set(schema["WhoAmIUser"]["properties"])
    assert set(answers[0].json()["lse_fields"]) == set(schema["WhoAmILseFields"]["properties"])
    assert set(membership(1)) == set(schema["OrganizationMembership"]["properties"])


def test_whoami_follows_the_clock_and_the_title_wherever_they_change(server):
    url = server.settings.get("database_url") or f"sqlite:///{sqlite_file(server.data_dir)}"
    other_program = create_engine(str(url))
    try:
        with server.client(None) as control, server.client() as ada:
            control.post("/_emulator/clock", json={"freeze": True}).raise_for_status()
            control.post("/_emulator/clock", json={"set": NOW}).raise_for_status()
            first = ada.get("/api/current-user/whoami").json()
            control.post("/_emulator/clock", json={"advance_seconds": 90}).raise_for_status()
            later = ada.get("/api/current-user/whoami").json()
            with other_program.begin() as connection:
                connection.execute(text("UPDATE organization SET title = 'Acme Ltd' WHERE id = 1"))
            renamed = ada.get("/api/current-user/whoami").json()
    finally:
        with other_program.begin() as connection:  # a reset keeps organizations as they are
            connection.execute(text("UPDATE organization SET title = 'Acme' WHERE id = 1"))
        other_program.dispose()
        with server.client(None) as control:
            control.post("/_emulator/reset").raise_for_status()
    assert (first["last_activity"], first["active_organization_meta"]) == (NOW, {"title": "Acme"})
    assert later["last_activity"] == "2026-03-04T05:07:37Z"
    assert renamed["active_organization_meta"] == {"title": "Acme Ltd"}
    assert renamed["last_activity"] == "2026-03-04T05:07:37Z"
