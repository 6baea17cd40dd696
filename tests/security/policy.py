"""The declared access policy of every entry point: each URL pattern and each socket
frame type. tests/security/test_authz_matrix.py holds the URL configuration and the
socket registry equal to these tables (a new entry point without a policy fails, and
so does a stale entry) and checks every role at every level against them.

To add an entry point, append one line to URLS (keyed by the URL name; an unnamed
pattern by its route, as `str(pattern.pattern)` joined from the root) or to FRAMES
(keyed by frame type), with a rule from the vocabulary below. A whole prefix of routes
(Django's admin) may be declared once in PREFIXES.

Vocabulary (the rules come from accounts/scoping.py and the apps' selectors; "kind" in
parentheses names the object the URL's parameters point at):

- "public": anyone, anonymous included.
- "authenticated": any logged-in account, also one that has not yet set its password.
- "login": any active account bound to a unit; the URL names no object, what it lists
  is within the account's reach.
- "manager": any active manager; no object in the URL.
- "subtree(kind)": any active account, the object's unit at or under its own unit
  (scoping.can_view_unit); never an ancestor's or a sibling's.
- "overseer(kind)": managers and support engineers above school level, the object's
  unit at or under their own (roll.selectors.can_oversee + can_view_unit).
- "manager_subtree(kind)": managers, the object's unit at or under their own
  (scoping.can_manage_unit).
- "manageable(account)": scoping.manageable_accounts: managers, accounts below their
  unit and the staff of their own unit, never themselves or a fellow manager.
- "own(kind)": the actor's own object only (the batch it issued, the draft it wrote,
  the message it posted).
- "own_unit(kind)": objects of the actor's own unit only (a school works its records).
- "unmask(record)": roll.selectors.can_unmask: managers of the record's school or of its
  county; staff and managers above the county are refused (403) — full ID numbers.
- "audience(notice)": notices.selectors.can_read: the notice reaches the account, or the
  account oversees its statistics (the author, managers along the audience).
- "overseer(notice)": notices.selectors.can_view_stats.
- "issuer(notice)": notices.selectors.is_issuer on a published notice: its author and the
  managers of the author's unit (withdrawing, correcting); other readers get 403.
- "member(room)": chat: a member of the room (region rooms of the account's own unit and
  its ancestors for the levels they take; topic and direct rooms it was put in).
- "room_manager(room)": chat.selectors.can_manage_room: managers of the room's unit or
  above it, never a direct room.
- "support": tickets.selectors.is_support_person: support engineers, and managers above
  school level (a school's own managers use support, they do not give it).
- "support_manager": managers above school level.
- "ticket(ticket)": tickets.selectors.can_view: the reporter's side, or support people
  (engineers, managers above school level) of the reporter's unit or above.
- "ticket_work(ticket)": tickets.selectors.can_work: support people of the current tier.
- "engineer(tier)": escalation: a support engineer of its own unit, or a manager of the
  tier's unit or above it.
- "duty(engineer)": an engineer's duty switches: the engineer itself, or a manager of
  its unit or above (the engineer's unit within the actor's subtree).
- "manager_at(level|level)": managers of units of those levels, for their own unit
  (SLA targets and roll API keys: the Ministry and provinces).
- "manager_audience(notice)": a manager who may read the published notice (forwarding).
- "school_or_overseer": school accounts (their own school) and overseers (their subtree).
- "roll_key": the roll API: a roll API key (HMAC-signed), sessions are not enough.
- "staff_site": Django's admin: accounts with is_staff only; platform roles are refused.
- "kb_reader(article)": kb.selectors.can_read: a published article to the subtree of the
  unit it was published at; drafts (and published ones) to its editors.
- "kb_editor(article)": kb.selectors.can_edit: support people (engineers, managers above
  school level) of the article's unit or above.
"""

