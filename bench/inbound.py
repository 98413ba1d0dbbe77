#!/usr/bin/env python3
"""Helpers for bench/inbound and bench/crash: members, replies, LMTP delivery, a bare IMAP fetch, IDLE
latencies (referent's and a bare client's) and a naive Python script for comparison.

Standard library only. Each subcommand prints one JSON object on stdout (or writes
files); bench/inbound puts the numbers side by side.
"""

import argparse
import datetime
import email
import email.policy
import email.utils
import imaplib
import json
import os
import random
import re
import smtplib
import sqlite3
import statistics
import sys
import threading
import time

FIRST = ["Kari", "Ola", "Ingrid", "Per", "Sigrid", "Lars", "Astrid", "Nils", "Marit",
         "Jon", "Eldbjørg", "Håkon", "Solveig", "Øystein", "Åse", "Bjørn", "Tone",
         "Geir", "Hilde", "Trond", "Liv", "Knut", "Randi", "Arne", "Gro", "Svein"]
LAST = ["Nordmann", "Hansen", "Berg", "Johansen", "Lie", "Olsen", "Larsen", "Dahl",
        "Haugen", "Bakke", "Strand", "Solberg", "Moen", "Eide", "Lund", "Aas",
        "Kristiansen", "Jensen", "Pedersen", "Nilsen", "Halvorsen", "Sæther"]
ORGS = [("Oslo universitetssykehus HF", "ous"), ("Akershus universitetssykehus HF", "ahus"),
        ("Sykehuset Innlandet HF", "sykehuset-innlandet"), ("Vestre Viken HF", "vestreviken"),
        ("Sykehuset i Vestfold HF", "siv"), ("Sykehuset Telemark HF", "sthf"),
        ("Sykehuset Østfold HF", "so-hf"), ("Sørlandet sykehus HF", "sshf"),
        ("Universitetet i Oslo", "uio"), ("Lovisenberg Diakonale Sykehus", "lds")]


def ascii_local(s):
    table = str.maketrans({"ø": "o", "å": "a", "æ": "ae", "Ø": "O", "Å": "A", "Æ": "Ae"})
    return s.translate(table).lower()


def out(obj):
    print(json.dumps(obj))
    sys.stdout.flush()


# ---- members ----------------------------------------------------------------------------

def cmd_members(a):
    rnd = random.Random(7)
    with open(a.csv, "w", encoding="utf-8") as f:
        f.write("name,email,org,role,doctor\n")
        for i in range(a.n):
            first, last = rnd.choice(FIRST), rnd.choice(LAST)
            org, dom = ORGS[i % len(ORGS)]
            role = "leader" if i == 0 else "deputy" if i == 1 else "member"
            doctor = "ja" if i % 3 == 0 else "nei"
            mail = f"{ascii_local(first)}.{ascii_local(last)}.{i:05d}@{dom}.example"
            f.write(f"{first} {last},{mail},{org},{role},{doctor}\n")


# ---- replies ----------------------------------------------------------------------------

def maildir_files(root):
    for sub in ("new", "cur"):
        d = os.path.join(root, sub)
        if os.path.isdir(d):
            for name in sorted(os.listdir(d)):
                yield os.path.join(d, name)


def summons_in(outbox):
    """The summonses in the outbox Maildir: one per member, with what a reply needs."""
    found = []
    for path in maildir_files(outbox):
        with open(path, "rb") as f:
            msg = email.message_from_binary_file(f, policy=email.policy.default)
        subject = str(msg.get("Subject", ""))
        if not subject.lower().startswith("innkalling"):
            continue
        body = msg.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        to_name, to_addr = email.utils.parseaddr(str(msg.get("To", "")))
        from_name, from_addr = email.utils.parseaddr(str(msg.get("From", "")))
        found.append({
            "member": to_addr, "name": to_name,
            "message_id": str(msg.get("Message-ID", "")).strip(),
            "reply_to": email.utils.parseaddr(str(msg.get("Reply-To", msg.get("From", ""))))[1],
            "from_name": from_name, "from_addr": from_addr,
            "subject": subject, "date": str(msg.get("Date", "")), "text": text,
        })
    return found


