//! Unit, golden and property tests for the wire layer.

use super::*;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use proptest::prelude::*;

use crate::test_util::hex;

fn ios_phase1_attrs() -> [Attr<'static>; 6] {
    [
        Attr::basic(
            IkeAttrType::ENCRYPTION_ALGORITHM,
            IkeEncryption::TRIPLE_DES_CBC,
        ),
        Attr::basic(IkeAttrType::HASH_ALGORITHM, IkeHash::SHA),
        Attr::basic(
            IkeAttrType::AUTHENTICATION_METHOD,
            AuthMethod::PRE_SHARED_KEY,
        ),
        Attr::basic(IkeAttrType::GROUP_DESCRIPTION, GroupDescription::MODP_1024),
        Attr::basic(IkeAttrType::LIFE_TYPE, LifeType::SECONDS),
        Attr::variable_u32(IkeAttrType::LIFE_DURATION, 86400),
    ]
}

fn write_sa(spec: &SaSpec<'_>) -> Vec<u8> {
    let mut buf = [0u8; 1024];
    let mut w = Writer::new(&mut buf);
    spec.write_body(&mut w).unwrap();
    w.written().to_vec()
}

const SAI_B: &str = "00000001000000010000002c01010001000000240101000080010005800200028003000180040002800b0001000c000400015180";

#[test]
fn golden_ios_phase1_sa_body() {
    let attrs = ios_phase1_attrs();
    let t = [TransformSpec {
        number: 1,
        id: TransformId::KEY_IKE,
        attributes: &attrs,
    }];
    let p = [ProposalSpec {
        number: 1,
        protocol: ProtocolId::ISAKMP,
        spi: &[],
        transforms: &t,
    }];
    let body = write_sa(&SaSpec {
        doi: DOI_IPSEC,
        situation: SIT_IDENTITY_ONLY,
        proposals: &p,
    });
    assert_eq!(body, hex(SAI_B));

    // And the parser reads it back field by field.
    let sa = SaPayload::parse(&body).unwrap();
    assert_eq!((sa.doi(), sa.situation()), (1, 1));
    let props: Vec<_> = sa.proposals().collect::<Result<_, _>>().unwrap();
    assert_eq!(props.len(), 1);
    assert_eq!(props[0].protocol(), ProtocolId::ISAKMP);
    assert_eq!(props[0].spi(), &[] as &[u8]);
    let ts: Vec<_> = props[0].transforms().collect::<Result<_, _>>().unwrap();
    assert_eq!(ts[0].transform_id(), TransformId::KEY_IKE);
    let attrs: Vec<_> = ts[0].attributes().collect::<Result<_, _>>().unwrap();
    let vals: Vec<(u16, bool, u64)> = attrs
        .iter()
        .map(|a| (a.attr_type(), a.is_basic(), a.as_u64().unwrap()))
        .collect();
    assert_eq!(
        vals,
        vec![
            (1, true, 5),
            (2, true, 2),
            (3, true, 1),
            (4, true, 2),
            (11, true, 1),
            (12, false, 86400)
        ]
    );
    assert_eq!(attrs[5].value(), &[0x00, 0x01, 0x51, 0x80]);
}

