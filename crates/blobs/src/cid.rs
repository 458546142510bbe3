//! Content identifiers: dag-pb blocks named by their SHA-256 digest.
//!
//! Only one kind of CID exists here — codec dag-pb (`0x70`), multihash sha2-256 (`0x12`,
//! 32 bytes) — because that is what kubo's default `ipfs add` produces. It has two text
//! forms for the same block: CIDv1 base32 (`b` + RFC 4648 lower case, no padding, of
//! `01 70 12 20 <digest>`, i.e. `bafybei…`), which is how Tessera prints CIDs, and CIDv0
//! (base58btc of `12 20 <digest>`, i.e. `Qm…`), which is what kubo prints by default.
//! Both parse.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::error::BlobError;
use crate::limits::MAX_CID_TEXT_BYTES;

/// Multicodec code of dag-pb.
pub const DAG_PB_CODEC: u8 = 0x70;
/// Multihash code of sha2-256.
pub const SHA2_256_CODE: u8 = 0x12;
/// Digest length of sha2-256.
pub const SHA2_256_LEN: u8 = 32;

/// A dag-pb, sha2-256 content identifier. `Display` prints the CIDv1 base32 form.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cid {
    digest: [u8; 32],
}

impl Cid {
    /// The CID of a dag-pb block whose SHA-256 is `digest`.
    pub const fn from_sha256_digest(digest: [u8; 32]) -> Self {
        Cid { digest }
    }

    /// The CID naming `block` (its SHA-256).
    pub fn of_block(block: &[u8]) -> Self {
        Cid::from_sha256_digest(Sha256::digest(block).into())
    }

    /// The SHA-256 digest of the block.
    pub const fn digest(&self) -> &[u8; 32] {
        &self.digest
    }

    /// The multihash `12 20 <digest>`; also the binary CIDv0 and what dag-pb links hold.
    pub fn multihash_bytes(&self) -> [u8; 34] {
        let mut out = [0u8; 34];
        let (prefix, digest) = out.split_at_mut(2);
        prefix.copy_from_slice(&[SHA2_256_CODE, SHA2_256_LEN]);
        digest.copy_from_slice(&self.digest);
        out
    }

    /// The binary CIDv1 `01 70 12 20 <digest>`.
    pub fn to_bytes(&self) -> [u8; 36] {
        let mut out = [0u8; 36];
        let (prefix, digest) = out.split_at_mut(4);
        prefix.copy_from_slice(&[0x01, DAG_PB_CODEC, SHA2_256_CODE, SHA2_256_LEN]);
        digest.copy_from_slice(&self.digest);
        out
    }

    /// Parses a binary CID: CIDv1 (36 bytes) or CIDv0 (the 34-byte multihash).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BlobError> {
        let invalid = |reason: String| BlobError::InvalidCid {
            input: format!("0x{}", hex_prefix(bytes)),
            reason,
        };
        let rest = match bytes {
            [SHA2_256_CODE, SHA2_256_LEN, rest @ ..] => rest,
            [0x01, DAG_PB_CODEC, SHA2_256_CODE, SHA2_256_LEN, rest @ ..] => rest,
            [0x01, codec, ..] if *codec != DAG_PB_CODEC => {
                return Err(invalid(format!(
                    "codec 0x{codec:02x} is not dag-pb (0x70){}",
                    if *codec == 0x55 {
                        " (raw leaves are not supported)"
                    } else {
                        ""
                    }
                )))
            }
            [0x01, DAG_PB_CODEC, hash, ..] => {
                return Err(invalid(format!(
                    "multihash 0x{hash:02x} is not sha2-256 (0x12, 32 bytes)"
                )))
            }
            _ => return Err(invalid("not a CIDv0 multihash nor a CIDv1".into())),
        };
        let digest: [u8; 32] = rest
            .try_into()
            .map_err(|_| invalid(format!("digest is {} bytes, not 32", rest.len())))?;
        Ok(Cid::from_sha256_digest(digest))
    }

    /// CIDv1 text: `b` + base32 lower case (`bafybei…`, 59 characters).
    pub fn to_v1_string(&self) -> String {
        let mut text = String::with_capacity(59);
        text.push('b');
        text.push_str(
            &data_encoding::BASE32_NOPAD
                .encode(&self.to_bytes())
                .to_ascii_lowercase(),
        );
        text
    }

    /// CIDv0 text: base58btc of the multihash (`Qm…`, 46 characters), as `ipfs add` prints.
    pub fn to_v0_string(&self) -> String {
        bs58::encode(self.multihash_bytes()).into_string()
    }

    /// Parses CIDv1 base32 (`bafybei…`) or CIDv0 (`Qm…`) text.
    pub fn parse(text: &str) -> Result<Self, BlobError> {
        let invalid = |reason: &str| BlobError::InvalidCid {
            input: text.chars().take(MAX_CID_TEXT_BYTES).collect(),
            reason: reason.into(),
        };
        if text.len() > MAX_CID_TEXT_BYTES {
            return Err(invalid("it is longer than any CID"));
        }
        if text.len() == 46 && text.starts_with("Qm") {
            let bytes = bs58::decode(text)
                .into_vec()
                .map_err(|_| invalid("it is not valid base58btc"))?;
            return Cid::from_bytes(&bytes).map_err(|_| invalid("it is not a sha2-256 CIDv0"));
        }
        let Some(body) = text.strip_prefix('b') else {
            return Err(invalid(
                "only CIDv0 (`Qm…`) and base32 CIDv1 (multibase prefix `b`) are accepted",
            ));
        };
        if !body
            .bytes()
            .all(|c| c.is_ascii_lowercase() || (b'2'..=b'7').contains(&c))
        {
            return Err(invalid("it is not lower-case base32"));
        }
        let bytes = data_encoding::BASE32_NOPAD
            .decode(body.to_ascii_uppercase().as_bytes())
            .map_err(|_| invalid("it is not canonical base32"))?;
        if bytes.first() != Some(&0x01) {
            return Err(invalid("the binary CID does not start with version 1"));
        }
        Cid::from_bytes(&bytes).map_err(|e| match e {
            BlobError::InvalidCid { reason, .. } => invalid(&reason),
            other => other,
        })
    }
}

