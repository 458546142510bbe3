//! The vocabulary of the inference market: prices, channel ids and the lane vouchers a
//! provider claims with (the rules are in `tessera_state::providers` and
//! `tessera_state::channels`; decision 0017).
//!
//! Invariants:
//! * a channel id is a function of (payer, the nonce of the opening transaction) only, so
//!   the payer knows it before the transaction lands and two channels never share one.
//! * every decoded value is bounded: [`MAX_ENDPOINT_BYTES`], [`MAX_CLAIM_LANES`].

use crate::{
    codec::{read_string, string_size, write_string},
    tx::ModelId,
    voucher::{Voucher, MAX_LANES},
    Address, Amount, ChainId, Hash, Signature,
};
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, FixedSize, Read, ReadExt, Write};

/// Domain of channel ids.
const CHANNEL_ID_DOMAIN: &[u8] = b"tessera/channel/v1";
/// Longest provider endpoint URL.
pub const MAX_ENDPOINT_BYTES: usize = 256;
/// Most lanes one claim transaction carries (each lane claim is 100 bytes).
pub const MAX_CLAIM_LANES: usize = 128;
/// Highest price per unit, in base units (10^9 TSR): keeps `amount × price` in a u128.
pub const MAX_PRICE_BASE: u128 = 1_000_000_000_000_000_000;

/// The id of the channel `payer` opens with the transaction of nonce `nonce`.
pub fn channel_id(payer: &Address, nonce: u64) -> Hash {
    Hash::digest(CHANNEL_ID_DOMAIN, &[payer.as_bytes(), &nonce.to_be_bytes()])
}

/// A price: per call plus per token (prompt and generated tokens alike).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Price {
    pub per_call: Amount,
    pub per_token: Amount,
}

impl Price {
    /// The price of one call of `tokens` tokens (`None` on overflow).
    pub fn of_call(&self, tokens: u64) -> Option<Amount> {
        self.per_token
            .checked_mul(u128::from(tokens))?
            .checked_add(self.per_call)
    }

    /// The price a provider asks when it sets `unit` per the model's unit (per token
    /// when the model charges per token, else per call): the model's price scaled by
    /// `unit ÷ model's unit price`, so it stays proportional (decision 0017). `None` when
    /// the other part would not be a whole number of base units, or on overflow.
    pub fn asking(model: &Price, unit: Amount) -> Option<Price> {
        if model.per_token.is_zero() {
            return Some(Price {
                per_call: unit,
                per_token: Amount::ZERO,
            });
        }
        let scaled = model.per_call.base().checked_mul(unit.base())?;
        let t = model.per_token.base();
        (scaled % t == 0).then(|| Price {
            per_call: Amount::from_base(scaled / t),
            per_token: unit,
        })
    }

    /// The unit the split is computed in: per token when this (model) price charges per
    /// token, else per call. Returns the part of `self` in that unit.
    pub fn unit_part(&self, model: &Price) -> Amount {
        if model.per_token.is_zero() {
            self.per_call
        } else {
            self.per_token
        }
    }
}

impl Write for Price {
    fn write(&self, buf: &mut impl BufMut) {
        self.per_call.write(buf);
        self.per_token.write(buf);
    }
}

impl FixedSize for Price {
    const SIZE: usize = 2 * Amount::SIZE;
}

impl Read for Price {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Price {
            per_call: Amount::read(buf)?,
            per_token: Amount::read(buf)?,
        })
    }
}

/// One lane inside a claim: the lane's newest voucher (the channel and chain are the
/// claim's) and the lane total claimed with it, `claimed ≤ cumulative`. A per-token call
/// is paid for with a voucher that covers its maximum; the provider claims only what it
/// charged (its signed receipts say how much), so the unused reservation is never taken.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LaneClaim {
    pub lane: u32,
    /// The lane's claimed total after this claim.
    pub claimed: Amount,
    /// The voucher's signed cumulative amount.
    pub cumulative: Amount,
    #[serde(with = "signature_hex")]
    pub signature: Signature,
}

impl LaneClaim {
    /// Claim a voucher's whole amount.
    pub fn of(voucher: &Voucher) -> LaneClaim {
        LaneClaim::partial(voucher, voucher.cumulative)
    }

