//! Unit and property tests of the subnets' smaller modules (`fixed`, `delegation`,
//! `uids`, `weights` in `crates/state/src/subnets/`), checking the invariants written at
//! the top of each.
#![cfg(test)]
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

/// The 64.64 fraction type and exact `mul_div`.
mod fixed {
    use fixed::types::U64F64;
    use tessera_state::subnets::fixed::{mul_div, Frac};

    #[test]
    fn mul_div_is_exact_where_the_product_passes_u128() {
        assert_eq!(mul_div(u128::MAX, u128::MAX, u128::MAX), Some(u128::MAX));
        assert_eq!(mul_div(u128::MAX, 3, 4), Some(u128::MAX / 4 * 3 + 2));
        assert_eq!(mul_div(7, 5, 3), Some(11));
        assert_eq!(mul_div(1, 1, 0), Some(0));
        assert_eq!(mul_div(u128::MAX, 2, 1), None);
    }

    #[test]
    fn ratios_of_parts_sum_to_at_most_one() {
        for parts in [
            vec![1u128, 1, 1],
            vec![u128::MAX / 4, u128::MAX / 4, 7],
            vec![3, 5, 0, 11],
        ] {
            let whole: u128 = parts.iter().sum();
            let fracs: Vec<Frac> = parts
                .iter()
                .map(|p| Frac::ratio(*p, whole).unwrap())
                .collect();
            let sum = Frac::sum(&fracs).unwrap();
            assert!(sum <= Frac::ONE, "{sum}");
            let ulp_short = Frac::ONE.0.to_bits() - sum.0.to_bits();
            let per_part = if whole >> 63 > 0 { 5 } else { 1 };
            assert!(ulp_short <= per_part * parts.len() as u128, "{ulp_short}");
        }
        assert_eq!(Frac::ratio(1, 0), None);
    }

    #[test]
    fn amounts_scale_down_exactly() {
        let half = Frac::of_parts(1, 2).unwrap();
        assert_eq!(half.of_amount(u128::MAX), Some(u128::MAX / 2));
        assert_eq!(Frac::ONE.of_amount(u128::MAX), Some(u128::MAX));
        assert_eq!(Frac::ZERO.of_amount(12345), Some(0));
        assert_eq!(Frac::of_parts(1, 3).unwrap().of_amount(3_000), Some(999));
        assert_eq!(
            "0.25".parse::<Frac>().unwrap(),
            Frac::of_parts(1, 4).unwrap()
        );
        assert!("-1".parse::<Frac>().is_err());
    }

    /// The decimal text of a fraction parses back to the same bits (JSON is exact).
    #[test]
    fn text_round_trips() {
        let mut bits: u128 = 0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834;
        for _ in 0..10_000 {
            bits = bits.wrapping_mul(0x2545_f491_4f6c_dd1d).wrapping_add(1) >> 60;
            let f = Frac(U64F64::from_bits(bits));
            assert_eq!(f.to_string().parse::<Frac>().unwrap(), f, "{bits}");
            let json = serde_json::to_string(&f).unwrap();
            assert_eq!(serde_json::from_str::<Frac>(&json).unwrap(), f);
        }
    }
}

/// A validator's emission shared with its delegators; the take's rules.
mod delegation {
    use proptest::prelude::*;
    use tessera_state::subnets::delegation::*;
    use tessera_state::subnets::fixed::mul_div;

    #[test]
    fn a_worked_share() {
        // 1,000 at 10% take: 100 taken; 900 by stake 50 / 30 / 20.
        let s = share(1_000, 1_000, 50, &[30, 20]).unwrap();
        assert_eq!(
            s,
            Shared {
                validator: 550,
                delegators: vec![270, 180]
            }
        );
        // Dust to the validator: 100 by 1/3 each.
        let s = share(100, 0, 1, &[1, 1]).unwrap();
        assert_eq!(
            s,
            Shared {
                validator: 34,
                delegators: vec![33, 33]
            }
        );
        assert_eq!(
            share(1, 1_801, 1, &[]),
            Err(DelegationError::TakeTooHigh(1_801))
        );
        // Exact even near the u128 limit.
        let big = u128::MAX / 3;
        let s = share(u128::MAX, 0, big, &[big, big]).unwrap();
        assert_eq!(s.delegators, vec![u128::MAX / 3; 2]);
    }

