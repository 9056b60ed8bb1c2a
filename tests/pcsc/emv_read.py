#!/usr/bin/env python3
"""Read an EMV card through PC/SC with pyscard, like any third-party tool would.

Steps: connect (T=0 or T=1, as pcscd decides), print the ATR, SELECT the PPSE
(2PAY.SYS.DDF01) -- or the PSE (1PAY.SYS.DDF01) with --pse, walking its
directory with READ RECORD until 6A83 --, SELECT the first application listed,
GET PROCESSING OPTIONS with a zero-filled PDOL, then READ RECORD of every record
the AFL names. T=0 rules are applied here (61xx -> GET RESPONSE, 6Cxx -> re-send),
as a PC/SC application must.

Output: one line per step, then a final line
    RESULT atr=<hex> aid=<hex> records=<n> pan=<masked>
Exit status 0 on success, 1 on a card error, 3 when no matching reader/card.

Used by crates/lamina-reader/tests/pcscd.rs against `lamina card serve` (the
emulated card behind vsmartcard's vpcd); works as well with a real card:
    python3 tests/pcsc/emv_read.py --reader "ACR39" --pse
"""

import argparse
import sys

from smartcard.System import readers
from smartcard.util import toHexString


def hx(b):
    return toHexString(list(b), format=1)  # PACK: no spaces


def parse_tlv(data):
    """Minimal BER-TLV parser (EMV Book 3 Annex B): list of (tag, value, children)."""
    out = []
    i = 0
    while i < len(data):
        if data[i] in (0x00, 0xFF):  # padding between objects
            i += 1
            continue
        first = data[i]
        tag = first
        i += 1
        if first & 0x1F == 0x1F:
            while True:
                tag = (tag << 8) | data[i]
                i += 1
                if not data[i - 1] & 0x80:
                    break
        length = data[i]
        i += 1
        if length & 0x80:
            n = length & 0x7F
            length = int.from_bytes(bytes(data[i:i + n]), "big")
            i += n
        value = list(data[i:i + length])
        if len(value) != length:
            raise ValueError("TLV truncated")
        i += length
        constructed = (first & 0x20) != 0
        out.append((tag, value, parse_tlv(value) if constructed else []))
    return out


def find(tlvs, tag):
    for t, v, kids in tlvs:
        if t == tag:
            return v
        r = find(kids, tag)
        if r is not None:
            return r
    return None


def find_all(tlvs, tag, acc=None):
    acc = [] if acc is None else acc
    for t, v, kids in tlvs:
        if t == tag:
            acc.append((v, kids))
        find_all(kids, tag, acc)
    return acc


def mask_pan(digits):
    if len(digits) < 10:
        return "*" * len(digits)
    return digits[:6] + "*" * (len(digits) - 10) + digits[-4:]


class Card:
    def __init__(self, conn):
        self.conn = conn

    def tx(self, label, apdu):
        """Send with T=0 rules; returns (data, sw)."""
        data, sw1, sw2 = self.conn.transmit(list(apdu))
        steps = 0
        while steps < 16:
            steps += 1
            if sw1 == 0x61:
                more, sw1, sw2 = self.conn.transmit([0x00, 0xC0, 0x00, 0x00, sw2])
                data = data + more
            elif sw1 == 0x6C:
                apdu = list(apdu[:-1]) + [sw2] if len(apdu) > 4 else list(apdu) + [sw2]
                data, sw1, sw2 = self.conn.transmit(apdu)
            else:
                break
        sw = (sw1 << 8) | sw2
        print(f"{label}: {len(data)} bytes, SW {sw:04X}")
        return data, sw


def select(name):
    return [0x00, 0xA4, 0x04, 0x00, len(name)] + list(name) + [0x00]


def read_record(sfi, rec):
    return [0x00, 0xB2, rec, (sfi << 3) | 0x04, 0x00]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reader", default="", help="part of the reader name (first reader if empty)")
    ap.add_argument("--pse", action="store_true", help="use the contact PSE instead of the PPSE")
    args = ap.parse_args()

    rs = [r for r in readers() if args.reader.lower() in str(r).lower()]
    if not rs:
        print(f"no reader matching {args.reader!r}: {[str(r) for r in readers()]}")
        return 3
    conn = rs[0].createConnection()
    try:
        conn.connect()  # T=0 or T=1
    except Exception as e:  # NoCardException, CardConnectionException
        print(f"cannot connect to {rs[0]}: {e}")
        return 3
    card = Card(conn)
    atr = conn.getATR()
    print(f"reader: {rs[0]}")
    print(f"ATR: {hx(atr)}")

    aids = []
    if args.pse:
        fci, sw = card.tx("SELECT PSE", select(b"1PAY.SYS.DDF01"))
        if sw != 0x9000:
            return 1
        sfi_v = find(parse_tlv(fci), 0x88)
        sfi = sfi_v[0] if sfi_v else 1
        for rec in range(1, 33):
            data, sw = card.tx(f"READ RECORD PSE SFI {sfi} #{rec}", read_record(sfi, rec))
            if sw == 0x6A83:
                break
            if sw != 0x9000:
                return 1
            aids += [find(kids, 0x4F) for _, kids in find_all(parse_tlv(data), 0x61)]
    else:
        fci, sw = card.tx("SELECT PPSE", select(b"2PAY.SYS.DDF01"))
        if sw != 0x9000:
            return 1
        aids = [find(kids, 0x4F) for _, kids in find_all(parse_tlv(fci), 0x61)]
    aids = [a for a in aids if a]
    if not aids:
        print("no application listed")
        return 1
    aid = aids[0]
    fci, sw = card.tx(f"SELECT {hx(aid)}", select(aid))
    if sw != 0x9000:
        return 1

    pdol = find(parse_tlv(fci), 0x9F38) or []
    # PDOL: (tag, length) pairs; answer with zeros of the total length.
    total, i = 0, 0
    while i < len(pdol):
        if pdol[i] & 0x1F == 0x1F:
            i += 1
            while pdol[i] & 0x80:
                i += 1
        i += 1
        total += pdol[i]
        i += 1
    gpo_data = [0x83, total] + [0x00] * total
    resp, sw = card.tx("GET PROCESSING OPTIONS", [0x80, 0xA8, 0x00, 0x00, len(gpo_data)] + gpo_data + [0x00])
    if sw != 0x9000:
        return 1
    if resp and resp[0] == 0x80:
        afl = parse_tlv(resp)[0][1][2:]
    else:
        afl = find(parse_tlv(resp), 0x94) or []

    records = 0
    pan = ""
    for j in range(0, len(afl) - 3, 4):
        sfi, first, last = afl[j] >> 3, afl[j + 1], afl[j + 2]
        for rec in range(first, last + 1):
            data, sw = card.tx(f"READ RECORD SFI {sfi} #{rec}", read_record(sfi, rec))
            if sw != 0x9000 or not data or data[0] != 0x70:
                print(f"bad record SFI {sfi} #{rec}")
                return 1
            records += 1
            tlvs = parse_tlv(data)
            p = find(tlvs, 0x5A)
            if p and not pan:
                pan = hx(p).rstrip("F")
            t2 = find(tlvs, 0x57)
            if t2 and not pan:
                pan = hx(t2).split("D")[0]
    conn.disconnect()
    print(f"RESULT atr={hx(atr)} aid={hx(aid)} records={records} pan={mask_pan(pan)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
