"""The screenshots under docs/screens/: the home, notice, print view, ticket and chat
pages at desk (1280×800) and phone (390×844) size, as `make run` shows them.

It starts the platform the way `make run` does (scripts/run_platform.py, on a fresh
VAR_DIR with SQLite and the embedded Redis, demo data loaded), adds a ticket and a few
chat messages through the services, logs in through the real login page in Debian's
Chromium and saves one PNG per page and size:

    .venv/bin/python scripts/screenshots.py            # writes docs/screens/*.png
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "Screens-2026!"  # noqa: S105 - the login of a throwaway demo database
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}

# Run inside the platform's own environment (manage.py shell): the demo's circular gets a
# document number, a school raises a ticket the county engineer answers, and the county's
# region room holds a short exchange. Prints the ids the screenshots need.
SEED = f"""
from accounts.models import Account
from chat import services as chat_services
from chat.models import Room
from notices.models import Notice
from tickets import services as ticket_services

for account in Account.objects.filter(username__in=["1301020001-s1", "130102-s1", "130102-m1"]):
    account.set_password({PASSWORD!r})
    account.must_change_password = False
    account.save()
school = Account.objects.get(username="1301020001-s1")
engineer = Account.objects.get(username="130102-s1")
ticket = ticket_services.ticket_create(
    actor=school,
    title="新生学籍注册时提示“身份证号已存在”",
    description="今天为一年级新生注册学籍，第 12 行学生提示身份证号已存在，但系统内查不到该学生。",
    category="import",
)
ticket = ticket_services.ticket_assign(actor=engineer, ticket=ticket, engineer=engineer)
ticket_services.ticket_transition(
    actor=engineer,
    ticket=ticket,
    action="wait",
    text="您好，请在“学籍查询”中按身份证号查询该学生是否已在外省注册，并把查询结果截图发来。",
)
chat_services.region_rooms_ensure(school)
room = Room.objects.get(kind="region", unit=engineer.unit)
for author, body in (
    (engineer, "各校请注意：本周四前完成秋季新生学籍注册，遇到问题请在平台提交工单。"),
    (school, "收到。我校一年级还有 3 名新生在核对户籍信息。"),
    (engineer, "好的，核对完请尽快注册；身份证号重复的情况请附截图提交工单。"),
):
    chat_services.message_post(account=author, room=room, body=body)
notice = Notice.objects.filter(status="published").order_by("id").first()
print("IDS", notice.pk, ticket.pk, room.pk)
"""


def wait_for(url: str, timeout: float = 180) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own loopback server
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    raise SystemExit(f"the platform did not answer {url} within {timeout:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", default="8765")
    parser.add_argument("--out", default=str(ROOT / "docs" / "screens"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["VAR_DIR"] = tempfile.mkdtemp(prefix="screens-")
    env["LANGUAGE_CODE"] = "zh-hans"
    py = sys.executable
    platform = subprocess.Popen(
        [py, "scripts/run_platform.py", "--port", args.port],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{args.port}"
    try:
        wait_for(f"{base}/healthz")
        seeded = subprocess.run(
            [py, "manage.py", "shell", "-c", SEED],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        ids = next(line for line in seeded.splitlines() if line.startswith("IDS "))
        notice_id, ticket_id, room_id = (int(x) for x in ids.split()[1:])
        shoot(base, out, notice_id=notice_id, ticket_id=ticket_id, room_id=room_id)
    finally:
        platform.terminate()
        platform.wait(timeout=30)
    return 0


def shoot(base: str, out: Path, *, notice_id: int, ticket_id: int, room_id: int) -> None:
    from playwright.sync_api import sync_playwright

    pages = {
        "home": "/",
        "notice": f"/notices/{notice_id}/",
        "print": f"/notices/{notice_id}/print/",
        "ticket": f"/tickets/{ticket_id}/",
        "chat": f"/chat/{room_id}/",
    }
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
        )
        for size, (width, height) in SIZES.items():
            context = browser.new_context(
                base_url=base,
                viewport={"width": width, "height": height},
                locale="zh-CN",
                device_scale_factor=1,
            )
            page = context.new_page()
            page.goto("/auth/login/")
            page.fill("input[name=login]", "1301020001-s1")
            page.fill("input[name=password]", PASSWORD)
            page.click("form button[type=submit]")
            page.wait_for_load_state("networkidle")
            # The once-asked question about desktop notifications: answered "not now".
            later = page.get_by_text("暂不", exact=True)
            if later.count():
                later.first.click()
            for name, path in pages.items():
                response = page.goto(path)
                if response is None or response.status != 200:
                    raise SystemExit(f"{path} answered {response and response.status}")
                page.wait_for_load_state("networkidle")
                target = out / f"{name}-{size}.png"
                page.screenshot(path=str(target), full_page=size == "phone")
                print(f"wrote {target}")
            context.close()
        browser.close()


if __name__ == "__main__":
    sys.exit(main())
