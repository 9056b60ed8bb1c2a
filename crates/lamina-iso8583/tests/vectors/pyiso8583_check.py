"""Cross-check of tests/vectors/messages.txt with an independent ISO 8583 implementation.

pyiso8583 (PyPI `pyiso8583`, checked with 4.0.1) configured by hand from docs/iso8583.md
section 5 (not from spec/lamina-1987.toml) decodes every vector, re-encodes it to the same
bytes, and the field values are checked against the rules of the document.

    python3 -m venv /tmp/v && /tmp/v/bin/pip install pyiso8583==4.0.1
    /tmp/v/bin/python crates/lamina-iso8583/tests/vectors/pyiso8583_check.py
"""

import pathlib
import re
import sys

import iso8583


def fixed(n, enc="ascii"):
    return {"data_enc": enc, "len_enc": "ascii", "len_type": 0, "max_len": n, "desc": ""}


def var(digits, n, enc="ascii"):
    return {"data_enc": enc, "len_enc": "ascii", "len_type": digits, "max_len": n, "desc": ""}


SPEC = {
    "h": fixed(0),
    "t": fixed(4),
    "p": fixed(8, "b"),
    "1": fixed(8, "b"),
    "2": var(2, 19),
    "3": fixed(6),
    "4": fixed(12),
    "7": fixed(10),
    "11": fixed(6),
    "12": fixed(6),
    "13": fixed(4),
    "14": fixed(4),
    "18": fixed(4),
    "19": fixed(3),
    "22": fixed(3),
    "23": fixed(3),
    "25": fixed(2),
    "32": var(2, 11),
    "35": var(2, 37),
    "37": fixed(12),
    "38": fixed(6),
    "39": fixed(2),
    "41": fixed(8),
    "42": fixed(15),
    "43": fixed(40),
    "49": fixed(3),
    "52": fixed(8, "b"),
    "53": var(2, 12, "b"),
    "54": var(3, 120),
    "55": var(3, 255, "b"),
    "60": var(3, 999),
    "61": var(3, 999),
    "62": var(3, 999),
    "63": var(3, 999),
    "64": fixed(8, "b"),
    "70": fixed(3),
    "90": fixed(42),
    "95": fixed(42),
    "128": fixed(8, "b"),
}

CHARSETS = {
    "n": re.compile(r"[0-9]*"),
    "an": re.compile(r"[A-Za-z0-9 ]*"),
    "ans": re.compile(r"[\x20-\x7e]*"),
    "z": re.compile(r"[0-9:;<=>?D]*"),
}
TYPES = {
    "2": "n", "3": "n", "4": "n", "7": "n", "11": "n", "12": "n", "13": "n", "14": "n",
    "18": "n", "19": "n", "22": "n", "23": "n", "25": "n", "32": "n", "35": "z", "37": "an",
    "38": "an", "39": "an", "41": "ans", "42": "ans", "43": "ans", "49": "n", "54": "an",
    "60": "ans", "61": "ans", "62": "ans", "63": "ans", "70": "n", "90": "n", "95": "an",
}


def main():
    path = pathlib.Path(__file__).with_name("messages.txt")
    count = 0
    for line in path.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        name, hexdata = line.split(": ")
        raw = bytes.fromhex(hexdata)
        doc, _ = iso8583.decode(raw, SPEC)
        again, _ = iso8583.encode(doc, SPEC)
        assert bytes(again) == raw, name
        assert doc["t"] == name[:4], name
        has_secondary = any(int(k) > 64 for k in doc if k.isdigit() and k != "1")
        assert (raw[4] & 0x80 != 0) == has_secondary, name
        for field, kind in TYPES.items():
            if field in doc:
                assert CHARSETS[kind].fullmatch(doc[field]), (name, field, doc[field])
        if "55" in doc:
            assert len(doc["55"]) // 2 <= 255
        print(f"ok  {name}  fields {sorted(int(k) for k in doc if k.isdigit() and k != '1')}")
        count += 1
    print(f"{count} passed, 0 failed")
    return 0 if count else 1


if __name__ == "__main__":
    sys.exit(main())
