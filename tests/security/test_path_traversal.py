"""Path traversal in every name that becomes a path: nothing leaves the SkillBank root.

Skill names and the SKILL.md `name` (through the API's PUT, upload and zip, and the
editor page), upload file names, zip entries and bundled resource paths (from an
archive and from the model), sub-user names, library names, server paths and page
URLs, in every spelling a path could take (`../`, absolute, backslashes, NUL,
look-alike dots, percent-encoding, drive letters, over-long names). Whatever is
accepted is checked on disk afterwards, with the uploads' temporary folders moved
into the test's own folder so an escape from those would show too; nothing answers
a 5xx.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from autoskill_site.providers.openai_chat import OpenAICompatibleLLM
from extraction.models import JobTrigger
from extraction.services import extraction_ingest
from proxy.auth import api_key_create
from skills.mirror import user_segment
from skills.models import Skill, SkillFile
from skills.skillmd import is_valid_slug
from tests.fakes.openai_server import CHAT, Recorded, Reply, Scripted
from tests.proxy.api.extraction_fixtures import IMMEDIATE_TASKS
from tests.security.hostile import V1, call, envelope_problem, skill_md, zip_bytes

pytestmark = pytest.mark.django_db(transaction=True)

# Names that try to leave their folder, in every spelling a path could take.
TRAVERSAL = (
    "../../escaped",
    "../../../../../../tmp/escaped",
    "/tmp/escaped",
    "..\\..\\escaped",
    "a\x00b/../../escaped",
    "．．／．．／escaped",  # fullwidth dots and solidus
    "\u2024\u2024/\u2024\u2024/escaped",  # one-dot leaders
    "%2e%2e%2f%2e%2e%2fescaped",
    "....//....//escaped",
    "~/escaped",
    ".hidden",
    "C:\\escaped",
    "x" * 400,
)


# -- names that become paths --------------------------------------------------------


def test_traversal_in_skill_names_never_leaves_the_skillbank(
    hostile, client, user, contained
):
    """Through the API (SKILL.md PUT, upload, zip) and the editor page."""
    client.force_login(user)
    skill = hostile["skill"]
    statuses: dict[str, int] = {}
    for index, name in enumerate(TRAVERSAL):
        answers = {
            "put md": call(
                hostile,
                "put",
                f"{V1}/skills/{{skill}}/md",
                json.dumps({"skill_md": skill_md(name, f"Edit {index}.")}),
            ),
            "upload": hostile["client"].post(
                f"{V1}/skills/import",
                {
                    "file": SimpleUploadedFile(
                        f"{name}.md", skill_md(name, f"Upload {index}.").encode()
                    )
                },
                **hostile["headers"],
            ),
            "zip folder": hostile["client"].post(
                f"{V1}/skills/import",
                {
                    "file": SimpleUploadedFile(
                        f"{name}.zip",
                        zip_bytes(
                            {f"{name}/SKILL.md": skill_md(name, f"Zip {index}.")}
                        ),
                    )
                },
                **hostile["headers"],
            ),
            "editor": client.post(
                "/skills/new/", {"skill_md": skill_md(name, f"Page {index}.")}
            ),
        }
        for how, response in answers.items():
            statuses[f"{how} {name[:40]!r}"] = response.status_code
    assert {k: v for k, v in statuses.items() if v >= 500} == {}
    # The API accepts each under a safe name (so the disk check below is not
    # vacuous); the editor insists on a valid name and says so.
    assert {k: v for k, v in statuses.items() if k.startswith("put md")} == {
        k: 200 for k in statuses if k.startswith("put md")
    }
    assert {v for k, v in statuses.items() if k.startswith("upload")} <= {200, 201}
    assert {v for k, v in statuses.items() if k.startswith("editor")} == {400}
    skill.refresh_from_db()
    assert is_valid_slug(skill.name)
    contained()


def test_traversal_in_zip_entries_and_resource_paths(hostile, contained, tmp_path):
    """Zip-slip, absolute, backslash, NUL and over-long entries are refused whole;
    look-alike dots stay inside the skill's folder."""
    refused = {
        "dot-dot": {
            "ok/SKILL.md": skill_md("ok"),
            "ok/scripts/../../../escaped.sh": "x",
        },
        "absolute": {"ok/SKILL.md": skill_md("ok"), str(tmp_path / "escaped.sh"): "x"},
        "backslash": {"ok/SKILL.md": skill_md("ok"), "ok\\..\\..\\escaped.sh": "x"},
        # (zipfile itself cuts a name at NUL, so NUL cannot arrive; \x01 can.)
        "control": {"ok/SKILL.md": skill_md("ok"), "ok/scripts/a\x01.sh": "x"},
        "drive": {"ok/SKILL.md": skill_md("ok"), "C:/escaped.sh": "x"},
        "long name": {"ok/SKILL.md": skill_md("ok"), f"ok/scripts/{'a' * 300}.sh": "x"},
    }
    problems = {}
    for label, entries in refused.items():
        upload = SimpleUploadedFile(f"{label}.zip", zip_bytes(entries))
        response = hostile["client"].post(
            f"{V1}/skills/import",
            {"file": upload, "include_files": "true"},
            **hostile["headers"],
        )
        if problem := envelope_problem(response, 400):
            problems[label] = problem
    assert problems == {}
    assert Skill.objects.count() == 1  # a refused archive imports nothing
    # Look-alikes of ".." are ordinary names: accepted, and inside the folder.
    lookalikes = {
        "pack/SKILL.md": skill_md("pack"),
        "pack/scripts/．．/．．/x.sh": "echo 1",
        "pack/references/\u2024\u2024/notes.md": "n",
        "pack/assets/%2e%2e%2fa.txt": "a",
    }
    upload = SimpleUploadedFile("pack.zip", zip_bytes(lookalikes))
    response = hostile["client"].post(
        f"{V1}/skills/import",
        {"file": upload, "include_files": "true"},
        **hostile["headers"],
    )
    assert response.status_code == 201, response.content
    pack = Skill.objects.get(name="pack")
    assert SkillFile.objects.filter(skill=pack).count() == 3
    contained()


