//! Known-answer tests for MSE: the Diffie-Hellman exchange, the SHA-1
//! derivations, the RC4 keystreams after the 1024-byte discard, and a whole
//! handshake transcript byte for byte.
//!
//! Every expected value below was printed by
//! `tests/scripts/mse_vectors.py` (Python's `pow`, `hashlib` and a
//! ten-line RC4: an implementation independent of ours). Its inputs are
//! repeated here.

use bytes::BytesMut;
use seedbed_metainfo::InfoHash;
use seedbed_peer_wire::mse::{
    self, Config, CryptoMethods, Initiator, Method, PrivateKey, Rc4Stream, Responder, Secrets,
    SkeyHash,
};

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0);
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn arr20(s: &str) -> [u8; 20] {
    unhex(s).try_into().unwrap()
}

// Output of tests/scripts/mse_vectors.py.
const YA: &str = "96e112dab29e8c5272accb9b17b26887ce54a144a4e3b697c7d159b7a817e556b0918db2b4c658e02a87f7e5fb14b18a553e084cbf3dad2d30f16596ccb982d406258c61b30c5c1dae2ddc60bdbd48d79896312aad63238c39e1a633821eb693";
const YB: &str = "dd7e8a3a8d050a4b2c4a25a5e36c5495ea16afe2e030e9d0dc055a50784074856f73d6fa38a22734fcf65d6e70193a15588463b1d0791ad436746a4b2278374275d61d39aa526b4fbf04632a50cea33aa991392b7fc24e47752743e93a1afb41";
const S: &str = "9582cfa737497a10f5540141fc5f2c7c91601ad502a3738e6690769c2ce3dbcc4a2e059176a0ec67585eac4814e72577ec04b666d750a0c1f53b624941f55655790e8329cfa3463d7e648a135b13bfb6669e833f20027933b8313af61f771367";
const REQ1: &str = "9dceb4cea2b38852db9bb4d7a900b991ed07f2c8";
const REQ2: &str = "f04252ca93406e38a60b24862001a07cfb2b48ad";
const REQ3: &str = "7ca86955e562fee9403d6d2f3eee6158acb0d116";
const REQ2_XOR_REQ3: &str = "8cea3b9f762290d1e63649a91eefc124579b99bb";
const KEY_A: &str = "05f29d94b422294cead1fc5f70fac10be99ca233";
const KEY_B: &str = "c78642b2545aab7da9955c900b46b419b0c8fe95";
const KEYSTREAM_A_32: &str = "1c0ae25fc76d5308a75feba6ae9c2757ca757512e9f8260c58f1aac2c56f3cd1";
const KEYSTREAM_B_32: &str = "99f28455bbf8be23cf7569b9831df25b7ffb34494170b849f093aee301f4cadf";
const STEP1: &str = "96e112dab29e8c5272accb9b17b26887ce54a144a4e3b697c7d159b7a817e556b0918db2b4c658e02a87f7e5fb14b18a553e084cbf3dad2d30f16596ccb982d406258c61b30c5c1dae2ddc60bdbd48d79896312aad63238c39e1a633821eb6935a5a5a5a5a5a5a";
const STEP2: &str = "dd7e8a3a8d050a4b2c4a25a5e36c5495ea16afe2e030e9d0dc055a50784074856f73d6fa38a22734fcf65d6e70193a15588463b1d0791ad436746a4b2278374275d61d39aa526b4fbf04632a50cea33aa991392b7fc24e47752743e93a1afb41b5b5b5b5b5b5b5b5b5b5b5b5b5";
const STEP3: &str = "9dceb4cea2b38852db9bb4d7a900b991ed07f2c88cea3b9f762290d1e63649a91eefc124579b99bb1c0ae25fc76d5308a75feba5ae9c2713d9371c66bd97547e3d9fdee2b51d53a52194b040e7c53e66f0fec93d4234004d82d1af61194368108ad4b6975615cc3c53181f8aec7842d2a3a24fa17e3b4a5f4d90caee";
const STEP4: &str = "99f28455bbf8be23cf7569bb831ef25b7f";
const PAYLOAD_A_16: &str = "12b3254330ad2242ac0d184b4ad89978";
const PAYLOAD_B_16: &str = "fb34494170b849f093aee301f4cadf71";

// The script's inputs.
fn xa() -> Vec<u8> {
    (1..=20).collect()
}
fn xb() -> Vec<u8> {
    (0..32).map(|i| (0xA0 + i) as u8).collect()
}
fn skey() -> InfoHash {
    InfoHash(arr20("a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"))
}
fn ia() -> Vec<u8> {
    let mut v = b"\x13BitTorrent protocol".to_vec();
    v.extend_from_slice(&[0; 8]);
    v.extend_from_slice(&skey().0);
    v.extend_from_slice(b"-SB0100-abcdefghijkl");
    v
}

