//! Joining a subnet from a client: create it unless it exists, take a UID unless the key
//! holds one, and stake a validator on itself. Each step is skipped when already done,
//! so a setup that was interrupted (or a devnet restarted) finishes where it stopped.

use std::time::Duration;
use tessera_rpc::{RpcClient, RpcError};
use tessera_state::subnets::metagraph::Metagraph;
use tessera_types::{
    subnet::{Role, SubnetId, SubnetParams},
    tx::ModelId,
    Address, Amount, Call, Keypair,
};

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Rpc(#[from] RpcError),
    #[error("{0} holds no UID in any subnet: it must register as a validator first")]
    NoSubnet(Address),
    #[error("{0} holds UIDs in several subnets: choose one with --subnet")]
    SeveralSubnets(Address),
}

/// The subnet a delegation to `validator` goes to: the one `named`, or else the only one
/// where the validator holds a UID.
pub async fn delegation_subnet(
    client: &RpcClient,
    named: Option<&str>,
    validator: &Address,
) -> Result<SubnetId, SetupError> {
    if let Some(name) = named {
        return Ok(client.subnet(name).await?.id);
    }
    let mut found = Vec::new();
    for s in client.subnets().await? {
        let graph = client.subnet(&s.id.to_string()).await?;
        if graph.rows.iter().any(|r| r.key == *validator) {
            found.push(s.id);
        }
    }
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(SetupError::NoSubnet(*validator)),
        _ => Err(SetupError::SeveralSubnets(*validator)),
    }
}

/// How long one setup transaction may take to commit.
const COMMIT_WAIT: Duration = Duration::from_secs(60);

/// The subnet `name`, created by `owner` for `model` with `params` if it does not exist.
pub async fn ensure_subnet(
    client: &RpcClient,
    owner: &Keypair,
    name: &str,
    model: Option<ModelId>,
    params: SubnetParams,
) -> Result<Metagraph, RpcError> {
    if let Ok(graph) = client.subnet(name).await {
        return Ok(graph);
    }
    let call = Call::CreateSubnet {
        name: name.to_string(),
        model,
        params,
    };
    client.submit_and_confirm(owner, call, COMMIT_WAIT).await?;
    client.subnet(name).await
}

/// `key` holds a UID of `role` in `graph`'s subnet; a validator also has `self_stake`
/// delegated to itself when it takes the UID here.
pub async fn ensure_member(
    client: &RpcClient,
    graph: &Metagraph,
    key: &Keypair,
    role: Role,
    self_stake: Amount,
) -> Result<(), RpcError> {
    let address = key.address();
    if graph.rows.iter().any(|r| r.key == address) {
        return Ok(());
    }
    let register = Call::RegisterUid {
        subnet: graph.id,
        role,
    };
    client
        .submit_and_confirm(key, register, COMMIT_WAIT)
        .await?;
    if role == Role::Validator && !self_stake.is_zero() {
        let stake = Call::Delegate {
            subnet: graph.id,
            validator: address,
            amount: self_stake,
        };
        client.submit_and_confirm(key, stake, COMMIT_WAIT).await?;
    }
    Ok(())
}