    #[test]
    fn take_raises_wait_and_cuts_do_not() {
        assert_eq!(check_take_change(1_000, 500, 100, 101, 1_000), Ok(()));
        assert_eq!(
            check_take_change(500, 600, 100, 1_099, 1_000),
            Err(DelegationError::TakeRaiseTooSoon {
                allowed_from: 1_100
            })
        );
        assert_eq!(check_take_change(500, 600, 100, 1_100, 1_000), Ok(()));
        assert_eq!(
            check_take_change(500, 1_801, 0, 10_000, 1),
            Err(DelegationError::TakeTooHigh(1_801))
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn shares_are_exact_and_fair(
            emission in prop_oneof![0u128..1_000_000_000_000, Just(u128::MAX)],
            take in 0u16..=MAX_TAKE_BPS,
            own in prop_oneof![0u128..1_000_000, (u128::MAX / 16)..(u128::MAX / 8)],
            delegations in prop::collection::vec(prop_oneof![0u128..1_000_000, (u128::MAX / 16)..(u128::MAX / 8)], 0..6),
        ) {
            let s = share(emission, take, own, &delegations).unwrap();
            let paid: u128 = s.delegators.iter().sum();
            prop_assert_eq!(paid.checked_add(s.validator), Some(emission));
            prop_assert!(s.validator >= emission / 10_000 * u128::from(take));
            let dust = s.validator - mul_div(emission, u128::from(take), 10_000).unwrap()
                - mul_div(emission - mul_div(emission, u128::from(take), 10_000).unwrap(), own, own + delegations.iter().sum::<u128>()).unwrap_or(0);
            prop_assert!(dust <= delegations.len() as u128 + 1, "dust {}", dust);
        }
    }
}

/// A subnet's UID table: free slots, immunity, who is replaced.
mod uids {
    use proptest::prelude::*;
    use tessera_state::subnets::uids::*;
    use tessera_types::Address;

    fn key(i: u8) -> Address {
        Address([i; 32])
    }

    #[test]
    fn the_lowest_scoring_uid_out_of_immunity_is_replaced() {
        let mut u = Uids::default();
        for i in 0..3 {
            assert_eq!(
                u.register(key(i), 10 * u64::from(i), 3, 100).unwrap().uid,
                u16::from(i)
            );
        }
        u.set_scores([5, 1, 1]);
        // At block 105 only UID 0 (registered at 0) is out of immunity.
        assert_eq!(u.next_to_replace(105, 3, 100).unwrap().uid, 0);
        // At 200 all are: UIDs 1 and 2 tie on score, the older (UID 1) goes.
        let next = u.next_to_replace(200, 3, 100).unwrap();
        assert_eq!((next.uid, next.key), (1, key(1)));
        let r = u.register(key(9), 200, 3, 100).unwrap();
        assert_eq!((r.uid, r.replaced), (1, Some(next)));
        assert_eq!(u.slots[1].score, 0);
        assert_eq!(
            u.register(key(9), 201, 3, 100),
            Err(UidError::AlreadyRegistered {
                key: key(9),
                uid: 1
            })
        );
        // Everyone immune right after: refused, with the block it opens.
        let mut fresh = Uids::default();
        fresh.register(key(1), 50, 1, 100).unwrap();
        assert_eq!(
            fresh.register(key(2), 60, 1, 100),
            Err(UidError::AllImmune {
                max_uids: 1,
                free_at: 150
            })
        );
        assert_eq!(
            Uids::default().register(key(1), 0, 0, 0),
            Err(UidError::Closed)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn uids_stay_dense_unique_and_replacements_are_fair(
            ops in prop::collection::vec((0u8..40, 0u64..50, prop::collection::vec(0u128..5, 0..8)), 1..80),
            max_uids in 0u16..8,
            immunity in 0u64..200,
        ) {
            let mut u = Uids::default();
            let mut block = 0u64;
            for (k, dt, scores) in ops {
                block += dt;
                u.set_scores(scores);
                let before = u.clone();
                let predicted = u.next_to_replace(block, max_uids, immunity);
                match u.register(key(k), block, max_uids, immunity) {
                    Ok(r) => {
                        prop_assert_eq!(&r.replaced, &predicted);
                        if before.slots.len() < usize::from(max_uids) {
                            prop_assert!(r.replaced.is_none());
                        }
                        if let Some(rep) = &r.replaced {
                            let eligible = before.slots.iter().filter(|s| block - s.registered_at >= immunity);
                            prop_assert!(block - rep.registered_at >= immunity);
                            prop_assert!(eligible.clone().all(|s| s.score >= rep.score));
                        }
                        prop_assert_eq!(u.slots[usize::from(r.uid)].key, key(k));
                    }
                    Err(_) => prop_assert_eq!(&u, &before),
                }
                prop_assert!(u.slots.len() <= usize::from(max_uids));
                let mut keys: Vec<_> = u.slots.iter().map(|s| s.key).collect();
                keys.sort_by_key(|a| a.0);
                keys.dedup();
                prop_assert_eq!(keys.len(), u.slots.len());
            }
        }
    }
}

/// Weights with commit-reveal.
mod weights {
    use proptest::prelude::*;
    use tessera_state::subnets::weights::*;
    use tessera_types::Address;

