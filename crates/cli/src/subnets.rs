//! `tessera yuma`: one Yuma epoch on inputs from a JSON file, every output printed;
//! `tessera subnet ...` (list, show, create, register) and `tessera stake delegate|
//! undelegate|take`.

use crate::{
    home::Home,
    wallet::{resolve_account, send, TxOptions},
    Output,
};
use anyhow::Context;
use std::{io::Write, path::Path};
use tessera_rpc::RpcClient;
use tessera_state::subnets::{
    metagraph::Metagraph,
    yuma::{epoch, EpochInput},
};
use tessera_types::{
    subnet::{Role, SubnetParams},
    Amount, Call,
};
use tessera_validator::{
    setup,
    weights::{parse as parse_weights, Pending, PendingStore},
};

/// The largest input file read (4,096 UIDs with full weight and bond rows fit).
const MAX_INPUT_BYTES: u64 = 256 * 1024 * 1024;

pub fn yuma(input: &Path) -> anyhow::Result<()> {
    let what = input.display().to_string();
    let bytes = crate::input::read_limited(input, MAX_INPUT_BYTES, &what, "")?;
    let input: EpochInput = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{} is not an epoch input (see `docs/subnets.md` for the format)",
            input.display()
        )
    })?;
    let output = epoch(&input)?;
    let text = serde_json::to_string_pretty(&output)?;
    match writeln!(std::io::stdout().lock(), "{text}") {
        // The reader went away (`| head`): nothing more to say.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// `tessera subnet ...`
#[derive(clap::Subcommand)]
pub enum SubnetCommand {
    /// Every subnet: id, name, model, owner, UIDs, epochs.
    List,
    /// A subnet's metagraph: each UID's key, role, stake, rank, trust, consensus,
    /// incentive, dividends and emission, and who the next registration would replace.
    Show {
        /// Subnet name or id.
        subnet: String,
    },
    /// Create a subnet (for a model's market with --model); the chain's lock cost is
    /// bonded and locked from the creator.
    Create {
        #[command(flatten)]
        opts: TxOptions,
        /// 1-32 characters of a-z, 0-9 and '-'.
        #[arg(long)]
        name: String,
        /// The model whose providers are the subnet's miners (name or id).
        #[arg(long)]
        model: Option<String>,
        /// Hyperparameters as JSON (any subset of the fields in docs/subnets.md; the rest
        /// keep their defaults).
        #[arg(long, value_name = "FILE")]
        params: Option<std::path::PathBuf>,
        /// Blocks between epochs (overrides the file).
        #[arg(long)]
        tempo: Option<u64>,
    },
    #[command(flatten)]
    Weights(WeightsCommand),
    /// Take a UID by burning the subnet's burn cost (a miner of a model's subnet must be
    /// a provider of the model).
    Register {
        #[command(flatten)]
        opts: TxOptions,
        /// Subnet name or id.
        subnet: String,
        /// miner or validator.
        #[arg(long, default_value = "miner")]
        role: Role,
    },
    /// Dissolve your subnet once no stake is delegated in it: the lock unbonds, emission
    /// not yet paid out is burned, the name and model are free again.
    Dissolve {
        #[command(flatten)]
        opts: TxOptions,
        /// Subnet name or id.
        subnet: String,
    },
}

/// `tessera subnet weights|reveal`: a validator's weights by hand (the daemon will set
/// them each tempo).
#[derive(clap::Subcommand)]
pub enum WeightsCommand {
    /// Commit weights (a hash of them and a fresh salt, kept in <home>/validator until
    /// the reveal); reveal them in the next tempo with `tessera subnet reveal`.
    Weights {
        #[command(flatten)]
        opts: TxOptions,
        /// Subnet name or id.
        subnet: String,
        /// UID=WEIGHT pairs, e.g. 0=3,1=1 (any scale: each validator's row is normalized).
        weights: String,
    },
    /// Reveal the weights committed in the previous tempo.
    Reveal {
        #[command(flatten)]
        opts: TxOptions,
        subnet: String,
    },
}

/// `tessera stake delegate|undelegate|take`
#[derive(clap::Subcommand)]
pub enum DelegateCommand {
    /// Bond TSR behind a validator in a subnet; it earns the validator's dividends minus
    /// its take.
    Delegate {
        #[command(flatten)]
        opts: TxOptions,
        /// The validator: an address or one of your key names.
        validator: String,
        /// Amount in TSR.
        amount: Amount,
        /// Subnet name or id (default: the only subnet where the validator holds a UID).
        #[arg(long)]
        subnet: Option<String>,
    },
    /// Withdraw a delegation; it unbonds for the unbonding period.
    Undelegate {
        #[command(flatten)]
        opts: TxOptions,
        validator: String,
        amount: Amount,
        #[arg(long)]
        subnet: Option<String>,
    },
    /// Set your take on delegators' dividends as a validator, in bps (at most 1800).
    Take {
        #[command(flatten)]
        opts: TxOptions,
        bps: u16,
    },
}

pub async fn subnet(
    home: &Home,
    client: &RpcClient,
    cmd: SubnetCommand,
    out: &Output,
) -> anyhow::Result<()> {
    match cmd {
        SubnetCommand::List => {
            let all = client.subnets().await?;
            out.show(&all, || {
                if all.is_empty() {
                    return "no subnets yet: `tessera subnet create` makes one".into();
                }
                all.iter()
                    .map(|s| {
                        format!(
                            "{:>3}  {:<20} model {:<6} uids {:>4}/{:<4} epochs {:>5}  owner {}",
                            s.id,
                            s.subnet.name,
                            s.subnet.model.map_or("-".into(), |m| m.to_string()),
                            s.uids,
                            s.subnet.params.max_uids,
                            s.subnet.epochs,
                            s.subnet.owner
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        SubnetCommand::Weights(cmd) => weights(home, client, cmd, out).await,
        SubnetCommand::Show { subnet } => {
            let graph = client.subnet(&subnet).await?;
            out.show(&graph, || describe_metagraph(&graph))
        }
        SubnetCommand::Create {
            opts,
            name,
            model,
            params,
            tempo,
        } => {
            let mut hyper = match params {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    serde_json::from_str(&text).with_context(|| {
                        format!(
                            "{} is not subnet hyperparameters (docs/subnets.md)",
                            path.display()
                        )
                    })?
                }
                None => SubnetParams::default(),
            };
            if let Some(t) = tempo {
                // The rate limit must fit in a tempo; a shorter tempo brings it down.
                hyper.tempo_blocks = t;
                hyper.weights_rate_limit_blocks = hyper.weights_rate_limit_blocks.min(t);
            }
            let model = match model {
                Some(m) => Some(client.model_providers(&m).await?.model),
                None => None,
            };
            let call = Call::CreateSubnet {
                name,
                model,
                params: hyper,
            };
            send(home, client, &opts, call, out).await
        }
        SubnetCommand::Dissolve { opts, subnet } => {
            let id = client.subnet(&subnet).await?.id;
            send(
                home,
                client,
                &opts,
                Call::DissolveSubnet { subnet: id },
                out,
            )
            .await
        }
        SubnetCommand::Register { opts, subnet, role } => {
            let graph = client.subnet(&subnet).await?;
            if let Some(next) = &graph.next_to_replace {
                eprintln!(
                    "the subnet is full: registering replaces UID {} ({}): {}",
                    next.uid, next.key, next.reason
                );
            }
            let call = Call::RegisterUid {
                subnet: graph.id,
                role,
            };
            send(home, client, &opts, call, out).await
        }
    }
}

async fn weights(
    home: &Home,
    client: &RpcClient,
    cmd: WeightsCommand,
    out: &Output,
) -> anyhow::Result<()> {
    let store = PendingStore::open(&home.dir.join("validator"))?;
    match cmd {
        WeightsCommand::Weights {
            opts,
            subnet,
            weights,
        } => {
            let weights = parse_weights(&weights)?;
            let id = client.subnet(&subnet).await?.id;
            let validator = resolve_account(home, &opts.from)?;
            let pending = Pending::new(id, validator, weights);
            // On disk before the commit is sent: a crash after it loses nothing.
            store.save(&pending)?;
            send(home, client, &opts, pending.commit_call(), out).await?;
            eprintln!(
                "committed; reveal in the next tempo: tessera subnet reveal --from {} {subnet}",
                opts.from
            );
            Ok(())
        }
        WeightsCommand::Reveal { opts, subnet } => {
            let id = client.subnet(&subnet).await?.id;
            let validator = resolve_account(home, &opts.from)?;
            let pending = store.load(id, &validator)?;
            send(home, client, &opts, pending.reveal_call(), out).await?;
            store.remove(id, &validator)?;
            Ok(())
        }
    }
}

fn describe_metagraph(g: &Metagraph) -> String {
    let s = &g.subnet;
    let mut text = format!(
        "subnet {} {:?}  owner {}  model {}\n  tempo {} blocks, epoch {} at block {}, next at {} (head {})\n  pending emission {} TSR, matured stake {} TSR, take average {} TSR\n",
        g.id,
        s.name,
        s.owner,
        s.model.map_or("-".into(), |m| m.to_string()),
        s.params.tempo_blocks,
        s.epochs,
        s.last_epoch_block,
        g.next_epoch_block,
        g.height,
        s.pending_emission,
        s.matured_stake,
        s.take_average
    );
    match &g.next_to_replace {
        Some(n) => text.push_str(&format!(
            "  next registration replaces UID {} ({}): {}\n",
            n.uid, n.key, n.reason
        )),
        None if g.free_uids > 0 => text.push_str(&format!(
            "  {} UIDs free: nobody is replaced yet\n",
            g.free_uids
        )),
        None => text.push_str("  full and every UID is immune: registration waits\n"),
    }
    text.push_str(
        "  uid role       stake(TSR)   rank     trust    consensus incentive dividends emission(TSR) key\n",
    );
    for r in &g.rows {
        text.push_str(&format!(
            "  {:>3} {:<9}{} {:>12} {:>8.5} {:>8.5} {:>8.5}  {:>8.5}  {:>8.5}  {:>12} {}{}\n",
            r.uid,
            r.role.to_string(),
            if r.permit { "*" } else { " " },
            r.stake.to_string(),
            r.rank,
            r.trust,
            r.consensus,
            r.incentive,
            r.dividends,
            r.emission.to_string(),
            r.key,
            if r.immune { " (immune)" } else { "" }
        ));
    }
    text.push_str("  (* holds a validator permit)");
    text
}

pub async fn delegate(
    home: &Home,
    client: &RpcClient,
    cmd: DelegateCommand,
    out: &Output,
) -> anyhow::Result<()> {
    enum Kind {
        Delegate,
        Undelegate,
    }
    let cmd_kind = match &cmd {
        DelegateCommand::Undelegate { .. } => Kind::Undelegate,
        _ => Kind::Delegate,
    };
    match cmd {
        DelegateCommand::Delegate {
            opts,
            validator,
            amount,
            subnet,
        }
        | DelegateCommand::Undelegate {
            opts,
            validator,
            amount,
            subnet,
        } => {
            let validator = resolve_account(home, &validator)?;
            let subnet = setup::delegation_subnet(client, subnet.as_deref(), &validator).await?;
            let call = if matches!(cmd_kind, Kind::Delegate) {
                Call::Delegate {
                    subnet,
                    validator,
                    amount,
                }
            } else {
                Call::Undelegate {
                    subnet,
                    validator,
                    amount,
                }
            };
            send(home, client, &opts, call, out).await
        }
        DelegateCommand::Take { opts, bps } => {
            send(home, client, &opts, Call::SetTake { take_bps: bps }, out).await
        }
    }
}
