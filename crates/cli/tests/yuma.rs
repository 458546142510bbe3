//! `tessera yuma --input FILE` on the documented example, and on bad files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use serde_json::Value;
use std::process::Command;

fn tessera(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .output()
        .unwrap()
}

fn example() -> String {
    format!(
        "{}/../../docs/examples/yuma-epoch.json",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn amount(v: &Value) -> u128 {
    v.as_str().unwrap().parse().unwrap()
}

/// The example in `docs/subnets.md`: every UID reported, emission conserved, the fresh
/// miner (UID 4, registered after the last epoch) has no bonds pointing at it, and the
/// miner both validators back earns more than the one only the larger backs.
#[test]
fn the_documented_example_runs() {
    let out = tessera(&["yuma", "--input", &example()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let neurons = v["neurons"].as_array().unwrap();
    assert_eq!(neurons.len(), 5);
    let paid: u128 = neurons
        .iter()
        .map(|n| amount(&n["miner_emission"]) + amount(&n["validator_emission"]))
        .sum();
    assert_eq!(paid + amount(&v["owner_emission"]), 360_000_000_000);
    assert!(amount(&neurons[2]["miner_emission"]) > amount(&neurons[3]["miner_emission"]));
    assert!(neurons
        .iter()
        .all(|n| n["bonds"].as_array().unwrap().iter().all(|b| b[0] != 4)));
    assert_eq!(neurons[0]["validator_trust"], "1");
}

#[test]
fn bad_inputs_say_what_is_wrong() {
    let dir = std::env::temp_dir().join(format!("tessera-yuma-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = [
        ("{\"block\": 1", "is not an epoch input"),
        (
            "{\"block\":1,\"emission\":\"5\",\"neurons\":[{\"stake\":\"1\",\"weights\":[[3,1]]}]}",
            "names UID 3, but the subnet has 1 UIDs",
        ),
        (
            "{\"block\":1,\"emission\":\"5\",\"params\":{\"kappa_bps\":20000},\"neurons\":[]}",
            "kappa_bps is above 100%",
        ),
    ];
    for (i, (text, expected)) in cases.iter().enumerate() {
        let path = dir.join(format!("{i}.json"));
        std::fs::write(&path, text).unwrap();
        let out = tessera(&["yuma", "--input", path.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(expected),
            "{stderr}"
        );
    }
    let out = tessera(&["yuma", "--input", "/nonexistent/epoch.json"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot open"));
    let _ = std::fs::remove_dir_all(&dir);
}
