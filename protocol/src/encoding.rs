//! Byte-level primitives of the csx wire format.
//!
//! Integers are fixed width, big-endian. A record body is a sequence of fields, each
//! `tag: u8 ‖ len: u16 BE ‖ value[len]`, in ascending tag order (a list field repeats its tag).
//! Decoders skip fields whose tag they do not know, which is how later versions add fields.
//! The exact layout is specified in docs/PROTOCOL.md.

use crate::error::DecodeError;

/// Appends fixed-width big-endian values to a buffer.
#[derive(Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub fn with_capacity(cap: usize) -> Self {
        Writer { buf: Vec::with_capacity(cap) }
    }
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub fn bytes(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }
    pub fn len(&self) -> usize {
        self.buf.len()
    }
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }
}

/// Reads fixed-width big-endian values from a slice; every read names what it was reading so a
/// truncated input yields a useful error.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }
    pub fn position(&self) -> usize {
        self.pos
    }
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated { what, at: self.pos });
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, what)?[0])
    }
    pub fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }
    pub fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }
    pub fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }
    /// Fails unless every byte has been consumed.
    pub fn finish(&self, what: &'static str) -> Result<(), DecodeError> {
        if self.remaining() != 0 {
            return Err(DecodeError::TrailingBytes { what, count: self.remaining() });
        }
        Ok(())
    }
}

/// Largest value a single body field can hold (its length is a u16).
pub const MAX_FIELD_LEN: usize = u16::MAX as usize;

/// Builds a field list. Callers must add fields in ascending tag order; this is checked in debug
/// builds and by the round-trip tests of every kind.
#[derive(Debug, Default)]
pub struct FieldWriter {
    w: Writer,
    last_tag: u8,
}

impl FieldWriter {
    pub fn new() -> Self {
        Self::default()
    }
    fn field(&mut self, tag: u8, value: &[u8]) {
        debug_assert!(tag >= self.last_tag && tag != 0, "fields must be written in tag order");
        debug_assert!(value.len() <= MAX_FIELD_LEN, "field longer than a u16 length allows");
        self.last_tag = tag;
        self.w.u8(tag);
        // Validation caps every text well below 64 KiB, so the length always fits.
        self.w.u16(value.len().min(MAX_FIELD_LEN) as u16);
        self.w.bytes(&value[..value.len().min(MAX_FIELD_LEN)]);
    }
    pub fn raw(&mut self, tag: u8, value: &[u8]) {
        self.field(tag, value);
    }
    pub fn u8(&mut self, tag: u8, v: u8) {
        self.field(tag, &[v]);
    }
    pub fn u16(&mut self, tag: u8, v: u16) {
        self.field(tag, &v.to_be_bytes());
    }
    pub fn u32(&mut self, tag: u8, v: u32) {
        self.field(tag, &v.to_be_bytes());
    }
    pub fn u64(&mut self, tag: u8, v: u64) {
        self.field(tag, &v.to_be_bytes());
    }
    pub fn i64(&mut self, tag: u8, v: i64) {
        self.field(tag, &v.to_be_bytes());
    }
    pub fn bool(&mut self, tag: u8, v: bool) {
        self.field(tag, &[v as u8]);
    }
    pub fn str(&mut self, tag: u8, v: &str) {
        self.field(tag, v.as_bytes());
    }
    pub fn opt<T>(&mut self, tag: u8, v: &Option<T>, f: impl FnOnce(&mut Self, u8, &T)) {
        if let Some(v) = v {
            f(self, tag, v);
        }
    }
    pub fn into_bytes(self) -> Vec<u8> {
        self.w.into_bytes()
    }
}

/// A parsed field list: `(tag, value)` pairs in the order they appeared, checked for ascending tags.
#[derive(Debug)]
pub struct Fields<'a> {
    /// Which structure these fields belong to, for error messages ("price", "genesis.founder").
    pub context: &'static str,
    entries: Vec<(u8, &'a [u8])>,
}

impl<'a> Fields<'a> {
    /// Splits `data` into fields. Tags must be non-decreasing; a tag may repeat only if it is a
    /// list (checked by the typed getters, which reject repeats of single-valued fields).
    pub fn parse(context: &'static str, data: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(data);
        let mut entries = Vec::new();
        let mut last = 0u8;
        while r.remaining() > 0 {
            let tag = r.u8("field tag")?;
            if tag == 0 {
                return Err(DecodeError::ZeroTag { context });
            }
            if tag < last {
                return Err(DecodeError::FieldOrder { context, tag, after: last });
            }
            last = tag;
            let len = r.u16("field length")? as usize;
            let value = r.take(len, "field value")?;
            entries.push((tag, value));
        }
        Ok(Fields { context, entries })
    }

