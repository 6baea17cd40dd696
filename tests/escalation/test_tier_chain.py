"""The tiers a ticket climbs from its reporter's unit: county → (prefecture, where the
province has switched it on) → province → Ministry, units without engineers skipped,
the Ministry always last."""

import pytest
from django.core.exceptions import PermissionDenied

from accounts.models import AuditAction, AuditEvent
from escalation import selectors, services
from escalation.models import SupportSettings
from tests import factories
from tests.tickets.helpers import MONDAY, engineer, fresh, raise_ticket

T0 = MONDAY.replace(hour=9)


def codes(units):
    return [u.code for u in units]


@pytest.fixture
def everywhere(tree):
    """An engineer at every unit that can be a tier."""
    for unit in (
        tree.ministry,
        tree.province,
        tree.prefecture,
        tree.county,
        tree.sibling,
        tree.municipality,
        tree.muni_county,
    ):
        engineer(unit)
    return tree


@pytest.fixture
def hebei_boss(tree):
    return factories.manager(tree.province)


def test_a_school_climbs_county_province_ministry(everywhere):
    t = everywhere
    assert codes(selectors.tier_chain(t.school)) == ["130102", "130000", "000000"]
    assert codes(selectors.tier_chain(t.sibling_school)) == ["130104", "130000", "000000"]


def test_a_county_reporter_starts_at_its_own_county(everywhere):
    assert codes(selectors.tier_chain(everywhere.county)) == ["130102", "130000", "000000"]


def test_a_county_without_engineers_is_skipped(tree):
    engineer(tree.province)
    engineer(tree.sibling)
    assert codes(selectors.tier_chain(tree.school)) == ["130000", "000000"]
    assert codes(selectors.tier_chain(tree.sibling_school)) == ["130104", "130000", "000000"]


def test_inactive_or_plain_accounts_do_not_make_a_tier(tree):
    engineer(tree.province)
    engineer(tree.county, is_active=False)
    factories.staff(tree.county)
    factories.manager(tree.county)
    assert codes(selectors.tier_chain(tree.school)) == ["130000", "000000"]


def test_the_prefecture_is_a_tier_only_when_its_province_switches_it_on(everywhere, hebei_boss):
    t = everywhere
    assert codes(selectors.tier_chain(t.school)) == ["130102", "130000", "000000"]
    services.prefecture_tier_set(actor=hebei_boss, province=t.province, enabled=True)
    assert SupportSettings.objects.get(province=t.province).prefecture_tier
    assert codes(selectors.tier_chain(t.school)) == ["130102", "130100", "130000", "000000"]
    assert codes(selectors.tier_chain(t.prefecture)) == ["130100", "130000", "000000"]
    # Beijing has no prefecture and its own settings: untouched.
    assert codes(selectors.tier_chain(t.muni_school)) == ["110101", "110000", "000000"]
    services.prefecture_tier_set(actor=hebei_boss, province=t.province, enabled=False)
    assert codes(selectors.tier_chain(t.school)) == ["130102", "130000", "000000"]
    assert AuditEvent.objects.filter(action=AuditAction.SUPPORT_TIERS_CHANGED).count() == 2


def test_a_switched_on_prefecture_without_engineers_is_skipped(tree, hebei_boss):
    engineer(tree.county)
    engineer(tree.province)
    services.prefecture_tier_set(actor=hebei_boss, province=tree.province, enabled=True)
    assert codes(selectors.tier_chain(tree.school)) == ["130102", "130000", "000000"]


def test_only_a_manager_of_the_province_switches_the_prefecture_tier(tree, hebei_boss):
    refused = [
        (factories.manager(tree.prefecture), tree.province),
        (factories.manager(tree.county), tree.province),
        (engineer(tree.province), tree.province),
        (factories.manager(tree.municipality), tree.province),
        # Only a province carries the setting.
        (hebei_boss, tree.prefecture),
    ]
    for actor, unit in refused:
        with pytest.raises(PermissionDenied):
            services.prefecture_tier_set(actor=actor, province=unit, enabled=True)
    assert not SupportSettings.objects.exists()
    services.prefecture_tier_set(
        actor=factories.manager(tree.ministry), province=tree.province, enabled=True
    )
    assert SupportSettings.objects.get(province=tree.province).prefecture_tier


def test_a_municipality_county_climbs_straight_to_the_municipality(everywhere):
    t = everywhere
    assert codes(selectors.tier_chain(t.muni_school)) == ["110101", "110000", "000000"]


def test_a_province_reporter_starts_at_the_province(everywhere):
    assert codes(selectors.tier_chain(everywhere.province)) == ["130000", "000000"]
    assert codes(selectors.tier_chain(everywhere.municipality)) == ["110000", "000000"]


def test_a_ministry_reporter_has_only_the_ministry(everywhere):
    assert codes(selectors.tier_chain(everywhere.ministry)) == ["000000"]


def test_with_no_engineers_anywhere_the_ministry_is_the_only_tier(tree):
    for unit in (tree.school, tree.county, tree.prefecture, tree.province, tree.muni_school):
        assert codes(selectors.tier_chain(unit)) == ["000000"], unit


def test_a_ticket_starts_at_the_first_tier_and_next_tier_climbs(everywhere):
    t = everywhere
    reporter = factories.staff(t.school)
    ticket = fresh(raise_ticket(reporter, now=T0))
    assert ticket.tier == t.county
    assert selectors.next_tier(ticket) == t.province
    ticket.tier = t.province
    assert selectors.next_tier(ticket) == t.ministry
    ticket.tier = t.ministry
    assert selectors.next_tier(ticket) is None


def test_next_tier_follows_the_prefecture_switch(everywhere, hebei_boss):
    t = everywhere
    ticket = fresh(raise_ticket(factories.staff(t.school), now=T0))
    services.prefecture_tier_set(actor=hebei_boss, province=t.province, enabled=True)
    assert selectors.next_tier(ticket) == t.prefecture
    ticket.tier = t.prefecture
    assert selectors.next_tier(ticket) == t.province


def test_a_ticket_with_no_engineers_anywhere_waits_at_the_ministry(tree):
    ticket = fresh(raise_ticket(factories.staff(tree.school), now=T0))
    assert (ticket.tier, ticket.assignee, ticket.status) == (tree.ministry, None, "new")
    assert selectors.next_tier(ticket) is None


def test_escalation_skips_a_tier_without_engineers(tree):
    county_eng = engineer(tree.county)
    ministry_eng = engineer(tree.ministry)
    ticket = raise_ticket(factories.staff(tree.school), now=T0)
    services.escalate(actor=county_eng, ticket=ticket, reason="省里没有工程师", now=T0)
    ticket = fresh(ticket)
    assert (ticket.tier, ticket.assignee) == (tree.ministry, ministry_eng)
