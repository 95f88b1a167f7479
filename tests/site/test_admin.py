"""The Django admin covers every model: list, search and change pages render; invariants stay read-only."""

import re

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

from banks.models import Bank
from memories.models import MemoryUnit, Operation
from tests.factories import populated_bank

pytestmark = pytest.mark.django_db

OUR_APPS = ("banks", "memories", "directives")


@pytest.fixture
def operator(client, django_user_model):
    user = django_user_model.objects.create_superuser("operator", "op@example.com", "a-long-password")
    client.force_login(user)
    return client


def our_models():
    return [model for app in OUR_APPS for model in apps.get_app_config(app).get_models()]


def test_every_model_is_registered():
    assert [m.__name__ for m in our_models() if not admin.site.is_registered(m)] == []


def test_every_model_can_be_searched_and_filtered_and_the_users_are_there_too():
    from django.contrib.auth import get_user_model

    admins = {m.__name__: admin.site._registry[m] for m in our_models()}
    assert [name for name, model_admin in admins.items() if not model_admin.search_fields] == []
    assert [name for name, model_admin in admins.items() if not model_admin.list_filter] == []
    # Control-plane sign-ins are Django users: operators manage them in the admin.
    assert admin.site.is_registered(get_user_model())


def test_a_bank_in_the_admin_links_to_its_control_plane_page(operator):
    bank = populated_bank("linked")
    page = operator.get(reverse("admin:banks_bank_change", args=[bank.pk])).content.decode()
    link = re.search(r'href="(/admin/r/[^"]+)" class="viewsitelink"', page)
    assert link, "no View on site link"
    assert operator.get(link.group(1))["Location"].endswith("/banks/linked/")


@pytest.mark.parametrize("model", our_models(), ids=lambda m: m.__name__)
def test_changelist_search_and_change_pages_render(operator, model):
    populated_bank("admin-bank")
    prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}"
    changelist = operator.get(reverse(f"{prefix}_changelist"))
    assert changelist.status_code == 200
    if admin.site._registry[model].search_fields:
        assert operator.get(reverse(f"{prefix}_changelist"), {"q": "admin"}).status_code == 200
    instance = model.objects.first()
    change = operator.get(reverse(f"{prefix}_change", args=[instance.pk]))
    assert change.status_code == 200


def test_embeddings_and_operation_state_are_not_editable(operator):
    bank = populated_bank("ro-bank")
    unit = MemoryUnit.objects.filter(bank=bank).first()
    page = operator.get(reverse("admin:memories_memoryunit_change", args=[unit.pk])).content.decode()
    assert 'name="embedding"' not in page
    operation = Operation.objects.filter(bank=bank).first()
    page = operator.get(reverse("admin:memories_operation_change", args=[operation.pk])).content.decode()
    assert 'name="status"' not in page
    assert 'name="lease_expires_at"' not in page


def _bank_form(**overrides):
    form = {
        "bank_id": "admin-config",
        "name": "Admin",
        "mission": "",
        "disposition_skepticism": "",
        "disposition_literalism": "",
        "disposition_empathy": "",
        "config_overrides": "{}",
    }
    form.update(overrides)
    return form


def test_bank_config_saved_in_the_admin_goes_through_the_registry(operator):
    url = reverse("admin:banks_bank_add")
    bad = operator.post(url, _bank_form(config_overrides='{"retain_chunk_size": "big"}'))
    assert bad.status_code == 200
    assert "retain_chunk_size must be an integer" in bad.content.decode()
    assert not Bank.objects.filter(bank_id="admin-config").exists()

    zero = operator.post(url, _bank_form(disposition_empathy="0"))
    assert zero.status_code == 200
    assert "disposition_empathy must be at least 1" in zero.content.decode()

    good = operator.post(
        url, _bank_form(config_overrides='{"HINDSIGHT_API_RETAIN_CHUNK_SIZE": 1500}', disposition_empathy="5")
    )
    assert good.status_code == 302
    bank = Bank.objects.get(bank_id="admin-config")
    assert bank.get_overrides() == {"retain_chunk_size": 1500, "disposition_empathy": 5}


def test_a_banks_id_cannot_be_changed_once_it_exists(operator):
    bank = populated_bank("fixed-id")
    page = operator.get(reverse("admin:banks_bank_change", args=[bank.pk])).content.decode()
    assert 'name="bank_id"' not in page
    assert operator.get(reverse("admin:banks_bank_add")).content.decode().count('name="bank_id"') == 1


def test_saving_an_existing_bank_in_the_admin_keeps_its_id_and_updates_overrides(operator):
    bank = populated_bank("edit-me")
    form = _bank_form(name="Edited", config_overrides='{"retain_mission": "Decisions only"}')
    form.pop("bank_id")
    response = operator.post(reverse("admin:banks_bank_change", args=[bank.pk]), form)
    assert response.status_code == 302
    bank.refresh_from_db()
    assert (bank.bank_id, bank.name) == ("edit-me", "Edited")
    assert bank.get_overrides() == {"retain_mission": "Decisions only"}