def test_traversal_in_bundled_files_from_the_model(
    user, settings, fake_openai, contained
):
    """A model that proposes files outside scripts/ references/ assets/ gets them
    filed inside (or dropped); nothing is written anywhere else."""
    candidate = {
        "name": "../../escaped-skill",
        "description": "Deploys with the release checklist every time.",
        "instructions": "# Goal\nDeploy.\n\n# Workflow\n1. Run scripts/deploy.sh",
        "triggers": ["deploy"],
        "tags": ["deploy"],
        "confidence": 0.8,
        "files": {
            "scripts/../../../../escaped.sh": "echo escaped",
            "/etc/cron.d/escaped": "* * * * * root true",
            "references/..\\..\\escaped.md": "escaped",
            "assets/．．/．．/escaped.txt": "escaped",
            "scripts/ok.sh": "echo ok",
        },
    }

    def answer(request: Recorded, scripted: Scripted | None) -> Reply:
        return fake_openai._chat(
            request, Scripted(text=json.dumps({"skills": [candidate]}))
        )

    fake_openai.route(CHAT, answer)
    llm = OpenAICompatibleLLM(
        base_url=fake_openai.base_url, model="fake", provider="generic", retries=0
    )
    result = extraction_ingest(
        user=user,
        messages=[
            {"role": "user", "content": "Always deploy with the release checklist."},
            {"role": "assistant", "content": "Noted."},
            {"role": "user", "content": "And keep the scripts with the skill."},
        ],
        trigger=JobTrigger.IMPORT_CONVERSATION,
        llm=llm,
    )
    assert (result.status, result.outcome) == ("completed", "added"), result.error
    skill = Skill.objects.get(owner=user)
    assert skill.name == "escaped-skill"
    paths = set(SkillFile.objects.filter(skill=skill).values_list("path", flat=True))
    assert "scripts/ok.sh" in paths
    folder = Path(settings.AUTOSKILL_STORE_DIR) / "Users" / "alice" / skill.name
    assert (folder / "scripts" / "ok.sh").read_text() == "echo ok"
    contained()


