"""A python3-libtorrent peer on 127.0.0.1 that speaks uTP only (BEP 29),
for the seedbed-utp interop tests.

Usage: utp_peer.py TORRENT SAVE_PATH

Seeds TORRENT from SAVE_PATH with TCP off and uTP on, prints
`READY <port>` once it listens and seeds, then reads commands from stdin:
`connect PORT` makes libtorrent dial 127.0.0.1:PORT over uTP. It exits when
stdin closes.
"""
import sys
import time

import libtorrent as lt

torrent, save_path = sys.argv[1], sys.argv[2]
settings = {
    'listen_interfaces': '127.0.0.1:0',
    'enable_dht': False,
    'enable_lsd': False,
    'enable_upnp': False,
    'enable_natpmp': False,
    'enable_incoming_tcp': False,
    'enable_outgoing_tcp': False,
    'enable_incoming_utp': True,
    'enable_outgoing_utp': True,
    'allow_multiple_connections_per_ip': True,
    'min_reconnect_time': 1,
    # Plaintext BitTorrent (libtorrent dials with MSE/PE first otherwise).
    'out_enc_policy': 2,
    'in_enc_policy': 1,
    'alert_mask': lt.alert.category_t.error_notification
    | lt.alert.category_t.peer_notification,
}
ses = lt.session(settings)
p = lt.add_torrent_params()
p.ti = lt.torrent_info(torrent)
p.save_path = save_path
p.flags = (p.flags & ~lt.torrent_flags.paused & ~lt.torrent_flags.auto_managed) \
    | lt.torrent_flags.seed_mode
h = ses.add_torrent(p)
deadline = time.time() + 20
while time.time() < deadline:
    if ses.listen_port() != 0 and h.status().state == lt.torrent_status.seeding:
        break
    time.sleep(0.05)
print('READY', ses.listen_port(), flush=True)

for line in sys.stdin:
    words = line.split()
    if len(words) == 2 and words[0] == 'connect':
        h.connect_peer(('127.0.0.1', int(words[1])))
    for a in ses.pop_alerts():
        print('alert:', a.message(), file=sys.stderr, flush=True)