    /// Claim `claimed` (at most the voucher's amount) with `voucher`.
    pub fn partial(voucher: &Voucher, claimed: Amount) -> LaneClaim {
        LaneClaim {
            lane: voucher.lane,
            claimed,
            cumulative: voucher.cumulative,
            signature: voucher.signature.clone(),
        }
    }

    /// The full voucher this lane voucher stands for on `channel` of `chain_id`.
    pub fn voucher(&self, chain_id: &ChainId, channel: Hash) -> Voucher {
        Voucher {
            chain_id: chain_id.clone(),
            channel,
            lane: self.lane,
            cumulative: self.cumulative,
            signature: self.signature.clone(),
        }
    }
}

impl Write for LaneClaim {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_u32(self.lane);
        self.claimed.write(buf);
        self.cumulative.write(buf);
        self.signature.write(buf);
    }
}

impl FixedSize for LaneClaim {
    const SIZE: usize = 4 + 2 * Amount::SIZE + Signature::SIZE;
}

impl Read for LaneClaim {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let lane = u32::read(buf)?;
        if lane >= MAX_LANES {
            return Err(CodecError::Invalid("LaneClaim", "lane out of range"));
        }
        Ok(LaneClaim {
            lane,
            claimed: Amount::read(buf)?,
            cumulative: Amount::read(buf)?,
            signature: Signature::read(buf)?,
        })
    }
}

/// Signatures in JSON as lowercase hex of their 64 bytes.
pub mod signature_hex {
    use crate::Signature;
    use commonware_codec::{DecodeExt, Encode};

    pub fn serialize<S: serde::Serializer>(sig: &Signature, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(sig.encode()))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Signature, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(d)?;
        let bytes = hex::decode(&text).map_err(serde::de::Error::custom)?;
        Signature::decode(bytes::Bytes::from(bytes))
            .map_err(|_| serde::de::Error::custom("not a 64-byte ed25519 signature"))
    }
}

/// What the provider and channel calls did (one variant of `Event`, so receipts stay one
/// list). Amounts named `stake`, `deposit` and `claimed` are totals after the event.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MarketEvent {
    ProviderRegistered {
        provider: Address,
        model: ModelId,
        stake: Amount,
        price: Price,
        endpoint: String,
    },
    ProviderUpdated {
        provider: Address,
        model: ModelId,
        stake: Amount,
        price: Price,
        endpoint: String,
    },
    /// The registration ended; its stake unbonds until `release_height`.
    ProviderLeft {
        provider: Address,
        model: ModelId,
        stake: Amount,
        release_height: u64,
    },
    ChannelOpened {
        channel: Hash,
        payer: Address,
        provider: Address,
        model: ModelId,
        deposit: Amount,
        expires_at: u64,
    },
    /// A top-up or an extension: the channel's deposit and expiry after it.
    ChannelFunded {
        channel: Hash,
        deposit: Amount,
        expires_at: u64,
    },
    /// `amount` newly claimed; `claimed` in total.
    ChannelClaimed {
        channel: Hash,
        provider: Address,
        amount: Amount,
        claimed: Amount,
    },
    /// How one claim was split (decision 0017): the legs sum to the claimed amount.
    ClaimSplit {
        channel: Hash,
        model: ModelId,
        to_provider: Amount,
        to_owners: Amount,
        to_data: Amount,
        to_treasury: Amount,
        fee: Amount,
    },
    /// One data link's part of a claim.
    DataPaid {
        model: ModelId,
        to: Address,
        amount: Amount,
    },
    ChannelRefunded {
        channel: Hash,
        payer: Address,
        amount: Amount,
    },
}

impl MarketEvent {
    /// The channel whose state (deposit, expiry, claimed total, open or not) this event
    /// changed, if any.
    pub fn changed_channel(&self) -> Option<&Hash> {
        match self {
            MarketEvent::ChannelOpened { channel, .. }
            | MarketEvent::ChannelFunded { channel, .. }
            | MarketEvent::ChannelClaimed { channel, .. }
            | MarketEvent::ChannelRefunded { channel, .. } => Some(channel),
            _ => None,
        }
    }