#[test]
fn golden_ios_qm1_esp_transform() {
    let attrs = [
        Attr::basic(IpsecAttrType::ENCAPSULATION_MODE, EncapsulationMode::TUNNEL),
        Attr::basic(IpsecAttrType::SA_LIFE_TYPE, LifeType::SECONDS),
        Attr::basic(IpsecAttrType::SA_LIFE_DURATION, 3600u16),
        Attr::basic(IpsecAttrType::SA_LIFE_TYPE, LifeType::KILOBYTES),
        Attr::variable_u32(IpsecAttrType::SA_LIFE_DURATION, 4_608_000),
        Attr::basic(
            IpsecAttrType::AUTHENTICATION_ALGORITHM,
            AuthAlgorithm::HMAC_SHA,
        ),
    ];
    let t = [TransformSpec {
        number: 1,
        id: TransformId::ESP_3DES,
        attributes: &attrs,
    }];
    let p = [ProposalSpec {
        number: 1,
        protocol: ProtocolId::ESP,
        spi: &[0x11, 0x22, 0x33, 0x44],
        transforms: &t,
    }];
    let body = write_sa(&SaSpec {
        doi: DOI_IPSEC,
        situation: SIT_IDENTITY_ONLY,
        proposals: &p,
    });
    let expected = hex("00000001 00000001
         00000030 01030401 11223344
         00000024 01030000
         80040001 80010001 80020e10 80010002 00020004 00465000 80050002");
    assert_eq!(body, expected);
    let sa = OwnedSa::from_body(&body).unwrap();
    assert_eq!(sa.proposals[0].spi, vec![0x11, 0x22, 0x33, 0x44]);
    assert_eq!(sa.proposals[0].transforms[0].attributes.len(), 6);
    assert_eq!(sa.to_body().unwrap(), body);
}

#[test]
fn attribute_encodings_and_misuse() {
    let mut buf = [0u8; 16];
    let mut w = Writer::new(&mut buf);
    Attr::variable_uint(2u16, 0x0102, 3).write(&mut w).unwrap();
    assert_eq!(w.written(), &[0, 2, 0, 3, 0, 1, 2]);
    let mut w = Writer::new(&mut buf);
    assert_eq!(
        Attr::variable_uint(2u16, 0x1_0000, 2).write(&mut w),
        Err(WireError::ValueTooLarge { len: 2 })
    );
    assert_eq!(
        Attr::variable_uint(2u16, 1, 0).write(&mut w),
        Err(WireError::ValueTooLarge { len: 0 })
    );
    assert_eq!(
        Attr::basic(0x8001u16, 1u16).write(&mut w),
        Err(WireError::ValueTooLarge { len: 2 })
    );
    let mut tiny = [0u8; 3];
    let mut w = Writer::new(&mut tiny);
    assert_eq!(
        Attr::basic(1u16, 1u16).write(&mut w),
        Err(WireError::BufferTooSmall { needed: 4 })
    );
}

#[test]
fn attribute_parse_errors() {
    // Truncated attribute header.
    let mut it = Attributes::new(&[0x80, 0x01, 0x00]);
    assert_eq!(
        it.next(),
        Some(Err(WireError::AttributeTruncated {
            offset: 0,
            available: 3
        }))
    );
    assert_eq!(it.next(), None);
    // TLV length beyond the area, after one good attribute.
    let data = hex("80010005 000c0008 00015180");
    let mut it = Attributes::new(&data);
    assert!(it.next().unwrap().is_ok());
    assert_eq!(
        it.next(),
        Some(Err(WireError::AttributeLengthBeyondEnd {
            offset: 4,
            attr_type: 12,
            length: 8,
            available: 4
        }))
    );
    assert_eq!(it.next(), None);
    // Integer reads: 1..=8 bytes only.
    let zero = hex("000c0000");
    let a = Attributes::new(&zero).next().unwrap().unwrap();
    assert_eq!(
        a.as_u64(),
        Err(WireError::AttributeValueLength {
            attr_type: 12,
            length: 0
        })
    );
    let nine = hex("000c0009 010203040506070809");
    let a = Attributes::new(&nine).next().unwrap().unwrap();
    assert!(matches!(
        a.as_u64(),
        Err(WireError::AttributeValueLength { length: 9, .. })
    ));
    let eight = hex("000c0008 0102030405060708");
    let a = Attributes::new(&eight).next().unwrap().unwrap();
    assert_eq!(a.as_u64(), Ok(0x0102_0304_0506_0708));
    assert_eq!(a.basic_value(), None);
}

fn vid_payload(next: u8, vid: &[u8]) -> Vec<u8> {
    let mut v = vec![next, 0];
    v.extend_from_slice(&((vid.len() + 4) as u16).to_be_bytes());
    v.extend_from_slice(vid);
    v
}

#[test]
fn payload_chain_good_with_padding() {
    let mut body = vid_payload(13, &vendor::DPD);
    body.extend(vid_payload(0, &vendor::NAT_T_RFC3947));
    body.extend([0u8; 7]);
    let list = PayloadList::parse(PayloadType::VENDOR_ID, &body).unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list.trailing(), 7);
    let first = list.as_slice()[0];
    assert_eq!(first.offset, 0);
    assert_eq!(first.raw.len(), 20);
    assert_eq!(first.body, &vendor::DPD);
    assert_eq!(list.as_slice()[1].offset, 20);
    assert_eq!(list.find_all(PayloadType::VENDOR_ID).count(), 2);
    assert!(list.find(PayloadType::SA).is_none());
    // Empty chain.
    let list = PayloadList::parse(PayloadType::NONE, &[0, 0, 0]).unwrap();
    assert!(list.is_empty());
    assert_eq!(list.trailing(), 3);
}

#[test]
fn payload_chain_errors() {
    let t = PayloadType::VENDOR_ID;
    let e = |first: PayloadType, body: &[u8]| PayloadList::parse(first, body).unwrap_err();
    assert_eq!(
        e(t, &[]),
        WireError::ChainOverrun {
            offset: 0,
            payload_type: t
        }
    );
    assert_eq!(
        e(t, &[0, 0, 0]),
        WireError::PayloadHeaderTruncated {
            offset: 0,
            payload_type: t,
            available: 3
        }
    );
    assert_eq!(
        e(t, &[0, 0, 0, 0]),
        WireError::ZeroLength {
            offset: 0,
            payload_type: t
        }
    );
    assert_eq!(
        e(t, &[0, 0, 0, 3]),
        WireError::LengthBelowGenericHeader {
            offset: 0,
            payload_type: t,
            length: 3
        }
    );
    assert_eq!(
        e(t, &[0, 0, 0, 9, 1, 2, 3, 4]),
        WireError::LengthBeyondEnd {
            offset: 0,
            payload_type: t,
            length: 9,
            available: 8
        }
    );
    // Chain announces another payload after the last one.
    let body = vid_payload(10, &[1, 2, 3, 4]);
    assert_eq!(
        e(t, &body),
        WireError::ChainOverrun {
            offset: 8,
            payload_type: PayloadType::NONCE
        }
    );
    // Too many payloads: 65 minimal ones.
    let mut body = Vec::new();
    for _ in 0..65 {
        body.extend(vid_payload(13, &[]));
    }
    assert_eq!(e(t, &body), WireError::TooManyPayloads { limit: 64 });
    // 64 is fine if the last ends the chain.
    let mut body = Vec::new();
    for i in 0..64 {
        body.extend(vid_payload(if i == 63 { 0 } else { 13 }, &[]));
    }
    assert_eq!(PayloadList::parse(t, &body).unwrap().len(), 64);
    // Body shorter than the type's fixed part (a 3-byte ID body).
    assert_eq!(
        e(PayloadType::ID, &[0, 0, 0, 7, 1, 17, 1]),
        WireError::BodyTooShort {
            payload_type: PayloadType::ID,
            needed: 4,
            len: 3
        }
    );
    // Reserved byte: tolerated and exposed, or refused in strict mode.
    let mut body = vid_payload(0, &[9; 4]);
    body[1] = 0x42;
    let p = Payloads::new(t, &body).next().unwrap().unwrap();
    assert_eq!(p.reserved, 0x42);
    assert_eq!(
        Payloads::new(t, &body).strict_reserved(true).next(),
        Some(Err(WireError::ReservedNonZero {
            offset: 0,
            payload_type: t,
            value: 0x42
        }))
    );
    // The iterator stops after an error.
    let mut it = Payloads::new(t, &[0, 0, 0, 0]);
    assert!(it.next().unwrap().is_err());
    assert!(it.next().is_none());
}

