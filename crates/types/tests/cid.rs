//! CID text and bytes: the cases the blob store and the chain relied on when each had
//! its own parser, now checked against the one in `tessera_types::cid`.
#![cfg(test)]

use tessera_types::cid::{AnyCid, Cid, CidReason, DAG_PB_CODEC, RAW_CODEC};

// `echo hello | ipfs add` (kubo 0.18.1), and its CIDv1 form from `ipfs cid base32`:
// kubo test/sharness/t0114-gateway-subdomains/README.md.
const HELLO_V0: &str = "QmZULkCELmmk5XNfCgTnCyFgAVxBRBXyDHGGMVoLFLiXEN";
const HELLO_V1: &str = "bafybeiffndsajwhk3lwjewwdxqntmjm4b5wxaaanokonsggenkbw6slwk4";
// `echo hello | ipfs add --cid-version 1`: a raw-codec CID.
const HELLO_RAW: &str = "bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am";

fn reason(text: &str) -> CidReason {
    AnyCid::parse(text).unwrap_err().reason
}

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
    assert_eq!(AnyCid::parse(HELLO_V0).unwrap(), AnyCid::from(v0));
}

#[test]
fn any_cid_accepts_every_sha256_codec() {
    for (text, codec) in [
        (HELLO_RAW, RAW_CODEC),
        (
            "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
            RAW_CODEC,
        ),
        (
            "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",
            DAG_PB_CODEC,
        ),
        (
            "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG",
            DAG_PB_CODEC,
        ),
    ] {
        assert_eq!(AnyCid::parse(text).map(|c| c.codec()), Ok(codec), "{text}");
    }
}

#[test]
fn cid_refuses_other_codecs_hashes_and_bases() {
    let err = Cid::parse(HELLO_RAW).unwrap_err().to_string();
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
        assert!(AnyCid::parse(bad).is_err(), "{bad} was accepted");
    }
}

#[test]
fn any_cid_refuses_malformed_text() {
    let good = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";
    let cases = [
        String::new(),
        "b".into(),
        "zQmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG".into(),
        "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbd".into(), // 45 chars
        "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbd0".into(), // '0' not base58
        good.to_uppercase(),
        good.replace('a', "1"),
        format!("{good}a"), // digest one byte too long / bad tail
        good.get(..good.len() - 1).unwrap().into(), // digest cut short
        format!("b{}", "a".repeat(127)), // all zero bytes: version 0
        format!("{good}{}", "a".repeat(80)), // over the length limit
        // identity multihash (0x00) of 4 bytes, and sha2-512 (0x13, 64 bytes)
        "bafkqabduonzcc".into(),
        format!("bafkrgqa{}", "a".repeat(102)),
    ];
    for cid in cases {
        assert!(AnyCid::parse(&cid).is_err(), "{cid:?} accepted");
    }
    assert_eq!(
        reason("bafkqabduonzcc"),
        CidReason::NotSha256 { code: 0, len: 4 }
    );
    assert_eq!(reason(&format!("b{}", "a".repeat(127))), CidReason::TooLong);
    assert_eq!(
        reason(&format!("b{}", "a".repeat(60))),
        CidReason::NotVersion1
    );
    // A Qm text of valid base58 that does not decode to a sha2-256 multihash.
    assert!(AnyCid::parse(&format!("Qm{}", "z".repeat(44))).is_err());
}

#[test]
fn non_canonical_base32_tails_are_refused() {
    // The last character of a 36-byte payload carries 4 bits; setting an unused bit
    // gives a different text for the same bytes, which must not parse.
    let mut text = HELLO_V1.to_string();
    let last = text.pop().unwrap();
    let alphabet = "abcdefghijklmnopqrstuvwxyz234567";
    let index = alphabet.find(last).unwrap();
    text.push(alphabet.as_bytes()[index | 1] as char);
    assert_ne!(text, HELLO_V1);
    assert_eq!(reason(&text), CidReason::NotBase32);
    // A spare symbol after the payload.
    assert_eq!(reason(&format!("{HELLO_V1}a")), CidReason::NotBase32);
}

#[test]
fn binary_errors_show_a_hex_prefix() {
    let mut raw = vec![0x01, 0x55, 0x12, 0x20];
    raw.extend([7; 32]);
    let err = Cid::from_bytes(&raw).unwrap_err();
    assert_eq!(err.input, format!("0x01551220{}…", "07".repeat(12)));
    assert_eq!(err.reason, CidReason::NotDagPb { codec: RAW_CODEC });
    let err = Cid::from_bytes(&[0x12; 40]).unwrap_err();
    assert!(err.input.ends_with('…'), "{}", err.input);
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

mod no_panics {
    use proptest::prelude::*;
    use tessera_types::cid::{AnyCid, Cid};

    proptest! {
        #[test]
        fn any_text_or_bytes_parse_without_panicking(text in ".{0,120}", bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = AnyCid::parse(&text);
            let _ = Cid::parse(&text);
            let _ = AnyCid::from_bytes(&bytes);
            let _ = Cid::from_bytes(&bytes);
        }

        #[test]
        fn printed_cids_parse_back(digest in any::<[u8; 32]>()) {
            let cid = Cid::from_sha256_digest(digest);
            prop_assert_eq!(Cid::parse(&cid.to_string()), Ok(cid));
            prop_assert_eq!(Cid::parse(&cid.to_v0_string()), Ok(cid));
            prop_assert_eq!(Cid::from_bytes(&cid.to_bytes()), Ok(cid));
        }
    }
}