REPLY_TEXTS = {
    "yes": "Ja, jeg kommer.\n\nHilsen\n{first}",
    "no": "Beklager, jeg må dessverre melde forfall denne gangen.\n\nMvh\n{first}",
}


def build_reply(s, kind, serial, domain_seed):
    first = s["name"].split(" ")[0] if s["name"] else "Meg"
    when = email.utils.parsedate_to_datetime(s["date"]) if s["date"] else None
    stamp = when.strftime("%d.%m.%Y kl. %H:%M") if when else "i går"
    quoted = "\n".join("> " + line if line else ">" for line in s["text"].splitlines())
    body = (REPLY_TEXTS[kind].format(first=first) + "\n\n"
            + f"Den {stamp} skrev {s['from_name']} <{s['reply_to']}>:\n" + quoted + "\n")
    local, _, dom = s["member"].partition("@")
    mid = f"<{domain_seed}.{serial}.{local}@mail.{dom}>"
    # Answered a while after the summons went out (referent's clock may be ahead of
    # the wall clock: the bench moves it with --now).
    answered = (when or email.utils.localtime()) + datetime.timedelta(minutes=5 + serial % 600)
    head = [
        f"From: {s['name']} <{s['member']}>",
        f"To: {s['from_name']} <{s['reply_to']}>",
        f"Subject: SV: {s['subject']}",
        f"Date: {email.utils.format_datetime(answered)}",
        f"Message-ID: {mid}",
        f"In-Reply-To: {s['message_id']}",
        f"References: {s['message_id']}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8; format=flowed",
        "Content-Transfer-Encoding: 8bit",
        "User-Agent: Mozilla Thunderbird",
    ]
    raw = ("\r\n".join(head) + "\r\n\r\n" + body.replace("\n", "\r\n")).encode("utf-8")
    return mid.strip("<>"), raw


def cmd_replies(a):
    """One reply per summons for each KIND[:COUNT] (yes, no), each set in OUT/KIND/ with
    a manifest.json saying who sends it, to which address, and its Message-ID."""
    summons = summons_in(a.outbox)
    summons.sort(key=lambda s: s["member"])
    report = {"summons": len(summons)}
    seed = f"{int(time.time())}"
    for spec in a.sets:
        kind, _, count = spec.partition(":")
        chosen = summons[: int(count)] if count else summons
        d = os.path.join(a.out, kind)
        os.makedirs(d, exist_ok=True)
        manifest = []
        for i, s in enumerate(chosen):
            mid, raw = build_reply(s, kind, i, f"{seed}.{kind}")
            path = os.path.join(d, f"{i:06d}.eml")
            with open(path, "wb") as f:
                f.write(raw)
            manifest.append({"file": path, "from": s["member"], "rcpt": s["reply_to"],
                             "message_id": mid})
        with open(os.path.join(d, "manifest.json"), "w") as f:
            json.dump(manifest, f)
        sizes = [os.path.getsize(m["file"]) for m in manifest]
        report[kind] = {"replies": len(manifest),
                        "mean_bytes": int(statistics.mean(sizes)) if sizes else 0}
    out(report)


def load_manifest(d):
    with open(os.path.join(d, "manifest.json")) as f:
        return json.load(f)


# ---- LMTP ---------------------------------------------------------------------------------