#[test]
fn sa_nested_errors() {
    let good = hex(SAI_B);
    assert_eq!(
        SaPayload::parse(&good[..7]),
        Err(WireError::BodyTooShort {
            payload_type: PayloadType::SA,
            needed: 8,
            len: 7
        })
    );
    // Proposal next payload 5 instead of 2/0.
    let mut bad = good.clone();
    bad[8] = 5;
    let sa = SaPayload::parse(&bad).unwrap();
    assert_eq!(
        sa.validate(),
        Err(WireError::UnexpectedNestedType {
            offset: 0,
            expected: PayloadType::PROPOSAL,
            found: PayloadType(5)
        })
    );
    // Stray bytes after the last proposal.
    let mut bad = good.clone();
    bad.extend([0, 0]);
    assert_eq!(
        SaPayload::parse(&bad).unwrap().validate(),
        Err(WireError::TrailingBytes {
            payload_type: PayloadType::SA,
            count: 2
        })
    );
    // Proposal length beyond the SA.
    let mut bad = good.clone();
    bad[11] = 0x2d;
    assert!(matches!(
        SaPayload::parse(&bad).unwrap().validate(),
        Err(WireError::LengthBeyondEnd {
            payload_type: PayloadType::PROPOSAL,
            length: 0x2d,
            ..
        })
    ));
    // SPI size beyond the proposal.
    assert_eq!(
        Proposal::parse(&[1, 3, 9, 1, 0, 0, 0, 0]),
        Err(WireError::SpiBeyondEnd {
            payload_type: PayloadType::PROPOSAL,
            spi_size: 9,
            len: 8
        })
    );
    assert!(matches!(
        Proposal::parse(&[1, 3, 0]),
        Err(WireError::BodyTooShort { .. })
    ));
    // Transform body shorter than its fixed part: transform length 7.
    let bad = hex("00000001 00000001 0000000f 01010001 00000007 010100");
    assert_eq!(
        SaPayload::parse(&bad).unwrap().validate(),
        Err(WireError::BodyTooShort {
            payload_type: PayloadType::TRANSFORM,
            needed: 4,
            len: 3
        })
    );
    // Attribute length beyond the transform.
    let mut bad = good.clone();
    let n = bad.len();
    bad[n - 5] = 5; // TLV life duration claims 5 bytes, has 4
    assert!(matches!(
        SaPayload::parse(&bad).unwrap().validate(),
        Err(WireError::AttributeLengthBeyondEnd { attr_type: 12, .. })
    ));
    // Zero-length transform.
    let bad = hex("00000001 00000001 0000000c 01010001 00000000");
    assert!(matches!(
        SaPayload::parse(&bad).unwrap().validate(),
        Err(WireError::ZeroLength {
            payload_type: PayloadType::TRANSFORM,
            ..
        })
    ));
}

#[test]
fn notify_dpd_and_responder_lifetime() {
    let spi = [0xa1u8; 16];
    let seq = 0x0102_0304u32.to_be_bytes();
    let spec = NotifySpec {
        doi: DOI_IPSEC,
        protocol: ProtocolId::ISAKMP,
        notify_type: NotifyType::R_U_THERE,
        spi: &spi,
        data: &seq,
    };
    let mut buf = [0u8; 64];
    let mut w = Writer::new(&mut buf);
    spec.write_body(&mut w).unwrap();
    let body = w.written().to_vec();
    assert_eq!(&body[..8], &hex("00000001 01 10 8d28")[..]);
    let n = Notify::parse(&body).unwrap();
    assert_eq!(n.notify_type(), NotifyType::R_U_THERE);
    assert_eq!(n.spi(), &spi);
    assert_eq!(n.data(), &seq);
    assert_eq!(n.protocol(), ProtocolId::ISAKMP);
    assert_eq!(n.doi(), 1);
    // RESPONDER-LIFETIME data is an attribute run.
    let rl = hex("00000001 03 04 6000 11223344 80010001 00020004 00000e10");
    let n = Notify::parse(&rl).unwrap();
    assert_eq!(n.notify_type(), NotifyType::RESPONDER_LIFETIME);
    let a: Vec<u64> = Attributes::new(n.data())
        .map(|a| a.unwrap().as_u64().unwrap())
        .collect();
    assert_eq!(a, vec![1, 3600]);
    assert!(matches!(
        Notify::parse(&hex("00000001 03 05 6000 1122")),
        Err(WireError::SpiBeyondEnd { spi_size: 5, .. })
    ));
    assert!(matches!(
        Notify::parse(&[0; 7]),
        Err(WireError::BodyTooShort { needed: 8, .. })
    ));
}

#[test]
fn notify_names() {
    assert_eq!(
        NotifyType::NO_PROPOSAL_CHOSEN.to_string(),
        "NO-PROPOSAL-CHOSEN"
    );
    assert_eq!(
        NotifyType::NO_PROPOSAL_CHOSEN.ios_name(),
        Some("PROPOSAL_NOT_CHOSEN")
    );
    assert_eq!(NotifyType(24578).to_string(), "INITIAL-CONTACT");
    assert_eq!(NotifyType(36137).to_string(), "R-U-THERE-ACK");
    assert_eq!(NotifyType(9999).to_string(), "NOTIFY(9999)");
    assert!(NotifyType::INVALID_HASH_INFORMATION.is_error());
    assert!(!NotifyType::R_U_THERE.is_error());
    assert_eq!(PayloadType::SA.to_string(), "SA");
    assert_eq!(PayloadType(200).to_string(), "PAYLOAD-TYPE(200)");
    assert_eq!(ExchangeType::QUICK_MODE.to_string(), "QUICK_MODE");
    assert_eq!(ProtocolId::ESP.to_string(), "PROTO_IPSEC_ESP");
    assert_eq!(IdType::IPV4_ADDR_SUBNET.to_string(), "ID_IPV4_ADDR_SUBNET");
}

