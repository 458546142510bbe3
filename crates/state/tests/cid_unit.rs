//! Unit tests of the model CID syntax check.

use tessera_state::models::cid::*;

#[test]
fn accepts_real_cids() {
    for cid in [
        "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
        "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",
        "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG",
    ] {
        assert_eq!(check(cid), Ok(()), "{cid}");
    }
}

#[test]
fn rejects_malformed_cids() {
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
        format!("{good}{}", "a".repeat(80)), // over 128 bytes
        // identity multihash (0x00) of 4 bytes, and sha2-512 (0x13, 64 bytes)
        "bafkqabduonzcc".into(),
        format!("bafkrgqa{}", "a".repeat(102)),
    ];
    for cid in cases {
        assert!(check(&cid).is_err(), "{cid:?} accepted");
    }
    let not_sha256 = Err("the multihash is not sha2-256 with a 32-byte digest");
    assert_eq!(check("bafkqabduonzcc"), not_sha256);
    assert_eq!(check(&format!("bafkrgqa{}", "a".repeat(102))), not_sha256);
}

#[test]
fn base32_round_trips_known_vectors() {
    // RFC 4648 test vectors, lower case, padding removed.
    let vectors = [
        ("", ""),
        ("f", "my"),
        ("fo", "mzxq"),
        ("foo", "mzxw6"),
        ("foob", "mzxw6yq"),
        ("fooba", "mzxw6ytb"),
        ("foobar", "mzxw6ytboi"),
    ];
    for (plain, text) in vectors {
        assert_eq!(base32_decode(text).unwrap(), plain.as_bytes(), "{text}");
    }
    assert_eq!(base32_decode("mz"), None, "non-zero tail bits");
    assert_eq!(base32_decode("mya"), None, "a spare symbol");
}

#[test]
fn varints_are_minimal_and_bounded() {
    assert_eq!(varint(&[0x01, 9]), Ok((1, &[9u8][..])));
    assert_eq!(varint(&[0x80, 0x01]), Ok((128, &[][..])));
    assert!(varint(&[0x81, 0x00]).is_err());
    assert!(varint(&[0xff; 10]).is_err());
    assert!(varint(&[]).is_err());
}
