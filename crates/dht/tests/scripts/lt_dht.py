#!/usr/bin/python3
"""A swarm of python3-libtorrent DHT nodes on loopback, for seedbed-dht's
interoperability tests (and later the session's).

Usage:  lt_dht.py N [DIR]

Starts N libtorrent sessions, each a DHT node on 127.0.0.1 (its own port,
picked by the system), with the settings ../shared/TESTBED.md lists for
DHT nodes on loopback, and makes every node know every other one. Prints

    READY <port 1> ... <port N>

then reads one command per line on standard input and answers each with one
line (nodes are numbered from 0):

    ADD <host> <port>          every node adds that DHT node       -> OK
    LIVE <i>                   node i's routing table              -> LIVE <i> <hex id>@<host>:<port> ...
    ANNOUNCE <i> <hex>         node i adds magnet:?xt=urn:btih:<hex> (so it
                               announces that info hash with its listen
                               port)                               -> ANNOUNCING <i> <port>
    SEED <i> <torrent> <dir>   node i seeds the .torrent file from its data
                               in <dir> (checked first; announced to the
                               DHT with its listen port, which is also
                               its BitTorrent TCP port)             -> SEEDING <i> <port>
                                                                       or NOT_SEEDING <i>
    FETCH <i> <hex> <dir> <s>  node i downloads magnet:?xt=urn:btih:<hex>
                               (no tracker, no peer: its peers come from
                               the DHT) into <dir>, waiting up to s
                               seconds for it to complete          -> FETCHED <i> <host>:<port> ...
                               (the peers it received data from)      or NOT_FETCHED <i> <progress> <peers>
    GET_PEERS <i> <hex> <s>    node i looks the info hash up for up to s
                               seconds (until a reply has peers)   -> PEERS <i> <host>:<port> ...
    SAMPLE <i> <host> <port> <s>  node i sends sample_infohashes (BEP 51) to
                               host:port, waits up to s seconds    -> SAMPLE <i> <num> <interval> <hex>...
                                                                      or SAMPLE <i> NONE
    QUIT                       exits

It exits when its standard input closes. Torrents joined with ANNOUNCE
save into DIR (which the caller made and removes), or into a temporary
directory the script removes when it exits. Everything stays on 127.0.0.1:
no bootstrap routers, LSD, UPnP or NAT-PMP.
"""

import os
import shutil
import sys
import tempfile
import time

import libtorrent as lt


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def say(*args):
    print(*args, flush=True)


def make_session():
    return lt.session(
        {
            # An explicit address: on 0.0.0.0 libtorrent sees loopback as a
            # local network and never starts the DHT on it.
            "listen_interfaces": "127.0.0.1:0",
            "enable_dht": True,
            # Bootstrap routers never enter a routing table: add nodes with
            # add_dht_node instead.
            "dht_bootstrap_nodes": "",
            "enable_lsd": False,
            "enable_upnp": False,
            "enable_natpmp": False,
            "enable_outgoing_utp": False,
            "enable_incoming_utp": False,
            # Every node is 127.0.0.1.
            "dht_restrict_routing_ips": False,
            "dht_restrict_search_ips": False,
            "dht_prefer_verified_node_ids": False,
            "allow_multiple_connections_per_ip": True,
            # The default bans an IP after ~50 messages in 10 s.
            "dht_block_ratelimit": 10000,
            # Never 0: libtorrent divides by it.
            "dht_upload_rate_limit": 1000000,
            "alert_mask": lt.alert_category.error
            | lt.alert_category.status
            | lt.alert_category.dht
            | lt.alert_category.dht_operation,
        }
    )


def node_id(s):
    state = s.dht_state()
    ids = state.get(b"node-id") or []
    return ids[0][:20] if ids else None


def wait_alert(s, kind, seconds, accept=lambda a: True):
    deadline = time.time() + seconds
    while time.time() < deadline:
        s.wait_for_alert(100)
        for a in s.pop_alerts():
            if isinstance(a, kind) and accept(a):
                return a
    return None