#[test]
fn delete_roundtrip_and_errors() {
    let spis = hex("11223344 55667788");
    let spec = DeleteSpec {
        doi: 1,
        protocol: ProtocolId::ESP,
        spi_size: 4,
        spis: &spis,
    };
    let mut buf = [0u8; 64];
    let mut w = Writer::new(&mut buf);
    spec.write_body(&mut w).unwrap();
    let body = w.written().to_vec();
    assert_eq!(body, hex("00000001 03 04 0002 11223344 55667788"));
    let d = Delete::parse(&body).unwrap();
    assert_eq!(d.count(), 2);
    let got: Vec<&[u8]> = d.spis().collect();
    assert_eq!(got, vec![&spis[..4], &spis[4..]]);
    assert_eq!(
        Delete::parse(&hex("00000001 03 04 0003 11223344 55667788")),
        Err(WireError::DeleteSpiMismatch {
            count: 3,
            spi_size: 4,
            len: 8
        })
    );
    assert!(Delete::parse(&hex("00000001 03 04 0001 11223344 55")).is_err());
    let mut w = Writer::new(&mut buf);
    let bad = DeleteSpec {
        spis: &spis[..5],
        ..spec
    };
    assert!(bad.write_body(&mut w).is_err());
}

#[test]
fn identification_values() {
    let idii = hex("011101f40a000001");
    let id = Identification::parse(&idii).unwrap();
    assert_eq!(id.id_type(), IdType::IPV4_ADDR);
    assert_eq!((id.protocol(), id.port()), (17, 500));
    assert_eq!(id.value(), Ok(IdValue::Ipv4(Ipv4Addr::new(10, 0, 0, 1))));
    let spec = IdSpec {
        value: IdValue::Ipv4(Ipv4Addr::new(10, 0, 0, 1)),
        protocol: 17,
        port: 500,
    };
    let mut buf = [0u8; 64];
    let mut w = Writer::new(&mut buf);
    spec.write_body(&mut w).unwrap();
    assert_eq!(w.written(), &idii[..]);

    let subnet = hex("04000000 c0a80100 ffffff00");
    assert_eq!(
        Identification::parse(&subnet).unwrap().value(),
        Ok(IdValue::Ipv4Subnet(
            Ipv4Addr::new(192, 168, 1, 0),
            Ipv4Addr::new(255, 255, 255, 0)
        ))
    );
    let range = hex("07000000 0a000001 0a0000ff");
    assert!(matches!(
        Identification::parse(&range).unwrap().value(),
        Ok(IdValue::Ipv4Range(..))
    ));
    let v6 = [&[5u8, 0, 0, 0][..], &[0u8; 15], &[1]].concat();
    assert_eq!(
        Identification::parse(&v6).unwrap().value(),
        Ok(IdValue::Ipv6(Ipv6Addr::LOCALHOST))
    );
    let fqdn = [&[2u8, 0, 0, 0][..], b"r1.example"].concat();
    assert_eq!(
        Identification::parse(&fqdn).unwrap().value(),
        Ok(IdValue::Fqdn(b"r1.example"))
    );
    let user = [&[3u8, 0, 0, 0][..], b"a@b"].concat();
    assert_eq!(
        Identification::parse(&user).unwrap().value(),
        Ok(IdValue::UserFqdn(b"a@b"))
    );
    let keyid = [&[11u8, 0, 0, 0][..], b"k"].concat();
    assert_eq!(
        Identification::parse(&keyid).unwrap().value(),
        Ok(IdValue::Other(IdType::KEY_ID, b"k"))
    );
    assert_eq!(
        Identification::parse(&hex("01110000 0a0000"))
            .unwrap()
            .value(),
        Err(WireError::IdDataLength { id_type: 1, len: 3 })
    );
    assert_eq!(
        Identification::parse(&hex("04000000 0a000000 ffff"))
            .unwrap()
            .value(),
        Err(WireError::IdDataLength { id_type: 4, len: 6 })
    );
    assert!(Identification::parse(&[1, 17, 1]).is_err());
}

#[test]
fn nat_oa_and_nat_d() {
    let mut buf = [0u8; 64];
    let mut w = Writer::new(&mut buf);
    write_nat_oa_body(&mut w, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))).unwrap();
    assert_eq!(w.written(), &hex("01000000 c0000207")[..]);
    let oa_body = hex("01000000 c0000207");
    let oa = NatOa::parse(&oa_body).unwrap();
    assert_eq!(oa.addr(), IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)));
    assert_eq!(oa.reserved(), [0; 3]);
    let v6 = [&[5u8, 0, 0, 0][..], &[0u8; 15], &[1]].concat();
    assert_eq!(
        NatOa::parse(&v6).unwrap().addr(),
        IpAddr::V6(Ipv6Addr::LOCALHOST)
    );
    assert_eq!(
        NatOa::parse(&hex("01000000 c00002")),
        Err(WireError::IdDataLength { id_type: 1, len: 3 })
    );
    assert!(NatOa::parse(&hex("02000000 c0000207")).is_err());
    assert!(NatOa::parse(&[1, 0]).is_err());
    assert_eq!(NatD::parse(&[7; 20]).unwrap().data(), &[7; 20]);
    assert!(NatD::parse(&[]).is_err());
    assert!(Nonce::parse(&[]).is_err());
}

