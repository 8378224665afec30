//! The MSE state machines against each other and against hostile peers:
//! our initiator and responder over every split point of both byte
//! streams and random chunkings (proptest), the negotiation table, and
//! every bound of the spec at the limit and one past it.

use bytes::BytesMut;
use proptest::prelude::*;
use seedbed_metainfo::InfoHash;
use seedbed_peer_wire::mse::{
    self, classify, Config, CryptoMethods, Error, Established, Incoming, Initiator, Method,
    PrivateKey, Rc4Stream, Responder, Secrets, SkeyHash, KEY_LEN, MAX_PAD_LEN, PRIME,
};

const IH: InfoHash = InfoHash([0x42; 20]);
const OTHER: InfoHash = InfoHash([0x17; 20]);

fn lookup(h: &SkeyHash) -> Option<InfoHash> {
    [IH, OTHER].into_iter().find(|ih| SkeyHash::of(ih) == *h)
}

fn secrets(key: u8, pad: usize, pad2: usize) -> Secrets {
    Secrets::new(
        PrivateKey::from_bytes(&[key; 20]).unwrap(),
        vec![key.wrapping_mul(3); pad],
        vec![key.wrapping_mul(5); pad2],
    )
}

/// One side's view after a run: what it established and the payload it
/// received (decrypted).
struct Side {
    established: Established,
    received: Vec<u8>,
}

/// Drives both machines over two pipes. `chunk_ab(n)` / `chunk_ba(n)` say
/// how many of the `n` pending bytes to deliver next (at least 1). Each
/// side sends `payload_*` once its handshake is done; returns once both
/// sides received everything.
#[allow(clippy::too_many_arguments)]
fn run(
    a_config: &Config,
    b_config: &Config,
    a_secrets: Secrets,
    b_secrets: Secrets,
    ia: &[u8],
    payload_a: &[u8],
    payload_b: &[u8],
    mut chunk_ab: impl FnMut(usize) -> usize,
    mut chunk_ba: impl FnMut(usize) -> usize,
) -> Result<(Side, Side), Error> {
    let mut a = Initiator::new(a_config, IH, ia, a_secrets)?;
    let mut b = Responder::new(b_config, b_secrets)?;
    let (mut ab, mut ba) = (Vec::<u8>::new(), Vec::<u8>::new()); // in flight
    let (mut buf_a, mut buf_b) = (BytesMut::new(), BytesMut::new()); // receive buffers
    let (mut done_a, mut done_b): (Option<Established>, Option<Established>) = (None, None);
    let want_b = ia.len() + payload_a.len();
    for _ in 0..100_000 {
        if let Some(out) = a.poll_transmit() {
            ab.extend_from_slice(&out);
        }
        if let Some(out) = b.poll_transmit() {
            ba.extend_from_slice(&out);
        }
        if done_a.is_some() && done_b.is_some() && ab.is_empty() && ba.is_empty() {
            break;
        }
        if !ab.is_empty() {
            let n = chunk_ab(ab.len()).clamp(1, ab.len());
            let mut bytes: Vec<u8> = ab.drain(..n).collect();
            if let Some(est) = done_b.as_mut() {
                if let Some(rc4) = est.rc4.as_mut() {
                    rc4.decrypt.apply(&mut bytes);
                }
            }
            buf_b.extend_from_slice(&bytes);
            if done_b.is_none() {
                if let Some(est) = b.receive(&mut buf_b, lookup)? {
                    let mut est = est;
                    // Step 4 goes out before B's payload.
                    if let Some(out) = b.poll_transmit() {
                        ba.extend_from_slice(&out);
                    }
                    let mut p = payload_b.to_vec();
                    if let Some(rc4) = est.rc4.as_mut() {
                        rc4.encrypt.apply(&mut p);
                    }
                    ba.extend_from_slice(&p);
                    done_b = Some(est);
                }
            }
        }
        if !ba.is_empty() {
            let n = chunk_ba(ba.len()).clamp(1, ba.len());
            let mut bytes: Vec<u8> = ba.drain(..n).collect();
            if let Some(est) = done_a.as_mut() {
                if let Some(rc4) = est.rc4.as_mut() {
                    rc4.decrypt.apply(&mut bytes);
                }
            }
            buf_a.extend_from_slice(&bytes);
            if done_a.is_none() {
                if let Some(mut est) = a.receive(&mut buf_a)? {
                    let mut p = payload_a.to_vec();
                    if let Some(rc4) = est.rc4.as_mut() {
                        rc4.encrypt.apply(&mut p);
                    }
                    ab.extend_from_slice(&p);
                    done_a = Some(est);
                }
            }
        }
    }
    assert!(ab.is_empty() && ba.is_empty(), "pipes drained");
    assert_eq!(buf_b.len(), want_b);
    Ok((
        Side {
            established: done_a.expect("initiator finished"),
            received: buf_a.to_vec(),
        },
        Side {
            established: done_b.expect("responder finished"),
            received: buf_b.to_vec(),
        },
    ))
}

