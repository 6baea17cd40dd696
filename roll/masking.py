"""ID numbers as everyone sees them: `130102********1234` (region and last four)."""


def mask(id_number: str) -> str:
    if not id_number:
        return ""
    if len(id_number) < 10:
        return "*" * len(id_number)
    return id_number[:6] + "*" * (len(id_number) - 10) + id_number[-4:]


def mask_roll_no(roll_no: str) -> str:
    return roll_no[:1] + mask(roll_no[1:]) if roll_no else ""
