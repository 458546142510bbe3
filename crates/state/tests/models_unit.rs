//! Unit tests of `models`: registration checks, versions, shares, royalties.
#![cfg(test)]

use commonware_codec::{Decode, Encode, EncodeSize};
use tessera_state::{
    bank::{self, Supply},
    kv::MemState,
    models::{royalties::*, *},
    Overlay, StateError, StateView,
};
use tessera_types::{
    tx::{Bps, DataLink, RevenueSplit, Shares},
    Amount,
};
use tessera_types::{
    tx::{ModelId, ModelSpec},
    Address, Event,
};

const CREATOR: Address = Address([1; 32]);
const ALICE: Address = Address([2; 32]);
const BOB: Address = Address([3; 32]);
const PAYER: Address = Address([9; 32]);

/// A state with a supply record and `PAYER` funded with 1,000,000 base units.
fn setup() -> MemState {
    let mut base = MemState::new();
    let mut state = Overlay::new(&base);
    let funds = Amount::from_base(1_000_000);
    let supply = Supply {
        genesis: funds,
        ..Supply::default()
    };
    state.write(bank::SUPPLY_KEY.to_vec(), &supply);
    bank::credit(&mut state, &PAYER, funds).unwrap();
    for (k, v) in state.into_writes() {
        base.insert(k, v.unwrap());
    }
    base
}