fn all_at_once(n: usize) -> usize {
    n
}

fn check(a: &Side, b: &Side, ia: &[u8], payload_a: &[u8], payload_b: &[u8], method: Method) {
    assert_eq!(a.established.method, method);
    assert_eq!(b.established.method, method);
    assert_eq!(a.established.rc4.is_some(), method == Method::Rc4);
    assert_eq!(b.established.info_hash, IH);
    assert_eq!(a.received, payload_b);
    let mut want = ia.to_vec();
    want.extend_from_slice(payload_a);
    assert_eq!(b.received, want);
}

fn cfg(methods: CryptoMethods, prefer_rc4: bool) -> Config {
    Config {
        methods,
        prefer_rc4,
        ..Config::default()
    }
}

#[test]
fn every_split_point_of_both_streams() {
    let ia = b"\x13BitTorrent protocol and the rest of a handshake".to_vec();
    let (pa, pb) = (
        b"interested, request".to_vec(),
        b"bitfield, unchoke".to_vec(),
    );
    for method in [Method::Plaintext, Method::Rc4] {
        let config = cfg(CryptoMethods::BOTH, method == Method::Rc4);
        // A->B carries at most 96 + 5 + 40 + 16 + 3 + 2 + ia + payload bytes.
        let total_ab = 96 + 5 + 40 + 16 + 3 + ia.len() + pa.len();
        let total_ba = 96 + 9 + 14 + 4 + pb.len();
        for k in 1..=total_ab {
            let mut first = true;
            let (a, b) = run(
                &config,
                &config,
                secrets(1, 5, 3),
                secrets(2, 9, 4),
                &ia,
                &pa,
                &pb,
                |n| if std::mem::take(&mut first) { k } else { n },
                all_at_once,
            )
            .unwrap();
            check(&a, &b, &ia, &pa, &pb, method);
        }
        for k in 1..=total_ba {
            let mut first = true;
            let (a, b) = run(
                &config,
                &config,
                secrets(1, 5, 3),
                secrets(2, 9, 4),
                &ia,
                &pa,
                &pb,
                all_at_once,
                |n| if std::mem::take(&mut first) { k } else { n },
            )
            .unwrap();
            check(&a, &b, &ia, &pa, &pb, method);
        }
    }
}

#[test]
fn one_byte_at_a_time_with_longest_pads() {
    let ia = vec![0x13; 68];
    let config = cfg(CryptoMethods::RC4, true);
    let (a, b) = run(
        &config,
        &config,
        secrets(7, MAX_PAD_LEN, MAX_PAD_LEN),
        secrets(8, MAX_PAD_LEN, MAX_PAD_LEN),
        &ia,
        b"x",
        b"y",
        |_| 1,
        |_| 1,
    )
    .unwrap();
    check(&a, &b, &ia, b"x", b"y", Method::Rc4);
}