/// At most 16 bytes of hex, for error messages about binary input.
fn hex_prefix(bytes: &[u8]) -> String {
    let shown: String = bytes.iter().take(16).map(|b| format!("{b:02x}")).collect();
    if bytes.len() > 16 {
        format!("{shown}…")
    } else {
        shown
    }
}

impl FromStr for Cid {
    type Err = BlobError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Cid::parse(text)
    }
}

impl fmt::Display for Cid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_v1_string())
    }
}

impl fmt::Debug for Cid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cid({})", self.to_v1_string())
    }
}

impl serde::Serialize for Cid {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Cid {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Cid;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a dag-pb sha2-256 CID as text (bafybei… or Qm…)")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Cid, E> {
                Cid::parse(text).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // `echo hello | ipfs add` (kubo 0.18.1), and its CIDv1 form from `ipfs cid base32`:
    // kubo test/sharness/t0114-gateway-subdomains/README.md.
    const HELLO_V0: &str = "QmZULkCELmmk5XNfCgTnCyFgAVxBRBXyDHGGMVoLFLiXEN";
    const HELLO_V1: &str = "bafybeiffndsajwhk3lwjewwdxqntmjm4b5wxaaanokonsggenkbw6slwk4";

    #[test]
    fn v0_and_v1_texts_name_the_same_block() {
        let v0 = Cid::parse(HELLO_V0).unwrap();
        let v1 = Cid::parse(HELLO_V1).unwrap();
        assert_eq!(v0, v1);
        assert_eq!(v0.to_v0_string(), HELLO_V0);
        assert_eq!(v0.to_v1_string(), HELLO_V1);
        assert_eq!(v0.to_string(), HELLO_V1);
        assert_eq!(Cid::from_bytes(&v0.to_bytes()).unwrap(), v0);
        assert_eq!(Cid::from_bytes(&v0.multihash_bytes()).unwrap(), v0);
    }

    #[test]
    fn other_codecs_hashes_and_bases_are_refused() {
        // `echo hello | ipfs add --cid-version 1`: a raw-codec CID.
        let raw = "bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am";
        let err = Cid::parse(raw).unwrap_err().to_string();
        assert!(err.contains("raw leaves are not supported"), "{err}");
        for bad in [
            "",
            "b",
            "Qm",
            &HELLO_V1.to_ascii_uppercase(),
            &HELLO_V1[..HELLO_V1.len() - 1],
            &format!("{HELLO_V1}a"),
            &HELLO_V0.replace('Z', "0"),
            "zdj7WhuEjrB52m1BisYCtmjH1hSKa7yZ3jEZ9JcXaFRD51wVz",
            &"b".repeat(200),
        ] {
            assert!(Cid::parse(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn non_canonical_base32_trailing_bits_are_refused() {
        // The last character of a 36-byte payload carries 4 bits; setting an unused bit
        // gives a different text for the same bytes, which must not parse.
        let mut text = HELLO_V1.to_string();
        let last = text.pop().unwrap();
        let alphabet = "abcdefghijklmnopqrstuvwxyz234567";
        let index = alphabet.find(last).unwrap();
        text.push(alphabet.as_bytes()[index | 1] as char);
        if text != HELLO_V1 {
            assert!(Cid::parse(&text).is_err());
        }
    }

    #[test]
    fn serde_uses_v1_text_and_accepts_v0() {
        let cid = Cid::parse(HELLO_V0).unwrap();
        assert_eq!(
            serde_json::to_string(&cid).unwrap(),
            format!("\"{HELLO_V1}\"")
        );
        let back: Cid = serde_json::from_str(&format!("\"{HELLO_V0}\"")).unwrap();
        assert_eq!(back, cid);
        assert!(serde_json::from_str::<Cid>("\"bafy\"").is_err());
    }
}