@pytest.mark.parametrize("name", TRAVERSAL[:-1])
def test_traversal_in_sub_user_names(user, name, contained, store_dir):
    """A service key's sub-user named like a path gets a folder that cannot climb."""
    service = api_key_create(owner=user, can_act_for_users=True).secret
    upload = SimpleUploadedFile("SKILL.md", skill_md("mine").encode())
    response = Client(raise_request_exception=False).post(
        f"{V1}/skills/import",
        {"file": upload},
        HTTP_AUTHORIZATION=f"Bearer {service}",
        HTTP_X_AUTOSKILL_USER=name,
    )
    if "\x00" in name:
        assert envelope_problem(response, 400) is None, response.content
        assert "control characters" in response.json()["error"]["message"]
        assert Skill.objects.count() == 0
        contained()
        return
    assert response.status_code == 201, response.content
    skill = Skill.objects.get(name="mine")
    owner = skill.owner
    assert owner.pk != user.pk and owner.username.startswith("alice--")
    segment = user_segment(owner.username, owner.pk)
    assert (store_dir / "Users" / segment / "mine" / "SKILL.md").is_file()
    assert [p.name for p in (store_dir / "Users").iterdir()] == [segment]
    contained()


def test_server_paths_are_refused(hostile, settings, contained):
    """Imports never read the server's disk, whatever field names a path."""
    settings.TASKS = IMMEDIATE_TASKS
    problems = {}
    for key in ("path", "file_path", "root_dir", "zip_path", "dir"):
        response = call(
            hostile,
            "post",
            f"{V1}/conversations/import",
            json.dumps({key: "/etc/passwd"}),
        )
        if problem := envelope_problem(response, 400):
            problems[f"conversations {key}"] = problem
    for form in ({"file": "/etc/passwd"}, {"path": "/etc"}, {"dir": "../../"}):
        response = hostile["client"].post(
            f"{V1}/skills/import", form, **hostile["headers"]
        )
        if problem := envelope_problem(response, (400, 415)):
            problems[f"skills {form}"] = problem
    assert problems == {}
    assert Skill.objects.count() == 1
    contained()


def test_library_names_with_traversal_are_refused(client, django_user_model, contained):
    """Staff may import into a library; its name must be a slug, never a path."""
    staff = django_user_model.objects.create_user(
        username="root", password="pw-root-123", is_staff=True
    )
    headers = {"HTTP_AUTHORIZATION": f"Bearer {api_key_create(owner=staff).secret}"}
    statuses = {}
    for name in ("../../escaped", "/tmp/escaped", "..", "a/b", "x\x00y"):
        upload = SimpleUploadedFile("SKILL.md", skill_md("lib-skill").encode())
        response = Client(raise_request_exception=False).post(
            f"{V1}/skills/import", {"file": upload, "library": name}, **headers
        )
        statuses[name] = response.status_code
    assert set(statuses.values()) <= {400, 404}, statuses
    assert Skill.objects.count() == 0
    contained()


def test_page_urls_with_traversal_are_404s(client, user):
    client.force_login(user)
    paths = (
        "/chat/..%2F..%2Fetc%2Fpasswd/",
        "/chat/%00/",
        "/chat/..%5C..%5Cwin.ini/export.json",
        "/skills/%2e%2e/",
        "/skills/..%2F..%2Fetc/edit/",
    )
    assert {p: client.get(p).status_code for p in paths} == dict.fromkeys(paths, 404)
