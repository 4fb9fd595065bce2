//! Serde and property round trips.

use super::*;

#[test]
fn serde_round_trip() {
    let ring = two_key_ring();
    let e = ring.encrypt_data(b"serde").unwrap();
    let json = serde_json::to_string(&e).unwrap();
    assert!(json.starts_with('"'));
    let back: EncryptedData = serde_json::from_str(&json).unwrap();
    assert_eq!(back, e);
    assert_eq!(&ring.decrypt_data(&back).unwrap()[..], b"serde");
    assert!(serde_json::from_str::<EncryptedData>("\"AQ==\"").is_err());
    assert!(serde_json::from_str::<EncryptedData>("\"***\"").is_err());
    assert!(serde_json::from_str::<EncryptedData>("42").is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn decrypt_inverts_encrypt(data in proptest::collection::vec(any::<u8>(), 0..2048),
                               aad in proptest::collection::vec(any::<u8>(), 0..300)) {
        let ring = two_key_ring();
        let e = ring.encrypt_data_with_aad(&data, &aad).unwrap();
        prop_assert_eq!(&ring.decrypt_data_with_aad(&e, &aad).unwrap()[..], &data[..]);
        let bytes = e.to_bytes();
        let back = EncryptedData::from_bytes(&bytes).unwrap();
        prop_assert_eq!(back.to_bytes(), bytes);
        prop_assert_eq!(&ring.decrypt_data_with_aad(&back, &aad).unwrap()[..], &data[..]);
        let mut buf = data.clone();
        let h = ring.encrypt_in_place(&mut buf, &aad).unwrap();
        ring.decrypt_in_place(&h, &mut buf, &aad).unwrap();
        prop_assert_eq!(buf, data);
    }

    #[test]
    fn from_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let ring = two_key_ring();
        if let Ok(e) = EncryptedData::from_bytes(&bytes) {
            prop_assert_eq!(e.to_bytes(), bytes);
            prop_assert!(ring.decrypt_data(&e).is_err());
        }
    }
}
