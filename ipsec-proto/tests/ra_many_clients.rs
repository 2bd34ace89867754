//! Twenty remote-access clients behind one NAT address, all starting Aggressive Mode + XAUTH +
//! Mode Config pull towards one Easy VPN server at the same instant, then all dropping their
//! SAs and reconnecting at once.
//!
//! Aggressive Mode costs the responder a Diffie-Hellman exponentiation per AM1 with no cookie
//! round trip first, so the server caps half-open SAs per source address and rate-limits the
//! exponentiations per source (half the burst, a quarter of the rate). Every one of these
//! clients shares one source address: the defaults must still let all of them in, on the
//! first try (no AM1 dropped and retransmitted), in both rounds.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use ipsec_proto::ike::{
    ChildId, Endpoint, EndpointConfig, Event, IdentityKey, IkeSaId, IsakmpState, ModeConfigStep,
    PeerConfig, PeerId, Phase1Id, SelectorPair,
};
use ipsec_proto::policy::{
    AddressAssignment, ClientGroup, ClientMode, EspEncryption, EspIntegrity, EspMode, IkeAuth,
    IkeEncryption, IkeHash, IsakmpPolicy, LocalPool, LocalUser, ModeConfigServer, Password,
    PskSecret, ResolvedGroup, TrafficSelector, TransformSet, XauthCredentials, XauthServer,
    XAUTH_DEFAULT_ATTEMPTS,
};
use ipsec_proto::rng::Rng;
use ipsec_proto::testing::{Nat, Network, Node};
use ipsec_proto::time::Instant;

const CLIENTS: usize = 20;
const SERVER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);
/// The one public address every client's datagrams leave from.
const NAT_PUBLIC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 99);
const GROUP_KEY: &[u8] = b"vpngroup-secret";
const POOL_FIRST: Ipv4Addr = Ipv4Addr::new(10, 9, 1, 10);
/// 30 addresses: more than the clients, so exhaustion is not what is tested.
const POOL_LAST: Ipv4Addr = Ipv4Addr::new(10, 9, 1, 39);

fn net24(a: [u8; 4]) -> TrafficSelector {
    TrafficSelector::subnet(Ipv4Addr::from(a), Ipv4Addr::new(255, 255, 255, 0))
}

fn user(i: usize) -> String {
    format!("user{i:02}")
}

fn peer(address: Ipv4Addr, psk: &[u8], local: [u8; 4], remote: [u8; 4]) -> PeerConfig {
    let mut p = PeerConfig::new(address, PskSecret::new(psk));
    p.isakmp_policies = vec![IsakmpPolicy {
        priority: 10,
        encryption: IkeEncryption::Aes { bits: 128 },
        hash: IkeHash::Sha1,
        authentication: IkeAuth::PreShare,
        group: 2,
        lifetime_secs: 86_400,
    }];
    p.transform_sets = vec![TransformSet {
        name: "T".into(),
        esp_encryption: EspEncryption::Aes128,
        esp_integrity: EspIntegrity::Sha1,
        mode: EspMode::Tunnel,
    }];
    p.selectors = vec![SelectorPair {
        local: net24(local),
        remote: net24(remote),
    }];
    p
}

/// The Easy VPN server: a wildcard entry keying Aggressive Mode by the group name, XAUTH
/// against the twenty users, Mode Config `respond` from a 30-address pool. The endpoint-wide
/// limits are the defaults.
fn server() -> EndpointConfig {
    let mut p = peer(Ipv4Addr::UNSPECIFIED, b"", [192, 168, 2, 0], [10, 9, 1, 0]);
    p.identity_keys = vec![IdentityKey {
        id: Phase1Id::KeyId(b"vpngroup".to_vec()),
        key: PskSecret::new(GROUP_KEY),
    }];
    p.xauth_server = Some(XauthServer {
        list: "vpnusers".into(),
        users: (0..CLIENTS)
            .map(|i| LocalUser {
                name: user(i),
                password: Password::new(format!("pw-{i}")),
            })
            .collect(),
        max_attempts: XAUTH_DEFAULT_ATTEMPTS,
    });
    p.mode_config = Some(ModeConfigServer {
        list: "vpngroups".into(),
        assignment: AddressAssignment::Respond,
        groups: vec![ResolvedGroup {
            group: ClientGroup {
                name: "vpngroup".into(),
                pool: Some("EZ".into()),
                ..ClientGroup::default()
            },
            pool: Some(LocalPool {
                name: "EZ".into(),
                ranges: vec![(POOL_FIRST, POOL_LAST)],
            }),
            split: vec![],
        }],
    });
    EndpointConfig {
        peers: vec![p],
        aggressive_mode: true,
        ..EndpointConfig::default()
    }
}