#[test]
fn empty_pads_and_empty_initial_payload() {
    let config = Config::default();
    let (a, b) = run(
        &config,
        &config,
        secrets(7, 0, 0),
        secrets(8, 0, 0),
        b"",
        b"after",
        b"reply",
        all_at_once,
        all_at_once,
    )
    .unwrap();
    check(&a, &b, b"", b"after", b"reply", Method::Plaintext);
}

#[test]
fn negotiation_table() {
    use CryptoMethods as M;
    // (initiator offers, responder allows, prefer_rc4) -> selected
    let cases = [
        (M::BOTH, M::BOTH, false, Some(Method::Plaintext)),
        (M::BOTH, M::BOTH, true, Some(Method::Rc4)),
        (M::RC4, M::BOTH, false, Some(Method::Rc4)),
        (M::PLAINTEXT, M::BOTH, true, Some(Method::Plaintext)),
        (M::BOTH, M::RC4, false, Some(Method::Rc4)),
        (M::BOTH, M::PLAINTEXT, true, Some(Method::Plaintext)),
        (M::PLAINTEXT, M::RC4, false, None),
        (M::RC4, M::PLAINTEXT, false, None),
    ];
    for (offer, allow, prefer, want) in cases {
        let r = run(
            &cfg(offer, false),
            &cfg(allow, prefer),
            secrets(3, 10, 0),
            secrets(4, 20, 0),
            b"ia",
            b"",
            b"",
            all_at_once,
            all_at_once,
        );
        match (r, want) {
            (Ok((a, b)), Some(m)) => check(&a, &b, b"ia", b"", b"", m),
            (Err(Error::NoCommonMethod { provided, .. }), None) => assert_eq!(provided, offer.0),
            (Ok(_), None) => panic!("{offer:?} vs {allow:?} should fail"),
            (Err(e), _) => panic!("{offer:?} vs {allow:?}: {e}"),
        }
    }
    assert!(matches!(
        Initiator::new(&cfg(CryptoMethods(0x04), false), IH, b"", secrets(1, 0, 0)),
        Err(Error::NoMethods { methods: 4 })
    ));
}

#[test]
fn our_padding_and_initial_payload_limits() {
    let c = Config::default();
    assert!(Initiator::new(&c, IH, b"", secrets(1, 512, 512)).is_ok());
    assert!(matches!(
        Initiator::new(&c, IH, b"", secrets(1, 513, 0)),
        Err(Error::PaddingTooLong {
            what: "PadA",
            len: 513,
            max: 512
        })
    ));
    assert!(matches!(
        Initiator::new(&c, IH, b"", secrets(1, 0, 513)),
        Err(Error::PaddingTooLong { what: "PadC", .. })
    ));
    assert!(matches!(
        Responder::new(&c, secrets(1, 513, 0)),
        Err(Error::PaddingTooLong { what: "PadB", .. })
    ));
    assert!(matches!(
        Responder::new(&c, secrets(1, 0, 513)),
        Err(Error::PaddingTooLong { what: "PadD", .. })
    ));
    assert!(Initiator::new(&c, IH, &vec![0; 65535], secrets(1, 0, 0)).is_ok());
    assert!(matches!(
        Initiator::new(&c, IH, &vec![0; 65536], secrets(1, 0, 0)),
        Err(Error::InitialPayloadTooLong { len: 65536 })
    ));
}

/// A hand-made initiator, to send what ours never would.
struct Forged {
    key: PrivateKey,
}

impl Forged {
    fn new() -> Forged {
        Forged {
            key: PrivateKey::from_bytes(&[0x99; 20]).unwrap(),
        }
    }

    /// Step 1 with `pad` bytes of PadA.
    fn step1(&self, pad: usize) -> Vec<u8> {
        let mut v = self.key.public_key().0.to_vec();
        v.extend(std::iter::repeat_n(0xee, pad));
        v
    }