def main():
    n = int(sys.argv[1])
    sessions = [make_session() for _ in range(n)]
    ports = [s.listen_port() for s in sessions]
    for i, s in enumerate(sessions):
        for j, p in enumerate(ports):
            if i != j:
                s.add_dht_node(("127.0.0.1", p))
    if len(sys.argv) > 2:
        save, own_dir = sys.argv[2], False
    else:
        save, own_dir = tempfile.mkdtemp(prefix="lt_dht_"), True
    say("READY", *ports)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        cmd = words[0]
        try:
            if cmd == "ADD":
                for s in sessions:
                    s.add_dht_node((words[1], int(words[2])))
                say("OK")
            elif cmd == "LIVE":
                i = int(words[1])
                s = sessions[i]
                nid = node_id(s)
                if nid is None:
                    say("LIVE", i)
                    continue
                s.dht_live_nodes(lt.sha1_hash(nid))
                a = wait_alert(s, lt.dht_live_nodes_alert, 5)
                entries = []
                if a is not None:
                    for node in a.nodes:
                        host, port = node["endpoint"]
                        entries.append("%s@%s:%d" % (str(node["nid"]), host, port))
                say("LIVE", i, *entries)
            elif cmd == "ANNOUNCE":
                i, h = int(words[1]), words[2]
                p = lt.parse_magnet_uri("magnet:?xt=urn:btih:" + h)
                p.save_path = os.path.join(save, "%d-%s" % (i, h))
                p.flags &= ~lt.torrent_flags.paused
                p.flags &= ~lt.torrent_flags.auto_managed
                sessions[i].add_torrent(p)
                say("ANNOUNCING", i, ports[i])
            elif cmd == "SEED":
                i, torrent, directory = int(words[1]), words[2], words[3]
                p = lt.add_torrent_params()
                p.ti = lt.torrent_info(torrent)
                p.save_path = directory
                p.flags &= ~lt.torrent_flags.paused
                p.flags &= ~lt.torrent_flags.auto_managed
                h = sessions[i].add_torrent(p)
                deadline = time.time() + 60
                while not h.status().is_seeding and time.time() < deadline:
                    sessions[i].pop_alerts()
                    time.sleep(0.05)
                if h.status().is_seeding:
                    say("SEEDING", i, ports[i])
                else:
                    say("NOT_SEEDING", i)
            elif cmd == "FETCH":
                i, h, directory, seconds = int(words[1]), words[2], words[3], float(words[4])
                p = lt.parse_magnet_uri("magnet:?xt=urn:btih:" + h)
                p.save_path = directory
                p.flags &= ~lt.torrent_flags.paused
                p.flags &= ~lt.torrent_flags.auto_managed
                s = sessions[i]
                # Blocks as they arrive, with the peer that sent each.
                mask = s.get_settings()["alert_mask"]
                s.apply_settings({"alert_mask": mask | lt.alert_category.block_progress})
                t = s.add_torrent(p)
                sources = set()
                deadline = time.time() + seconds
                while time.time() < deadline:
                    s.wait_for_alert(50)
                    for a in s.pop_alerts():
                        if isinstance(a, lt.block_finished_alert):
                            host, port = a.endpoint
                            sources.add("%s:%d" % (host, port))
                    if t.status().is_seeding:
                        break
                s.apply_settings({"alert_mask": mask})
                st = t.status()
                if st.is_seeding:
                    say("FETCHED", i, *sorted(sources))
                else:
                    say("NOT_FETCHED", i, "%.3f" % st.progress, st.num_peers)
            elif cmd == "GET_PEERS":
                i, h, seconds = int(words[1]), words[2], float(words[3])
                s = sessions[i]
                target = lt.sha1_hash(bytes.fromhex(h))
                s.dht_get_peers(target)
                found = set()
                deadline = time.time() + seconds
                while time.time() < deadline and not found:
                    a = wait_alert(
                        s,
                        lt.dht_get_peers_reply_alert,
                        max(0.1, deadline - time.time()),
                        lambda a: str(a.info_hash) == h,
                    )
                    if a is not None:
                        for host, port in a.peers():
                            found.add("%s:%d" % (host, port))
                say("PEERS", i, *sorted(found))
            elif cmd == "SAMPLE":
                i, host, port, seconds = int(words[1]), words[2], int(words[3]), float(words[4])
                s = sessions[i]
                s.dht_sample_infohashes((host, port), lt.sha1_hash(bytes(20)))
                a = wait_alert(
                    s,
                    lt.dht_sample_infohashes_alert,
                    seconds,
                    lambda a: a.endpoint[1] == port,
                )
                if a is None:
                    say("SAMPLE", i, "NONE")
                else:
                    say("SAMPLE", i, a.num_infohashes, a.interval.total_seconds() if hasattr(a.interval, "total_seconds") else a.interval, *[str(x) for x in a.samples])
            elif cmd == "QUIT":
                break
            else:
                say("ERROR unknown command", cmd)
        except Exception as e:  # report, keep serving
            log("error:", repr(e))
            say("ERROR", repr(e))
    if own_dir:
        shutil.rmtree(save, ignore_errors=True)
    # Skip libtorrent's orderly session shutdown (it can take seconds).
    os._exit(0)


if __name__ == "__main__":
    main()