#[test]
fn vendor_recognition() {
    use vendor::*;
    assert_eq!(recognize(&NAT_T_RFC3947), Some(KnownVendor::NatTRfc3947));
    for (v, n) in [
        (NAT_T_DRAFT_00, 0),
        (NAT_T_DRAFT_02, 2),
        (NAT_T_DRAFT_03, 3),
        (NAT_T_DRAFT_04, 4),
        (NAT_T_DRAFT_05, 5),
        (NAT_T_DRAFT_06, 6),
        (NAT_T_DRAFT_07, 7),
        (NAT_T_DRAFT_08, 8),
    ] {
        assert_eq!(recognize(&v), Some(KnownVendor::NatTDraft(n)));
    }
    assert_eq!(
        recognize(&NAT_T_DRAFT_02_N),
        Some(KnownVendor::NatTDraft02N)
    );
    assert!(recognize(&NAT_T_DRAFT_02_N).unwrap().is_nat_t());
    assert_eq!(
        recognize(&DPD),
        Some(KnownVendor::Dpd { major: 1, minor: 0 })
    );
    let mut unity = CISCO_UNITY;
    unity[15] = 3;
    assert_eq!(
        recognize(&unity),
        Some(KnownVendor::CiscoUnity { major: 1, minor: 3 })
    );
    assert_eq!(
        recognize(&hex("09002689dfd6b71280a224dec33b81e5")),
        Some(KnownVendor::Xauth)
    );
    assert_eq!(
        recognize(&hex("3e984048101e66cc659fd002b0ed3655")),
        Some(KnownVendor::CiscoIos)
    );
    assert_eq!(
        recognize(&[&FRAGMENTATION[..], &[0xc0, 0, 0, 0]].concat()),
        Some(KnownVendor::Fragmentation)
    );
    assert_eq!(recognize(&STRONGSWAN), Some(KnownVendor::StrongSwan));
    assert_eq!(recognize(&KAME), Some(KnownVendor::Kame));
    assert_eq!(
        recognize(&[&CISCO_VPN3000_PREFIX[..], &[4, 0]].concat()),
        Some(KnownVendor::CiscoVpn3000)
    );
    assert_eq!(
        recognize(&CISCO_VPN3000_CLIENT),
        Some(KnownVendor::CiscoVpn3000Client)
    );
    assert_eq!(recognize(&[0u8; 16]), None);
    assert_eq!(recognize(&DPD[..14]), None);
    assert_eq!(recognize(&[]), None);
}

fn hdr(exchange: ExchangeType, flags: Flags, mid: u32) -> Header {
    Header::new(
        Cookie(hex("a1b2c3d4e5f60718").try_into().unwrap()),
        Cookie::ZERO,
        exchange,
        flags,
        mid,
    )
}

/// MM1 the way IOS builds it: SA, then the four NAT-T VIDs.
fn build_mm1(buf: &mut [u8]) -> Result<usize, WireError> {
    let attrs = ios_phase1_attrs();
    let t = [TransformSpec {
        number: 1,
        id: TransformId::KEY_IKE,
        attributes: &attrs,
    }];
    let p = [ProposalSpec {
        number: 1,
        protocol: ProtocolId::ISAKMP,
        spi: &[],
        transforms: &t,
    }];
    let mut b = MessageBuilder::new(buf, hdr(ExchangeType::MAIN_MODE, Flags::default(), 0))?;
    b.add_sa(&SaSpec {
        doi: 1,
        situation: 1,
        proposals: &p,
    })?;
    for v in [
        vendor::NAT_T_RFC3947,
        vendor::NAT_T_DRAFT_07,
        vendor::NAT_T_DRAFT_03,
        vendor::NAT_T_DRAFT_02_N,
    ] {
        b.add_vendor_id(&v)?;
    }
    Ok(b.finish()?.len())
}

#[test]
fn mm1_builds_and_parses() {
    let mut buf = [0u8; 512];
    let n = build_mm1(&mut buf).unwrap();
    let msg = &buf[..n];
    assert_eq!(n, 28 + 4 + 52 + 4 * 20);
    let h = Header::parse(msg).unwrap();
    assert_eq!(h.next_payload, PayloadType::SA);
    assert_eq!(h.version, 0x10);
    assert_eq!((h.major_version(), h.minor_version()), (1, 0));
    assert_eq!(h.length as usize, n);
    assert!(h.responder_cookie.is_zero());
    assert_eq!(h.initiator_cookie.to_string(), "a1b2c3d4e5f60718");
    let list = PayloadList::parse(h.next_payload, &h.message(msg).unwrap()[28..]).unwrap();
    let types: Vec<u8> = list.iter().map(|p| p.ty.0).collect();
    assert_eq!(types, vec![1, 13, 13, 13, 13]);
    assert_eq!(list.find(PayloadType::SA).unwrap().body, &hex(SAI_B)[..]);
    let vids: Vec<_> = list
        .find_all(PayloadType::VENDOR_ID)
        .map(|p| recognize(p.body).unwrap())
        .collect();
    assert_eq!(
        vids,
        vec![
            KnownVendor::NatTRfc3947,
            KnownVendor::NatTDraft(7),
            KnownVendor::NatTDraft(3),
            KnownVendor::NatTDraft02N
        ]
    );
    let owned = OwnedMessage::parse(msg).unwrap();
    assert!(matches!(owned.payloads[0], OwnedPayload::Sa(_)));
    let mut out = [0u8; 512];
    let m = owned.emit(&mut out).unwrap();
    assert_eq!(&out[..m], msg);

    // Every smaller buffer fails cleanly with the size needed at that point.
    for size in 0..n {
        let mut small = vec![0u8; size];
        match build_mm1(&mut small) {
            Err(WireError::BufferTooSmall { needed }) => assert!(needed > size),
            other => panic!("size {size}: {other:?}"),
        }
    }
}

