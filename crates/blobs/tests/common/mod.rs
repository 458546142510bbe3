//! Deterministic inputs shared by the integration tests.
#![allow(dead_code)]

use std::io::{self, Read};

use chacha20::cipher::{KeyIvInit, StreamCipher};
use chacha20::ChaCha20;
use sha2::{Digest, Sha256};

/// kubo's test-vector generator (`test/cli/testutils/random_deterministic.go`,
/// `DeterministicRandomReaderBytes`): the ChaCha20 (IETF, zero nonce) key stream under the
/// key `sha256(seed)`, cut to `len` bytes.
pub struct KuboDeterministic {
    cipher: ChaCha20,
    remaining: u64,
}

impl KuboDeterministic {
    pub fn new(len: u64, seed: &str) -> Self {
        let key: [u8; 32] = Sha256::digest(seed.as_bytes()).into();
        let nonce = [0u8; 12];
        KuboDeterministic {
            cipher: ChaCha20::new(&key.into(), &nonce.into()),
            remaining: len,
        }
    }
}

impl Read for KuboDeterministic {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf
            .len()
            .min(self.remaining.min(usize::MAX as u64) as usize);
        let out = &mut buf[..n];
        out.fill(0);
        self.cipher.apply_keystream(out);
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// A cheap pattern reader: byte `i` is a simple function of `i` and `seed`, so large
/// inputs cost little to generate.
pub struct Pattern {
    pos: u64,
    len: u64,
    seed: u8,
}

impl Pattern {
    pub fn new(len: u64, seed: u8) -> Self {
        Pattern { pos: 0, len, seed }
    }
}

impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf
            .len()
            .min((self.len - self.pos).min(usize::MAX as u64) as usize);
        for (i, b) in buf[..n].iter_mut().enumerate() {
            let at = self.pos + i as u64;
            *b = (at as u8) ^ ((at >> 8) as u8).wrapping_mul(31) ^ ((at >> 16) as u8) ^ self.seed;
        }
        self.pos += n as u64;
        Ok(n)
    }
}

pub fn pattern_bytes(len: usize, seed: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    Pattern::new(len as u64, seed)
        .read_to_end(&mut out)
        .unwrap();
    out
}