    /// Step 3 with every field chosen by the caller; `vc` is encrypted.
    #[allow(clippy::too_many_arguments)]
    fn step3(
        &self,
        b_public: &[u8],
        ih: &InfoHash,
        vc: [u8; 8],
        provide: u32,
        pad_c: u16,
        ia_len: u16,
        ia: &[u8],
    ) -> Vec<u8> {
        let yb = mse::PublicKey(b_public[..KEY_LEN].try_into().unwrap());
        let s = self.key.shared_secret(&yb).unwrap();
        let mut v = mse::req1(&s).to_vec();
        v.extend_from_slice(&mse::obfuscated_skey(ih, &s));
        let mut enc = vc.to_vec();
        enc.extend_from_slice(&provide.to_be_bytes());
        enc.extend_from_slice(&pad_c.to_be_bytes());
        enc.extend(std::iter::repeat_n(0, usize::from(pad_c)));
        enc.extend_from_slice(&ia_len.to_be_bytes());
        enc.extend_from_slice(ia);
        Rc4Stream::new(&mse::key_a(&s, ih)).apply(&mut enc);
        v.extend_from_slice(&enc);
        v
    }
}

/// Runs a forged initiator against our responder: step 1 with `pad_a`
/// bytes of padding, then whatever `step3` makes of B's public key.
fn forged_against_responder(
    config: &Config,
    pad_a: usize,
    step3: impl FnOnce(&Forged, &[u8]) -> Vec<u8>,
) -> Result<Option<Established>, Error> {
    let f = Forged::new();
    let mut b = Responder::new(config, secrets(2, 0, 0)).unwrap();
    let mut buf = BytesMut::from(&f.step1(pad_a)[..]);
    assert!(b.receive(&mut buf, lookup)?.is_none());
    let step2 = b.poll_transmit().unwrap();
    buf.extend_from_slice(&step3(&f, &step2));
    b.receive(&mut buf, lookup)
}

#[test]
fn responder_padding_bounds() {
    let c = Config::default();
    let ok = |f: &Forged, yb: &[u8]| f.step3(yb, &IH, [0; 8], 3, 0, 0, b"");
    // PadA of 512 bytes is in bounds, 513 is not.
    assert!(forged_against_responder(&c, 512, ok).unwrap().is_some());
    assert!(matches!(
        forged_against_responder(&c, 513, ok),
        Err(Error::SyncNotFound {
            what: "HASH('req1', S)",
            searched: 532
        })
    ));
    // PadC of 512 bytes is in bounds, 513 is not.
    let pad = |n| move |f: &Forged, yb: &[u8]| f.step3(yb, &IH, [0; 8], 3, n, 0, b"");
    assert!(forged_against_responder(&c, 0, pad(512)).unwrap().is_some());
    let e = forged_against_responder(&c, 0, pad(513)).unwrap_err();
    assert!(matches!(
        e,
        Error::PeerPaddingTooLong {
            what: "PadC",
            len: 513,
            offset: 148
        }
    ));
    assert_eq!(e.offset(), Some(148));
}

#[test]
fn responder_initial_payload_bound() {
    let c = Config {
        max_initial_payload: 68,
        ..Config::default()
    };
    let ia = |n: u16| {
        move |f: &Forged, yb: &[u8]| f.step3(yb, &IH, [0; 8], 3, 0, n, &vec![7; usize::from(n)])
    };
    assert!(forged_against_responder(&c, 0, ia(68)).unwrap().is_some());
    assert!(matches!(
        forged_against_responder(&c, 0, ia(69)),
        Err(Error::PeerInitialPayloadTooLong {
            len: 69,
            max: 68,
            ..
        })
    ));
}