/// Client `i`: Aggressive Mode as the group, XAUTH as `user(i)`, Mode Config pull.
fn client(i: usize) -> EndpointConfig {
    let mut p = peer(SERVER, GROUP_KEY, [10, 9, 1, 0], [192, 168, 2, 0]);
    p.aggressive = Some(Phase1Id::KeyId(b"vpngroup".to_vec()));
    p.xauth_client = Some(XauthCredentials {
        name: user(i),
        password: Password::new(format!("pw-{i}")),
    });
    p.mode_config_client = Some(ClientMode::Pull);
    EndpointConfig {
        peers: vec![p],
        ..EndpointConfig::default()
    }
}

/// The server (node 0), the clients (nodes 1..=20, each behind the shared NAT address) and
/// every event each has reported, in order.
struct Lab {
    net: Network,
    server: Endpoint,
    clients: Vec<Endpoint>,
    server_events: Vec<Event>,
    client_events: Vec<Vec<Event>>,
}

impl Lab {
    fn new(seed: u64, server: EndpointConfig) -> Lab {
        let mut net = Network::new(Instant::from_millis(1_000), seed);
        net.add_node(SERVER);
        let mut clients = Vec::new();
        for i in 0..CLIENTS {
            let n = net.add_node(Ipv4Addr::new(10, 0, 0, 10 + i as u8));
            // One NAPT address for all; each client's ports map to ports of its own.
            let o = u16::try_from(i).unwrap();
            net.set_nat(
                n,
                Some(Nat::ports(
                    NAT_PUBLIC,
                    &[(500, 30_000 + o), (4500, 31_000 + o)],
                )),
            );
            clients.push(Endpoint::new(client(i), Rng::from_u64(100 + i as u64)));
        }
        Lab {
            net,
            server: Endpoint::new(server, Rng::from_u64(seed.wrapping_add(7))),
            clients,
            server_events: Vec::new(),
            client_events: (0..CLIENTS).map(|_| Vec::new()).collect(),
        }
    }

    fn drain(&mut self) {
        while let Some(e) = self.server.poll_event() {
            self.server_events.push(e);
        }
        for (c, v) in self.clients.iter_mut().zip(&mut self.client_events) {
            while let Some(e) = c.poll_event() {
                v.push(e);
            }
        }
    }

    /// Runs until `done` or `limit` of virtual time; returns whether `done` held.
    fn run_until(&mut self, limit: Duration, done: impl Fn(&Lab) -> bool) -> bool {
        let end = self.net.now() + limit;
        loop {
            self.drain();
            if done(self) {
                return true;
            }
            let mut nodes: Vec<&mut dyn Node> = vec![&mut self.server];
            nodes.extend(self.clients.iter_mut().map(|c| c as &mut dyn Node));
            if !self.net.step(&mut nodes, end) {
                self.drain();
                return done(self);
            }
        }
    }

    /// Every client starts at this same instant.
    fn initiate_all(&mut self) {
        let now = self.net.now();
        for c in &mut self.clients {
            c.initiate(now, PeerId(0), 0).unwrap();
        }
    }
}

/// What one connection round of a client came to: its leased address and its IPsec SA pair.
#[derive(Debug)]
struct Connected {
    address: Ipv4Addr,
    child: ChildId,
    sa: IkeSaId,
}