# URL name (or route of an unnamed pattern) -> rule.
URLS: dict[str, str] = {
    # accounts
    "home": "login",
    "password_first": "authenticated",
    "my_unit": "login",
    "unit_detail": "subtree(unit)",
    "account_list": "manager",
    "account_issue": "manager",
    "issue_batch": "own(batch)",
    "issue_batch_sheet": "own(batch)",
    "account_reissue": "manageable(account)",
    "account_disable": "manageable(account)",
    "account_enable": "manageable(account)",
    "account_hand_over": "manageable(account)",
    "audit_log": "manager",
    # issue 15, task E: the own profile; the register (managers, ?unit= in their
    # subtree); moving an account; help pages
    "profile": "login",
    "account_register": "manager",
    "account_register_export": "manager",
    "account_move": "manageable(account)",
    "help": "login",
    # school changes (issue 15, item 6): county managers propose, the levels above decide;
    # the proposal's id travels in the POST body and the service checks it
    "unit_changes": "manager",
    "unit_change_propose": "manager",
    "unit_change_batch": "manager",
    "unit_change_template": "manager",
    "unit_change_withdraw": "manager",
    "unit_change_decide": "manager",
    # the unit picker's JSON (issue 15): lists only the actor's own subtree
    "unit_picker_search": "login",
    "unit_picker_children": "login",
    "unit_picker_units": "login",
    # notices
    "notice_inbox": "login",
    "notice_unread": "login",
    "notice_sent": "manager",
    "notice_new": "manager",
    "notice_detail": "audience(notice)",
    "notice_edit": "own(notice)",
    "notice_publish": "own(notice)",
    "notice_ack": "audience(notice)",
    "notice_forward": "manager_audience(notice)",
    "notice_stats": "overseer(notice)",
    "notice_export": "overseer(notice)",
    "notice_replies": "overseer(notice)",
    "notice_remind": "audience(notice)",
    "notice_attachment": "audience(notice)",
    "notice_attachment_delete": "own(notice)",
    "notice_withdraw": "issuer(notice)",  # issue 15, B2
    "notice_correct": "issuer(notice)",  # issue 15, B2
    "notice_print": "audience(notice)",  # issue 15, B1: the formal print view
    "notice_replies_zip": "overseer(notice)",  # issue 15, B1: the receipts' files as one zip
    "notice_numbering": "manager",  # issue 15, B1: the own unit's document numbering rule
    # chat
    "chat_index": "login",
    "chat_new_room": "manager",
    "chat_direct": "login",
    "chat_directory_presence": "login",
    "chat_search": "login",
    "chat_room": "member(room)",
    "chat_history": "member(room)",
    "chat_members": "member(room)",
    "chat_post": "member(room)",
    "chat_file": "member(room)",
    "chat_policy": "room_manager(room)",
    "chat_edit": "own(message)",
    "chat_delete": "own(message)",
    "chat_revisions": "room_manager(room)",
    "chat_member_action": "room_manager(room)",
    # tickets
    "ticket_mine": "login",
    "ticket_new": "login",
    "ticket_queue": "support",
    "ticket_queue_count": "login",
    "ticket_tier": "support",
    "ticket_all": "support",
    "ticket_export": "manager",
    "ticket_dashboard": "support_manager",
    "ticket_detail": "ticket(ticket)",
    "ticket_reply": "ticket(ticket)",
    "ticket_act": "ticket(ticket)",
    "ticket_rate": "ticket(ticket)",
    "ticket_assign": "ticket_work(ticket)",
    "ticket_escalate": "ticket_work(ticket)",
    "ticket_send_back": "ticket_work(ticket)",
    "ticket_file": "ticket(ticket)",
    # escalation (support roster and settings)
    "support_roster": "engineer(tier)",
    "support_engineer": "manager_subtree(engineer)",
    "support_duty": "duty(engineer)",
    "support_settings": "manager_at(ministry|province)",
    "support_tiers": "manager_at(ministry|province)",
    # roll (student-roll problem records)
    "roll_index": "school_or_overseer",
    "roll_unit": "overseer(unit)",
    "roll_update": "own_unit(record)",
    "roll_reveal": "unmask(record)",
    "roll_export": "school_or_overseer",
    "roll_keys": "manager_at(ministry|province)",
    "roll_key_revoke": "manager_subtree(rollkey)",
    "roll_api_alerts": "roll_key",
    "roll_api_close": "roll_key",
    "^api/(?P<rest>.*)$": "public",
    # allauth (auth/)
    "account_login": "public",
    "account_logout": "public",
    "account_inactive": "public",
    "account_signup": "public",
    "account_reauthenticate": "authenticated",
    "account_request_reauthentication_code": "authenticated",
    "account_confirm_reauthentication_code": "authenticated",
    "account_email": "authenticated",
    "account_email_verification_sent": "public",
    "account_change_password": "authenticated",
    "account_set_password": "authenticated",
    "account_reset_password": "public",
    "account_confirm_login_code": "public",
    "account_confirm_email": "public",
    "account_reset_password_from_key_done": "public",
    "account_reset_password_from_key": "public",
    "account_reset_password_done": "public",
    "mfa_index": "authenticated",
    "mfa_authenticate": "public",
    "mfa_reauthenticate": "authenticated",
    "mfa_activate_totp": "authenticated",
    "mfa_deactivate_totp": "authenticated",
    "mfa_view_recovery_codes": "authenticated",
    "mfa_generate_recovery_codes": "authenticated",
    "mfa_download_recovery_codes": "authenticated",
    # Django
    "set_language": "public",
    "healthz": "public",
    "readyz": "public",
    # Prometheus: no session; a bearer token (METRICS_TOKEN) or an allowed address.
    "metrics": "public",
    "favicon.ico": "public",
    "admin:login": "public",
    "admin:logout": "public",
    # the login form's CAPTCHA image (issue 14, login limits): anyone who may see the form
    "captcha-image": "public",
    # the OpenAPI document of the JSON endpoints (issue 14, fuzzing): shapes only, no data
    "openapi": "public",
    # issue 16, F5: long jobs (core/jobs.py), each its owner's alone; canned replies of
    # the actor's own tier (the reply's id travels in the POST body, the service checks it)
    "job_list": "login",
    "school_import": "manager_at(ministry|province)",
    "job_detail": "own(job)",
    "job_result": "own(job)",
    "ticket_canned": "support",
    # charts (issue 16, F2: dashboards), each figure scoped to the viewer's own subtree
    "dashboards": "support",
    "dashboard_read_rate": "support_manager",
    "dashboard_read_rate_export": "support_manager",
    "dashboard_tickets": "support",
    "dashboard_tickets_export": "support",
    "dashboard_records": "support",
    "dashboard_records_export": "support",
    "dashboard_map": "manager_at(ministry)",
    "dashboard_map_export": "manager_at(ministry)",
    # the weekly report (issue 16, F1): a manager's own unit; ?unit= below (QUERIES)
    "weekly_report": "manager",
    "weekly_report_xlsx": "manager",
    # knowledge base (issue 16, F3): lists, search and suggestions within the account's
    # reach; writing an article belongs to support people (kb.selectors)
    "kb_list": "login",
    "kb_new": "support",
    "kb_suggest": "login",
    "kb_article": "kb_reader(article)",
    "kb_edit": "kb_editor(article)",
    "kb_publish": "kb_editor(article)",
}

