//! Raw protocol-50 socket: an ESP packet crosses a veth pair between two namespaces.

mod sys_util;

use ipsec_engine::sys::raw_esp::RawEsp;
use std::net::Ipv4Addr;
use std::time::Duration;
use sys_util::*;

#[test]
fn esp_between_namespaces() {
    let a = Netns::new("espa");
    let b = Netns::new("espb");
    veth(&a, "vA", "198.51.100.1/24", &b, "vB", "198.51.100.2/24");

    let rx = b
        .enter(|| RawEsp::open(Some(Ipv4Addr::new(198, 51, 100, 2)), None).unwrap())
        .join()
        .unwrap();
    // SPI 0x1000a, sequence 1, then opaque bytes.
    let mut esp = vec![0x00, 0x01, 0x00, 0x0a, 0, 0, 0, 1];
    esp.extend((0u8..40).collect::<Vec<_>>());
    let sent = esp.clone();
    a.exec(move || {
        let tx = RawEsp::open(Some(Ipv4Addr::new(198, 51, 100, 1)), Some(0x1e5)).unwrap();
        assert!(tx.send_to(&sent, Ipv4Addr::new(198, 51, 100, 2)).unwrap());
    });
    assert!(wait_readable(&rx, Duration::from_secs(2)), "no ESP arrived");
    let mut buf = [0u8; 2048];
    let r = rx.recv(&mut buf).unwrap().unwrap().unwrap();
    assert_eq!(r.src, Ipv4Addr::new(198, 51, 100, 1));
    assert_eq!(r.dst, Ipv4Addr::new(198, 51, 100, 2));
    assert_eq!(r.offset, 20);
    assert_eq!(&buf[r.offset..r.offset + r.len], &esp[..]);
    assert_eq!(rx.recv(&mut buf).unwrap(), None);
}