    fn tag(&self) -> u8 {
        match self {
            MarketEvent::ProviderRegistered { .. } => 0,
            MarketEvent::ProviderUpdated { .. } => 1,
            MarketEvent::ProviderLeft { .. } => 2,
            MarketEvent::ChannelOpened { .. } => 3,
            MarketEvent::ChannelFunded { .. } => 4,
            MarketEvent::ChannelClaimed { .. } => 5,
            MarketEvent::ClaimSplit { .. } => 6,
            MarketEvent::DataPaid { .. } => 7,
            MarketEvent::ChannelRefunded { .. } => 8,
        }
    }
}

impl Write for MarketEvent {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_u8(self.tag());
        match self {
            MarketEvent::ProviderRegistered {
                provider,
                model,
                stake,
                price,
                endpoint,
            }
            | MarketEvent::ProviderUpdated {
                provider,
                model,
                stake,
                price,
                endpoint,
            } => {
                provider.write(buf);
                model.write(buf);
                stake.write(buf);
                price.write(buf);
                write_string(endpoint, buf);
            }
            MarketEvent::ProviderLeft {
                provider,
                model,
                stake,
                release_height,
            } => {
                provider.write(buf);
                model.write(buf);
                stake.write(buf);
                buf.put_u64(*release_height);
            }
            MarketEvent::ChannelOpened {
                channel,
                payer,
                provider,
                model,
                deposit,
                expires_at,
            } => {
                channel.write(buf);
                payer.write(buf);
                provider.write(buf);
                model.write(buf);
                deposit.write(buf);
                buf.put_u64(*expires_at);
            }
            MarketEvent::ChannelFunded {
                channel,
                deposit,
                expires_at,
            } => {
                channel.write(buf);
                deposit.write(buf);
                buf.put_u64(*expires_at);
            }
            MarketEvent::ChannelClaimed {
                channel,
                provider,
                amount,
                claimed,
            } => {
                channel.write(buf);
                provider.write(buf);
                amount.write(buf);
                claimed.write(buf);
            }
            MarketEvent::ClaimSplit {
                channel,
                model,
                to_provider,
                to_owners,
                to_data,
                to_treasury,
                fee,
            } => {
                channel.write(buf);
                model.write(buf);
                for leg in [to_provider, to_owners, to_data, to_treasury, fee] {
                    leg.write(buf);
                }
            }
            MarketEvent::DataPaid { model, to, amount } => {
                model.write(buf);
                to.write(buf);
                amount.write(buf);
            }
            MarketEvent::ChannelRefunded {
                channel,
                payer,
                amount,
            } => {
                channel.write(buf);
                payer.write(buf);
                amount.write(buf);
            }
        }
    }
}

impl EncodeSize for MarketEvent {
    fn encode_size(&self) -> usize {
        const A: usize = Address::SIZE;
        const M: usize = Amount::SIZE;
        const H: usize = Hash::SIZE;
        const ID: usize = ModelId::SIZE;
        1 + match self {
            MarketEvent::ProviderRegistered { endpoint, .. }
            | MarketEvent::ProviderUpdated { endpoint, .. } => {
                A + ID + M + Price::SIZE + string_size(endpoint)
            }
            MarketEvent::ProviderLeft { .. } => A + ID + M + 8,
            MarketEvent::ChannelOpened { .. } => H + 2 * A + ID + M + 8,
            MarketEvent::ChannelFunded { .. } => H + M + 8,
            MarketEvent::ChannelClaimed { .. } => H + A + 2 * M,
            MarketEvent::ClaimSplit { .. } => H + ID + 5 * M,
            MarketEvent::DataPaid { .. } => ID + A + M,
            MarketEvent::ChannelRefunded { .. } => H + A + M,
        }
    }
}