    const V: Address = Address([7; 32]);

    #[test]
    fn reveal_in_the_next_tempo_exactly_what_was_committed() {
        let mut w = Weights::default();
        let weights = [(3, 100), (1, 50)];
        let salt = [9; 32];
        w.commit(commit_hash(&V, 1, &weights, &salt), 10).unwrap();
        assert_eq!(
            w.commit(commit_hash(&V, 1, &weights, &[8; 32]), 10),
            Err(WeightsError::AlreadyCommitted(10))
        );
        // Too early, wrong salt, wrong subnet, another validator: refused.
        assert_eq!(
            w.reveal(&V, 1, &weights, &salt, 10, 5),
            Err(WeightsError::TooEarly { committed: 10 })
        );
        assert_eq!(
            w.reveal(&V, 1, &weights, &[8; 32], 11, 5),
            Err(WeightsError::NoMatchingCommit)
        );
        assert_eq!(
            w.reveal(&V, 2, &weights, &salt, 11, 5),
            Err(WeightsError::NoMatchingCommit)
        );
        assert_eq!(
            w.reveal(&Address([1; 32]), 1, &weights, &salt, 11, 5),
            Err(WeightsError::NoMatchingCommit)
        );
        assert_eq!(
            w.reveal(&V, 1, &weights, &salt, 11, 3),
            Err(WeightsError::NoSuchUid { uid: 3, n: 3 })
        );
        w.reveal(&V, 1, &weights, &salt, 11, 5).unwrap();
        assert_eq!(w.revealed, vec![(1, 50), (3, 100)]);
        assert!(w.pending.is_empty());
        // A commit not revealed in its window expires; the old weights stay.
        w.commit(commit_hash(&V, 1, &[(0, 1)], &salt), 12).unwrap();
        assert_eq!(
            w.reveal(&V, 1, &[(0, 1)], &salt, 14, 5),
            Err(WeightsError::NoMatchingCommit)
        );
        assert_eq!(w.revealed, vec![(1, 50), (3, 100)]);
        let dup = [(1, 1), (1, 2)];
        w.commit(commit_hash(&V, 1, &dup, &salt), 20).unwrap();
        assert_eq!(
            w.reveal(&V, 1, &dup, &salt, 21, 5),
            Err(WeightsError::Duplicate(1))
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn only_exact_timely_reveals_change_the_weights(
            ops in prop::collection::vec((any::<bool>(), 0u8..3, 0u8..3, 0u64..3), 1..60),
        ) {
            let sets: [Vec<(u16, u16)>; 3] = [vec![(0, 1)], vec![(1, 5), (2, 5)], vec![(3, 9)]];
            let salts = [[1u8; 32], [2; 32], [3; 32]];
            let mut w = Weights::default();
            let mut tempo = 0u64;
            // What was committed per tempo, to know which reveal must succeed.
            let mut committed: std::collections::BTreeMap<u64, (usize, usize)> = Default::default();
            for (is_commit, set, salt, dt) in ops {
                tempo += dt;
                let (set, salt) = (usize::from(set), usize::from(salt));
                let before = w.clone();
                if is_commit {
                    let r = w.commit(commit_hash(&V, 1, &sets[set], &salts[salt]), tempo);
                    if r.is_ok() {
                        committed.insert(tempo, (set, salt));
                    }
                } else {
                    let r = w.reveal(&V, 1, &sets[set], &salts[salt], tempo, 8);
                    let valid = tempo > 0
                        && committed.get(&(tempo - 1)) == Some(&(set, salt))
                        && before.pending.iter().any(|c| c.tempo + 1 == tempo);
                    prop_assert_eq!(r.is_ok(), valid, "tempo {} set {} salt {}", tempo, set, salt);
                    if r.is_ok() {
                        prop_assert_eq!(&w.revealed, &sets[set]);
                    } else {
                        prop_assert_eq!(&w.revealed, &before.revealed);
                    }
                }
                prop_assert!(w.pending.len() <= MAX_PENDING_COMMITS);
                prop_assert!(w.pending.iter().all(|c| c.tempo + 1 >= tempo));
            }
        }
    }
}
