//! [`Plaintext`] and [`SecretText`]: secret bytes and text that are wiped when dropped, never
//! shown by `Debug`, and compared in constant time.

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
#[derive(Clone)]
pub struct Plaintext(Zeroizing<Vec<u8>>);

/// Equal lengths and equal bytes, in constant time in the bytes (`subtle`).
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

/// Constant time in the contents (not in the length).
impl PartialEq for Plaintext {
    fn eq(&self, other: &Self) -> bool {
        same_secret(&self.0, &other.0)
    }
}

impl Eq for Plaintext {}

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

/// Secret text: a TOTP secret in base32 ([`TotpSecret::to_base32`]), a key in base64
/// ([`SecretKey::expose_base64`](super::SecretKey::expose_base64)), a user file with its
/// password hashes ([`UserStore::to_toml`]). It derefs to `&str`; its memory is zeroed when it
/// is dropped, `Debug` shows only its length, and `==` compares in constant time. Copying it
/// out (`to_string()`) makes a copy that is not wiped.
///
/// [`TotpSecret::to_base32`]: crate::security::authn::TotpSecret::to_base32
/// [`UserStore::to_toml`]: crate::security::authn::UserStore::to_toml
#[derive(Clone)]
pub struct SecretText(Zeroizing<String>);

impl SecretText {
    pub(crate) fn new(text: Zeroizing<String>) -> Self {
        SecretText(text)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for SecretText {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for SecretText {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Constant time in the contents (not in the length).
impl PartialEq for SecretText {
    fn eq(&self, other: &Self) -> bool {
        same_secret(self.0.as_bytes(), other.0.as_bytes())
    }
}

impl Eq for SecretText {}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretText")
            .field("len", &self.0.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_by_content_and_hide_it() {
        let a = SecretText::new(Zeroizing::new("JBSWY3DPEHPK3PXP".to_owned()));
        assert_eq!(a, a.clone());
        assert_ne!(
            a,
            SecretText::new(Zeroizing::new("JBSWY3DPEHPK3PXQ".to_owned()))
        );
        assert_ne!(a, SecretText::new(Zeroizing::new("JBSWY3DP".to_owned())));
        assert_eq!(format!("{a:?}"), "SecretText { len: 16, .. }");
        assert_eq!(&a[..4], "JBSW");
        let p = Plaintext::new(Zeroizing::new(vec![1, 2, 3]));
        assert_eq!(p, p.clone());
        assert_ne!(p, Plaintext::new(Zeroizing::new(vec![1, 2, 4])));
        assert_ne!(p, Plaintext::new(Zeroizing::new(vec![1, 2])));
    }
}