/// The client's connection of this round (its events from `from` on): configured with an
/// address and a Quick Mode SA pair up.
fn connected(events: &[Event], from: usize) -> Option<Connected> {
    let events = &events[from.min(events.len())..];
    let address = events.iter().find_map(|e| match e {
        Event::ModeConfig {
            step: ModeConfigStep::Configured(s),
            ..
        } => s.address,
        _ => None,
    })?;
    let p2 = events.iter().find_map(|e| match e {
        Event::Phase2Established(p) => Some(p),
        _ => None,
    })?;
    Some(Connected {
        address,
        child: p2.child,
        sa: p2.ike_sa,
    })
}

fn failures(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::NegotiationFailed { error, .. } => Some(error.to_string()),
            _ => None,
        })
        .collect()
}

/// The addresses the server's established ISAKMP SAs hold leases on (what `show crypto
/// session detail` prints as the assigned address), one per SA.
fn server_leases(lab: &Lab) -> Vec<Ipv4Addr> {
    lab.server
        .isakmp_sas(lab.net.now())
        .iter()
        .filter(|s| s.state == IsakmpState::QmIdle)
        .filter_map(|s| s.assigned_address)
        .collect()
}

/// One round: all start at once; every client must be connected with a distinct pool address
/// and the server must hold exactly those leases. Returns the addresses and the virtual time
/// the round took.
fn round(lab: &mut Lab, what: &str) -> (Vec<Connected>, Duration) {
    let marks: Vec<usize> = lab.client_events.iter().map(Vec::len).collect();
    let start = lab.net.now();
    lab.initiate_all();
    let all_up = |l: &Lab| {
        l.client_events
            .iter()
            .zip(&marks)
            .all(|(v, &m)| connected(v, m).is_some())
    };
    let done = lab.run_until(Duration::from_secs(120), all_up);
    let took = lab.net.now().saturating_duration_since(start);
    let got: Vec<Option<Connected>> = lab
        .client_events
        .iter()
        .zip(&marks)
        .map(|(v, &m)| connected(v, m))
        .collect();
    let up = got.iter().filter(|c| c.is_some()).count();
    assert!(
        done,
        "{what}: {up} of {CLIENTS} connected in {took:?}; server counters {:?}\nclient failures: {:?}\nserver failures: {:?}",
        lab.server.counters(),
        lab.client_events.iter().map(|v| failures(v)).collect::<Vec<_>>(),
        failures(&lab.server_events)
    );
    let got: Vec<Connected> = got.into_iter().flatten().collect();
    let addresses: BTreeSet<Ipv4Addr> = got.iter().map(|c| c.address).collect();
    assert_eq!(addresses.len(), CLIENTS, "{what}: {got:?}");
    assert!(
        addresses
            .iter()
            .all(|a| (POOL_FIRST..=POOL_LAST).contains(a)),
        "{what}: {addresses:?}"
    );
    let leases = server_leases(lab);
    assert_eq!(leases.len(), CLIENTS, "{what}: {leases:?}");
    assert_eq!(
        leases.iter().copied().collect::<BTreeSet<_>>(),
        addresses,
        "{what}: the server's leases are the clients' addresses"
    );
    // Every client's ISAKMP SA reached the server from the one NAT address.
    let sources: BTreeSet<_> = lab
        .server
        .isakmp_sas(lab.net.now())
        .iter()
        .map(|s| s.path.remote.ip())
        .collect();
    assert_eq!(
        sources,
        BTreeSet::from([std::net::IpAddr::V4(NAT_PUBLIC)]),
        "{what}"
    );
    (got, took)
}

