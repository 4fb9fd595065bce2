//! [`Plaintext`]: decrypted bytes that are wiped when dropped and never shown by `Debug`.

use std::fmt;
use std::ops::Deref;

use zeroize::Zeroizing;

/// The plaintext returned by [`super::KeyRing::decrypt_data`] and [`crate::decrypt_data`].
///
/// It derefs to `&[u8]`; its memory is zeroed when it is dropped, and `Debug` shows only its
/// length. Copying the bytes out (`to_vec()`) makes a copy that is not wiped: keep the
/// plaintext in this type for as long as it lives.
///
/// ```
/// use tickwatch::KeyRing;
/// let ring = KeyRing::builder().generated_key("k1").build()?;
/// let plain = ring.decrypt_data(&ring.encrypt_data(b"api secret")?)?;
/// assert_eq!(&plain[..], b"api secret");
/// assert_eq!(format!("{plain:?}"), "Plaintext { len: 10, .. }");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Plaintext(Zeroizing<Vec<u8>>);

impl Plaintext {
    pub(crate) fn new(bytes: Zeroizing<Vec<u8>>) -> Self {
        Plaintext(bytes)
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Deref for Plaintext {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for Plaintext {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Plaintext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plaintext")
            .field("len", &self.0.len())
            .finish_non_exhaustive()
    }
}
