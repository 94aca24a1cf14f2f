"""The insider's rewrite of the audit log (issue 11 §2): change one row's actor and recompute
every later hash, so that the hash chain alone is intact again. An independent implementation of
ca/audit.c's row hash: SHA-256(prev || each field as a 4-byte big-endian length and its bytes:
seq, at as 8-byte big-endian, then actor, action, target, outcome, detail).

usage: audit_rewrite.py DB SEQ NEW_ACTOR"""
import hashlib
import sqlite3
import struct
import sys


def field(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def row_hash(prev: bytes, row) -> bytes:
    seq, at, actor, action, target, outcome, detail = row
    h = hashlib.sha256(prev)
    h.update(field(struct.pack(">q", seq)) + field(struct.pack(">q", at)))
    for text in (actor, action, target, outcome, detail):
        h.update(field(text.encode()))
    return h.digest()


def main() -> None:
    db = sqlite3.connect(sys.argv[1])
    target, new_actor = int(sys.argv[2]), sys.argv[3]
    rows = db.execute("SELECT seq, at, actor, action, target, outcome, detail FROM events "
                      "ORDER BY seq").fetchall()
    prev = bytes(32)
    for row in rows:
        if row[0] == target:
            row = (row[0], row[1], new_actor) + tuple(row[3:])
        h = row_hash(prev, row)
        if row[0] >= target:
            db.execute("UPDATE events SET actor = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                       (row[2], prev, h, row[0]))
        prev = h
    db.commit()


main()
