//! The records of the scenario: what the `flows` domain publishes ([`Flow`]), what the
//! `threat-intel` domain publishes ([`Reputation`]), what the `detection` consumer publishes
//! ([`Alert`]), and the ground truth the evaluation compares alerts with ([`Episode`]).
//!
//! Field names and types are the Avro records' (the schemas are derived from these structs),
//! so they are kept flat and plain: IP addresses as strings, times as epoch milliseconds of
//! simulated event time, enums as unit variants spelled `SCREAMING_SNAKE_CASE`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The transport protocol of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP (ports are 0).
    Icmp,
}

impl Protocol {
    /// The protocol's usual lower-case name (`tcp`, `udp`, `icmp`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
            Self::Icmp => "icmp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One flow record as a network device exports it (the initiator's direction: `bytes` and
/// `packets` are what `src_ip` sent to `dst_ip`), after the flows domain sampled and enriched it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flow {
    /// The customer (tenant) whose network the flow was seen in.
    pub customer: String,
    /// The initiator's address.
    pub src_ip: String,
    /// The responder's address.
    pub dst_ip: String,
    /// The initiator's port (0 for ICMP).
    pub src_port: i32,
    /// The responder's port (0 for ICMP).
    pub dst_port: i32,
    /// The transport protocol.
    pub protocol: Protocol,
    /// Bytes sent by the initiator.
    pub bytes: i64,
    /// Packets sent by the initiator.
    pub packets: i64,
    /// When the flow started, epoch milliseconds (the flow's event time).
    pub start: i64,
    /// When the flow ended, epoch milliseconds.
    pub end: i64,
    /// 1-in-N sampling applied to this customer's flows when this one was kept.
    pub sampling: i32,
    /// Enrichment, filled by the flows domain from the threat-intel product: the source's
    /// reputation score, if the source is listed.
    pub src_reputation: Option<i32>,
    /// The destination's reputation score, if the destination is listed.
    pub dst_reputation: Option<i32>,
    /// The category of the worse-scored listed side (`scanner`, `c2`, `cdn`, ...).
    pub reputation_category: Option<String>,
    /// Ground truth for evaluation only ("`<kind>#<n>`"): detectors must never read it.
    pub attack: Option<String>,
}

impl Flow {
    /// How many raw flows this sampled one stands for (`sampling`, at least 1): the factor
    /// detectors scale counts, bytes and packets by.
    pub fn weight(&self) -> f64 {
        f64::from(self.sampling.max(1))
    }
}

/// One entry of the threat-intel domain's reputation product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reputation {
    /// The address the entry is about.
    pub ip: String,
    /// 0 for clean .. 100 for known bad.
    pub score: i32,
    /// What the address is known as (`scanner`, `botnet`, `c2`, `cdn`, `partner`, ...).
    pub category: String,
    /// When the entry was last updated, epoch milliseconds.
    pub updated_at: i64,
}

/// The kinds of attack the scenario injects and detects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AttackKind {
    /// One source sweeping many ports of one host.
    PortScan,
    /// A flood of packets and bytes at one destination from many sources, for a few seconds.
    Volumetric,
    /// An internal host sending large volumes to one external address, well above its own
    /// baseline, for a sustained time.
    Exfiltration,
    /// An internal host contacting one external address at a fixed period with small jitter
    /// and small flows, for minutes.
    Beaconing,
}

impl AttackKind {
    /// Every kind, in a fixed order (the order reports list them in).
    pub const ALL: [AttackKind; 4] = [
        AttackKind::PortScan,
        AttackKind::Volumetric,
        AttackKind::Exfiltration,
        AttackKind::Beaconing,
    ];

    /// The kind's snake-case name, as used in episode labels (`port_scan#3`) and alert ids.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PortScan => "port_scan",
            Self::Volumetric => "volumetric",
            Self::Exfiltration => "exfiltration",
            Self::Beaconing => "beaconing",
        }
    }
}

impl fmt::Display for AttackKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An alert the detection consumer publishes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Unique and deterministic: `<customer>-<kind>-<n>`, `n` counting the customer's alerts.
    pub alert_id: String,
    /// What the detector believes is happening.
    pub kind: AttackKind,
    /// The customer the alert is about.
    pub customer: String,
    /// The attacking or offending source, when there is one (a flood has many).
    pub src_ip: Option<String>,
    /// The victim or external counterpart, when there is one.
    pub dst_ip: Option<String>,
    /// Event time of the oldest flow in the evidence, epoch milliseconds.
    pub first_seen: i64,
    /// Event time of the flow that raised the alert, epoch milliseconds.
    pub raised_at: i64,
    /// The deciding detector's score (its scale depends on `detector`).
    pub score: f64,
    /// Which detector decided (`port_scan/distinct_ports`, `volumetric/robust_z`, ...).
    pub detector: String,
    /// What was seen, for a human.
    pub evidence: String,
}

/// One injected attack: the ground truth alerts are evaluated against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Episode {
    /// `<kind>#<n>`, as in the `attack` field of the episode's flows.
    pub label: String,
    /// The kind of attack.
    pub kind: AttackKind,
    /// The customer attacked.
    pub customer: String,
    /// The attacker (a flood's first source: floods have many, see `dst_ip`).
    pub src_ip: String,
    /// The victim (scan, flood) or the external receiver (exfiltration, beaconing).
    pub dst_ip: String,
    /// Start of the episode's first flow, epoch milliseconds.
    pub start: i64,
    /// Start of the episode's last flow, epoch milliseconds.
    pub end: i64,
}
