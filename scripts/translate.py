"""Fill locale/zh_Hans from locale/zh_hans.py and compile the .mo files with polib
(so no GNU gettext is needed on a machine that only runs the platform)."""

import sys
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "locale"))
from zh_hans import ZH  # noqa: E402


def main() -> int:
    po_path = ROOT / "locale/zh_Hans/LC_MESSAGES/django.po"
    po = polib.pofile(str(po_path))
    missing = []
    # Obsolete entries (#~, strings no longer in the code) are dropped, not translated.
    for entry in po.obsolete_entries():
        po.remove(entry)
    for entry in po:
        # A context (pgettext) is looked up as "context\x04msgid", gettext's own convention.
        key = f"{entry.msgctxt}\x04{entry.msgid}" if entry.msgctxt else entry.msgid
        value = ZH.get(key)
        if value is None:
            missing.append(key)
            continue
        if entry.msgid_plural:
            entry.msgstr_plural = {0: value[0] if isinstance(value, list) else value}
        else:
            entry.msgstr = value
        if "fuzzy" in entry.flags:
            entry.flags.remove("fuzzy")
    po.metadata["Plural-Forms"] = "nplurals=1; plural=0;"
    po.metadata["Language"] = "zh_Hans"
    po.save()
    po.save_as_mofile(str(po_path.with_suffix(".mo")))
    for msgid in missing:
        print(f"untranslated: {msgid!r}", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
