//! Tests of the Attribute payload (XAUTH / Mode Config) and its place in a Transaction message.

use super::*;
use crate::test_util::hex;

/// The XAUTH REQUEST a server sends first: TYPE (TV 0 = generic), empty USER-NAME and
/// USER-PASSWORD TLVs. Byte layout from draft-beaulieu-ike-xauth-02 §6 (AF bit on TYPE only).
const XAUTH_REQUEST: &str = "0100 1234 c0880000 40890000 408a0000";

#[test]
fn golden_xauth_request_body_and_back() {
    let attrs = [
        Attr::basic(CfgAttrType::XAUTH_TYPE, 0u16),
        Attr::variable(CfgAttrType::XAUTH_USER_NAME, &[]),
        Attr::variable(CfgAttrType::XAUTH_USER_PASSWORD, &[]),
    ];
    let mut buf = [0u8; 64];
    let mut w = Writer::new(&mut buf);
    ConfigSpec {
        cfg_type: CfgType::REQUEST,
        identifier: 0x1234,
        attributes: &attrs,
    }
    .write_body(&mut w)
    .unwrap();
    assert_eq!(w.written(), &hex(XAUTH_REQUEST)[..]);

    let body = hex(XAUTH_REQUEST);
    let c = ConfigPayload::parse(&body).unwrap();
    assert_eq!(c.cfg_type(), CfgType::REQUEST);
    assert_eq!(c.cfg_type().to_string(), "REQUEST");
    assert_eq!(c.identifier(), 0x1234);
    let types: Vec<String> = c
        .attributes()
        .map(|a| CfgAttrType(a.attr_type()).to_string())
        .collect();
    assert_eq!(
        types,
        ["XAUTH_TYPE", "XAUTH_USER_NAME", "XAUTH_USER_PASSWORD"]
    );
    assert_eq!(
        c.find(CfgAttrType::XAUTH_TYPE).unwrap().basic_value(),
        Some(0)
    );
    assert!(c.find(CfgAttrType::XAUTH_STATUS).is_none());
}

#[test]
fn mode_config_reply_with_unity_attributes() {
    let split = hex("0a010000 ffffff00 000000000000");
    let attrs = [
        Attr::variable(CfgAttrType::INTERNAL_IP4_ADDRESS, &[10, 99, 0, 5]),
        Attr::variable(CfgAttrType::INTERNAL_IP4_NETMASK, &[255, 255, 255, 0]),
        Attr::variable(CfgAttrType::UNITY_BANNER, b"welcome"),
        Attr::variable(CfgAttrType::UNITY_SPLIT_INCLUDE, &split),
        Attr::basic(CfgAttrType::UNITY_SAVE_PASSWD, 1u16),
    ];
    let mut buf = [0u8; 128];
    let mut w = Writer::new(&mut buf);
    ConfigSpec {
        cfg_type: CfgType::REPLY,
        identifier: 7,
        attributes: &attrs,
    }
    .write_body(&mut w)
    .unwrap();
    let body = w.written().to_vec();
    let c = ConfigPayload::parse(&body).unwrap();
    assert_eq!((c.cfg_type(), c.identifier()), (CfgType::REPLY, 7));
    let ip = c.find(CfgAttrType::INTERNAL_IP4_ADDRESS).unwrap();
    assert!(!ip.is_basic());
    assert_eq!(ip.value(), &[10, 99, 0, 5]);
    assert_eq!(
        c.find(CfgAttrType::UNITY_SPLIT_INCLUDE).unwrap().value(),
        &split[..]
    );
    assert_eq!(
        c.find(CfgAttrType::UNITY_BANNER).unwrap().value(),
        b"welcome"
    );
    assert_eq!(
        c.find(CfgAttrType::UNITY_SAVE_PASSWD)
            .unwrap()
            .basic_value(),
        Some(1)
    );
    assert_eq!(c.attributes().count(), 5);
}

#[test]
fn attribute_payload_errors_carry_body_offsets() {
    // Shorter than the fixed part.
    assert_eq!(
        ConfigPayload::parse(&[1, 0, 0]),
        Err(WireError::BodyTooShort {
            payload_type: PayloadType::ATTRIBUTES,
            needed: 4,
            len: 3
        })
    );
    // Fixed part only: a valid ACK with no attributes.
    let ack = ConfigPayload::parse(&[4, 0, 0, 9]).unwrap();
    assert_eq!((ack.cfg_type(), ack.identifier()), (CfgType::ACK, 9));
    assert_eq!(ack.attributes().count(), 0);
    // A USER-NAME TLV claiming 10 bytes with 3 present: offset 8 in the body.
    let body = hex("0200 0001 c0880000 4089000a 616263");
    assert_eq!(
        ConfigPayload::parse(&body),
        Err(WireError::AttributeLengthBeyondEnd {
            offset: 8,
            attr_type: 16521,
            length: 10,
            available: 3
        })
    );
    // A cut-off attribute header after a good one.
    let body = hex("0300 0001 c08f0001 c0");
    assert_eq!(
        ConfigPayload::parse(&body),
        Err(WireError::AttributeTruncated {
            offset: 8,
            available: 1
        })
    );
    // Unknown cfg-type and attribute types parse (the caller refuses them by name).
    let body = hex("0900 0000 f0ff0000");
    let c = ConfigPayload::parse(&body).unwrap();
    assert_eq!(c.cfg_type().to_string(), "cfg-type 9");
    assert_eq!(
        CfgAttrType(c.attributes().next().unwrap().attr_type()).to_string(),
        "attribute 28927"
    );
}

#[test]
fn transaction_message_with_hash_and_attribute_payload() {
    let h = Header::new(
        Cookie([1; 8]),
        Cookie([2; 8]),
        ExchangeType::TRANSACTION,
        Flags::ENCRYPTION,
        0xdead_beef,
    );
    let mut buf = [0u8; 256];
    let mut b = MessageBuilder::new(&mut buf, h).unwrap();
    let slot = b.add_hash_placeholder(20).unwrap();
    let attrs = [Attr::basic(CfgAttrType::XAUTH_STATUS, 1u16)];
    b.add_config(&ConfigSpec {
        cfg_type: CfgType::SET,
        identifier: 3,
        attributes: &attrs,
    })
    .unwrap();
    let covered = b.bytes_after(slot).to_vec();
    b.fill(slot, &[0xaa; 20]).unwrap();
    let msg = b.finish().unwrap().to_vec();

    let hdr = Header::parse(&msg).unwrap();
    assert_eq!(hdr.exchange, ExchangeType::TRANSACTION);
    assert_eq!(hdr.exchange.to_string(), "TRANSACTION");
    let list = PayloadList::parse(hdr.next_payload, &msg[HEADER_LEN..]).unwrap();
    let p = list.as_slice();
    assert_eq!(
        (p[0].ty, p[1].ty),
        (PayloadType::HASH, PayloadType::ATTRIBUTES)
    );
    // The hash covers exactly the Attribute payload, generic header included.
    assert_eq!(p[1].raw, &covered[..]);
    let c = ConfigPayload::parse(p[1].body).unwrap();
    assert_eq!(
        c.find(CfgAttrType::XAUTH_STATUS).unwrap().basic_value(),
        Some(1)
    );
}