# Entry points that also name a unit in the query string (`?unit=<code>`): URL name ->
# the rule for that unit (on top of the URL's own rule).
# - "roster(unit)": a tier's roster: managers of the unit or above, its own engineers.
# - "sla_manager(unit)": SLA targets and tiers: managers of a Ministry or province unit
#   at or under their own.
QUERIES: dict[str, str] = {
    "account_list": "manager_subtree(unit)",
    "support_roster": "roster(unit)",
    "support_settings": "sla_manager(unit)",
    "support_tiers": "sla_manager(unit)",
    "roll_export": "overseer(unit)",
    # a notice's statistics drilled down to a unit (of the actor's own notice)
    "notice_stats": "subtree(unit)",
    "notice_replies": "subtree(unit)",
    "notice_export": "subtree(unit)",
    "notice_replies_zip": "subtree(unit)",  # issue 15, B1
    "account_register": "manager_subtree(unit)",  # issue 15, task E
    "account_register_export": "manager_subtree(unit)",  # issue 15, task E
    # the unit picker browsing into a unit (issue 15)
    "unit_picker_children": "subtree(unit)",
    # issue 16, F1: the weekly report of a unit at or under the manager's own (else 404)
    "weekly_report": "manager_subtree(unit)",
    "weekly_report_xlsx": "manager_subtree(unit)",
}

# Route prefix -> rule, for every pattern under it (named or not).
PREFIXES: dict[str, str] = {  # a name in URLS takes precedence (the admin's login page)
    "admin/": "staff_site",
}

# Socket frame type -> rule (core/consumers.py answers ping and events.sync itself; the
# apps register the rest with core.sockets.register_frames).
FRAMES: dict[str, str] = {
    "ping": "login",
    "events.sync": "login",
    "chat.send": "member(room)",
    "chat.sync": "member(room)",
    "chat.read": "member(room)",
    "presence": "login",
}
