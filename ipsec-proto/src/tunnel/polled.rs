//! [`Tunnel`]: the tunnel layer with its own output queue and a poll interface, for embedders
//! that want quinn's shape (call a verb, then poll until empty) rather than an arena they drain
//! themselves. The C ABI (`ipsec_tunnel`) and the Python `ipsec.Tunnel` are this type.

use super::{
    BuildError, CoreOptions, Dest, Dropped, Outputs, Reconfigured, Show, TunVerdict, TunnelEvent,
    Tunnels,
};
use crate::diagnose::Verdict;
use crate::ike::BufferTooSmall;
use crate::ios::ConfigError;
use crate::policy::GatewayConfig;
use crate::time::Instant;
use std::net::{Ipv4Addr, SocketAddrV4};

/// Why a [`Tunnel`] could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TunnelError {
    /// The IOS configuration text does not parse (line and column inside).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The configuration parses but cannot run (no usable crypto map entry, ...).
    #[error(transparent)]
    Build(#[from] BuildError),
}

/// A datagram [`Tunnel::poll_transmit`] wrote: where it goes and how long it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunnelTransmit {
    /// [`Dest::Udp`] (IKE, NAT-T ESP, keepalives: the non-ESP marker, when needed, is already
    /// in the bytes) or [`Dest::Esp`] (a raw IP protocol 50 payload, SPI onwards).
    pub dest: Dest,
    /// Bytes written.
    pub len: usize,
    /// The outer IPv4 header must carry DF (ESP under `crypto ipsec df-bit`; see
    /// [`super::Outputs::outer_df`]); false for IKE and keepalives.
    pub df: bool,
}

/// The tunnels of one IOS configuration and what they have to say, polled.
///
/// # Call order
///
/// After every input ([`Tunnel::handle_plaintext`], [`Tunnel::handle_udp`],
/// [`Tunnel::handle_esp`], [`Tunnel::handle_timeout`]) drain [`Tunnel::poll_transmit`] (send
/// each datagram) and [`Tunnel::poll_plaintext`] (deliver each decrypted packet to the
/// protected side) until they return `Ok(None)`, then [`Tunnel::poll_event`] until `None`, then
/// sleep until [`Tunnel::poll_timeout`]. Outputs not drained before the next input are kept
/// (up to the queue's limit, then dropped and counted in [`Tunnel::dropped`]).
#[derive(Debug)]
pub struct Tunnel {
    tunnels: Tunnels,
    out: Outputs,
    next_transmit: usize,
    next_plaintext: usize,
}

impl Tunnel {
    /// Tunnels for an IOS configuration (`show running-config` text or pasted commands).
    pub fn from_ios(text: &str, opts: CoreOptions) -> Result<Tunnel, TunnelError> {
        let parsed = crate::ios::parse(text)?;
        Tunnel::new(parsed.config, opts)
    }

    /// Runs the IOS configuration `text` from now on, keeping the SAs of unchanged crypto map
    /// entries ([`Tunnels::reconfigure`]). A configuration that does not parse or build is
    /// refused and the running one stays.
    pub fn reconfigure_ios(
        &mut self,
        now: Instant,
        text: &str,
    ) -> Result<Reconfigured, TunnelError> {
        let parsed = crate::ios::parse(text)?;
        Ok(self.reconfigure(now, parsed.config)?)
    }

    /// Runs `config` from now on ([`Tunnels::reconfigure`]).
    pub fn reconfigure(
        &mut self,
        now: Instant,
        config: GatewayConfig,
    ) -> Result<Reconfigured, BuildError> {
        self.begin();
        self.tunnels.reconfigure(now, config, &mut self.out)
    }

    /// Tunnels for a parsed configuration.
    pub fn new(config: GatewayConfig, opts: CoreOptions) -> Result<Tunnel, TunnelError> {
        Ok(Tunnel {
            tunnels: Tunnels::new(config, opts)?,
            out: Outputs::default(),
            next_transmit: 0,
            next_plaintext: 0,
        })
    }

