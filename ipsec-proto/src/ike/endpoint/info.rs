//! Getters behind `show crypto isakmp sa` and `show crypto ipsec sa`, and the resource figures
//! the fuzz target checks.

use super::*;

impl Endpoint {
    /// The cookies (CKY-I, CKY-R) of an ISAKMP SA; CKY-R is zero until the responder answered.
    pub fn isakmp_cookies(&self, sa: IkeSaId) -> Option<([u8; 8], [u8; 8])> {
        self.sas.get(&sa).map(|s| (s.ci, s.cr))
    }

    /// **Sensitive.** The Phase 1 key material of an ISAKMP SA (SKEYID, SKEYID_d, SKEYID_a,
    /// SKEYID_e and the encryption key), once Main Mode messages 3 and 4 have been exchanged.
    ///
    /// For interoperability checks against a peer's key log and for writing a Wireshark
    /// `ikev1_decryption_table`; anyone holding these bytes can decrypt and forge the SA's
    /// traffic and derive every Phase 2 key negotiated without PFS. Never log them in production.
    pub fn phase1_keys_sensitive(&self, sa: IkeSaId) -> Option<&Phase1Keys> {
        self.sas.get(&sa).and_then(|s| s.keys.as_ref())
    }

    /// ISAKMP SAs for `show crypto isakmp sa [detail]`.
    pub fn isakmp_sas(&self, now: Instant) -> Vec<IsakmpSaInfo> {
        self.sas
            .values()
            .map(|s| {
                let (dst, src) = match s.role {
                    Role::Initiator => (s.path.remote.ip(), s.path.local.ip()),
                    Role::Responder => (s.path.local.ip(), s.path.remote.ip()),
                };
                let suite = s.suite;
                IsakmpSaInfo {
                    conn_id: s.id.0,
                    dst,
                    src,
                    state: s.state,
                    role: s.role,
                    peer: s.peer,
                    path: s.path,
                    encryption: suite.map(|x| x.encryption),
                    hash: suite.map(|x| x.ike_hash),
                    auth: suite.map(|s| {
                        if s.rsa_sig {
                            crate::policy::isakmp::IkeAuth::RsaSig
                        } else {
                            crate::policy::isakmp::IkeAuth::PreShare
                        }
                    }),
                    group: suite.map(|x| x.group.ike_id()),
                    remaining_secs: s
                        .expires
                        .filter(|_| s.state == P1State::QmIdle)
                        .map(|e| e.saturating_duration_since(now).as_secs()),
                    dpd: s.peer_dpd,
                    nat_t: s.nat.nat_detected(),
                    xauth: s.xauth.is_xauth(),
                    xauth_user: s.xauth.user().map(str::to_owned),
                    client_group: s
                        .modecfg
                        .configures_client()
                        .then(|| {
                            s.peer_identity
                                .as_ref()
                                .and_then(crate::policy::Phase1Id::name)
                        })
                        .flatten(),
                    peer_identity: s
                        .peer_identity
                        .as_ref()
                        .and_then(crate::policy::Phase1Id::name),
                    assigned_address: self.leases.of_sa(s.id),
                }
            })
            .collect()
    }

    /// Which side started the Quick Mode that negotiated pair `child`.
    pub fn child_role(&self, child: ChildId) -> Option<crate::ike::Role> {
        self.children.get(&child).map(|c| c.role)
    }

    /// IPsec SA pairs for `show crypto ipsec sa`.
    pub fn ipsec_sas(&self, now: Instant) -> Vec<IpsecSaInfo> {
        self.children
            .iter()
            .map(|(id, c)| IpsecSaInfo {
                child: *id,
                peer: c.peer,
                spi_in: c.spi_in,
                spi_out: c.spi_out,
                selectors: c.selectors,
                transform: c.transform.clone(),
                mode: c.mode,
                udp_encap: c.udp_encap,
                path: c.path,
                remaining_secs: c.hard_expiry().saturating_duration_since(now).as_secs(),
                lifetime_kb: c.lifetime_kb,
                established: c.established,
            })
            .collect()
    }
}

/// Sizes of the endpoint's internal state, so the fuzz target and tests can check resource bounds
/// without reaching into private fields.
#[cfg(feature = "fuzzing")]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ResourceUsage {
    /// ISAKMP SAs held.
    pub sas: usize,
    /// Responder SAs not yet authenticated (before MM5 verified).
    pub half_open: usize,
    /// IPsec SA pairs held.
    pub children: usize,
    /// Most Quick Mode exchanges held by one ISAKMP SA (active and lingering).
    pub max_qms_per_sa: usize,
    /// Most queued Quick Mode requests waiting behind the active ones of one SA.
    pub max_pending_per_sa: usize,
    /// Most bytes of cached messages, nonces, public values and offers held by one SA.
    pub max_buffered_bytes_per_sa: usize,
    /// Datagrams waiting for `poll_transmit`.
    pub transmits: usize,
    /// Events waiting for `poll_event`.
    pub events: usize,
}

#[cfg(feature = "fuzzing")]
impl Endpoint {
    pub(crate) fn resource_usage(&self) -> ResourceUsage {
        let mut u = ResourceUsage {
            sas: self.sas.len(),
            children: self.children.len(),
            transmits: self.transmits.len(),
            events: self.events.len(),
            ..ResourceUsage::default()
        };
        for sa in self.sas.values() {
            if sa.role == Role::Responder && sa.state != P1State::QmIdle {
                u.half_open += 1;
            }
            u.max_qms_per_sa = u.max_qms_per_sa.max(sa.qms.len());
            u.max_pending_per_sa = u.max_pending_per_sa.max(sa.pending.len());
            let flight = |f: &Flight| f.msg.as_ref().map_or(0, Vec::len);
            let mut bytes = flight(&sa.flight)
                + sa.hs().sai_b.len()
                + sa.hs().gxi.len()
                + sa.hs().gxr.len()
                + sa.hs().ni.len()
                + sa.hs().nr.len();
            for q in &sa.qms {
                bytes += flight(&q.flight) + q.ni.len() + q.nr.len();
            }
            u.max_buffered_bytes_per_sa = u.max_buffered_bytes_per_sa.max(bytes);
        }
        u
    }
}