#[test]
fn header_and_length_checks() {
    assert_eq!(
        Header::parse(&[0; 27]),
        Err(WireError::TruncatedHeader { len: 27 })
    );
    let mut h = hdr(
        ExchangeType::QUICK_MODE,
        Flags::ENCRYPTION | Flags::COMMIT,
        7,
    );
    h.length = 40;
    let bytes = h.to_bytes();
    let back = Header::parse(&bytes).unwrap();
    assert_eq!(back, h);
    assert!(back.flags.encrypted() && back.flags.commit());
    assert_eq!(
        back.message(&bytes),
        Err(WireError::HeaderLengthBeyondDatagram {
            length: 40,
            available: 28
        })
    );
    h.length = 27;
    assert_eq!(
        h.message(&h.to_bytes()),
        Err(WireError::HeaderLengthTooSmall { length: 27 })
    );
    h.length = 28;
    let mut d = h.to_bytes().to_vec();
    d.extend([1, 2, 3]);
    assert_eq!(h.message(&d).unwrap().len(), 28);
}

#[test]
fn quick_mode_hash_placeholder() {
    let mut buf = [0u8; 512];
    let mut b = MessageBuilder::new(
        &mut buf,
        hdr(ExchangeType::QUICK_MODE, Flags::ENCRYPTION, 0x5a5a_5a5a),
    )
    .unwrap();
    let slot = b.add_hash_placeholder(20).unwrap();
    assert_eq!(slot.offset, 32);
    assert!(b.bytes_after(slot).is_empty());
    let sa = hex(SAI_B);
    b.add_raw(PayloadType::SA, &sa).unwrap();
    b.add_nonce(&[0x40; 20]).unwrap();
    b.add_id(&IdSpec {
        value: IdValue::Ipv4Subnet(
            Ipv4Addr::new(192, 168, 1, 0),
            Ipv4Addr::new(255, 255, 255, 0),
        ),
        protocol: 0,
        port: 0,
    })
    .unwrap();
    let after = b.bytes_after(slot).to_vec();
    assert_eq!(after.len(), (4 + sa.len()) + 24 + 16);
    assert_eq!(after[0], 10); // SA's next payload patched to NONCE
    assert_eq!(
        b.fill(slot, &[1; 19]),
        Err(WireError::BadPlaceholder {
            offset: 32,
            len: 20
        })
    );
    b.fill(slot, &[0xee; 20]).unwrap();
    assert_eq!(b.pad_to_block(8).unwrap(), (8 - (24 + after.len()) % 8) % 8);
    let msg = b.finish().unwrap().to_vec();
    assert_eq!((msg.len() - 28) % 8, 0);
    let h = Header::parse(&msg).unwrap();
    assert_eq!(h.length as usize, msg.len());
    let list = PayloadList::parse(h.next_payload, &msg[28..]).unwrap();
    let hash = list.as_slice()[0];
    assert_eq!(hash.ty, PayloadType::HASH);
    assert_eq!(hash.body, &[0xee; 20]);
    // The bytes after the HASH payload are exactly what the IKE layer hashed.
    assert_eq!(
        &msg[28 + hash.raw.len()..28 + hash.raw.len() + after.len()],
        &after[..]
    );
    assert_eq!(list.trailing(), msg.len() - 28 - 24 - after.len());
}

#[test]
fn builder_rolls_back_failed_payload() {
    let mut buf = [0u8; 40];
    let mut b =
        MessageBuilder::new(&mut buf, hdr(ExchangeType::INFORMATIONAL, Flags(0), 1)).unwrap();
    b.add_vendor_id(&[1, 2]).unwrap();
    assert_eq!(
        b.add_vendor_id(&[0; 16]),
        Err(WireError::BufferTooSmall { needed: 54 })
    );
    let msg = b.finish().unwrap().to_vec();
    assert_eq!(msg.len(), 34);
    let owned = OwnedMessage::parse(&msg).unwrap();
    assert_eq!(owned.payloads.len(), 1);
    // Payload longer than 65535 is refused.
    let mut big = vec![0u8; 70_000];
    let mut b =
        MessageBuilder::new(&mut big, hdr(ExchangeType::INFORMATIONAL, Flags(0), 1)).unwrap();
    assert!(matches!(
        b.add_raw(PayloadType::CERT, &[0; 65532]),
        Err(WireError::PayloadTooLong { .. })
    ));
    assert_eq!(b.len(), 28);
}

#[test]
fn non_canonical_sa_is_kept_raw() {
    // Transform count field says 2 but there is one transform: the structured form would
    // re-encode it as 1, so the owned message keeps the bytes.
    let mut sa = hex(SAI_B);
    sa[15] = 2;
    let mut buf = [0u8; 256];
    let mut b = MessageBuilder::new(&mut buf, hdr(ExchangeType::MAIN_MODE, Flags(0), 0)).unwrap();
    b.add_raw(PayloadType::SA, &sa).unwrap();
    let msg = b.finish().unwrap().to_vec();
    let owned = OwnedMessage::parse(&msg).unwrap();
    assert!(matches!(owned.payloads[0], OwnedPayload::Raw { .. }));
    let mut out = [0u8; 256];
    let n = owned.emit(&mut out).unwrap();
    assert_eq!(&out[..n], &msg[..]);
    crate::wire::fuzzing::isakmp_message(&msg);
    crate::wire::fuzzing::sa_attributes(&sa);
}

// ---- property tests ----

fn arb_attr() -> impl Strategy<Value = OwnedAttr> {
    prop_oneof![
        (0u16..0x8000, any::<u16>()).prop_map(|(t, v)| OwnedAttr {
            attr_type: t,
            basic: true,
            value: v.to_be_bytes().to_vec()
        }),
        (0u16..0x8000, proptest::collection::vec(any::<u8>(), 0..12)).prop_map(|(t, v)| {
            OwnedAttr {
                attr_type: t,
                basic: false,
                value: v,
            }
        }),
    ]
}

