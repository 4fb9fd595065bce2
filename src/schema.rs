//! tickwatch's one output schema.
#![doc = include_str!("../docs/schema.md")]

/// `Vec<(String, String)>` tags, labels and annotations as a JSON object (`{"venue":"XNAS"}`),
/// in their order; read back from an object or, as written before this schema, an array of
/// `[key, value]` pairs. Use with `#[serde(with = "crate::schema::tags")]`.
pub(crate) mod tags {
    use std::fmt;

    use serde::de::{MapAccess, SeqAccess, Visitor};
    use serde::ser::SerializeMap;
    use serde::{Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        tags: &[(String, String)],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(tags.len()))?;
        for (k, v) in tags {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<(String, String)>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Vec<(String, String)>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of string values (or an array of [key, value] pairs)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(m.size_hint().unwrap_or(0).min(64));
                while let Some(entry) = m.next_entry()? {
                    out.push(entry);
                }
                Ok(out)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(s.size_hint().unwrap_or(0).min(64));
                while let Some(entry) = s.next_element()? {
                    out.push(entry);
                }
                Ok(out)
            }
        }
        d.deserialize_any(V)
    }
}
