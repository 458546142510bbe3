//! Block execution: admission checks, fee and nonce, the call, then emission.
//!
//! Signatures are checked by the caller before execution (in batches, on all cores);
//! everything here assumes the signer really signed.
//!
//! # Stages per transaction
//! 1. admission ([`Executor::check`]): first the stateless checks of the call
//!    ([`check_stateless`]: sizes, characters, addresses, evidence signatures), then
//!    against state: chain id, exact next nonce, fee ≤ max_fee, fee ≤ balance. A failure
//!    *rejects* the transaction: it changes nothing and a block that contains it is
//!    invalid (the mempool runs the same checks, so proposers never include one).
//! 2. the fee is charged and the nonce bumped, in the block's overlay.
//! 3. the call runs in a child overlay; on error the child is dropped and the receipt
//!    says `failed` with the error's stable code and numeric arguments (never its text),
//!    so a failed call costs exactly fee and nonce.
//! 4. after the last transaction, [`Executor::finish`] mints the block reward, accrues
//!    the subnets' emission and runs the epochs that are due (`subnets::tempo`), decides
//!    the fraud disputes whose window ends (`verify`), records
//!    the block's view for liveness and, at an epoch's end, jails absent validators and
//!    chooses the next set (`staking::epochs`).
//!
//! # Invariants
//! * a rejected transaction leaves the executor's state unchanged.
//! * the writes of a block are sorted by key and deterministic for a given
//!   (state, context, transactions).

use crate::{
    bank, channels, error::checked, genesis::CHAIN_ID_KEY, kv::Overlay, kv::Write, models,
    providers, staking, subnets, verify, Params, StateError, StateView,
};
use tessera_types::{
    call::CallReceipt, Address, Amount, BlockReceipts, Call, ChainId, Event, Receipt,
    SignedTransaction, TxStatus,
};

/// What a block is executed in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockContext {
    pub chain_id: ChainId,
    pub height: u64,
    /// The consensus view the block was proposed in (see `BlockHeader::view`).
    pub view: u64,
    pub proposer: Address,
}

/// A block's result: the state writes (sorted) and the receipts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockOutcome {
    pub writes: Vec<Write>,
    pub receipts: BlockReceipts,
}

/// Executes the transactions of one block over a base state.
pub struct Executor<'a> {
    state: Overlay<'a>,
    ctx: BlockContext,
    params: Params,
    receipts: Vec<Receipt>,
}

/// What admission found: the fee the transaction will pay and the spend of its call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Admission {
    pub fee: Amount,
    pub next_nonce: u64,
}

