"""The demo's problem records (`make run`): four alerts for 长安区第一中学, as the roll
system would post them. Registered with `accounts.demo` in ready()."""

from stdnum.cn import ric

from roll import services


def seed(*, managers) -> None:
    manager = managers["130000"]
    key, _secret = services.key_issue(actor=manager, unit=manager.unit, label="演示")

    def number(body, right=True):
        check = ric.calc_check_digit(body + "0")  # takes a whole number; ignores the last
        return body + (check if right else ("0" if check != "0" else "1"))

    alerts = [
        (
            "DEMO-1",
            "id_invalid",
            "王小明",
            "M",
            "2012-03-01",
            number("13010220120301123", False),
            "6",
            True,
            "身份证号校验位错误",
        ),
        (
            "DEMO-2",
            "id_duplicate",
            "李华",
            "F",
            "2013-05-12",
            number("13010220130512002"),
            "5",
            False,
            "与学校 1301040001 的学生身份证号重复",
        ),
        (
            "DEMO-3",
            "identity_duplicate",
            "张伟",
            "M",
            "2012-09-09",
            "",
            "6",
            True,
            "与本校另一名学生姓名、性别、出生日期相同",
        ),
        (
            "DEMO-4",
            "police_auth_failed",
            "赵敏",
            "F",
            "2014-01-20",
            number("13010220140120004"),
            "4",
            False,
            "公安部人口信息比对未通过",
        ),
    ]
    services.intake(
        key=key,
        payload={
            "batch_id": "demo-0001",
            "alerts": [
                {
                    "alert_id": a,
                    "kind": k,
                    "school_code": "1301020001",
                    "name": n,
                    "gender": g,
                    "birth_date": b,
                    "id_number": i,
                    "grade": gr,
                    "graduating": grad,
                    "detected_at": "2026-11-20T08:00:00+08:00",
                    "detail": d,
                }
                for a, k, n, g, b, i, gr, grad, d in alerts
            ],
        },
    )
