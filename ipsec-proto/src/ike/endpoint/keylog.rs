//! The endpoint's key-log hook ([`crate::keylog::KeyLog`]): the one place Wireshark keys leave
//! the endpoint, when an ISAKMP SA gets its keys and when an IPsec SA pair is made.
//!
//! A setter rather than a field of [`EndpointConfig`]: the configuration is plain data that is
//! cloned, compared (reconfiguration) and printed, none of which a hook into the embedder's
//! files or sockets can honestly do.

use std::sync::Mutex;

use super::*;
use crate::keylog::KeyLog;

/// The installed key log. In a `Mutex` only so that an [`Endpoint`] stays `Sync` (a Python
/// class must be) while a [`KeyLog`] need only be `Send`; it is never locked, every use goes
/// through `&mut` ([`Mutex::get_mut`]).
#[derive(Default)]
pub(super) struct KeyLogSlot(Mutex<Option<Box<dyn KeyLog>>>);

impl KeyLogSlot {
    fn get(&mut self) -> Option<&mut (dyn KeyLog + 'static)> {
        // A poisoned slot only means a key log panicked earlier; the `Option` is still whole.
        let slot = match self.0.get_mut() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        slot.as_deref_mut()
    }
}

impl Endpoint {
    /// Starts (or stops, with `None`) handing Wireshark keys to `log`: the whole
    /// `ikev1_decryption_table` at once and again each time an ISAKMP SA gets its keys (after
    /// Main Mode messages 3 and 4), and both halves of every IPsec SA pair this endpoint
    /// negotiates, inbound first, as the pair is made. **Live key material**: never install a
    /// key log in production.
    pub fn set_keylog(&mut self, log: Option<Box<dyn KeyLog>>) {
        let slot = match self.keylog.0.get_mut() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        *slot = log;
        self.log_ikev1_table();
    }

    /// Hands the current `ikev1_decryption_table` to the key log, if one is installed.
    pub(super) fn log_ikev1_table(&mut self) {
        if self.keylog.get().is_none() {
            return;
        }
        let table = self.ikev1_decryption_table();
        if let Some(k) = self.keylog.get() {
            k.ikev1_table(&table);
        }
    }

    /// Hands both halves of a new IPsec SA pair to the key log, if one is installed.
    pub(super) fn log_esp_pair(&mut self, keys: &ChildKeys) {
        if let Some(k) = self.keylog.get() {
            k.esp_sa(&keys.inbound);
            k.esp_sa(&keys.outbound);
        }
    }

    /// Wireshark's `ikev1_decryption_table`: one line per ISAKMP SA with keys,
    /// `<initiator cookie hex>,<Phase 1 encryption key hex>`.
    fn ikev1_decryption_table(&self) -> String {
        let mut out = String::new();
        for sa in self.sas.values() {
            let Some(keys) = sa.keys.as_ref() else {
                continue;
            };
            for b in sa.ci {
                out.push_str(&format!("{b:02x}"));
            }
            out.push(',');
            for b in keys.enc_key().expose_secret() {
                out.push_str(&format!("{b:02x}"));
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ike::fuzzing::{peer_config, Suite};
    use crate::time::Instant;
    use std::sync::Arc;

    const A: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
    const B: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);

    #[derive(Default)]
    struct Seen {
        tables: Vec<String>,
        esp_spis: Vec<u32>,
    }

    struct Log(Arc<Mutex<Seen>>);

    impl KeyLog for Log {
        fn ikev1_table(&mut self, table: &str) {
            self.0.lock().unwrap().tables.push(table.to_string());
        }
        fn esp_sa(&mut self, keys: &EspKeys) {
            self.0.lock().unwrap().esp_spis.push(keys.spi());
        }
    }

    fn endpoint(local: Ipv4Addr, peer: Ipv4Addr, seed: u64) -> Endpoint {
        let (l, r) = if local == A {
            ([192, 168, 1, 0], [192, 168, 2, 0])
        } else {
            ([192, 168, 2, 0], [192, 168, 1, 0])
        };
        let cfg = EndpointConfig {
            peers: vec![peer_config(
                peer,
                local,
                b"k",
                &[Suite::TripleDesSha1Group2],
                l,
                r,
            )],
            ..EndpointConfig::default()
        };
        Endpoint::new(cfg, Rng::from_u64(seed))
    }

    /// Moves every queued datagram of `from` (at `from_addr`) to `to` (at `to_addr`); returns
    /// how many moved.
    fn deliver(
        from: &mut Endpoint,
        from_addr: Ipv4Addr,
        to: &mut Endpoint,
        to_addr: Ipv4Addr,
        now: Instant,
    ) -> usize {
        let mut buf = vec![0u8; 4096];
        let mut n = 0;
        while let Ok(Some(t)) = from.poll_transmit(now, &mut buf) {
            let path = Path {
                local: SocketAddr::new(IpAddr::V4(to_addr), t.path.remote.port()),
                remote: SocketAddr::new(IpAddr::V4(from_addr), t.path.local.port()),
            };
            let _ = to.handle_datagram(now, path, buf.get(..t.len).unwrap());
            n += 1;
        }
        n
    }

    fn settle(a: &mut Endpoint, b: &mut Endpoint, now: Instant) {
        while deliver(a, A, b, B, now) + deliver(b, B, a, A, now) > 0 {}
    }

    #[test]
    fn the_endpoint_hands_its_keys_to_the_key_log_as_sas_are_keyed() {
        let mut a = endpoint(A, B, 1);
        let mut b = endpoint(B, A, 2);
        let seen = Arc::new(Mutex::new(Seen::default()));
        a.set_keylog(Some(Box::new(Log(seen.clone()))));
        // Installed before any SA: an empty table.
        assert_eq!(seen.lock().unwrap().tables, [String::new()]);
        let now = Instant::from_millis(1000);
        a.initiate(now, PeerId(0), 0).unwrap();
        settle(&mut a, &mut b, now);
        let pair = a.ipsec_sas(now);
        assert_eq!(pair.len(), 1);
        let (ci, _) = a.isakmp_cookies(IkeSaId(1001)).unwrap();
        let line: String = ci.iter().map(|b| format!("{b:02x}")).collect();
        let s = seen.lock().unwrap();
        // Once, when Main Mode 3/4 gave the SA its keys.
        assert_eq!(s.tables.len(), 2);
        let table = s.tables.last().unwrap();
        assert!(table.starts_with(&format!("{line},")), "{table}");
        assert_eq!(table.lines().count(), 1);
        assert_eq!(s.esp_spis, [pair[0].spi_in, pair[0].spi_out]);
        drop(s);
        // A log installed later gets the table of the SAs that exist at once.
        let late = Arc::new(Mutex::new(Seen::default()));
        b.set_keylog(Some(Box::new(Log(late.clone()))));
        assert_eq!(late.lock().unwrap().tables.len(), 1);
        assert_eq!(late.lock().unwrap().tables[0].lines().count(), 1);
        // Removed: nothing more is handed out.
        a.set_keylog(None);
        a.rekey_child(now, pair[0].child).unwrap();
        settle(&mut a, &mut b, now);
        assert_eq!(seen.lock().unwrap().esp_spis.len(), 2);
        assert_eq!(late.lock().unwrap().esp_spis.len(), 2);
    }
}