impl<'a> Executor<'a> {
    pub fn new(base: &'a dyn StateView, ctx: BlockContext) -> Result<Executor<'a>, StateError> {
        let state = Overlay::new(base);
        let params = Params::load(&state)?;
        let stored = state
            .get(CHAIN_ID_KEY)
            .ok_or(StateError::Missing("chain id"))?;
        if stored != ctx.chain_id.as_str().as_bytes() {
            return Err(StateError::WrongChain {
                expected: ChainId::new(&String::from_utf8_lossy(&stored))
                    .map_err(|_| StateError::Missing("valid chain id"))?,
                got: ctx.chain_id,
            });
        }
        Ok(Executor {
            state,
            ctx,
            params,
            receipts: Vec::new(),
        })
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    pub fn context(&self) -> &BlockContext {
        &self.ctx
    }

    /// Read access to the state as executed so far.
    pub fn state(&self) -> &Overlay<'a> {
        &self.state
    }

    /// Stage 1: would `tx` be admitted now? (No change either way.)
    pub fn check(&self, tx: &SignedTransaction) -> Result<Admission, StateError> {
        admission(&self.state, &self.params, &self.ctx.chain_id, tx, false)
    }

    /// Apply `tx`. `Err` means rejected: nothing changed.
    pub fn apply(&mut self, tx: &SignedTransaction) -> Result<&Receipt, StateError> {
        let Admission { fee, .. } = self.check(tx)?;
        let signer = tx.sender();
        let mut events = vec![bank::charge_fee(
            &mut self.state,
            &self.params,
            &signer,
            fee,
        )?];
        let mut acct = bank::account(&self.state, &signer)?;
        acct.nonce = checked(acct.nonce.checked_add(1), "nonce")?;
        bank::set_account(&mut self.state, &signer, &acct);

        let outcome = {
            let mut child = Overlay::new(&self.state);
            dispatch(
                &mut child,
                &self.params,
                &self.ctx,
                &signer,
                tx.tx().nonce,
                &tx.tx().call,
            )
            .map(|events| (child.take_writes(), events))
        };
        let status = match outcome {
            Ok((writes, call_events)) => {
                self.state.absorb(writes);
                events.extend(call_events);
                TxStatus::Success
            }
            Err(e) => TxStatus::Failed(e.failure()),
        };
        self.receipts.push(Receipt {
            tx: tx.id(),
            status,
            fee,
            events,
        });
        self.receipts
            .last()
            .ok_or(StateError::Missing("receipt just pushed"))
    }

    /// End the block: mint the block reward to the proposer, choose the next epoch's
    /// validator set if this block closes an epoch, return writes and receipts.
    pub fn finish(mut self) -> Result<BlockOutcome, StateError> {
        let supply = bank::supply(&self.state)?;
        let reward = bank::block_reward(&self.params, self.ctx.height, &supply)?;
        let mut block_events = Vec::new();
        if !reward.is_zero() {
            bank::mint(&mut self.state, &self.ctx.proposer, reward)?;
            block_events.push(Event::Mint {
                to: self.ctx.proposer,
                amount: reward,
            });
        }
        block_events.extend(subnets::tempo::on_block(
            &mut self.state,
            &self.params,
            self.ctx.height,
        )?);
        block_events.extend(verify::on_block(
            &mut self.state,
            &self.params,
            self.ctx.height,
        )?);
        block_events.extend(staking::epochs::on_block(
            &mut self.state,
            &self.params,
            self.ctx.height,
            self.ctx.view,
        )?);
        Ok(BlockOutcome {
            writes: self.state.into_writes(),
            receipts: BlockReceipts {
                txs: self.receipts,
                block_events,
            },
        })
    }
}

/// The TSR a call takes from the signer's balance (beyond the fee).
pub fn call_spend(call: &Call) -> Amount {
    match call {
        Call::Transfer { amount, .. }
        | Call::Bond { amount }
        | Call::RegisterProvider { stake: amount, .. }
        | Call::UpdateProvider {
            add_stake: amount, ..
        }
        | Call::OpenChannel {
            deposit: amount, ..
        }
        | Call::TopUpChannel { amount, .. }
        | Call::Delegate { amount, .. }
        | Call::ReportFraud { bond: amount, .. }
        | Call::ReportOverclaim { bond: amount, .. } => *amount,
        Call::Unbond { .. }
        | Call::LeaveProvider { .. }
        | Call::ExtendChannel { .. }
        | Call::ClaimChannel { .. }
        | Call::RefundChannel { .. }
        | Call::Withdraw
        | Call::RegisterModel(_)
        | Call::AddModelVersion { .. }
        | Call::TransferShares { .. }
        | Call::ClaimRoyalties { .. }
        | Call::ReportDoubleSign(_)
        | Call::RegisterValidator { .. }
        | Call::Unjail
        | Call::CreateSubnet { .. }
        | Call::RegisterUid { .. }
        | Call::CommitWeights { .. }
        | Call::RevealWeights { .. }
        | Call::Undelegate { .. }
        | Call::SetTake { .. }
        | Call::VoteDispute { .. }
        | Call::AnswerOverclaim { .. }
        | Call::DissolveSubnet { .. } => Amount::ZERO,
    }
}

/// The checks of a call that need no state: sizes, characters, non-zero amounts,
/// addresses, evidence signatures. Run at admission, so a transaction that fails them
/// never reaches a block (and no failure text depends on them).
pub fn check_stateless(
    chain_id: &ChainId,
    signer: &Address,
    call: &Call,
) -> Result<(), StateError> {
    match call {
        Call::Transfer { amount, .. }
        | Call::Bond { amount }
        | Call::Unbond { amount }
        | Call::TopUpChannel { amount, .. } => non_zero(*amount),
        Call::RegisterProvider {
            stake,
            price,
            endpoint,
            ..
        } => {
            non_zero(*stake)?;
            providers::check_price_bounds(price)?;
            providers::check_endpoint(endpoint)
        }
        Call::UpdateProvider {
            price, endpoint, ..
        } => {
            providers::check_price_bounds(price)?;
            providers::check_endpoint(endpoint)
        }
        Call::OpenChannel {
            provider, deposit, ..
        } => {
            non_zero(*deposit)?;
            if provider == signer {
                return Err(StateError::SelfTransfer);
            }
            Ok(())
        }
        Call::ClaimChannel { lanes, .. } => channels::check_claim_lanes(lanes),
        Call::RegisterModel(spec) => models::check_spec(spec),
        Call::AddModelVersion {
            manifest_cid, note, ..
        } => {
            models::check_cid(manifest_cid)?;
            models::check_note(note)
        }
        Call::TransferShares { to, amount, .. } => {
            if amount.is_zero() {
                return Err(StateError::ZeroAmount);
            }
            if to == signer {
                return Err(StateError::SelfTransfer);
            }
            Ok(())
        }
        Call::ReportDoubleSign(evidence) => {
            evidence
                .verify(chain_id)
                .map(drop)
                .map_err(|e| StateError::InvalidEvidence {
                    reason: e.to_string(),
                })
        }
        Call::RegisterValidator { p2p } => staking::validators::check_p2p(p2p),
        Call::CreateSubnet { name, params, .. } => {
            subnets::registry::check_name(name)?;
            Ok(subnets::registry::check_params(params)?)
        }
        Call::Delegate { amount, .. } | Call::Undelegate { amount, .. } => non_zero(*amount),
        Call::SetTake { take_bps } => {
            if *take_bps > subnets::delegation::MAX_TAKE_BPS {
                return Err(subnets::error::SubnetError::TakeTooHigh {
                    take_bps: *take_bps,
                    max_bps: subnets::delegation::MAX_TAKE_BPS,
                }
                .into());
            }
            Ok(())
        }
        Call::ReportFraud { evidence, bond } => {
            non_zero(*bond)?;
            evidence
                .check(chain_id)
                .map_err(|e| StateError::InvalidEvidence {
                    reason: e.to_string(),
                })
        }
        Call::ReportOverclaim { receipt, bond } => {
            non_zero(*bond)?;
            check_receipt(chain_id, receipt)
        }
        Call::AnswerOverclaim { receipt, .. } => check_receipt(chain_id, receipt),
        Call::RegisterUid { .. }
        | Call::CommitWeights { .. }
        | Call::RevealWeights { .. }
        | Call::VoteDispute { .. }
        | Call::DissolveSubnet { .. } => Ok(()),
        Call::Withdraw
        | Call::ClaimRoyalties { .. }
        | Call::Unjail
        | Call::LeaveProvider { .. }
        | Call::ExtendChannel { .. }
        | Call::RefundChannel { .. } => Ok(()),
    }
}

fn non_zero(amount: Amount) -> Result<(), StateError> {
    if amount.is_zero() {
        Err(StateError::ZeroAmount)
    } else {
        Ok(())
    }
}

/// Admission against `state`. With `allow_future`, a nonce ahead of the account's is
/// accepted (the mempool queues it); blocks never allow it. The mempool also asks for
/// the call's spend up front so a user hears "insufficient funds" before paying a fee.
pub fn admission(
    state: &Overlay<'_>,
    params: &Params,
    chain_id: &ChainId,
    tx: &SignedTransaction,
    allow_future: bool,
) -> Result<Admission, StateError> {
    let inner = tx.tx();
    if &inner.chain_id != chain_id {
        return Err(StateError::WrongChain {
            expected: chain_id.clone(),
            got: inner.chain_id.clone(),
        });
    }
    check_stateless(chain_id, &tx.sender(), &inner.call)?;
    let acct = bank::account(state, &tx.sender())?;
    if inner.nonce < acct.nonce {
        return Err(StateError::StaleNonce {
            expected: acct.nonce,
            got: inner.nonce,
        });
    }
    if inner.nonce > acct.nonce && !allow_future {
        return Err(StateError::FutureNonce {
            expected: acct.nonce,
            got: inner.nonce,
        });
    }
    let fee = params.fee_for(tx.size_bytes())?;
    if fee > inner.max_fee {
        return Err(StateError::FeeTooLow {
            required: fee,
            max_fee: inner.max_fee,
        });
    }
    if fee > acct.balance {
        return Err(StateError::InsufficientFunds {
            needed: fee,
            available: acct.balance,
        });
    }
    Ok(Admission {
        fee,
        next_nonce: acct.nonce,
    })
}

/// Run one call against the state (already inside the transaction's overlay).
fn dispatch(
    state: &mut Overlay<'_>,
    params: &Params,
    ctx: &BlockContext,
    signer: &Address,
    nonce: u64,
    call: &Call,
) -> Result<Vec<Event>, StateError> {
    let height = ctx.height;
    match call {
        Call::Transfer { to, amount } => bank::transfer(state, signer, to, *amount),
        Call::Bond { amount } => staking::bond(state, signer, *amount),
        Call::Unbond { amount } => staking::unbond(state, params, height, signer, *amount),
        Call::Withdraw => staking::withdraw(state, height, signer),
        Call::RegisterModel(spec) => models::register(state, height, signer, spec),
        Call::AddModelVersion {
            model,
            manifest_cid,
            note,
        } => models::add_version(state, height, signer, *model, manifest_cid, note),
        Call::TransferShares { model, to, amount } => {
            models::transfer_shares(state, *model, signer, to, *amount)
        }
        Call::ClaimRoyalties { model } => models::claim_royalties(state, *model, signer),
        Call::ReportDoubleSign(evidence) => {
            staking::slashing::report_double_sign(state, params, height, evidence)
        }
        Call::RegisterValidator { p2p } => {
            staking::validators::register(state, height, signer, p2p)
        }
        Call::Unjail => staking::validators::unjail(state, signer),
        Call::RegisterProvider {
            model,
            stake,
            price,
            endpoint,
        } => providers::register(
            state,
            params,
            height,
            signer,
            providers::Offer {
                model: *model,
                stake: *stake,
                price: *price,
                endpoint,
            },
        ),
        Call::UpdateProvider {
            model,
            add_stake,
            price,
            endpoint,
        } => providers::update(
            state,
            signer,
            providers::Offer {
                model: *model,
                stake: *add_stake,
                price: *price,
                endpoint,
            },
        ),
        Call::LeaveProvider { model } => providers::leave(state, params, height, signer, *model),
        Call::OpenChannel {
            provider,
            model,
            deposit,
            expiry_blocks,
        } => channels::open(
            state,
            params,
            height,
            signer,
            nonce,
            channels::Open {
                provider: *provider,
                model: *model,
                deposit: *deposit,
                expiry_blocks: *expiry_blocks,
            },
        ),
        Call::TopUpChannel { channel, amount } => {
            channels::top_up(state, height, signer, channel, *amount)
        }
        Call::ExtendChannel { channel, blocks } => {
            channels::extend(state, params, height, signer, channel, *blocks)
        }
        Call::ClaimChannel { channel, lanes } => {
            channels::claim(state, params, &ctx.chain_id, height, signer, channel, lanes)
        }
        Call::RefundChannel { channel } => channels::refund(state, params, height, signer, channel),
        Call::CreateSubnet {
            name,
            model,
            params: hyper,
        } => subnets::registry::create(state, params, height, signer, name, *model, hyper),
        Call::RegisterUid { subnet, role } => {
            subnets::registry::register(state, height, signer, *subnet, *role)
        }
        Call::CommitWeights { subnet, hash } => {
            subnets::calls::commit(state, height, signer, *subnet, *hash)
        }
        Call::RevealWeights {
            subnet,
            weights,
            salt,
        } => subnets::calls::reveal(state, height, signer, *subnet, weights, salt),
        Call::Delegate {
            subnet,
            validator,
            amount,
        } => subnets::stake::delegate(state, height, signer, *subnet, validator, *amount),
        Call::Undelegate {
            subnet,
            validator,
            amount,
        } => subnets::stake::undelegate(state, params, height, signer, *subnet, validator, *amount),
        Call::SetTake { take_bps } => {
            subnets::stake::set_take(state, params, height, signer, *take_bps)
        }
        Call::ReportFraud { evidence, bond } => {
            verify::report(state, params, height, signer, evidence, *bond)
        }
        Call::VoteDispute { dispute, guilty } => {
            verify::vote(state, height, signer, dispute, *guilty)
        }
        Call::DissolveSubnet { subnet } => {
            subnets::registry::dissolve(state, params, height, signer, *subnet)
        }
        Call::ReportOverclaim { receipt, bond } => {
            verify::overclaim::report(state, params, height, signer, receipt, *bond)
        }
        Call::AnswerOverclaim {
            dispute,
            receipt,
            request_sig,
        } => verify::overclaim::answer(state, height, dispute, receipt, request_sig),
    }
}

/// A receipt in a transaction: signed by its provider, on this chain.
fn check_receipt(chain_id: &ChainId, receipt: &CallReceipt) -> Result<(), StateError> {
    tessera_types::dispute::check_receipt(receipt, chain_id).map_err(|e| {
        StateError::InvalidEvidence {
            reason: e.to_string(),
        }
    })
}