fn arb_sa() -> impl Strategy<Value = OwnedSa> {
    let transform = (
        any::<u8>(),
        any::<u8>(),
        proptest::collection::vec(arb_attr(), 0..6),
    )
        .prop_map(|(number, id, attributes)| OwnedTransform {
            number,
            id: TransformId(id),
            attributes,
        });
    let proposal = (
        any::<u8>(),
        any::<u8>(),
        proptest::collection::vec(any::<u8>(), 0..17),
        proptest::collection::vec(transform, 1..4),
    )
        .prop_map(|(number, protocol, spi, transforms)| OwnedProposal {
            number,
            protocol: ProtocolId(protocol),
            spi,
            transforms,
        });
    (
        any::<u32>(),
        any::<u32>(),
        proptest::collection::vec(proposal, 1..4),
    )
        .prop_map(|(doi, situation, proposals)| OwnedSa {
            doi,
            situation,
            proposals,
        })
}

fn arb_payload() -> impl Strategy<Value = OwnedPayload> {
    prop_oneof![
        arb_sa().prop_map(OwnedPayload::Sa),
        (
            any::<u8>().prop_filter("not SA or NONE", |t| *t != 0 && *t != 1),
            prop_oneof![Just(0u8), any::<u8>()],
            proptest::collection::vec(any::<u8>(), 0..40)
        )
            .prop_filter("body holds the fixed part", |(ty, _, body)| {
                body.len() >= PayloadType(*ty).fixed_body_len()
            })
            .prop_map(|(ty, reserved, body)| OwnedPayload::Raw {
                ty: PayloadType(ty),
                reserved,
                body
            }),
    ]
}

fn arb_message() -> impl Strategy<Value = OwnedMessage> {
    (
        any::<[u8; 8]>(),
        any::<[u8; 8]>(),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        any::<u32>(),
        proptest::collection::vec(arb_payload(), 0..8),
        proptest::collection::vec(any::<u8>(), 0..16),
    )
        .prop_map(|(i, r, ver, ex, fl, mid, payloads, trailing)| {
            let next = match payloads.first() {
                Some(OwnedPayload::Sa(_)) => PayloadType::SA,
                Some(OwnedPayload::Raw { ty, .. }) => *ty,
                None => PayloadType::NONE,
            };
            let mut header = Header::new(Cookie(i), Cookie(r), ExchangeType(ex), Flags(fl), mid);
            header.version = ver;
            header.next_payload = next;
            OwnedMessage {
                header,
                payloads,
                trailing,
            }
        })
}

proptest! {
    #[test]
    fn prop_message_roundtrip(m in arb_message()) {
        let mut buf = vec![0u8; 8192];
        let n = m.emit(&mut buf).unwrap();
        let parsed = OwnedMessage::parse(&buf[..n]).unwrap();
        let mut expected = m.clone();
        expected.header.length = n as u32;
        prop_assert_eq!(&parsed, &expected);
        let mut buf2 = vec![0u8; 8192];
        let n2 = parsed.emit(&mut buf2).unwrap();
        prop_assert_eq!(&buf[..n], &buf2[..n2]);
        crate::wire::fuzzing::isakmp_message(&buf[..n]);
    }

    #[test]
    fn prop_sa_roundtrip(sa in arb_sa()) {
        let body = sa.to_body().unwrap();
        prop_assert_eq!(OwnedSa::from_body(&body).unwrap(), sa);
        crate::wire::fuzzing::sa_attributes(&body);
    }

    #[test]
    fn prop_random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        crate::wire::fuzzing::isakmp_message(&data);
        crate::wire::fuzzing::sa_attributes(&data);
        let _ = PayloadList::parse(PayloadType(data.first().copied().unwrap_or(1)), &data);
    }

    #[test]
    fn prop_mutated_mm1_never_panics(pos in 0usize..212, val in any::<u8>()) {
        let mut buf = [0u8; 512];
        let n = build_mm1(&mut buf).unwrap();
        let mut msg = buf[..n].to_vec();
        let p = pos % n;
        msg[p] = val;
        crate::wire::fuzzing::isakmp_message(&msg);
        crate::wire::fuzzing::sa_attributes(&msg[32..]);
    }
}

#[test]
fn checked_in_seed_messages_are_well_formed() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/isakmp_message");
    // Only the hand-made seeds (named); fuzzer-found entries are hashes and may be malformed.
    let seeds = [
        "mm1_ios",
        "mm3_ke_nonce_natd",
        "info_dpd_r_u_there",
        "info_delete_esp",
        "info_delete_isakmp",
        "notify_no_proposal",
        "qm1_natoa_fragvid",
        "qm2_responder_lifetime",
    ];
    for name in seeds {
        let data = std::fs::read(dir.join(name)).unwrap();
        let m = OwnedMessage::parse(&data).unwrap_or_else(|e| panic!("{name}: {e}"));
        let h = Header::parse(&data).unwrap();
        let list = PayloadList::parse(h.next_payload, &data[28..]).unwrap();
        for p in list.iter() {
            match p.ty {
                PayloadType::SA => SaPayload::parse(p.body).unwrap().validate().unwrap(),
                PayloadType::NOTIFY => {
                    Notify::parse(p.body).unwrap();
                }
                PayloadType::DELETE => {
                    Delete::parse(p.body).unwrap();
                }
                PayloadType::ID => {
                    Identification::parse(p.body).unwrap().value().unwrap();
                }
                PayloadType::NAT_OA => {
                    NatOa::parse(p.body).unwrap();
                }
                PayloadType::VENDOR_ID => assert!(recognize(p.body).is_some(), "{name}"),
                _ => {}
            }
        }
        assert!(m.payloads.iter().all(|p| !matches!(
            p,
            OwnedPayload::Raw {
                ty: PayloadType::SA,
                ..
            }
        )));
    }
}