#[test]
fn twenty_clients_behind_one_nat_address_connect_and_reconnect_at_once() {
    let mut lab = Lab::new(13, server());
    let (first, t1) = round(&mut lab, "first connection");
    let c1 = lab.server.counters();
    let retransmitted: u64 = lab
        .clients
        .iter()
        .map(|c| c.counters().retransmissions)
        .sum();
    println!(
        "first round: {CLIENTS}/{CLIENTS} up in {t1:?} of virtual time; AM1 dropped by the DH \
         budget {}, half-open dropped per source {} / in total {}, client retransmissions {retransmitted}",
        c1.aggressive_dh_limited, c1.half_open_per_source_dropped, c1.half_open_dropped
    );
    // All on the first try: nothing refused, nothing had to be sent again.
    assert_eq!(c1.aggressive_dh_limited, 0, "{c1:?}");
    assert_eq!(c1.half_open_per_source_dropped, 0, "{c1:?}");
    assert_eq!(c1.half_open_dropped, 0, "{c1:?}");
    assert_eq!(c1.mode_config_refused, 0, "{c1:?}");
    assert_eq!(retransmitted, 0);

    // All drop at once: the IPsec SA pair, then the ISAKMP SA (whose Delete frees the lease).
    let now = lab.net.now();
    for (c, conn) in lab.clients.iter_mut().zip(&first) {
        c.delete_child(now, conn.child).unwrap();
        c.delete_isakmp_sa(now, conn.sa).unwrap();
    }
    let released = |l: &Lab| {
        l.server_events
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    Event::ModeConfig {
                        step: ModeConfigStep::Released { .. },
                        ..
                    }
                )
            })
            .count()
    };
    assert!(
        lab.run_until(Duration::from_secs(10), |l| released(l) == CLIENTS),
        "{} of {CLIENTS} leases released",
        released(&lab)
    );
    assert_eq!(server_leases(&lab), Vec::<Ipv4Addr>::new());
    assert!(lab.server.isakmp_sas(lab.net.now()).is_empty());

    let (second, t2) = round(&mut lab, "reconnection");
    let c2 = lab.server.counters();
    let retransmitted: u64 = lab
        .clients
        .iter()
        .map(|c| c.counters().retransmissions)
        .sum();
    println!(
        "reconnection: {CLIENTS}/{CLIENTS} up in {t2:?} of virtual time; AM1 dropped by the DH \
         budget {}, half-open dropped per source {} / in total {}, client retransmissions {retransmitted}",
        c2.aggressive_dh_limited, c2.half_open_per_source_dropped, c2.half_open_dropped
    );
    assert_eq!(c2.aggressive_dh_limited, 0, "{c2:?}");
    assert_eq!(c2.half_open_per_source_dropped, 0, "{c2:?}");
    assert_eq!(c2.half_open_dropped, 0, "{c2:?}");
    assert_eq!(c2.mode_config_refused, 0, "{c2:?}");
    assert_eq!(retransmitted, 0);
    let a1: BTreeSet<_> = first.iter().map(|c| c.address).collect();
    let a2: BTreeSet<_> = second.iter().map(|c| c.address).collect();
    println!("addresses: first {a1:?}, again {a2:?}");
}

/// The same first round against a budget a fifth of the default (burst 20: 10 for one
/// source): the test above would see it. Ten AM1s are answered at once and ten dropped and
/// counted; their initiators retransmit after 2 s, by when the source's bucket has refilled,
/// and all twenty still get in.
#[test]
fn a_smaller_dh_burst_makes_half_of_them_retransmit() {
    let mut cfg = server();
    cfg.aggressive_dh_burst = 20;
    let mut lab = Lab::new(13, cfg);
    let (_, took) = round(&mut lab, "small burst");
    let c = lab.server.counters();
    let retransmitted: u64 = lab
        .clients
        .iter()
        .map(|c| c.counters().retransmissions)
        .sum();
    println!(
        "burst 20: {CLIENTS}/{CLIENTS} up in {took:?}; AM1 dropped by the DH budget {}, \
         client retransmissions {retransmitted}",
        c.aggressive_dh_limited
    );
    assert_eq!(c.aggressive_dh_limited, 10, "{c:?}");
    assert_eq!(retransmitted, 10);
    assert_eq!(c.half_open_per_source_dropped, 0, "{c:?}");
}