/// A CIDv1 (raw, sha2-256) whose digest is `seed` repeated.
fn cid(seed: u8) -> String {
    let mut bytes = vec![0x01, 0x55, 0x12, 0x20];
    bytes.extend([seed; 32]);
    let alphabet = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut out = String::from("b");
    let (mut acc, mut bits) = (0u32, 0u32);
    for byte in bytes {
        acc = (acc << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(alphabet[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(alphabet[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

fn spec(name: &str, total_shares: u64) -> ModelSpec {
    ModelSpec {
        name: name.into(),
        manifest_cid: cid(0),
        runtime: "candle-bert".into(),
        license: "Apache-2.0".into(),
        total_shares: Shares::new(total_shares),
        price_base_per_call: Amount::from_base(1_000),
        price_base_per_token: Amount::ZERO,
        split: RevenueSplit {
            compute_bps: Bps::new(6_000),
            owners_bps: Bps::new(3_000),
            data_bps: Bps::new(500),
            treasury_bps: Bps::new(500),
        },
        data_links: vec![DataLink {
            provider: BOB,
            weight_bps: Bps::FULL,
        }],
    }
}

fn shares(n: u64) -> Shares {
    Shares::new(n)
}

fn amt(v: u128) -> Amount {
    Amount::from_base(v)
}

fn register_one(state: &mut Overlay<'_>, total_shares: u64) -> ModelId {
    let events = register(state, 5, &CREATOR, &spec("tiny-bert", total_shares)).unwrap();
    match events.as_slice() {
        [Event::ModelRegistered { model, .. }] => *model,
        other => panic!("unexpected events {other:?}"),
    }
}

#[test]
fn cid_helper_makes_valid_cids() {
    assert_eq!(
        cid(0xc7).get(..6),
        Some("bafkre"),
        "raw sha2-256 CIDs start bafkre"
    );
    for seed in 0..=255 {
        assert_eq!(check_cid(&cid(seed)), Ok(()));
    }
}

/// The chain takes a sha2-256 CID of any codec (the parser is `tessera_types::cid`,
/// tested there); the error names the CID and says what is wrong with it.
#[test]
fn manifest_cids_of_any_codec_pass_and_others_say_why() {
    for text in [
        "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
        "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",
        "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG",
    ] {
        assert_eq!(check_cid(text), Ok(()), "{text}");
    }
    let err = check_cid("bafkqabduonzcc").unwrap_err();
    assert_eq!(
        err,
        StateError::InvalidCid {
            cid: "bafkqabduonzcc".into(),
            reason: tessera_types::cid::CidReason::NotSha256 { code: 0, len: 4 },
        }
    );
    assert!(err.to_string().contains("not sha2-256"), "{err}");
}

#[test]
fn register_records_model_version_shares_and_ids() {
    let base = setup();
    let mut st = Overlay::new(&base);
    let first = register_one(&mut st, 1_000);
    assert_eq!(first, ModelId(1));
    let second = register(&mut st, 6, &ALICE, &spec("other", 7)).unwrap();
    assert!(matches!(
        second[0],
        Event::ModelRegistered {
            model: ModelId(2),
            ..
        }
    ));
    let record = model(&st, first).unwrap().unwrap();
    assert_eq!((record.creator, record.version_count), (CREATOR, 1));
    assert_eq!(model_id_by_name(&st, "tiny-bert").unwrap(), Some(first));
    let v0 = version(&st, first, 0).unwrap().unwrap();
    assert_eq!((v0.manifest_cid, v0.height), (cid(0), 5));
    assert_eq!(holding(&st, first, &CREATOR).unwrap().shares, shares(1_000));
    assert_eq!(pool(&st, first).unwrap(), RoyaltyPool::default());
}

#[test]
fn duplicate_name_is_rejected() {
    let base = setup();
    let mut st = Overlay::new(&base);
    let id = register_one(&mut st, 10);
    let err = register(&mut st, 6, &ALICE, &spec("tiny-bert", 10)).unwrap_err();
    assert_eq!(
        err,
        StateError::ModelNameTaken {
            name: "tiny-bert".into(),
            model: id
        }
    );
}

#[test]
fn split_must_sum_to_ten_thousand() {
    let base = setup();
    let mut st = Overlay::new(&base);
    for (owners, total) in [(2_999, 9_999), (3_001, 10_001)] {
        let mut bad = spec("m", 10);
        bad.split.owners_bps = Bps::new(owners);
        let err = register(&mut st, 1, &CREATOR, &bad).unwrap_err();
        assert_eq!(err, StateError::InvalidSplit { total_bps: total });
    }
    assert!(model(&st, ModelId(1)).unwrap().is_none());
}

#[test]
fn zero_and_too_many_shares_are_rejected() {
    let base = setup();
    let mut st = Overlay::new(&base);
    for total in [0, MAX_TOTAL_SHARES.get() + 1] {
        let err = register(&mut st, 1, &CREATOR, &spec("m", total)).unwrap_err();
        assert_eq!(
            err,
            StateError::InvalidTotalShares {
                total: shares(total),
                max: MAX_TOTAL_SHARES
            }
        );
    }
    register(&mut st, 1, &CREATOR, &spec("m", MAX_TOTAL_SHARES.get())).unwrap();
}

#[test]
fn bad_names_tags_and_cids_are_rejected() {
    let long_name = "x".repeat(65);
    for name in ["", "Tiny", "tiny bert", "tiny_bert", long_name.as_str()] {
        assert!(matches!(
            check_spec(&spec(name, 1)),
            Err(StateError::InvalidModelName { .. })
        ));
    }
    assert_eq!(check_spec(&spec(&"x".repeat(64), 1)), Ok(()));
    let mut bad = spec("m", 1);
    bad.manifest_cid = "not-a-cid".into();
    assert!(matches!(
        check_spec(&bad),
        Err(StateError::InvalidCid { .. })
    ));
    for (runtime, license) in [
        ("", "MIT"),
        ("Candle", "MIT"),
        ("candle", ""),
        ("candle", " MIT"),
    ] {
        let mut bad = spec("m", 1);
        bad.runtime = runtime.into();
        bad.license = license.into();
        assert!(matches!(
            check_spec(&bad),
            Err(StateError::InvalidModelField { .. })
        ));
    }
    assert!(check_note("line\nbreak").is_err());
    assert!(check_note(&"n".repeat(257)).is_err());
    assert_eq!(check_note(""), Ok(()));
}

#[test]
fn data_links_rules() {
    let link = |byte, bps| DataLink {
        provider: Address([byte; 32]),
        weight_bps: Bps::new(bps),
    };
    let split = spec("m", 1).split;
    let cases: [(Vec<DataLink>, bool); 6] = [
        (vec![link(1, 5_000), link(2, 5_000)], true),
        (vec![link(1, 5_000), link(2, 4_999)], false),
        (vec![link(1, 5_000), link(1, 5_000)], false),
        (vec![link(1, 10_000), link(2, 0)], false),
        ((0..17).map(|i| link(i, 1)).collect(), false),
        (vec![], false), // data_bps is 500 but nobody receives it
    ];
    for (links, ok) in cases {
        assert_eq!(check_data_links(&split, &links).is_ok(), ok, "{links:?}");
    }
    let no_data = RevenueSplit {
        data_bps: Bps::ZERO,
        compute_bps: Bps::new(6_500),
        ..split
    };
    assert_eq!(check_data_links(&no_data, &[]), Ok(()));
}

#[test]
fn only_the_creator_adds_versions_in_order() {
    let base = setup();
    let mut st = Overlay::new(&base);
    let id = register_one(&mut st, 10);
    let err = add_version(&mut st, 7, &ALICE, id, &cid(1), "").unwrap_err();
    assert_eq!(
        err,
        StateError::NotModelCreator {
            model: id,
            creator: CREATOR
        }
    );
    let events = add_version(&mut st, 7, &CREATOR, id, &cid(1), "int8").unwrap();
    assert_eq!(
        events,
        vec![Event::ModelVersionAdded {
            model: id,
            version: 1,
            manifest_cid: cid(1)
        }]
    );
    let v1 = version(&st, id, 1).unwrap().unwrap();
    assert_eq!((v1.note.as_str(), v1.height), ("int8", 7));
    assert_eq!(model(&st, id).unwrap().unwrap().spec.manifest_cid, cid(1));
    assert!(matches!(
        add_version(&mut st, 8, &CREATOR, id, &cid(1), ""),
        Err(StateError::SameManifest { .. })
    ));
    assert!(matches!(
        add_version(&mut st, 8, &CREATOR, ModelId(99), &cid(2), ""),
        Err(StateError::UnknownModel { .. })
    ));
}

#[test]
fn versions_are_limited() {
    let base = setup();
    let mut st = Overlay::new(&base);
    let id = register_one(&mut st, 10);
    for seed in 1..MAX_VERSIONS {
        add_version(&mut st, 8, &CREATOR, id, &cid(seed as u8), "").unwrap();
    }
    let last = model(&st, id).unwrap().unwrap();
    assert_eq!(usize::from(last.version_count), MAX_VERSIONS);
    let err = add_version(&mut st, 9, &CREATOR, id, &cid(0), "").unwrap_err();
    assert_eq!(
        err,
        StateError::TooManyVersions {
            model: id,
            max: MAX_VERSIONS
        }
    );
}

#[test]
fn transfer_checks_balance_zero_self_and_model() {
    let base = setup();
    let mut st = Overlay::new(&base);
    let id = register_one(&mut st, 10);
    let err = transfer_shares(&mut st, id, &CREATOR, &ALICE, shares(11)).unwrap_err();
    assert_eq!(
        err,
        StateError::InsufficientShares {
            model: id,
            requested: shares(11),
            available: shares(10)
        }
    );
    let zero = transfer_shares(&mut st, id, &CREATOR, &ALICE, Shares::ZERO);
    assert_eq!(zero.unwrap_err(), StateError::ZeroAmount);
    let to_self = transfer_shares(&mut st, id, &CREATOR, &CREATOR, shares(1));
    assert_eq!(to_self.unwrap_err(), StateError::SelfTransfer);
    let unknown = transfer_shares(&mut st, ModelId(9), &CREATOR, &ALICE, shares(1));
    assert_eq!(
        unknown.unwrap_err(),
        StateError::UnknownModel { model: ModelId(9) }
    );
    transfer_shares(&mut st, id, &CREATOR, &ALICE, shares(10)).unwrap();
    assert!(holding(&st, id, &CREATOR).unwrap().is_empty());
    assert!(
        st.get(&holder_key(id, &CREATOR)).is_none(),
        "empty holdings are deleted"
    );
    assert_eq!(holding(&st, id, &ALICE).unwrap().shares, shares(10));
}

#[test]
fn credit_splits_pro_rata_and_carries_the_remainder() {
    let base = setup();
    let mut st = Overlay::new(&base);
    let id = register_one(&mut st, 3);
    transfer_shares(&mut st, id, &CREATOR, &ALICE, shares(2)).unwrap();
    credit_revenue(&mut st, id, &PAYER, amt(10))
        .unwrap()
        .unwrap();
    let p = pool(&st, id).unwrap();
    // 10 × 10^18 = 3 × 3_333_333_333_333_333_333 + 1
    assert_eq!(p.acc_sub_per_share, 3_333_333_333_333_333_333);
    assert_eq!(p.undistributed_sub, 1);
    let creator = accrued(&st, id, &CREATOR).unwrap();
    let alice = accrued(&st, id, &ALICE).unwrap();
    assert_eq!((creator.claimable, alice.claimable), (amt(3), amt(6)));
    assert_eq!(
        creator.dust_sub + alice.dust_sub + p.undistributed_sub,
        SCALE
    );
    // The next credit adds the carried remainder back before dividing.
    credit_revenue(&mut st, id, &PAYER, amt(2)).unwrap();
    let p = pool(&st, id).unwrap();
    assert_eq!(p.acc_sub_per_share, 4 * SCALE);
    assert_eq!(p.undistributed_sub, 0);
    assert_eq!(accrued(&st, id, &ALICE).unwrap().claimable, amt(8));
    assert_eq!(accrued(&st, id, &CREATOR).unwrap().claimable, amt(4));
}

#[test]
fn transfer_settles_both_sides_before_moving_shares() {
    let base = setup();
    let mut st = Overlay::new(&base);
    let id = register_one(&mut st, 4);
    credit_revenue(&mut st, id, &PAYER, amt(400)).unwrap();
    transfer_shares(&mut st, id, &CREATOR, &ALICE, shares(3)).unwrap();
    credit_revenue(&mut st, id, &PAYER, amt(400)).unwrap();
    // Creator: all 400 of the first credit, a quarter of the second.
    assert_eq!(holding(&st, id, &CREATOR).unwrap().claimable, amt(400));
    assert_eq!(accrued(&st, id, &CREATOR).unwrap().claimable, amt(500));
    assert_eq!(accrued(&st, id, &ALICE).unwrap().claimable, amt(300));
    claim_royalties(&mut st, id, &ALICE).unwrap();
    assert_eq!(bank::account(&st, &ALICE).unwrap().balance, amt(300));
    let p = pool(&st, id).unwrap();
    assert_eq!((p.credited, p.paid), (amt(800), amt(300)));
    assert_eq!(bank::account(&st, &escrow()).unwrap().balance, amt(500));
}

#[test]
fn claim_with_nothing_to_claim_fails() {
    let base = setup();
    let mut st = Overlay::new(&base);
    let id = register_one(&mut st, 3);
    let err = claim_royalties(&mut st, id, &CREATOR).unwrap_err();
    assert_eq!(err, StateError::NothingToClaim { model: id });
    assert_eq!(
        claim_royalties(&mut st, id, &ALICE).unwrap_err(),
        StateError::NothingToClaim { model: id }
    );
    // Under one base unit per share accrued: still nothing to claim, dust kept.
    transfer_shares(&mut st, id, &CREATOR, &ALICE, shares(1)).unwrap();
    credit_revenue(&mut st, id, &PAYER, amt(2)).unwrap();
    assert_eq!(
        claim_royalties(&mut st, id, &ALICE).unwrap_err(),
        StateError::NothingToClaim { model: id }
    );
    let events = claim_royalties(&mut st, id, &CREATOR).unwrap();
    assert_eq!(
        events,
        vec![Event::RoyaltiesClaimed {
            model: id,
            holder: CREATOR,
            amount: amt(1)
        }]
    );
    assert_eq!(
        claim_royalties(&mut st, id, &CREATOR).unwrap_err(),
        StateError::NothingToClaim { model: id }
    );
}

#[test]
fn credit_hook_contract() {
    let base = setup();
    let mut st = Overlay::new(&base);
    let id = register_one(&mut st, 3);
    assert_eq!(credit_revenue(&mut st, id, &PAYER, Amount::ZERO), Ok(None));
    let before = st.get(&pool_key(id));
    let broke = credit_revenue(&mut st, id, &ALICE, amt(5)).unwrap_err();
    assert_eq!(
        broke,
        StateError::InsufficientFunds {
            needed: amt(5),
            available: Amount::ZERO
        }
    );
    assert_eq!(
        st.get(&pool_key(id)),
        before,
        "a failed credit changes nothing"
    );
    let unknown = credit_revenue(&mut st, ModelId(7), &PAYER, amt(5)).unwrap_err();
    assert_eq!(unknown, StateError::UnknownModel { model: ModelId(7) });
    let from_escrow = credit_revenue(&mut st, id, &escrow(), amt(5)).unwrap_err();
    assert_eq!(from_escrow, StateError::SelfTransfer);
    let event = credit_revenue(&mut st, id, &PAYER, amt(5)).unwrap();
    assert_eq!(
        event,
        Some(Event::RoyaltiesCredited {
            model: id,
            payer: PAYER,
            amount: amt(5)
        })
    );
    assert_eq!(bank::account(&st, &PAYER).unwrap().balance, amt(999_995));
    assert_eq!(bank::account(&st, &escrow()).unwrap().balance, amt(5));
    assert_eq!(bank::supply(&st).unwrap().total().unwrap(), amt(1_000_000));
}

#[test]
fn accumulator_bounds_are_typed_errors() {
    let id = ModelId(1);
    let huge = Amount::from_base(u128::MAX / SCALE + 1);
    let err = accrue(&RoyaltyPool::default(), id, shares(1), huge).unwrap_err();
    assert!(matches!(err, StateError::RoyaltyOverflow { .. }), "{err}");
    let near_full = RoyaltyPool {
        acc_sub_per_share: u128::MAX - SCALE + 1,
        ..RoyaltyPool::default()
    };
    let err = accrue(&near_full, id, shares(1), amt(1)).unwrap_err();
    assert!(matches!(err, StateError::RoyaltyOverflow { .. }), "{err}");
    let holding = Holding {
        shares: MAX_TOTAL_SHARES,
        ..Holding::default()
    };
    let err = settle(&holding, id, u128::MAX / 2).unwrap_err();
    assert!(matches!(err, StateError::RoyaltyOverflow { .. }), "{err}");
    let ahead = Holding {
        debt_sub_per_share: 5,
        ..Holding::default()
    };
    assert!(matches!(
        settle(&ahead, id, 4),
        Err(StateError::Corrupt { .. })
    ));
    // The largest realistic credit: the whole supply cap to one share.
    let cap = Amount::from_base(10u128.pow(18));
    assert!(accrue(&RoyaltyPool::default(), id, shares(1), cap).is_ok());
}

#[test]
fn keys_fit_the_store_and_do_not_overlap() {
    let id = ModelId(u64::MAX);
    let keys = [
        model_key(id),
        name_key(&"x".repeat(64)),
        version_key(id, u16::MAX),
        pool_key(id),
        holder_key(id, &Address([0xff; 32])),
    ];
    for k in &keys {
        assert!(k.len() <= 128, "{}", String::from_utf8_lossy(k));
        assert!(k.starts_with(b"model/"));
    }
    let prefixes = [
        MODEL_PREFIX,
        NAME_PREFIX,
        VERSION_PREFIX,
        royalties::POOL_PREFIX,
        royalties::HOLDER_PREFIX,
    ];
    for (i, a) in prefixes.iter().enumerate() {
        for b in prefixes.iter().skip(i + 1) {
            assert!(!a.starts_with(b) && !b.starts_with(a));
        }
    }
}

#[test]
fn records_round_trip() {
    let record = Model {
        creator: CREATOR,
        spec: spec("tiny-bert", 10),
        registered_height: 3,
        version_count: 2,
    };
    let bytes = record.encode();
    assert_eq!(bytes.len(), record.encode_size());
    assert_eq!(Model::decode_cfg(bytes, &()).unwrap(), record);
    let holding = Holding {
        shares: shares(3),
        debt_sub_per_share: 7,
        dust_sub: 9,
        claimable: amt(11),
    };
    assert_eq!(Holding::decode_cfg(holding.encode(), &()).unwrap(), holding);
    let json = serde_json::to_string(&holding).unwrap();
    assert!(json.contains("\"dust_sub\":\"9\""), "{json}");
    assert_eq!(serde_json::from_str::<Holding>(&json).unwrap(), holding);
}