fn arb_id_value() -> impl Strategy<Value = (u8, Vec<u8>)> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|a| (1u8, a.to_vec())),
        any::<[u8; 8]>().prop_map(|a| (4u8, a.to_vec())),
        any::<[u8; 8]>().prop_map(|a| (7u8, a.to_vec())),
        any::<[u8; 16]>().prop_map(|a| (5u8, a.to_vec())),
        any::<[u8; 32]>().prop_map(|a| (6u8, a.to_vec())),
        any::<[u8; 32]>().prop_map(|a| (8u8, a.to_vec())),
        (2u8..4, proptest::collection::vec(any::<u8>(), 0..30)),
        (9u8..=255, proptest::collection::vec(any::<u8>(), 0..30)),
    ]
}

proptest! {
    /// Every builder method, then every typed view: the fields come back unchanged.
    #[test]
    fn prop_builders_and_views_agree(
        mid in any::<u32>(),
        hash_len in 1usize..65,
        ke in proptest::collection::vec(any::<u8>(), 1..300),
        nonce in proptest::collection::vec(any::<u8>(), 1..64),
        (id_type, id_data) in arb_id_value(),
        id_proto in any::<u8>(),
        id_port in any::<u16>(),
        n_proto in any::<u8>(),
        n_type in any::<u16>(),
        n_spi in proptest::collection::vec(any::<u8>(), 0..20),
        n_data in proptest::collection::vec(any::<u8>(), 0..20),
        d_size in 0u8..20,
        d_count in 0usize..5,
        natd in proptest::collection::vec(any::<u8>(), 1..40),
        oa in prop_oneof![
            any::<[u8; 4]>().prop_map(|a| IpAddr::V4(a.into())),
            any::<[u8; 16]>().prop_map(|a| IpAddr::V6(a.into())),
        ],
        block in 0usize..17,
    ) {
        let id_value = IdValue::decode(IdType(id_type), &id_data).unwrap();
        let spis: Vec<u8> = (0..usize::from(d_size) * d_count).map(|i| i as u8).collect();
        let mut buf = vec![0u8; 2048];
        let mut b = MessageBuilder::new(&mut buf, hdr(ExchangeType::INFORMATIONAL, Flags::ENCRYPTION, mid)).unwrap();
        let slot = b.add_hash_placeholder(hash_len).unwrap();
        b.add_ke(&ke).unwrap();
        b.add_nonce(&nonce).unwrap();
        b.add_id(&IdSpec { value: id_value, protocol: id_proto, port: id_port }).unwrap();
        b.add_notify(&NotifySpec { doi: 1, protocol: ProtocolId(n_proto), notify_type: NotifyType(n_type), spi: &n_spi, data: &n_data }).unwrap();
        b.add_delete(&DeleteSpec { doi: 1, protocol: ProtocolId::ESP, spi_size: d_size, spis: &spis }).unwrap();
        b.add_nat_d(PayloadType::NAT_D_DRAFT, &natd).unwrap();
        b.add_nat_oa(PayloadType::NAT_OA, oa).unwrap();
        let covered = b.bytes_after(slot).to_vec();
        b.fill(slot, &vec![0xab; hash_len]).unwrap();
        let pad = b.pad_to_block(block).unwrap();
        let msg = b.finish().unwrap().to_vec();

        let h = Header::parse(&msg).unwrap();
        prop_assert_eq!(h.message_id, mid);
        prop_assert_eq!(h.checked_len(msg.len()).unwrap(), msg.len());
        let list = PayloadList::parse(h.next_payload, &msg[HEADER_LEN..]).unwrap();
        prop_assert_eq!(list.trailing(), pad);
        let types: Vec<u8> = list.iter().map(|p| p.ty.0).collect();
        prop_assert_eq!(types, vec![8, 4, 10, 5, 11, 12, 130, 21]);
        let p = list.as_slice();
        prop_assert_eq!(HashPayload::parse(p[0].body).unwrap().data(), &vec![0xab; hash_len][..]);
        let after_hash = HEADER_LEN + p[0].raw.len();
        prop_assert_eq!(&msg[after_hash..msg.len() - pad], &covered[..]);
        prop_assert_eq!(KeyExchange::parse(p[1].body).unwrap().data(), &ke[..]);
        prop_assert_eq!(Nonce::parse(p[2].body).unwrap().data(), &nonce[..]);
        let id = Identification::parse(p[3].body).unwrap();
        prop_assert_eq!((id.protocol(), id.port()), (id_proto, id_port));
        prop_assert_eq!(id.value().unwrap(), id_value);
        let n = Notify::parse(p[4].body).unwrap();
        prop_assert_eq!((n.protocol().0, n.notify_type().0), (n_proto, n_type));
        prop_assert_eq!((n.spi(), n.data()), (&n_spi[..], &n_data[..]));
        let d = Delete::parse(p[5].body).unwrap();
        prop_assert_eq!(usize::from(d.count()), if d_size == 0 { 0 } else { d_count });
        prop_assert_eq!(d.spis().collect::<Vec<_>>().concat(), spis);
        prop_assert_eq!(NatD::parse(p[6].body).unwrap().data(), &natd[..]);
        prop_assert_eq!(NatOa::parse(p[7].body).unwrap().addr(), oa);
        // The owned form reproduces the bytes too.
        let owned = OwnedMessage::parse(&msg).unwrap();
        let mut out = vec![0u8; 2048];
        let m = owned.emit(&mut out).unwrap();
        prop_assert_eq!(&out[..m], &msg[..]);
    }
}