    /// Tells the tunnels the wall-clock time (Unix seconds) at `now`, against which peer
    /// certificates are checked ([`Tunnels::set_wall_clock`]).
    pub fn set_wall_clock(&mut self, now: Instant, unix_secs: i64) {
        self.tunnels.set_wall_clock(now, unix_secs);
    }

    /// The tunnels (entries, counters, snapshots).
    pub fn tunnels(&self) -> &Tunnels {
        &self.tunnels
    }

    /// The core, mutably, for the tunnel layer's own tests.
    #[cfg(test)]
    pub(in crate::tunnel) fn tunnels_mut_for_tests(&mut self) -> &mut Tunnels {
        &mut self.tunnels
    }

    /// Everything drained: the arena can be reused.
    fn begin(&mut self) -> &mut Outputs {
        let n = self.out.len();
        if self.next_transmit >= n && self.next_plaintext >= n {
            self.out.clear();
            self.next_transmit = 0;
            self.next_plaintext = 0;
        }
        &mut self.out
    }

    /// A cleartext IPv4 packet from the protected side.
    pub fn handle_plaintext(&mut self, now: Instant, pkt: &[u8]) -> TunVerdict {
        self.begin();
        self.tunnels.handle_plaintext(now, pkt, &mut self.out)
    }

    /// A batch of cleartext packets from `iface` (see [`Tunnels::handle_plaintext_batch`]).
    pub fn handle_plaintext_batch<'a>(
        &mut self,
        now: Instant,
        iface: super::Iface,
        batch: impl IntoIterator<Item = &'a [u8]>,
    ) -> super::BatchVerdicts {
        self.begin();
        self.tunnels
            .handle_plaintext_batch(now, iface, batch, &mut self.out)
    }

    /// A batch of raw ESP packets from `src` (see [`Tunnels::handle_esp_batch`]).
    pub fn handle_esp_batch<'a>(
        &mut self,
        now: Instant,
        src: Ipv4Addr,
        batch: impl IntoIterator<Item = &'a [u8]>,
    ) -> super::BatchVerdicts {
        self.begin();
        self.tunnels
            .handle_esp_batch(now, src, batch, &mut self.out)
    }

    /// A batch of UDP datagrams from `remote` to `local` (see [`Tunnels::handle_udp_batch`]).
    pub fn handle_udp_batch<'a>(
        &mut self,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        batch: impl IntoIterator<Item = &'a [u8]>,
    ) -> super::BatchVerdicts {
        self.begin();
        self.tunnels
            .handle_udp_batch(now, local, remote, batch, &mut self.out)
    }

    /// A UDP datagram that arrived on `local` (port 500 or 4500) from `remote`; `Err` says
    /// why it was dropped.
    pub fn handle_udp(
        &mut self,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        data: &[u8],
    ) -> Result<(), Dropped> {
        self.begin();
        self.tunnels
            .handle_udp(now, local, remote, data, &mut self.out)
    }

    /// A raw ESP packet (IP protocol 50 payload, SPI onwards) from `src`; `Err` says why it
    /// was dropped.
    pub fn handle_esp(&mut self, now: Instant, src: Ipv4Addr, data: &[u8]) -> Result<(), Dropped> {
        self.begin();
        self.tunnels.handle_esp(now, src, data, &mut self.out)
    }

    /// The deadline passed: retransmissions, lifetimes, rekeys, DPD, keepalives.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.begin();
        self.tunnels.handle_timeout(now, &mut self.out);
    }

    /// Deletes every SA pair and ISAKMP SA (the Deletes are then polled out).
    pub fn shutdown(&mut self, now: Instant) {
        self.begin();
        self.tunnels.shutdown(now, &mut self.out);
    }

    /// `clear crypto sa [peer X]`: deletes IPsec SA pairs (sending Deletes); their count.
    pub fn clear_sa(&mut self, now: Instant, peer: Option<Ipv4Addr>) -> usize {
        self.begin();
        self.tunnels.clear_sa(now, peer, &mut self.out)
    }

    /// Deletes the IPsec SA pair whose inbound SPI is `spi_in` ([`Tunnels::delete_sa`]).
    pub fn delete_sa(&mut self, now: Instant, spi_in: u32) -> Result<(), crate::ike::Error> {
        self.begin();
        self.tunnels.delete_sa(now, spi_in, &mut self.out)
    }

    /// Rekeys the IPsec SA pair whose inbound SPI is `spi_in` now ([`Tunnels::rekey_sa`]).
    pub fn rekey_sa(&mut self, now: Instant, spi_in: u32) -> Result<(), crate::ike::Error> {
        self.begin();
        self.tunnels.rekey_sa(now, spi_in, &mut self.out)
    }

    /// `crypto ipsec client ezvpn connect NAME` ([`Tunnels::ezvpn_connect`]); false for an
    /// unknown profile.
    pub fn ezvpn_connect(&mut self, now: Instant, name: &str) -> bool {
        self.begin();
        self.tunnels.ezvpn_connect(now, name, &mut self.out)
    }

    /// `crypto ipsec client ezvpn xauth`: answers the pending XAUTH REQUEST of profile `name`
    /// ([`Tunnels::ezvpn_xauth`], after [`TunnelEvent::CredentialsNeeded`]).
    pub fn ezvpn_xauth(
        &mut self,
        now: Instant,
        name: &str,
        credentials: &crate::policy::XauthCredentials,
    ) -> Result<(), super::EzvpnXauthError> {
        self.begin();
        self.tunnels
            .ezvpn_xauth(now, name, credentials, &mut self.out)
    }

    /// `clear crypto isakmp [conn-id]`: deletes ISAKMP SAs, sending Deletes
    /// ([`Tunnels::clear_isakmp`]); their count. IPsec SAs stay.
    pub fn clear_isakmp(&mut self, now: Instant, conn_id: Option<u32>) -> usize {
        self.begin();
        self.tunnels.clear_isakmp(now, conn_id, &mut self.out)
    }

    /// Starts (or stops) handing keys to a key log ([`Tunnels::set_keylog`]). **Live key
    /// material**: never in production.
    pub fn set_keylog(&mut self, log: Option<Box<dyn super::KeyLog>>) {
        self.tunnels.set_keylog(log);
    }

    /// Starts (or stops) copying the IKE endpoint's events ([`Tunnels::copy_ike_events`]).
    pub fn copy_ike_events(&mut self, on: bool) {
        self.tunnels.copy_ike_events(on);
    }

    /// The next copied IKE event ([`Tunnels::poll_ike_event`]); poll it after
    /// [`Tunnel::poll_event`].
    pub fn poll_ike_event(&mut self) -> Option<super::IkeEvent> {
        self.tunnels.poll_ike_event()
    }

    /// The next datagram to send, written into `buf`. A buffer too small leaves it queued.
    pub fn poll_transmit(
        &mut self,
        buf: &mut [u8],
    ) -> Result<Option<TunnelTransmit>, BufferTooSmall> {
        while let Some((dest, pkt)) = self.out.packet(self.next_transmit) {
            if matches!(dest, Dest::Tun | Dest::Vti(_)) {
                self.next_transmit += 1;
                continue;
            }
            let dst = buf
                .get_mut(..pkt.len())
                .ok_or(BufferTooSmall { needed: pkt.len() })?;
            dst.copy_from_slice(pkt);
            let df = self.out.outer_df(self.next_transmit);
            self.next_transmit += 1;
            return Ok(Some(TunnelTransmit {
                dest,
                len: pkt.len(),
                df,
            }));
        }
        Ok(None)
    }

    /// The next decrypted packet, written into `buf`; its length. Packets of VTIs come out
    /// here too, among those of the crypto maps: [`Tunnel::poll_plaintext_iface`] says which
    /// interface each comes out of.
    pub fn poll_plaintext(&mut self, buf: &mut [u8]) -> Result<Option<usize>, BufferTooSmall> {
        Ok(self.poll_plaintext_iface(buf)?.map(|(n, _)| n))
    }

    /// The next decrypted packet, written into `buf`: its length and the interface it comes
    /// out of ([`super::Iface::Inside`] for crypto map SAs, [`super::Iface::Tunnel`] for a
    /// VTI's).
    pub fn poll_plaintext_iface(
        &mut self,
        buf: &mut [u8],
    ) -> Result<Option<(usize, super::Iface)>, BufferTooSmall> {
        while let Some((dest, pkt)) = self.out.packet(self.next_plaintext) {
            let iface = match dest {
                Dest::Tun => super::Iface::Inside,
                Dest::Vti(n) => super::Iface::Tunnel(n),
                _ => {
                    self.next_plaintext += 1;
                    continue;
                }
            };
            let dst = buf
                .get_mut(..pkt.len())
                .ok_or(BufferTooSmall { needed: pkt.len() })?;
            dst.copy_from_slice(pkt);
            self.next_plaintext += 1;
            return Ok(Some((pkt.len(), iface)));
        }
        Ok(None)
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<TunnelEvent> {
        self.tunnels.poll_event()
    }

    /// When to call [`Tunnel::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.tunnels.poll_timeout()
    }

    /// Outputs dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.out.dropped()
    }

    /// The text of an IOS show command.
    pub fn show(&self, now: Instant, what: Show) -> String {
        self.tunnels.show(now, what)
    }

    /// The seed's troubleshooting procedure, per peer (all when `peer` is `None`).
    pub fn diagnose(&self, now: Instant, peer: Option<Ipv4Addr>) -> Vec<Verdict> {
        self.tunnels.diagnose(now, peer)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::tunnel) const SITE_A: &str = include_str!("../ios/seed/siteA.cfg");
    pub(in crate::tunnel) const SITE_B: &str = include_str!("../ios/seed/siteB.cfg");

    pub(in crate::tunnel) fn ping(src: [u8; 4], dst: [u8; 4], seq: u16) -> Vec<u8> {
        let mut p = vec![0u8; 84];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&84u16.to_be_bytes());
        p[8] = 64;
        p[9] = 1;
        p[12..16].copy_from_slice(&src);
        p[16..20].copy_from_slice(&dst);
        p[20] = 8;
        p[26..28].copy_from_slice(&seq.to_be_bytes());
        let mut sum = 0u32;
        for c in p[..20].chunks(2) {
            sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        p[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
        p
    }

    /// The texts of the Phase 1 failures `t` recorded for `peer`.
    pub(in crate::tunnel) fn phase1_failures(t: &Tunnel, peer: &str) -> Vec<String> {
        let peer: std::net::IpAddr = peer.parse().unwrap();
        t.tunnels()
            .history()
            .peer(peer)
            .map(|h| {
                h.events
                    .iter()
                    .filter_map(|r| match &r.what {
                        crate::diagnose::Happening::Failed { phase: 1, text, .. } => {
                            Some(text.to_string())
                        }
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Moves every datagram from `from` to `to`; the decrypted packets `to` delivers.
    pub(in crate::tunnel) fn carry(
        from: &mut Tunnel,
        to: &mut Tunnel,
        now: Instant,
    ) -> Vec<Vec<u8>> {
        let mut buf = vec![0u8; 65_536];
        let mut moved = Vec::new();
        while let Ok(Some(t)) = from.poll_transmit(&mut buf) {
            moved.push((t, buf[..t.len].to_vec()));
        }
        let mut delivered = Vec::new();
        for (t, m) in moved {
            let verdict = match t.dest {
                Dest::Udp { local, remote } => to.handle_udp(now, remote, local, &m),
                Dest::Esp { src, .. } => to.handle_esp(now, src, &m),
                Dest::Tun | Dest::Vti(_) => Ok(()),
            };
            // Between two honest ends in memory nothing is ever dropped.
            assert_eq!(verdict, Ok(()));
            while let Ok(Some(n)) = to.poll_plaintext(&mut buf) {
                delivered.push(buf[..n].to_vec());
            }
        }
        delivered
    }

    #[test]
    fn batches_protect_and_deliver_in_order_with_the_verdicts_of_single_packets() {
        use super::super::{BatchVerdicts, Iface, BATCH};
        let mut a = Tunnel::from_ios(SITE_A, CoreOptions::seeded(1)).unwrap();
        let mut b = Tunnel::from_ios(SITE_B, CoreOptions::seeded(2)).unwrap();
        let mut now = Instant::from_millis(1_000);
        let first = ping([192, 168, 1, 10], [192, 168, 2, 10], 0);
        let v = a.handle_plaintext_batch(now, Iface::Inside, [first.as_slice()]);
        assert_eq!(v.no_sa, 1, "a batch of one is the single-packet verb");
        for _ in 0..20 {
            carry(&mut a, &mut b, now);
            carry(&mut b, &mut a, now);
            now = Instant::from_millis(now.as_millis() + 10);
        }
        // More than one pass of protected packets, with a packet no ACL permits and a
        // malformed one among them.
        let mut pkts: Vec<Vec<u8>> = (1..=(BATCH as u16 + 7))
            .map(|s| ping([192, 168, 1, 10], [192, 168, 2, 10], s))
            .collect();
        pkts.insert(3, ping([192, 168, 1, 10], [10, 9, 9, 9], 99));
        pkts.insert(5, vec![0x45, 0]);
        let v = a.handle_plaintext_batch(now, Iface::Inside, pkts.iter().map(|p| p.as_slice()));
        assert_eq!(
            v,
            BatchVerdicts {
                protected: BATCH + 7,
                not_protected: 1,
                malformed: 1,
                ..BatchVerdicts::default()
            }
        );
        let mut buf = vec![0u8; 4096];
        let mut esp = Vec::new();
        while let Ok(Some(t)) = a.poll_transmit(&mut buf) {
            assert!(matches!(t.dest, Dest::Esp { .. }), "{t:?}");
            esp.push(buf[..t.len].to_vec());
        }
        assert_eq!(esp.len(), BATCH + 7);
        // Site B takes them as one ESP batch and delivers them in order.
        let v = b.handle_esp_batch(
            now,
            [203, 0, 113, 1].into(),
            esp.iter().map(|p| p.as_slice()),
        );
        assert_eq!((v.protected, v.dropped), (BATCH + 7, 0));
        let mut delivered = Vec::new();
        while let Ok(Some(n)) = b.poll_plaintext(&mut buf) {
            delivered.push(buf[..n].to_vec());
        }
        let expected: Vec<Vec<u8>> = pkts
            .iter()
            .filter(|p| p.len() > 20 && p[16..20] == [192, 168, 2, 10])
            .cloned()
            .collect();
        assert_eq!(delivered, expected);
        // Replayed, the same batch is refused packet by packet and counted.
        let v = b.handle_esp_batch(
            now,
            [203, 0, 113, 1].into(),
            esp.iter().map(|p| p.as_slice()),
        );
        assert_eq!((v.protected, v.dropped), (0, BATCH + 7));
        // No VTI is configured: its packets are refused and counted.
        let v =
            a.handle_plaintext_batch(now, Iface::Tunnel(0), [first.as_slice(), first.as_slice()]);
        assert_eq!(v.no_interface, 2);
        assert_eq!(a.tunnels().counters().no_interface, 2);
        let ipsec = a.show(
            now,
            Show::IpsecSa {
                peer: None,
                detail: false,
            },
        );
        assert!(
            ipsec.contains(&format!("#pkts encaps: {}", BATCH + 7)),
            "{ipsec}"
        );
    }

    /// The first ESP packet's SPI, sent from `t` for `pkt`.
    fn sent_spi(t: &mut Tunnel, now: Instant, pkt: &[u8]) -> u32 {
        assert_eq!(t.handle_plaintext(now, pkt), TunVerdict::Protected);
        let mut buf = vec![0u8; 4096];
        let tx = t.poll_transmit(&mut buf).unwrap().unwrap();
        assert!(matches!(tx.dest, Dest::Esp { .. }));
        u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]])
    }

    #[test]
    fn the_pair_of_a_rekey_we_started_carries_traffic_once_the_peer_uses_it_or_after_a_second() {
        let mut a = Tunnel::from_ios(SITE_A, CoreOptions::seeded(1)).unwrap();
        let mut b = Tunnel::from_ios(SITE_B, CoreOptions::seeded(2)).unwrap();
        let mut now = Instant::from_millis(1_000);
        let ab = ping([192, 168, 1, 10], [192, 168, 2, 10], 1);
        let ba = ping([192, 168, 2, 10], [192, 168, 1, 10], 1);
        a.handle_plaintext(now, &ab);
        for _ in 0..20 {
            carry(&mut a, &mut b, now);
            carry(&mut b, &mut a, now);
            now = Instant::from_millis(now.as_millis() + 10);
        }
        let first_in = std::iter::from_fn(|| a.poll_event())
            .find_map(|e| match e {
                TunnelEvent::IpsecUp { spi_in, .. } => Some(spi_in),
                _ => None,
            })
            .unwrap();
        let old = sent_spi(&mut a, now, &ab);
        a.rekey_sa(now, first_in).unwrap();
        for _ in 0..4 {
            carry(&mut a, &mut b, now);
            carry(&mut b, &mut a, now);
        }
        let (new_in, new_out) = std::iter::from_fn(|| a.poll_event())
            .find_map(|e| match e {
                TunnelEvent::IpsecUp {
                    spi_in, spi_out, ..
                } => Some((spi_in, spi_out)),
                _ => None,
            })
            .expect("the rekey installed a new pair");
        assert_ne!(new_out, old);
        // Our QM3 may still be on its way: the old pair keeps carrying our traffic...
        assert_eq!(sent_spi(&mut a, now, &ab), old);
        // ...until the peer sends on the new pair (it switched on QM3).
        assert_eq!(b.handle_plaintext(now, &ba), TunVerdict::Protected);
        assert_eq!(carry(&mut b, &mut a, now), vec![ba.clone()]);
        assert_eq!(
            sent_spi(&mut a, now, &ab),
            new_out,
            "the peer used it: ours now"
        );
        // Without a packet from the peer, the new pair takes over after a second.
        let second_in = new_in;
        a.rekey_sa(now, second_in).unwrap();
        for _ in 0..4 {
            carry(&mut a, &mut b, now);
            carry(&mut b, &mut a, now);
        }
        let newest = std::iter::from_fn(|| a.poll_event())
            .filter_map(|e| match e {
                TunnelEvent::IpsecUp { spi_out, .. } => Some(spi_out),
                _ => None,
            })
            .last()
            .expect("the second rekey installed a pair");
        let soon = Instant::from_millis(now.as_millis() + 500);
        assert_eq!(sent_spi(&mut a, soon, &ab), new_out);
        let later = Instant::from_millis(now.as_millis() + 1_001);
        assert_eq!(sent_spi(&mut a, later, &ab), newest);
    }

    #[test]
    fn two_sites_from_their_ios_configurations_pass_packets_both_ways() {
        let mut a = Tunnel::from_ios(SITE_A, CoreOptions::seeded(1)).unwrap();
        let mut b = Tunnel::from_ios(SITE_B, CoreOptions::seeded(2)).unwrap();
        let mut now = Instant::from_millis(1_000);
        // The first packet starts IKE and is dropped, as on IOS.
        let first = ping([192, 168, 1, 10], [192, 168, 2, 10], 0);
        assert_eq!(a.handle_plaintext(now, &first), TunVerdict::NoSa);
        for _ in 0..20 {
            carry(&mut a, &mut b, now);
            carry(&mut b, &mut a, now);
            now = Instant::from_millis(now.as_millis() + 10);
        }
        let mut up = 0;
        while let Some(e) = a.poll_event() {
            if matches!(e, TunnelEvent::IpsecUp { .. }) {
                up += 1;
            }
        }
        assert_eq!(up, 1, "one SA pair at site A");
        for seq in 1..=5 {
            let p = ping([192, 168, 1, 10], [192, 168, 2, 10], seq);
            assert_eq!(a.handle_plaintext(now, &p), TunVerdict::Protected);
            assert_eq!(carry(&mut a, &mut b, now), vec![p]);
            let r = ping([192, 168, 2, 10], [192, 168, 1, 10], seq);
            assert_eq!(b.handle_plaintext(now, &r), TunVerdict::Protected);
            assert_eq!(carry(&mut b, &mut a, now), vec![r]);
        }
        let show = a.show(now, Show::IsakmpSa);
        assert!(show.contains("QM_IDLE"), "{show}");
        let ipsec = a.show(
            now,
            Show::IpsecSa {
                peer: None,
                detail: false,
            },
        );
        assert!(ipsec.contains("#pkts encaps: 5"), "{ipsec}");
    }

    /// Site A with `extra` after the crypto map entry's `match address` and `global` at the end.
    fn site_a_with(extra: &str, global: &str) -> String {
        SITE_A.replace(
            " match address 100\n",
            &format!(" match address 100\n{extra}"),
        ) + global
    }

    fn replay_window_of(text: &str) -> String {
        let mut a = Tunnel::from_ios(text, CoreOptions::seeded(1)).unwrap();
        let mut b = Tunnel::from_ios(SITE_B, CoreOptions::seeded(2)).unwrap();
        let mut now = Instant::from_millis(1_000);
        a.handle_plaintext(now, &ping([192, 168, 1, 10], [192, 168, 2, 10], 0));
        for _ in 0..20 {
            carry(&mut a, &mut b, now);
            carry(&mut b, &mut a, now);
            now = Instant::from_millis(now.as_millis() + 10);
        }
        let show = a.show(
            now,
            Show::IpsecSa {
                peer: None,
                detail: true,
            },
        );
        let sizes: Vec<&str> = show
            .lines()
            .filter_map(|l| l.split("replay window size: ").nth(1))
            .collect();
        assert_eq!(sizes.len(), 2, "{show}");
        assert_eq!(sizes[0], sizes[1], "{show}");
        sizes[0].to_string()
    }

    #[test]
    fn the_replay_window_comes_from_the_entry_then_the_global_setting() {
        assert_eq!(replay_window_of(SITE_A), "64");
        let global = "crypto ipsec security-association replay window-size 512\n";
        assert_eq!(replay_window_of(&site_a_with("", global)), "512");
        let entry = " set security-association replay window-size 1024\n";
        assert_eq!(replay_window_of(&site_a_with(entry, global)), "1024");
        let off = " set security-association replay disable\n";
        assert_eq!(replay_window_of(&site_a_with(off, global)), "0");
        let global_off = "crypto ipsec security-association replay disable\n";
        assert_eq!(replay_window_of(&site_a_with("", global_off)), "0");
        // The settings survive show running-config.
        let text = site_a_with(entry, global_off);
        let again = crate::ios::render(&crate::ios::parse(&text).unwrap().config);
        assert!(
            again.contains(entry) && again.contains(global_off),
            "{again}"
        );
    }

    #[test]
    fn a_small_buffer_leaves_the_datagram_queued() {
        let mut a = Tunnel::from_ios(SITE_A, CoreOptions::seeded(1)).unwrap();
        let now = Instant::from_millis(1_000);
        a.handle_plaintext(now, &ping([192, 168, 1, 10], [192, 168, 2, 10], 0));
        let mut tiny = [0u8; 8];
        let need = a.poll_transmit(&mut tiny).unwrap_err().needed;
        let mut buf = vec![0u8; need];
        let t = a.poll_transmit(&mut buf).unwrap().unwrap();
        assert_eq!(t.len, need);
        assert!(matches!(t.dest, Dest::Udp { remote, .. } if remote.port() == 500));
    }
}
