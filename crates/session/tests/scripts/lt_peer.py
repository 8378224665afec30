#!/usr/bin/python3
"""A python3-libtorrent peer for seedbed-session's integration tests.

Subcommands:

  create ROOT OUT --piece-size N [--v1-only | --v2-only] [--tracker URL]
      Makes a torrent of the folder ROOT (v1 + v2 hybrid unless --v1-only
      or --v2-only) and writes it to OUT. Prints "INFOHASH <40 hex>" (the
      v1 hash; the truncated v2 hash for --v2-only).

  seed TORRENT DIR [--upload-limit BYTES_PER_S] [--connect HOST:PORT]... [--utp-only]
      Checks the data in DIR, prints "READY <port>" once seeding, then
      seeds until killed or until its standard input closes.

  leech TORRENT DIR [--connect HOST:PORT]... [--utp-only]
      Prints "READY <port>", downloads into DIR, then rechecks every piece
      from disk and prints "COMPLETE" once seeding after the recheck, and
      exits 0.

  leech-magnet URI DIR [--connect HOST:PORT]...
      Starts from the magnet link URI only (its x.pe peers and tr
      trackers, plus --connect): prints "READY <port>", then "METADATA
      <40 hex v1 info hash> <name>" once it has the info dict (fetched with
      ut_metadata, BEP 9), downloads into DIR, rechecks every piece from
      disk, prints "COMPLETE" and exits 0.

Every peer listens on 127.0.0.1 only (port picked by the system), with DHT,
LSD, UPnP, NAT-PMP and uTP off, so that everything stays on loopback.
With --utp-only (seed, leech) it is the other way round for the
transports: uTP (BEP 29) on, TCP off, incoming and outgoing.
"""

import argparse
import os
import sys
import threading
import time

import libtorrent as lt


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def say(*args):
    print(*args, flush=True)


def exit_when_stdin_closes():
    """The test holds our stdin: when it goes away, so do we."""

    def watch():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except Exception:
            pass
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def make_session(seed, upload_limit=0, encryption=0, utp_only=False):
    s = lt.high_performance_seed() if seed else lt.default_settings()
    s.update(
        {
            "listen_interfaces": "127.0.0.1:0",
            "outgoing_interfaces": "127.0.0.1",
            "enable_dht": False,
            "enable_lsd": False,
            "enable_upnp": False,
            "enable_natpmp": False,
            "enable_outgoing_utp": False,
            "enable_incoming_utp": False,
            "allow_multiple_connections_per_ip": True,
            "min_reconnect_time": 1,
            "upload_rate_limit": upload_limit,
            "announce_to_all_trackers": True,
            "alert_mask": lt.alert_category.error
            | lt.alert_category.status
            | lt.alert_category.tracker,
        }
    )
    if utp_only:
        # Peer connections over uTP (BEP 29) only: TCP off both ways.
        s.update(
            {
                "enable_incoming_tcp": False,
                "enable_outgoing_tcp": False,
                "enable_incoming_utp": True,
                "enable_outgoing_utp": True,
            }
        )
    if encryption:
        # MSE/PE forced both ways (policy 0); allowed_enc_level 1 plaintext
        # payload, 2 RC4, 3 either.
        s.update(
            {
                "out_enc_policy": 0,
                "in_enc_policy": 0,
                "allowed_enc_level": encryption,
                "prefer_rc4": encryption != 1,
            }
        )
    ses = lt.session(s)
    if upload_limit:
        # Loopback peers are "local": libtorrent exempts them from rate
        # limits unless every address maps to the global peer class only.
        f = lt.ip_filter()
        f.add_rule("0.0.0.0", "255.255.255.255", 1 << lt.session.global_peer_class_id)
        ses.set_peer_class_filter(f)
    deadline = time.time() + 30
    while ses.listen_port() == 0:
        if time.time() > deadline:
            raise SystemExit("libtorrent did not start listening")
        time.sleep(0.05)
    return ses


def add(ses, torrent, directory, seed_mode=False):
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(torrent)
    atp.save_path = directory
    atp.flags &= ~lt.torrent_flags.paused
    atp.flags &= ~lt.torrent_flags.auto_managed
    if seed_mode:
        atp.flags |= lt.torrent_flags.seed_mode
    return ses.add_torrent(atp)


def parse_addr(text):
    host, port = text.rsplit(":", 1)
    return (host, int(port))


def drain_alerts(ses):
    """Logs errors; returns whether a torrent finished a (re)check."""
    checked = False
    for a in ses.pop_alerts():
        if isinstance(a, lt.torrent_checked_alert):
            checked = True
        if a.category() & lt.alert_category.error:
            log("alert:", a.message())
    return checked


def connect_all(h, addrs):
    for a in addrs:
        h.connect_peer(parse_addr(a))


def cmd_create(args):
    fs = lt.file_storage()
    lt.add_files(fs, args.root)
    flags = 0
    if args.v1_only:
        flags = lt.create_torrent.v1_only
    elif args.v2_only:
        flags = lt.create_torrent.v2_only
    ct = lt.create_torrent(fs, args.piece_size, flags)
    if args.tracker:
        ct.add_tracker(args.tracker)
    lt.set_piece_hashes(ct, os.path.dirname(os.path.abspath(args.root)))
    data = lt.bencode(ct.generate())
    with open(args.out, "wb") as f:
        f.write(data)
    ti = lt.torrent_info(args.out)
    hashes = ti.info_hashes()
    say("INFOHASH", str(hashes.v1 if hashes.has_v1() else hashes.get_best()))