#[test]
fn responder_refuses_wrong_vc_unknown_torrent_and_bad_keys() {
    let c = Config::default();
    let e = forged_against_responder(&c, 3, |f, yb| {
        f.step3(yb, &IH, [0, 0, 0, 1, 0, 0, 0, 0], 3, 0, 0, b"")
    });
    assert!(matches!(e, Err(Error::InvalidVc { offset: 139 })), "{e:?}");
    let unknown = InfoHash([0xab; 20]);
    let e = forged_against_responder(&c, 0, |f, yb| f.step3(yb, &unknown, [0; 8], 3, 0, 0, b""));
    assert!(
        matches!(e, Err(Error::UnknownInfoHash { offset: 116 })),
        "{e:?}"
    );
    // A lookup that answers with the wrong torrent is not believed.
    let f = Forged::new();
    let mut b = Responder::new(&c, secrets(2, 0, 0)).unwrap();
    let mut buf = BytesMut::from(&f.step1(0)[..]);
    b.receive(&mut buf, |_| Some(OTHER)).unwrap();
    let yb = b.poll_transmit().unwrap();
    buf.extend_from_slice(&f.step3(&yb, &IH, [0; 8], 3, 0, 0, b""));
    assert!(matches!(
        b.receive(&mut buf, |_| Some(OTHER)),
        Err(Error::UnknownInfoHash { .. })
    ));
    // Degenerate public keys.
    for y in [[0u8; KEY_LEN], PRIME] {
        let mut b = Responder::new(&c, secrets(2, 0, 0)).unwrap();
        let mut buf = BytesMut::from(&y[..]);
        assert!(matches!(
            b.receive(&mut buf, lookup),
            Err(Error::InvalidPublicKey)
        ));
        assert!(b.poll_transmit().is_none(), "nothing sent to a bad key");
    }
}

#[test]
fn endless_padding_is_refused_at_the_bound() {
    // A peer that sends a public key and then garbage forever: the
    // responder gives up once 512 + 20 bytes after the key hold no sync.
    let mut b = Responder::new(&Config::default(), secrets(2, 0, 0)).unwrap();
    let mut buf = BytesMut::from(&Forged::new().step1(0)[..]);
    b.receive(&mut buf, lookup).unwrap();
    for i in 0..531 {
        buf.extend_from_slice(&[0xee]);
        assert!(b.receive(&mut buf, lookup).unwrap().is_none(), "byte {i}");
    }
    buf.extend_from_slice(&[0xee]);
    assert!(matches!(
        b.receive(&mut buf, lookup),
        Err(Error::SyncNotFound { searched: 532, .. })
    ));
    // After an error the machine does nothing more.
    assert!(b.receive(&mut buf, lookup).unwrap().is_none());

    // The initiator likewise: 512 + 8 bytes after Yb without the VC.
    let mut a = Initiator::new(&Config::default(), IH, b"", secrets(1, 0, 0)).unwrap();
    let peer = PrivateKey::from_bytes(&[0x55; 20]).unwrap();
    let mut buf = BytesMut::from(&peer.public_key().0[..]);
    a.receive(&mut buf).unwrap();
    buf.extend_from_slice(&[0xee; 519]);
    assert!(a.receive(&mut buf).unwrap().is_none());
    buf.extend_from_slice(&[0xee]);
    assert!(matches!(
        a.receive(&mut buf),
        Err(Error::SyncNotFound {
            what: "VC",
            searched: 520
        })
    ));
}

