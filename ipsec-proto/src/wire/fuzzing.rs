//! Fuzz-target bodies, shared by `fuzz/fuzz_targets/*` and the stable corpus test
//! (`ipsec-proto/tests/fuzz_corpora.rs`).
//!
//! These are test harnesses: they take arbitrary bytes, must never panic on their own account,
//! and deliberately panic (assert) when a round-trip invariant breaks.

use super::*;

fn exercise(p: &RawPayload<'_>) {
    match p.ty {
        PayloadType::SA => {
            if let Ok(sa) = SaPayload::parse(p.body) {
                walk_sa(sa);
            }
        }
        PayloadType::ID => {
            if let Ok(id) = Identification::parse(p.body) {
                let _ = (id.protocol(), id.port(), id.value());
            }
        }
        PayloadType::NOTIFY => {
            if let Ok(n) = Notify::parse(p.body) {
                let _ = (n.doi(), n.protocol(), n.spi(), n.notify_type().to_string());
                if n.notify_type() == NotifyType::RESPONDER_LIFETIME {
                    Attributes::new(n.data()).for_each(|a| {
                        let _ = a.map(|a| a.as_u64());
                    });
                }
            }
        }
        PayloadType::DELETE => {
            if let Ok(d) = Delete::parse(p.body) {
                assert_eq!(d.spis().count(), usize::from(d.count()));
            }
        }
        PayloadType::VENDOR_ID => {
            let _ = recognize(p.body);
        }
        PayloadType::ATTRIBUTES => {
            if let Ok(c) = ConfigPayload::parse(p.body) {
                // Parse validated every attribute: the lazy walk sees them all and re-emitting
                // them reproduces the body byte for byte.
                let attrs: Vec<Attribute<'_>> = c.attributes().collect();
                let total: usize = attrs.iter().map(|a| a.raw().len()).sum();
                assert_eq!(total, c.attribute_bytes().len());
                let _ = (c.cfg_type().to_string(), c.identifier());
                let specs: Vec<Attr<'_>> = attrs
                    .iter()
                    .map(|a| match a.basic_value() {
                        Some(v) => Attr::basic(a.attr_type(), v),
                        None => Attr::variable(a.attr_type(), a.value()),
                    })
                    .collect();
                let mut buf = vec![0u8; p.body.len()];
                let mut w = Writer::new(&mut buf);
                ConfigSpec {
                    cfg_type: c.cfg_type(),
                    identifier: c.identifier(),
                    attributes: &specs,
                }
                .write_body(&mut w)
                .expect("a parsed Attribute payload fits its own size");
                // RESERVED is written as zero; everything else must match.
                let out = w.written();
                assert_eq!(out.get(4..), p.body.get(4..));
                assert_eq!(out.first(), p.body.first());
            }
        }
        PayloadType::NAT_OA | PayloadType::NAT_OA_DRAFT => {
            let _ = NatOa::parse(p.body).map(|o| o.addr());
        }
        _ => {
            let _ = (
                KeyExchange::parse(p.body),
                Nonce::parse(p.body),
                HashPayload::parse(p.body),
                NatD::parse(p.body),
            );
        }
    }
}

fn walk_sa(sa: SaPayload<'_>) {
    let _ = (sa.doi(), sa.situation());
    for p in sa.proposals().flatten() {
        let _ = (p.number(), p.protocol(), p.spi(), p.transform_count());
        for t in p.transforms().flatten() {
            let _ = (t.number(), t.transform_id(), t.reserved());
            for a in t.attributes().flatten() {
                let _ = (a.as_u64(), a.basic_value());
            }
        }
    }
}

/// Parse a message; if it parses, re-emit it and require identical bytes and an identical
/// re-parse.
pub fn isakmp_message(data: &[u8]) {
    if let Ok(h) = Header::parse(data) {
        if let Ok(msg) = h.message(data) {
            let body = msg.get(HEADER_LEN..).unwrap_or(&[]);
            if let Ok(list) = PayloadList::parse(h.next_payload, body) {
                list.iter().for_each(exercise);
            }
        }
    }
    let Ok(m) = OwnedMessage::parse(data) else {
        return;
    };
    let mut buf = vec![0u8; data.len()];
    let n = m
        .emit(&mut buf)
        .expect("a parsed message re-emits into its own size");
    let orig = Header::parse(data)
        .and_then(|h| h.message(data))
        .expect("parsed before");
    assert_eq!(&buf[..n], orig, "re-emitted bytes differ");
    let m2 = OwnedMessage::parse(&buf[..n]).expect("re-emitted message parses");
    assert_eq!(m, m2, "re-parse differs");
    if n > 0 {
        let mut small = vec![0u8; n - 1];
        assert!(matches!(
            m.emit(&mut small),
            Err(WireError::BufferTooSmall { .. })
        ));
    }
}

/// SA / proposal / transform / attribute parsing of arbitrary bytes; a fully decodable SA must
/// reach a fixed point after one canonical re-encoding.
pub fn sa_attributes(data: &[u8]) {
    if let Ok(sa) = SaPayload::parse(data) {
        walk_sa(sa);
        let _ = sa.validate();
    }
    if let Ok(p) = Proposal::parse(data) {
        p.transforms().flatten().for_each(|t| {
            t.attributes().for_each(|a| {
                let _ = a.map(|a| a.as_u64());
            })
        });
    }
    Attributes::new(data).for_each(|a| {
        let _ = a.map(|a| (a.as_u64(), a.raw().len()));
    });
    if let Ok(sa) = OwnedSa::from_body(data) {
        assert!(SaPayload::parse(data)
            .map(|s| s.validate().is_ok())
            .unwrap_or(false));
        let once = sa.to_body().expect("decoded SA re-encodes");
        assert!(once.len() <= data.len());
        let again = OwnedSa::from_body(&once).expect("canonical SA decodes");
        assert_eq!(sa, again);
        assert_eq!(again.to_body().expect("re-encodes"), once);
    }
}