#[test]
fn diffie_hellman() {
    let a = PrivateKey::from_bytes(&xa()).unwrap();
    let b = PrivateKey::from_bytes(&xb()).unwrap();
    assert_eq!(a.public_key().0.to_vec(), unhex(YA));
    assert_eq!(b.public_key().0.to_vec(), unhex(YB));
    let s = a.shared_secret(&b.public_key()).unwrap();
    assert_eq!(s.as_bytes().to_vec(), unhex(S));
    assert_eq!(b.shared_secret(&a.public_key()).unwrap(), s);
}

#[test]
fn hashes_and_keys() {
    let a = PrivateKey::from_bytes(&xa()).unwrap();
    let b = PrivateKey::from_bytes(&xb()).unwrap();
    let s = a.shared_secret(&b.public_key()).unwrap();
    let ih = skey();
    assert_eq!(mse::req1(&s), arr20(REQ1));
    assert_eq!(SkeyHash::of(&ih).0, arr20(REQ2));
    assert_eq!(mse::req3(&s), arr20(REQ3));
    assert_eq!(mse::obfuscated_skey(&ih, &s), arr20(REQ2_XOR_REQ3));
    assert_eq!(
        SkeyHash::unmask(&arr20(REQ2_XOR_REQ3), &s),
        SkeyHash::of(&ih)
    );
    assert_eq!(mse::key_a(&s, &ih), arr20(KEY_A));
    assert_eq!(mse::key_b(&s, &ih), arr20(KEY_B));
}

#[test]
fn rc4_keystream_after_discard() {
    for (key, want) in [(KEY_A, KEYSTREAM_A_32), (KEY_B, KEYSTREAM_B_32)] {
        let mut rc4 = Rc4Stream::new(&arr20(key));
        let mut ks = [0u8; 32];
        rc4.apply(&mut ks);
        assert_eq!(ks.to_vec(), unhex(want));
        // The same bytes in two calls, and buffer-to-buffer.
        let mut rc4 = Rc4Stream::new(&arr20(key));
        let mut out = [0u8; 32];
        rc4.apply_to(&[0; 5], &mut out[..5]);
        rc4.apply(&mut out[5..]);
        assert_eq!(out.to_vec(), unhex(want));
    }
}

#[test]
fn whole_transcript() {
    let ih = skey();
    let a_secrets = Secrets::new(
        PrivateKey::from_bytes(&xa()).unwrap(),
        vec![0x5a; 7],
        vec![],
    );
    let b_secrets = Secrets::new(
        PrivateKey::from_bytes(&xb()).unwrap(),
        vec![0xb5; 13],
        vec![0; 3],
    );
    let mut a = Initiator::new(&Config::default(), ih, &ia(), a_secrets).unwrap();
    let b_config = Config {
        methods: CryptoMethods::BOTH,
        prefer_rc4: true,
        ..Config::default()
    };
    let mut b = Responder::new(&b_config, b_secrets).unwrap();
    let lookup = |h: &SkeyHash| (*h == SkeyHash::of(&ih)).then_some(ih);

    let step1 = a.poll_transmit().unwrap();
    assert_eq!(step1, unhex(STEP1));
    let mut to_b = BytesMut::from(&step1[..]);
    assert!(b.receive(&mut to_b, lookup).unwrap().is_none());
    let step2 = b.poll_transmit().unwrap();
    assert_eq!(step2, unhex(STEP2));

    let mut to_a = BytesMut::from(&step2[..]);
    assert!(a.receive(&mut to_a).unwrap().is_none());
    let step3 = a.poll_transmit().unwrap();
    assert_eq!(step3, unhex(STEP3));

    to_b.extend_from_slice(&step3);
    let mut done_b = b.receive(&mut to_b, lookup).unwrap().expect("B done");
    let step4 = b.poll_transmit().unwrap();
    assert_eq!(step4, unhex(STEP4));
    assert_eq!(
        &to_b[..],
        &ia()[..],
        "B's buffer starts with the decrypted IA"
    );
    assert_eq!(done_b.method, Method::Rc4);
    assert_eq!(done_b.info_hash, ih);

    to_a.extend_from_slice(&step4);
    let mut done_a = a.receive(&mut to_a).unwrap().expect("A done");
    assert!(to_a.is_empty());
    assert_eq!(done_a.method, Method::Rc4);

    let mut pa = [0u8; 16];
    done_a.rc4.as_mut().unwrap().encrypt.apply(&mut pa);
    assert_eq!(pa.to_vec(), unhex(PAYLOAD_A_16));
    let mut pb = [0u8; 16];
    done_b.rc4.as_mut().unwrap().encrypt.apply(&mut pb);
    assert_eq!(pb.to_vec(), unhex(PAYLOAD_B_16));
    // And each side decrypts the other's.
    done_b.rc4.as_mut().unwrap().decrypt.apply(&mut pa);
    done_a.rc4.as_mut().unwrap().decrypt.apply(&mut pb);
    assert_eq!((pa, pb), ([0; 16], [0; 16]));
}
