//! The MSE responder (the side that accepts connections) on hostile input:
//! never panics, never reads past the spec's bounds, and either fails,
//! waits, or finishes with the initial payload and the rest of the stream
//! in its buffer.
//!
//! The first byte picks the mode: raw bytes (random first bytes, endless
//! padding), or a forged initiator whose every field comes from the input
//! (PadA length, VC, crypto_provide, PadC length, len(IA), IA, where the
//! stream is cut, how it is chunked), so wrong VCs, truncated padding and
//! long fields reach the deep states.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seedbed_peer_wire::mse::{
    self, Config, Error, PrivateKey, PublicKey, Rc4Stream, Responder, Secrets, SharedSecret,
    SkeyHash, KEY_LEN,
};
use seedbed_peer_wire::{BytesMut, InfoHash};
use std::sync::OnceLock;

const IH: InfoHash = InfoHash([0x42; 20]);

fn lookup(h: &SkeyHash) -> Option<InfoHash> {
    (*h == SkeyHash::of(&IH)).then_some(IH)
}

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let Some((&b, rest)) = self.0.split_first() else {
            return 0;
        };
        self.0 = rest;
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }
    fn take(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
}

/// Feeds `stream` in chunks whose sizes come from `sizes`, answering the
/// forged initiator's step 3 once the responder's public key is out.
fn drive(
    b: &mut Responder,
    stream: &[u8],
    sizes: &[u8],
    mut step3: impl FnMut(&[u8]) -> Vec<u8>,
) -> (Result<Option<mse::Established>, Error>, BytesMut, usize) {
    let mut buf = BytesMut::new();
    let mut pending = stream.to_vec();
    let mut fed = 0usize;
    let mut i = 0;
    let mut sent_step3 = false;
    loop {
        if pending.is_empty() {
            return (Ok(None), buf, fed);
        }
        let size = usize::from(sizes.get(i % sizes.len().max(1)).copied().unwrap_or(255)).max(1);
        i += 1;
        let n = size.min(pending.len());
        buf.extend_from_slice(&pending[..n]);
        pending.drain(..n);
        fed += n;
        let r = b.receive(&mut buf, lookup);
        if let Some(out) = b.poll_transmit() {
            if !sent_step3 && out.len() >= KEY_LEN {
                sent_step3 = true;
                pending.extend_from_slice(&step3(&out));
            }
        }
        match r {
            Ok(None) => {}
            other => return (other, buf, fed),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let mode = input.byte();
    let config = Config {
        max_initial_payload: 68 + u16::from(mode >> 4),
        prefer_rc4: mode & 2 != 0,
        ..Config::default()
    };
    let secrets = Secrets::new(
        PrivateKey::from_bytes(&[7; 20]).unwrap(),
        vec![1; 5],
        vec![],
    );
    let mut b = Responder::new(&config, secrets).unwrap();
    if mode & 1 == 0 {
        // Raw bytes: nothing ever syncs past 96 + 532 bytes.
        let sizes: Vec<u8> = input.take(8).to_vec();
        let stream = input.0.to_vec();
        let (r, _, fed) = drive(&mut b, &stream, &sizes, |_| Vec::new());
        if let Ok(Some(_)) = r {
            panic!("random bytes finished a handshake");
        }
        if fed > 96 + 532 {
            assert!(r.is_err(), "no error after {fed} bytes of garbage");
        }
        return;
    }
    // A forged initiator.
    let key = PrivateKey::from_bytes(&[0x99; 20]).unwrap();
    let pad_a = usize::from(input.u16() % 600);
    let mut vc = [0u8; 8];
    if input.byte() & 1 == 1 {
        vc.copy_from_slice(&{
            let t = input.take(8);
            let mut v = [0u8; 8];
            v[..t.len()].copy_from_slice(t);
            v
        });
    }
    let provide = u32::from(input.byte()) % 5;
    let pad_c = input.u16() % 600;
    let ia_len = input.u16() % 200;
    let ia = input.take(usize::from(ia_len)).to_vec();
    let cut = usize::from(input.u16());
    let sizes = input.take(8).to_vec();
    let tail = input.0.to_vec();
    // The forged side's modular exponentiations are the same every run.
    static FORGED: OnceLock<(PublicKey, SharedSecret)> = OnceLock::new();
    let (ya, s) = FORGED.get_or_init(|| {
        let yb = PrivateKey::from_bytes(&[7; 20]).unwrap().public_key();
        (key.public_key(), key.shared_secret(&yb).unwrap())
    });
    let mut step1 = ya.0.to_vec();
    step1.extend(std::iter::repeat_n(0xee, pad_a));
    let step3 = |_yb: &[u8]| {
        let mut v = mse::req1(s).to_vec();
        v.extend_from_slice(&mse::obfuscated_skey(&IH, s));
        let mut enc = vc.to_vec();
        enc.extend_from_slice(&provide.to_be_bytes());
        enc.extend_from_slice(&pad_c.to_be_bytes());
        enc.extend(std::iter::repeat_n(0, usize::from(pad_c)));
        enc.extend_from_slice(&ia_len.to_be_bytes());
        enc.extend_from_slice(&ia);
        enc.extend_from_slice(&tail);
        Rc4Stream::new(&mse::key_a(s, &IH)).apply(&mut enc);
        v.extend_from_slice(&enc);
        v.truncate(cut.max(40));
        v
    };
    let (r, buf, _) = drive(&mut b, &step1, &sizes, step3);
    match r {
        Ok(Some(est)) => {
            assert!(pad_a <= 512 && vc == [0; 8] && pad_c <= 512);
            assert!(ia_len <= config.max_initial_payload);
            assert_eq!(est.info_hash, IH);
            assert!(buf.len() >= ia.len());
            assert_eq!(&buf[..ia.len()], &ia[..]);
        }
        Ok(None) => {}
        Err(Error::InvalidVc { .. }) => assert_ne!(vc, [0; 8]),
        Err(Error::SyncNotFound { .. }) => assert!(pad_a > 512),
        Err(Error::PeerPaddingTooLong { .. }) => assert!(pad_c > 512),
        Err(Error::NoCommonMethod { .. }) => assert_eq!(provide & 3, 0),
        Err(Error::PeerInitialPayloadTooLong { .. }) => {
            assert!(ia_len > config.max_initial_payload)
        }
        Err(e) => panic!("unexpected error {e}"),
    }
});