def cmd_seed(args):
    exit_when_stdin_closes()
    ses = make_session(True, args.upload_limit, args.encryption, args.utp_only)
    h = add(ses, args.torrent, args.dir)
    deadline = time.time() + 120
    while not h.status().is_seeding:
        drain_alerts(ses)
        st = h.status()
        if st.errc.value() != 0:
            raise SystemExit(f"torrent error: {st.errc.message()}")
        if time.time() > deadline:
            raise SystemExit(f"seeder never became a seed: {st.state} {st.progress}")
        time.sleep(0.05)
    say("READY", ses.listen_port())
    connect_all(h, args.connect)
    last = 0
    while True:
        drain_alerts(ses)
        now = time.time()
        if now - last > 0.5:
            st = h.status()
            log(f"seed: peers {st.num_peers} up {st.total_payload_upload}")
            last = now
        time.sleep(0.2)


def cmd_leech(args):
    exit_when_stdin_closes()
    ses = make_session(False, encryption=args.encryption, utp_only=args.utp_only)
    h = add(ses, args.torrent, args.dir)
    say("READY", ses.listen_port())
    connect_all(h, args.connect)
    last = 0
    rechecked = False
    recheck_done = False
    while True:
        if drain_alerts(ses) and rechecked:
            recheck_done = True
        st = h.status()
        if st.errc.value() != 0:
            raise SystemExit(f"torrent error: {st.errc.message()}")
        now = time.time()
        if now - last > 2:
            log(f"leech: {st.state} {st.progress:.3f} peers {st.num_peers}")
            last = now
            if not st.is_seeding:
                # Reconnect in case the first attempt was refused.
                connect_all(h, args.connect)
        if st.is_seeding and st.progress >= 1.0:
            if not rechecked:
                # Everything arrived and passed libtorrent's own piece
                # checks; now hash all of it again from disk.
                log("leech: downloaded, rechecking from disk")
                h.force_recheck()
                rechecked = True
                continue
            if recheck_done and st.state == lt.torrent_status.seeding:
                say("COMPLETE")
                # Not a normal interpreter exit: the stdin watcher holds a lock.
                os._exit(0)
        time.sleep(0.1)


def cmd_leech_magnet(args):
    exit_when_stdin_closes()
    ses = make_session(False)
    atp = lt.parse_magnet_uri(args.uri)
    atp.save_path = args.dir
    atp.flags &= ~lt.torrent_flags.paused
    atp.flags &= ~lt.torrent_flags.auto_managed
    h = ses.add_torrent(atp)
    say("READY", ses.listen_port())
    connect_all(h, args.connect)
    last = 0
    have_metadata = False
    rechecked = False
    recheck_done = False
    deadline = time.time() + 600
    while True:
        if drain_alerts(ses) and rechecked:
            recheck_done = True
        st = h.status()
        if st.errc.value() != 0:
            raise SystemExit(f"torrent error: {st.errc.message()}")
        if time.time() > deadline:
            raise SystemExit("leech-magnet: gave up after 600 s")
        if not have_metadata and st.has_metadata:
            ti = h.torrent_file()
            say("METADATA", str(ti.info_hashes().v1), ti.name())
            have_metadata = True
        now = time.time()
        if now - last > 2:
            log(
                f"leech-magnet: {st.state} metadata {st.has_metadata} "
                f"{st.progress:.3f} peers {st.num_peers}"
            )
            last = now
            if not st.is_seeding:
                connect_all(h, args.connect)
        if have_metadata and st.is_seeding and st.progress >= 1.0:
            if not rechecked:
                log("leech-magnet: downloaded, rechecking from disk")
                h.force_recheck()
                rechecked = True
                continue
            if recheck_done and st.state == lt.torrent_status.seeding:
                say("COMPLETE")
                os._exit(0)
        time.sleep(0.1)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("create")
    c.add_argument("root")
    c.add_argument("out")
    c.add_argument("--piece-size", type=int, required=True)
    c.add_argument("--v1-only", action="store_true")
    c.add_argument("--v2-only", action="store_true")
    c.add_argument("--tracker")
    s = sub.add_parser("seed")
    s.add_argument("torrent")
    s.add_argument("dir")
    s.add_argument("--upload-limit", type=int, default=0)
    s.add_argument("--connect", action="append", default=[])
    s.add_argument("--encryption", type=int, default=0, help="force MSE with this allowed_enc_level")
    s.add_argument("--utp-only", action="store_true")
    l = sub.add_parser("leech")
    l.add_argument("torrent")
    l.add_argument("dir")
    l.add_argument("--connect", action="append", default=[])
    l.add_argument("--encryption", type=int, default=0, help="force MSE with this allowed_enc_level")
    l.add_argument("--utp-only", action="store_true")
    m = sub.add_parser("leech-magnet")
    m.add_argument("uri")
    m.add_argument("dir")
    m.add_argument("--connect", action="append", default=[])
    args = p.parse_args()
    {
        "create": cmd_create,
        "seed": cmd_seed,
        "leech": cmd_leech,
        "leech-magnet": cmd_leech_magnet,
    }[args.cmd](args)


if __name__ == "__main__":
    main()