class Lmtp:
    """One LMTP connection; each deliver() is one transaction, one recipient."""

    def __init__(self, port):
        self.port = port
        self.conn = smtplib.LMTP("127.0.0.1", port)
        self.conn.ehlo_or_helo_if_needed()

    def deliver(self, sender, rcpt, raw):
        # sendmail returns only when Dovecot has answered DATA for the recipient: the
        # message is in the mailbox (and its index) then.
        refused = self.conn.sendmail(sender, [rcpt], raw)
        if refused:
            raise RuntimeError(f"LMTP refused {rcpt}: {refused}")

    def close(self):
        try:
            self.conn.quit()
        except Exception:
            pass


def cmd_lmtp(a):
    """Delivers a whole set as fast as Dovecot takes it: --connections LMTP sessions,
    each delivering every k-th message, one transaction per message."""
    manifest = load_manifest(a.dir)
    raws = []
    for m in manifest:
        with open(m["file"], "rb") as f:
            raws.append((m["from"], a.rcpt or m["rcpt"], f.read()))
    errors = []

    def worker(part):
        try:
            lm = Lmtp(a.port)
            for sender, rcpt, raw in part:
                lm.deliver(sender, rcpt, raw)
            lm.close()
        except Exception as e:  # reported, and the bench stops
            errors.append(repr(e))

    k = max(1, a.connections)
    threads = [threading.Thread(target=worker, args=(raws[i::k],)) for i in range(k)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    secs = time.perf_counter() - t0
    if errors:
        sys.exit("LMTP delivery failed: " + "; ".join(errors[:3]))
    out({"delivered": len(raws), "secs": secs, "rate": len(raws) / secs if secs else 0})


# ---- a bare IMAP fetch -------------------------------------------------------------------------

def imap_login(port, user, password):
    m = imaplib.IMAP4("127.0.0.1", port)
    m.login(user, password)
    return m


def cmd_fetch(a):
    m = imap_login(a.port, a.user, a.password)
    typ, data = m.select("INBOX", readonly=True)
    exists = int(data[0])
    t0 = time.perf_counter()
    typ, data = m.uid("FETCH", "1:*", "(BODY.PEEK[])")
    secs = time.perf_counter() - t0
    msgs = [d for d in data if isinstance(d, tuple)]
    total = sum(len(d[1]) for d in msgs)
    m.logout()
    out({"exists": exists, "fetched": len(msgs), "bytes": total, "secs": secs,
         "rate": len(msgs) / secs if secs else 0})


# ---- latencies -----------------------------------------------------------------------------

def pct(values, p):
    s = sorted(values)
    if not s:
        return None
    k = (len(s) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary(lat_ms, extra=None):
    d = {"n": len(lat_ms), "p50_ms": pct(lat_ms, 50), "p99_ms": pct(lat_ms, 99),
         "min_ms": min(lat_ms) if lat_ms else None, "max_ms": max(lat_ms) if lat_ms else None}
    d.update(extra or {})
    return d


def cmd_latency_daemon(a):
    """Delivers replies one at a time; for each, the time from LMTP's 250 to the answer
    row in referent's database (polled every 5 ms, read-only)."""
    manifest = load_manifest(a.dir)[: a.count]
    db = sqlite3.connect(f"file:{a.db}?mode=ro", uri=True, timeout=10, isolation_level=None)
    q = ("SELECT 1 FROM answers a JOIN inbound i ON a.inbound_id = i.id "
         "WHERE i.message_id = ? LIMIT 1")
    lm = Lmtp(a.port)
    lat, missing = [], []
    for m in manifest:
        with open(m["file"], "rb") as f:
            raw = f.read()
        time.sleep(a.pause)
        lm.deliver(m["from"], m["rcpt"], raw)
        t0 = time.perf_counter()
        deadline = t0 + a.timeout
        while True:
            if db.execute(q, (m["message_id"],)).fetchone():
                lat.append((time.perf_counter() - t0) * 1000)
                break
            if time.perf_counter() > deadline:
                missing.append(m["message_id"])
                break
            time.sleep(0.005)
    lm.close()
    out(summary(lat, {"missing": len(missing), "missing_ids": missing[:5]}))


def cmd_latency_bare(a):
    """A bare IDLE client on the same Dovecot: login, SELECT, IDLE; for each delivery,
    the time from LMTP's 250 to the untagged EXISTS, and to the body fetched
    (DONE, UID FETCH BODY.PEEK[], IDLE again: what a client that acts on mail does)."""
    manifest = load_manifest(a.dir)[: a.count]
    m = imap_login(a.imap, a.user, a.password)
    typ, data = m.select("INBOX")
    seen_exists = int(data[0])
    lm = Lmtp(a.lmtp)
    notified, fetched = [], []
    tagn = 0

    def idle():
        nonlocal tagn
        tagn += 1
        m.send(f"I{tagn} IDLE\r\n".encode())
        line = m.readline()
        while not line.startswith(b"+"):
            line = m.readline()
        return f"I{tagn}"

    def read_until_tag(tag):
        lines = []
        while True:
            line = m.readline()
            if not line:
                raise RuntimeError("connection closed")
            lines.append(line)
            lit = re.search(rb"\{(\d+)\}\r\n$", line)
            if lit:
                lines.append(m.read(int(lit.group(1))))
            if line.startswith(tag.encode() + b" "):
                return lines

    tag = idle()
    for item in manifest:
        with open(item["file"], "rb") as f:
            raw = f.read()
        time.sleep(a.pause)
        lm.deliver(item["from"], a.user, raw)
        t0 = time.perf_counter()
        while True:
            line = m.readline()
            mm = re.match(rb"\* (\d+) EXISTS", line)
            if mm and int(mm.group(1)) > seen_exists:
                seen_exists = int(mm.group(1))
                break
        notified.append((time.perf_counter() - t0) * 1000)
        m.send(b"DONE\r\n")
        read_until_tag(tag)
        tagn += 1
        ftag = f"F{tagn}"
        m.send(f"{ftag} FETCH {seen_exists} (UID BODY.PEEK[])\r\n".encode())
        got = read_until_tag(ftag)
        if not any(raw[:40] in chunk for chunk in got if isinstance(chunk, bytes)):
            raise RuntimeError("the fetched body is not the delivered message")
        fetched.append((time.perf_counter() - t0) * 1000)
        tag = idle()
    m.send(b"DONE\r\n")
    read_until_tag(tag)
    m.logout()
    lm.close()
    out({"exists": summary(notified), "fetched": summary(fetched)})


# ---- the script a user might write instead ----------------------------------------------------

def cmd_naive(a):
    """Fetch everything, read it with the email package, find the invitation by
    In-Reply-To, look for yes/no in the first lines, one commit per message."""
    db = sqlite3.connect(a.db)
    db.execute("CREATE TABLE IF NOT EXISTS summons (message_id TEXT PRIMARY KEY, member TEXT)")
    db.execute("CREATE TABLE IF NOT EXISTS answers (member TEXT PRIMARY KEY, answer TEXT, at TEXT)")
    with db:
        for s in summons_in(a.outbox):
            db.execute("INSERT OR REPLACE INTO summons VALUES (?, ?)",
                       (s["message_id"].strip("<>"), s["member"]))
    t0 = time.perf_counter()
    m = imap_login(a.port, a.user, a.password)
    m.select("INBOX", readonly=True)
    typ, data = m.uid("FETCH", "1:*", "(BODY.PEEK[])")
    recorded = 0
    for d in data:
        if not isinstance(d, tuple):
            continue
        msg = email.message_from_bytes(d[1], policy=email.policy.default)
        irt = str(msg.get("In-Reply-To", "")).strip().strip("<>")
        row = db.execute("SELECT member FROM summons WHERE message_id = ?", (irt,)).fetchone()
        if not row:
            continue
        part = msg.get_body(preferencelist=("plain",))
        text = part.get_content() if part is not None else ""
        top = "\n".join(l for l in text.splitlines()[:5] if not l.startswith(">")).lower()
        answer = "no" if re.search(r"forfall|kan ikke|ikke komme", top) else \
            "yes" if re.search(r"\bja\b|kommer", top) else None
        if answer:
            with db:
                db.execute("INSERT OR REPLACE INTO answers VALUES (?, ?, datetime('now'))",
                           (row[0], answer))
            recorded += 1
    m.logout()
    secs = time.perf_counter() - t0
    out({"recorded": recorded, "secs": secs, "rate": recorded / secs if secs else 0})


# ---- bench/crash: a mixed set of replies, delivered in two phases ---------------------

CRASH_TEXTS = {
    "yes": REPLY_TEXTS["yes"],
    "no": REPLY_TEXTS["no"],
    # Read as unsure (declined or accepted): asked back, never guessed.
    "unsure": "Jeg kan ikke si at jeg ikke kommer.\n\nHilsen\n{first}",
    # A plain yes carrying the marker that makes acting on it panic.
    "fault": "Ja, jeg kommer. {marker}\n\nHilsen\n{first}",
}


def cmd_crash_replies(a):
    """One reply per summons, mixed: mostly plain yes, --no declines, --unsure replies
    that need a question, --faults with the panic marker, --dups delivered twice (some
    twice in phase 1, some once in each phase). Phase 1 is delivered before the kill
    loop, phase 2 during it. Writes OUT/phase1 and OUT/phase2 (each a manifest.json for
    `lmtp` / `lmtp-trickle`) and OUT/expected.csv (message_id,member,kind,copies)."""
    summons = summons_in(a.outbox)
    summons.sort(key=lambda s: s["member"])
    rnd = random.Random(a.seed)
    rnd.shuffle(summons)
    n = len(summons)
    kinds = (["fault"] * a.faults + ["no"] * a.no + ["unsure"] * a.unsure)
    kinds += ["yes"] * (n - len(kinds))
    if len(kinds) > n:
        sys.exit(f"more special replies ({len(kinds)}) than summonses ({n})")
    rnd.shuffle(kinds)
    seed = f"{int(time.time())}.crash"
    mails = os.path.join(a.out, "mails")
    os.makedirs(mails, exist_ok=True)
    entries = []
    for i, (s, kind) in enumerate(zip(summons, kinds)):
        # build_reply takes its text from REPLY_TEXTS by kind: lend it this one.
        REPLY_TEXTS["crash"] = CRASH_TEXTS[kind].replace("{marker}", a.marker)
        mid, raw = build_reply(s, "crash", i, f"{seed}.{kind}")
        del REPLY_TEXTS["crash"]
        path = os.path.join(mails, f"{i:06d}.eml")
        with open(path, "wb") as f:
            f.write(raw)
        entries.append({"file": path, "from": s["member"], "rcpt": s["reply_to"],
                        "message_id": mid, "kind": kind})
    cut = int(n * a.phase1)
    phase1, phase2 = entries[:cut], entries[cut:]
    # Duplicates among the plain yes replies: half twice in phase 1, half once in each.
    yes1 = [e for e in phase1 if e["kind"] == "yes"]
    dups = rnd.sample(yes1, min(a.dups, len(yes1)))
    copies = {e["message_id"]: 1 for e in entries}
    extra1, extra2 = [], []
    for k, e in enumerate(dups):
        (extra1 if k % 2 == 0 else extra2).append(e)
        copies[e["message_id"]] += 1
    phase1 = phase1 + extra1
    phase2 = phase2 + extra2
    rnd.shuffle(phase1)
    rnd.shuffle(phase2)
    for name, part in (("phase1", phase1), ("phase2", phase2)):
        d = os.path.join(a.out, name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "manifest.json"), "w") as f:
            json.dump(part, f)
    with open(os.path.join(a.out, "expected.csv"), "w") as f:
        for e in entries:
            f.write(f"{e['message_id']},{e['from']},{e['kind']},{copies[e['message_id']]}\n")
    count = {}
    for e in entries:
        count[e["kind"]] = count.get(e["kind"], 0) + 1
    out({"messages": n, "kinds": count, "dups": len(dups), "phase1": len(phase1),
         "phase2": len(phase2), "deliveries": len(phase1) + len(phase2)})


def cmd_lmtp_trickle(a):
    """Delivers a set one message at a time with a pause between them (one LMTP
    session, reopened should Dovecot close it): replies arriving while the daemon is
    being killed and started."""
    manifest = load_manifest(a.dir)
    t0 = time.perf_counter()
    lm = None
    delivered = 0
    for m in manifest:
        with open(m["file"], "rb") as f:
            raw = f.read()
        for attempt in range(5):
            try:
                if lm is None:
                    lm = Lmtp(a.port)
                lm.deliver(m["from"], a.rcpt or m["rcpt"], raw)
                break
            except (smtplib.SMTPServerDisconnected, ConnectionError, OSError):
                if lm is not None:
                    lm.close()
                lm = None
                if attempt == 4:
                    raise
                time.sleep(0.2)
        delivered += 1
        time.sleep(a.pause)
    if lm is not None:
        lm.close()
    secs = time.perf_counter() - t0
    out({"delivered": delivered, "secs": secs})


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("members"); s.add_argument("n", type=int); s.add_argument("csv")
    s = sub.add_parser("replies"); s.add_argument("outbox"); s.add_argument("out")
    s.add_argument("sets", nargs="+", help="KIND[:COUNT], KIND one of " + ", ".join(REPLY_TEXTS))
    s = sub.add_parser("lmtp"); s.add_argument("port", type=int); s.add_argument("dir")
    s.add_argument("--rcpt"); s.add_argument("--connections", type=int, default=1)
    s = sub.add_parser("fetch"); s.add_argument("port", type=int); s.add_argument("user")
    s.add_argument("--password", default="secret")
    s = sub.add_parser("latency-daemon"); s.add_argument("port", type=int)
    s.add_argument("dir"); s.add_argument("db")
    s.add_argument("--count", type=int, default=50); s.add_argument("--pause", type=float, default=0.2)
    s.add_argument("--timeout", type=float, default=30)
    s = sub.add_parser("latency-bare"); s.add_argument("imap", type=int); s.add_argument("lmtp", type=int)
    s.add_argument("dir"); s.add_argument("user"); s.add_argument("--password", default="secret")
    s.add_argument("--count", type=int, default=50); s.add_argument("--pause", type=float, default=0.2)
    s = sub.add_parser("naive"); s.add_argument("port", type=int); s.add_argument("user")
    s.add_argument("outbox"); s.add_argument("db"); s.add_argument("--password", default="secret")
    s = sub.add_parser("crash-replies"); s.add_argument("outbox"); s.add_argument("out")
    s.add_argument("--marker", required=True); s.add_argument("--no", type=int, default=0)
    s.add_argument("--unsure", type=int, default=0); s.add_argument("--faults", type=int, default=0)
    s.add_argument("--dups", type=int, default=0); s.add_argument("--phase1", type=float, default=0.7)
    s.add_argument("--seed", type=int, default=11)
    s = sub.add_parser("lmtp-trickle"); s.add_argument("port", type=int); s.add_argument("dir")
    s.add_argument("--rcpt"); s.add_argument("--pause", type=float, default=0.1)
    a = p.parse_args()
    {"members": cmd_members, "replies": cmd_replies, "lmtp": cmd_lmtp, "fetch": cmd_fetch,
     "latency-daemon": cmd_latency_daemon, "latency-bare": cmd_latency_bare,
     "naive": cmd_naive, "crash-replies": cmd_crash_replies,
     "lmtp-trickle": cmd_lmtp_trickle}[a.cmd](a)


if __name__ == "__main__":
    main()
