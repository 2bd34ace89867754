//! NAT traversal (RFC 3947 and drafts): NAT-D, the float to 4500, NAT rebinding and keepalives.

use super::*;
use crate::crypto::hmac::Digest;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum NattKind {
    None,
    Rfc,
    Draft,
}

impl NattKind {
    pub(super) fn natd_type(self) -> PayloadType {
        match self {
            NattKind::Draft => PayloadType::NAT_D_DRAFT,
            _ => PayloadType::NAT_D,
        }
    }

    pub(super) fn natoa_type(self) -> PayloadType {
        match self {
            NattKind::Draft => PayloadType::NAT_OA_DRAFT,
            _ => PayloadType::NAT_OA,
        }
    }
}

impl Endpoint {
    /// An authenticated packet came from a new address or port (NAT rebinding): IKE and the
    /// UDP-encapsulated ESP of this peer follow it.
    pub(super) fn path_check(&mut self, id: IkeSaId, old: Path) {
        let Some(sa) = self.sas.get(&id) else { return };
        let new = sa.path;
        if new.remote == old.remote {
            return;
        }
        let lineage = sa.lineage;
        let moved: Vec<ChildId> = self
            .children
            .of_lineage(lineage)
            .filter(|(_, c)| c.path.remote == old.remote)
            .map(|(k, _)| k)
            .collect();
        for k in moved {
            self.children.set_path(k, new);
        }
        self.events
            .push_back(Event::PathChanged { sa: id, old, new });
    }

    /// NAT-D processing (RFC 3947 section 3.2): first hash is us as the peer saw us.
    pub(super) fn nat_detect(&mut self, id: IkeSaId, list: &PayloadList<'_>, path: Path) {
        let force = self.config.force_udp_encaps;
        let Some(sa) = self.sas.get_mut(&id) else {
            return;
        };
        let (Some(suite), ty) = (sa.suite, sa.natt.natd_type()) else {
            return;
        };
        if sa.natt == NattKind::None {
            return;
        }
        let hashes: Vec<&[u8]> = list.find_all(ty).map(|p| p.body).collect();
        let Some((first, rest)) = hashes.split_first() else {
            return;
        };
        let (them, me) = natd_pair(suite.hash, &sa.ci, &sa.cr, path);
        // Forced encapsulation: we sent a NAT-D of ourselves that cannot match, so the peer
        // believes we are behind a NAT and floats; we act as if we were, so we float too.
        sa.nat.local_behind_nat = force || !me.ct_eq(first);
        sa.nat.remote_behind_nat = !rest.iter().any(|h| them.ct_eq(h));
    }
}

/// Takes the peer's address and port from a packet we accepted; keeps our known local address
/// when the caller's socket could not tell which one the packet arrived on.
pub(super) fn adopt_path(sa: &mut IkeSa, path: Path) {
    let local_ip = if path.local.ip().is_unspecified() {
        sa.path.local.ip()
    } else {
        path.local.ip()
    };
    sa.path = Path {
        local: SocketAddr::new(local_ip, path.local.port()),
        remote: path.remote,
    };
}

/// The NAT-D hashes of `path` (RFC 3947 section 3.2): the peer's address and port, then ours.
fn natd_pair(hash: HashAlg, ci: &[u8; 8], cr: &[u8; 8], path: Path) -> (Digest, Digest) {
    (
        natd_hash(hash, ci, cr, path.remote.ip(), path.remote.port()),
        natd_hash(hash, ci, cr, path.local.ip(), path.local.port()),
    )
}

/// The two NAT-D payloads of MM3/MM4 (or AM1/AM2), the peer's hash first.
///
/// With `force` (strongSwan's `forceencaps`), our own hash is computed over port 0, which no
/// UDP packet carries, so it cannot match what the peer computes from our real address and
/// port: the peer concludes that we are behind a NAT (RFC 3947 section 3.2), floats to 4500 and
/// proposes or accepts a UDP-encapsulated mode. Nothing else in the exchange changes, so any
/// RFC 3947 or draft peer interoperates.
pub(super) fn add_nat_d_pair(
    b: &mut MessageBuilder<'_>,
    natt: NattKind,
    hash: HashAlg,
    (ci, cr): (&[u8; 8], &[u8; 8]),
    path: Path,
    force: bool,
) -> Result<(), crate::wire::WireError> {
    let (peer_h, my_h) = natd_pair(hash, ci, cr, path);
    let my_h = if force {
        natd_hash(hash, ci, cr, path.local.ip(), 0)
    } else {
        my_h
    };
    b.add_nat_d(natt.natd_type(), &peer_h)?;
    b.add_nat_d(natt.natd_type(), &my_h)?;
    Ok(())
}
