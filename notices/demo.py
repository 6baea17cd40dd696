"""The demo's circular (`make run`): from 河北省 to its counties and schools, asking
for an acknowledgement within a week, numbered by the province's rule (冀教学籍〔年〕1号).
Registered with `accounts.demo` in ready()."""

from datetime import timedelta

from django.utils import timezone

from notices import services


def seed(*, managers) -> None:
    author = managers["130000"]
    services.numbering_rule_save(
        actor=author, prefix="冀教学籍", pattern="", issuer_line="河北省教育厅"
    )
    notice = services.notice_save(
        actor=author,
        title="关于做好2026年秋季学期学籍管理工作的通知",
        body=(
            "请于本周四前完成秋季学期新生学籍注册和转学业务办理，并通过本平台回执。\n\n"
            "1. 核对新生信息，**身份证号**须与户口簿一致；\n"
            "2. 问题学籍请在学校工作台逐条处理。"
        ),
        priority="normal",
        requires_ack=True,
        ack_deadline=timezone.now() + timedelta(days=7),
        publish_at=None,
        target_codes=[author.unit.code],
        levels=["county", "school"],
        managers_only=False,
        main_recipients="各县（市、区）教育局、各学校",
    )
    services.notice_publish(actor=author, notice=notice)