#[test]
fn initiator_refuses_bad_crypto_select_and_long_pad_d() {
    // A forged responder: answers our step 3 with chosen fields.
    let forged_b = |select: u32, pad_d: u16, pad_b: usize| -> Result<Option<Established>, Error> {
        let offer = CryptoMethods::RC4;
        let mut a = Initiator::new(&cfg(offer, false), IH, b"", secrets(1, 0, 0)).unwrap();
        let key = PrivateKey::from_bytes(&[0x66; 20]).unwrap();
        let ya = a.poll_transmit().unwrap();
        let s = key
            .shared_secret(&mse::PublicKey(ya[..KEY_LEN].try_into().unwrap()))
            .unwrap();
        let mut buf = BytesMut::from(&key.public_key().0[..]);
        buf.extend(std::iter::repeat_n(0x33, pad_b));
        let mut enc = vec![0u8; 8];
        enc.extend_from_slice(&select.to_be_bytes());
        enc.extend_from_slice(&pad_d.to_be_bytes());
        enc.extend(std::iter::repeat_n(0, usize::from(pad_d)));
        Rc4Stream::new(&mse::key_b(&s, &IH)).apply(&mut enc);
        buf.extend_from_slice(&enc);
        a.receive(&mut buf)
    };
    assert!(forged_b(2, 0, 512).unwrap().is_some());
    assert!(forged_b(2, 512, 0).unwrap().is_some());
    assert!(matches!(
        forged_b(2, 513, 0),
        Err(Error::PeerPaddingTooLong {
            what: "PadD",
            len: 513,
            ..
        })
    ));
    for bad in [1, 3, 0, 4] {
        assert!(matches!(
            forged_b(bad, 0, 0),
            Err(Error::InvalidCryptoSelect { selected, provided: 2, offset: 104 }) if selected == bad
        ));
    }
}

#[test]
fn classify_plain_and_encrypted() {
    let plain = b"\x13BitTorrent protocol";
    for n in 0..20 {
        assert_eq!(classify(&plain[..n]), None);
    }
    assert_eq!(classify(plain), Some(Incoming::Plaintext));
    let key = PrivateKey::from_bytes(&[9; 20]).unwrap().public_key();
    assert_eq!(classify(&key.0), Some(Incoming::Encrypted));
    assert_eq!(classify(b"\x14"), Some(Incoming::Encrypted));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_pads_chunks_and_methods(
        key_a in 1u8..=255, key_b in 1u8..=255,
        pad_a in 0usize..=512, pad_b in 0usize..=512,
        pad_c in 0usize..=512, pad_d in 0usize..=512,
        ia in proptest::collection::vec(any::<u8>(), 0..200),
        payload_a in proptest::collection::vec(any::<u8>(), 0..300),
        payload_b in proptest::collection::vec(any::<u8>(), 0..300),
        chunks_ab in proptest::collection::vec(1usize..200, 1..40),
        chunks_ba in proptest::collection::vec(1usize..200, 1..40),
        prefer_rc4 in any::<bool>(),
    ) {
        let config = cfg(CryptoMethods::BOTH, prefer_rc4);
        let (mut i, mut j) = (0, 0);
        let (a, b) = run(
            &config,
            &config,
            secrets(key_a, pad_a, pad_c),
            secrets(key_b, pad_b, pad_d),
            &ia,
            &payload_a,
            &payload_b,
            |_| { i += 1; chunks_ab[i % chunks_ab.len()] },
            |_| { j += 1; chunks_ba[j % chunks_ba.len()] },
        ).unwrap();
        let method = if prefer_rc4 { Method::Rc4 } else { Method::Plaintext };
        check(&a, &b, &ia, &payload_a, &payload_b, method);
    }

    #[test]
    fn responder_never_panics_on_garbage(
        data in proptest::collection::vec(any::<u8>(), 0..1500),
        cut in 0usize..1500,
    ) {
        let mut b = Responder::new(&Config::default(), secrets(2, 0, 0)).unwrap();
        let cut = cut.min(data.len());
        let mut buf = BytesMut::from(&data[..cut]);
        let first = b.receive(&mut buf, lookup);
        buf.extend_from_slice(&data[cut..]);
        let second = b.receive(&mut buf, lookup);
        // Random bytes never sync within the bound.
        if data.len() >= 96 + 532 {
            prop_assert!(first.is_err() || second.is_err());
        }
    }
}
