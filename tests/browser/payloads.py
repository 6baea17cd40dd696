"""Hostile input for tests/browser/test_hostile_input.py, written for this platform.

Every payload, if it ever ran, would call the probe `__xss_hit('<id>')` (the test's
init script defines it and records the id) or leave an element carrying the marker
attribute `xssmark`. In the templates below `§H` is the probe call, `§M` the marker
attribute and `§I` the payload's id; `payload()` fills them in.
"""

from dataclasses import dataclass

MARKER = "xssmark"


@dataclass(frozen=True)
class Payload:
    id: str
    kind: str
    text: str


_TEMPLATES: dict[str, list[str]] = {
    # Tags that run script as soon as they are parsed or loaded.
    "tag": [
        "<script>§H</script>",
        "<SCRIPT>§H</SCRIPT>",
        "<script src=data:text/javascript,§H></script>",
        "<img src=x onerror=§H>",
        '<img src=x onerror="§H" §M>',
        "<IMG SRC=/ oNeRrOr=§H>",
        "<svg onload=§H>",
        "<svg><script>§H</script></svg>",
        "<svg><animate onbegin=§H attributeName=x dur=1s>",
        '<iframe srcdoc="<script>parent.§H</script>"></iframe>',
        '<iframe src="javascript:parent.§H"></iframe>',
        "<details open ontoggle=§H>",
        "<body onload=§H>",
        "<input autofocus onfocus=§H>",
        "<video><source onerror=§H></video>",
        "<audio src=x onerror=§H>",
        '<object data="javascript:§H"></object>',
        '<embed src="javascript:§H">',
        "<marquee onstart=§H>x</marquee>",
        "<math><mtext><table><mglyph><style><img src=x onerror=§H>",
        "<svg><foreignObject><img src=x onerror=§H></foreignObject></svg>",
        "<template><img src=x onerror=§H></template><img src=x onerror=§H>",
        "</noscript><img src=x onerror=§H>",
        "</style><img src=x onerror=§H>",
        "</textarea><img src=x onerror=§H>",
        "</title><img src=x onerror=§H>",
        "<b §M>bold</b>",
        "<a §M href=#>link</a>",
        "<form action=javascript:§H><button §M>go</button></form>",
        "<link rel=import href=data:text/html,<script>§H</script>>",
        '<meta http-equiv=refresh content="0;url=javascript:§H">',
        "<base href=javascript:§H//>",
    ],
    # Breaking out of an attribute the value might land in.
    "attr": [
        '" onmouseover=§H autofocus onfocus=§H x="',
        "' onfocus=§H autofocus x='",
        '"><img src=x onerror=§H>',
        "'><img src=x onerror=§H>",
        "`><img src=x onerror=§H>",
        "x onerror=§H §M",
        " autofocus onfocus=§H ",
        '"/><svg onload=§H>',
        '" §M="1',
        "' §M='1",
        '"style="x:expression(§H)"',
        '"\tonfocus=§H\tautofocus\t"',
    ],
    # Script hidden in a URL.
    "url": [
        "javascript:§H",
        "JaVaScRiPt:§H",
        "java\tscript:§H",
        "java\nscript:§H",
        " \x01javascript:§H",
        "&#106;avascript:§H",
        "&#x6A;&#x61;vascript:§H",
        "javascript&colon;§H",
        "data:text/html,<script>§H</script>",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "vbscript:msgbox(1)",
        '<a href="javascript:§H" §M>click</a>',
        '<a href="&#106;avascript:§H">click</a>',
        '<a href="  javascript:§H">click</a>',
        "<a href=javascript&#58;§H>click</a>",
    ],
    # Encodings that a decoder on the way might turn back into markup.
    "encoding": [
        "&lt;img src=x onerror=§H&gt;",
        "&amp;lt;img src=x onerror=§H&amp;gt;",
        "%3Cimg%20src%3Dx%20onerror%3D§H%3E",
        "%253Cimg%2520src%253Dx%2520onerror%253D§H%253E",
        "\\u003cimg src=x onerror=§H\\u003e",
        "\\x3cimg src=x onerror=§H\\x3e",
        "+ADw-img src=x onerror=§H+AD4-",
        "\uff1cscript\uff1e§H\uff1c/script\uff1e",
        "\xc0\xbcimg src=x onerror=§H\xc0\xbe",
        "<scr\u200bipt>§H</scr\u200bipt>",
        "<img src=x one\u200drror=§H>",
        "\u202e>gmi<\u202d<img src=x onerror=§H>",
        "<img\x00src=x onerror=§H>",
        "<img src=x onerror=&#95;&#95;xss_hit('§I')>",
        "<img src=x onerror=\\u005f\\u005fxss_hit('§I')>",
        "&#60;img src=x onerror=§H&#62;",
        "<<script>§H//<</script>",
        "<scr<script>ipt>§H</scr</script>ipt>",
    ],
    # Markdown (core/markup.py renders notices, tickets and replies).
    "markdown": [
        "[click](javascript:§H)",
        "[click](JAVASCRIPT:§H)",
        "[click](java&#115;cript:§H)",
        "[click](<javascript:§H>)",
        '![x](x" onerror="§H)',
        "![x](javascript:§H)",
        '[x](https://example.org" onmouseover="§H)',
        "<javascript:§H>",
        '<http://x.invalid/" onerror="§H>',
        "[ref][r§I]\n\n[r§I]: javascript:§H",
        '[ref][q§I]\n\n[q§I]: https://x.invalid "t\\" onmouseover=§H x=\\""',
        "<div markdown=1>\n<img src=x onerror=§H>\n</div>",
        "<details>\n<summary>x</summary>\n<img src=x onerror=§H>\n</details>",
        "| a | b |\n|---|---|\n| <img src=x onerror=§H> | [x](javascript:§H) |",
        "`<img src=x onerror=§H>` and ```<svg onload=§H>```",
        "*<img src=x onerror=§H>*",
        "> <script>§H</script>",
        "[a](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    ],
    # Mutation XSS: harmless as parsed once, live after a serialize and re-parse.
    "mutation": [
        '<noscript><p title="</noscript><img src=x onerror=§H>">',
        "<svg><style><img src=x onerror=§H></style></svg>",
        "<math><style><img src=x onerror=§H></style></math>",
        '<svg></p><style><a id="</style><img src=x onerror=§H>">',
        "<form><math><mtext></form><form><mglyph><style></math><img src=x onerror=§H>",
        "<table><svg><style><img src=x onerror=§H>",
        "<math><mi><svg><mtext><textarea><img src=x onerror=§H></textarea>",
        "<listing>&lt;img src=x onerror=§H&gt;</listing>",
        '<xmp><p title="</xmp><img src=x onerror=§H>">',
        '<noembed><p title="</noembed><img src=x onerror=§H>">',
        "<select><template><style></template><img src=x onerror=§H></select>",
    ],
    # Server- or client-side template engines evaluating the text.
    "template": [
        "{{ '<img src=x onerror=§H>'|safe }}",
        "{% autoescape off %}<img src=x onerror=§H>{% endautoescape %}",
        "${§H}",
        "`${§H}`",
        "{{constructor.constructor('§H')()}}",
        "#{§H}",
        "<%= §H %>",
    ],
    # Text that breaks out of a <script>, a comment or CDATA it is embedded in.
    "script-context": [
        "</script><script>§H</script>",
        "</SCRIPT ><script>§H</script>",
        "<!--<script>",
        "--><img src=x onerror=§H><!--",
        "]]><img src=x onerror=§H>",
        '\u2028\u2029";§H;//',
        "'-§H-'",
        '"};§H;//',
    ],
    # Spreadsheet formulas (exports open in Excel / WPS).
    "formula": [
        '=HYPERLINK("javascript:§H","x")',
        "=1+1",
        '+HYPERLINK("javascript:§H")',
        "-2+3+cmd|' /C calc'!A0",
        "@SUM(1+1)*cmd|' /C calc'!A0",
        '\t=HYPERLINK("javascript:§H")',
    ],
}


def payload(index: int, kind: str, template: str) -> Payload:
    pid = f"x{index:03d}"
    text = (
        template.replace("§H", f"__xss_hit('{pid}')")
        .replace("§M", f'{MARKER}="{pid}"')
        .replace("§I", pid)
    )
    return Payload(pid, kind, text)


PAYLOADS: list[Payload] = [
    payload(i, kind, template)
    for i, (kind, template) in enumerate(
        ((kind, t) for kind, templates in _TEMPLATES.items() for t in templates), start=1
    )
]


def storable(text: str) -> str:
    """The text as a database text column keeps it: PostgreSQL refuses NUL."""
    return text.replace("\x00", "\ufffd")


def packed(limit: int, payloads=None, sep: str = " ") -> list[str]:
    """The payloads joined into as few strings of at most `limit` characters as fit
    (first fit, longest first; one payload longer than `limit` is cut to it): a short
    field carries them all over a few objects, a page load carries many."""
    texts = sorted(
        (storable(p.text)[:limit] for p in (payloads if payloads is not None else PAYLOADS)),
        key=len,
        reverse=True,
    )
    bins: list[str] = []
    for text in texts:
        for i, current in enumerate(bins):
            if len(current) + len(sep) + len(text) <= limit:
                bins[i] = f"{current}{sep}{text}"
                break
        else:
            bins.append(text)
    return bins


def one_line(text: str) -> str:
    """For single-line fields (names, titles): line breaks as spaces."""
    return " ".join(text.split("\n"))