impl Read for MarketEvent {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(match u8::read(buf)? {
            tag @ (0 | 1) => {
                let (provider, model) = (Address::read(buf)?, ModelId::read(buf)?);
                let (stake, price) = (Amount::read(buf)?, Price::read(buf)?);
                let endpoint = read_string(buf, MAX_ENDPOINT_BYTES)?;
                if tag == 0 {
                    MarketEvent::ProviderRegistered {
                        provider,
                        model,
                        stake,
                        price,
                        endpoint,
                    }
                } else {
                    MarketEvent::ProviderUpdated {
                        provider,
                        model,
                        stake,
                        price,
                        endpoint,
                    }
                }
            }
            2 => MarketEvent::ProviderLeft {
                provider: Address::read(buf)?,
                model: ModelId::read(buf)?,
                stake: Amount::read(buf)?,
                release_height: u64::read(buf)?,
            },
            3 => MarketEvent::ChannelOpened {
                channel: Hash::read(buf)?,
                payer: Address::read(buf)?,
                provider: Address::read(buf)?,
                model: ModelId::read(buf)?,
                deposit: Amount::read(buf)?,
                expires_at: u64::read(buf)?,
            },
            4 => MarketEvent::ChannelFunded {
                channel: Hash::read(buf)?,
                deposit: Amount::read(buf)?,
                expires_at: u64::read(buf)?,
            },
            5 => MarketEvent::ChannelClaimed {
                channel: Hash::read(buf)?,
                provider: Address::read(buf)?,
                amount: Amount::read(buf)?,
                claimed: Amount::read(buf)?,
            },
            6 => MarketEvent::ClaimSplit {
                channel: Hash::read(buf)?,
                model: ModelId::read(buf)?,
                to_provider: Amount::read(buf)?,
                to_owners: Amount::read(buf)?,
                to_data: Amount::read(buf)?,
                to_treasury: Amount::read(buf)?,
                fee: Amount::read(buf)?,
            },
            7 => MarketEvent::DataPaid {
                model: ModelId::read(buf)?,
                to: Address::read(buf)?,
                amount: Amount::read(buf)?,
            },
            8 => MarketEvent::ChannelRefunded {
                channel: Hash::read(buf)?,
                payer: Address::read(buf)?,
                amount: Amount::read(buf)?,
            },
            other => return Err(CodecError::InvalidEnum(other)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Keypair;
    use commonware_codec::{DecodeExt, Encode};

    #[test]
    fn channel_ids_differ_by_payer_and_nonce() {
        let a = Keypair::from_seed(1).address();
        let b = Keypair::from_seed(2).address();
        assert_ne!(channel_id(&a, 0), channel_id(&a, 1));
        assert_ne!(channel_id(&a, 0), channel_id(&b, 0));
        assert_eq!(channel_id(&a, 7), channel_id(&a, 7));
    }

    #[test]
    fn lane_vouchers_round_trip_and_refuse_lanes_out_of_range() {
        let payer = Keypair::from_seed(3);
        let chain = ChainId::new("tessera-test").unwrap();
        let voucher = Voucher::sign(&payer, &chain, Hash([1; 32]), 9, Amount::from_base(77));
        let lane = LaneClaim::of(&voucher);
        let bytes = lane.encode();
        assert_eq!(bytes.len(), LaneClaim::SIZE);
        assert_eq!(LaneClaim::decode(bytes.clone()).unwrap(), lane);
        assert_eq!(lane.voucher(&chain, Hash([1; 32])), voucher);
        let json = serde_json::to_string(&lane).unwrap();
        assert_eq!(serde_json::from_str::<LaneClaim>(&json).unwrap(), lane);

        let mut far = bytes.to_vec();
        far[..4].copy_from_slice(&MAX_LANES.to_be_bytes());
        assert!(LaneClaim::decode(bytes::Bytes::from(far)).is_err());
    }

    #[test]
    fn an_asked_price_scales_the_model_price() {
        let per_token = Price {
            per_call: Amount::from_base(10),
            per_token: Amount::from_base(4),
        };
        assert_eq!(
            Price::asking(&per_token, Amount::from_base(6)),
            Some(Price {
                per_call: Amount::from_base(15),
                per_token: Amount::from_base(6),
            })
        );
        assert_eq!(Price::asking(&per_token, Amount::from_base(5)), None);
        let per_call = Price {
            per_call: Amount::from_base(10),
            per_token: Amount::ZERO,
        };
        assert_eq!(
            Price::asking(&per_call, Amount::from_base(12)).map(|p| p.per_call),
            Some(Amount::from_base(12))
        );
    }

    #[test]
    fn a_call_costs_its_call_price_plus_its_tokens() {
        let price = Price {
            per_call: Amount::from_base(10),
            per_token: Amount::from_base(3),
        };
        assert_eq!(price.of_call(0), Some(Amount::from_base(10)));
        assert_eq!(price.of_call(5), Some(Amount::from_base(25)));
        let huge = Price {
            per_call: Amount::ZERO,
            per_token: Amount::from_base(u128::MAX),
        };
        assert_eq!(huge.of_call(2), None);
    }
}