    fn all(&self, tag: u8) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.entries.iter().filter(move |(t, _)| *t == tag).map(|(_, v)| *v)
    }

    /// The single value of `tag`, if present; a repeated single-valued field is an error.
    pub fn get(&self, tag: u8, field: &'static str) -> Result<Option<&'a [u8]>, DecodeError> {
        let mut it = self.all(tag);
        let first = it.next();
        if it.next().is_some() {
            return Err(DecodeError::RepeatedField { context: self.context, field });
        }
        Ok(first)
    }

    pub fn req(&self, tag: u8, field: &'static str) -> Result<&'a [u8], DecodeError> {
        self.get(tag, field)?.ok_or(DecodeError::MissingField { context: self.context, field })
    }

    pub fn list(&self, tag: u8) -> Vec<&'a [u8]> {
        self.all(tag).collect()
    }

    fn fixed<const N: usize>(&self, v: &[u8], field: &'static str) -> Result<[u8; N], DecodeError> {
        v.try_into().map_err(|_| DecodeError::FieldLength { context: self.context, field, expected: N, got: v.len() })
    }

    pub fn opt_array<const N: usize>(&self, tag: u8, field: &'static str) -> Result<Option<[u8; N]>, DecodeError> {
        self.get(tag, field)?.map(|v| self.fixed::<N>(v, field)).transpose()
    }
    pub fn array<const N: usize>(&self, tag: u8, field: &'static str) -> Result<[u8; N], DecodeError> {
        self.opt_array(tag, field)?.ok_or(DecodeError::MissingField { context: self.context, field })
    }
    pub fn opt_u8(&self, tag: u8, field: &'static str) -> Result<Option<u8>, DecodeError> {
        Ok(self.opt_array::<1>(tag, field)?.map(|a| a[0]))
    }
    pub fn u8(&self, tag: u8, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(tag, field)?[0])
    }
    pub fn opt_u16(&self, tag: u8, field: &'static str) -> Result<Option<u16>, DecodeError> {
        Ok(self.opt_array(tag, field)?.map(u16::from_be_bytes))
    }
    pub fn u16(&self, tag: u8, field: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(tag, field)?))
    }
    pub fn opt_u32(&self, tag: u8, field: &'static str) -> Result<Option<u32>, DecodeError> {
        Ok(self.opt_array(tag, field)?.map(u32::from_be_bytes))
    }
    pub fn u32(&self, tag: u8, field: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(tag, field)?))
    }
    pub fn opt_u64(&self, tag: u8, field: &'static str) -> Result<Option<u64>, DecodeError> {
        Ok(self.opt_array(tag, field)?.map(u64::from_be_bytes))
    }
    pub fn u64(&self, tag: u8, field: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(tag, field)?))
    }
    pub fn opt_i64(&self, tag: u8, field: &'static str) -> Result<Option<i64>, DecodeError> {
        Ok(self.opt_array(tag, field)?.map(i64::from_be_bytes))
    }
    pub fn opt_bool(&self, tag: u8, field: &'static str) -> Result<Option<bool>, DecodeError> {
        self.opt_u8(tag, field)?
            .map(|b| match b {
                0 => Ok(false),
                1 => Ok(true),
                _ => Err(DecodeError::BadBool { context: self.context, field, value: b }),
            })
            .transpose()
    }
    pub fn bool(&self, tag: u8, field: &'static str) -> Result<bool, DecodeError> {
        self.opt_bool(tag, field)?.ok_or(DecodeError::MissingField { context: self.context, field })
    }
    pub fn utf8(&self, v: &[u8], field: &'static str) -> Result<String, DecodeError> {
        String::from_utf8(v.to_vec()).map_err(|_| DecodeError::BadUtf8 { context: self.context, field })
    }
    pub fn opt_str(&self, tag: u8, field: &'static str) -> Result<Option<String>, DecodeError> {
        self.get(tag, field)?.map(|v| self.utf8(v, field)).transpose()
    }
    pub fn str(&self, tag: u8, field: &'static str) -> Result<String, DecodeError> {
        self.opt_str(tag, field)?.ok_or(DecodeError::MissingField { context: self.context, field })
    }
    pub fn str_list(&self, tag: u8, field: &'static str) -> Result<Vec<String>, DecodeError> {
        self.all(tag).map(|v| self.utf8(v, field)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_and_skip_unknown_tags() {
        let mut w = FieldWriter::new();
        w.str(1, "abc");
        w.u64(2, 7);
        w.raw(9, b"from the future");
        let bytes = w.into_bytes();
        let f = Fields::parse("t", &bytes).expect("well formed");
        assert_eq!(f.str(1, "a").expect("present"), "abc");
        assert_eq!(f.u64(2, "b").expect("present"), 7);
        assert_eq!(f.opt_u8(3, "c").expect("absent is fine"), None);
    }

    #[test]
    fn out_of_order_tags_are_rejected() {
        let bytes = [2u8, 0, 1, b'x', 1, 0, 1, b'y'];
        assert!(matches!(Fields::parse("t", &bytes), Err(DecodeError::FieldOrder { tag: 1, after: 2, .. })));
    }

    #[test]
    fn repeated_single_field_is_rejected() {
        let bytes = [1u8, 0, 1, b'x', 1, 0, 1, b'y'];
        let f = Fields::parse("t", &bytes).expect("order is fine");
        assert!(matches!(f.str(1, "a"), Err(DecodeError::RepeatedField { .. })));
        assert_eq!(f.str_list(1, "a").expect("a list may repeat"), vec!["x", "y"]);
    }

    #[test]
    fn wrong_fixed_length_is_rejected() {
        let bytes = [1u8, 0, 3, 0, 0, 1];
        let f = Fields::parse("t", &bytes).expect("well formed");
        assert!(matches!(f.u64(1, "n"), Err(DecodeError::FieldLength { expected: 8, got: 3, .. })));
    }

    #[test]
    fn truncated_value_is_rejected() {
        let bytes = [1u8, 0, 5, b'a'];
        assert!(matches!(Fields::parse("t", &bytes), Err(DecodeError::Truncated { .. })));
    }
}
