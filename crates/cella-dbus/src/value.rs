//! D-Bus values and their little-endian wire format. Alignment is counted
//! from the start of the buffer, which is where a message body starts (an
//! 8-aligned offset of the message, so every alignment holds).

use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Byte(u8),
    Bool(bool),
    I32(i32),
    U32(u32),
    I64(i64),
    U64(u64),
    Str(String),
    ObjectPath(String),
    Signature(String),
    /// The element signature, and the elements.
    Array(String, Vec<Value>),
    Struct(Vec<Value>),
    DictEntry(Box<Value>, Box<Value>),
    Variant(Box<Value>),
}

fn pad(buf: &mut Vec<u8>, align: usize) {
    while !buf.len().is_multiple_of(align) {
        buf.push(0);
    }
}

fn alignment(sig: u8) -> usize {
    match sig {
        b'y' | b'g' | b'v' => 1,
        b'n' | b'q' => 2,
        b'b' | b'i' | b'u' | b's' | b'o' | b'a' | b'h' => 4,
        _ => 8, // x t d ( {
    }
}

impl Value {
    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }

    pub fn variant(v: Value) -> Value {
        Value::Variant(Box::new(v))
    }

    /// `a(sv)`-style property: a struct of a name and a variant.
    pub fn property(name: &str, v: Value) -> Value {
        Value::Struct(vec![Value::str(name), Value::variant(v)])
    }

    pub fn signature(&self) -> String {
        match self {
            Value::Byte(_) => "y".into(),
            Value::Bool(_) => "b".into(),
            Value::I32(_) => "i".into(),
            Value::U32(_) => "u".into(),
            Value::I64(_) => "x".into(),
            Value::U64(_) => "t".into(),
            Value::Str(_) => "s".into(),
            Value::ObjectPath(_) => "o".into(),
            Value::Signature(_) => "g".into(),
            Value::Array(elem, _) => format!("a{elem}"),
            Value::Struct(fields) => format!("({})", fields.iter().map(Value::signature).collect::<String>()),
            Value::DictEntry(k, v) => format!("{{{}{}}}", k.signature(), v.signature()),
            Value::Variant(_) => "v".into(),
        }
    }

    pub fn marshal(&self, buf: &mut Vec<u8>) {
        let sig = self.signature();
        pad(buf, alignment(sig.as_bytes()[0]));
        match self {
            Value::Byte(b) => buf.push(*b),
            Value::Bool(b) => buf.extend((*b as u32).to_le_bytes()),
            Value::I32(v) => buf.extend(v.to_le_bytes()),
            Value::U32(v) => buf.extend(v.to_le_bytes()),
            Value::I64(v) => buf.extend(v.to_le_bytes()),
            Value::U64(v) => buf.extend(v.to_le_bytes()),
            Value::Str(s) | Value::ObjectPath(s) => {
                buf.extend((s.len() as u32).to_le_bytes());
                buf.extend(s.as_bytes());
                buf.push(0);
            }
            Value::Signature(s) => {
                buf.push(s.len() as u8);
                buf.extend(s.as_bytes());
                buf.push(0);
            }
            Value::Array(elem, items) => {
                let len_at = buf.len();
                buf.extend(0u32.to_le_bytes());
                pad(buf, alignment(elem.as_bytes()[0]));
                let start = buf.len();
                for i in items {
                    i.marshal(buf);
                }
                let len = (buf.len() - start) as u32;
                buf[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
            }
            Value::Struct(fields) => fields.iter().for_each(|f| f.marshal(buf)),
            Value::DictEntry(k, v) => {
                k.marshal(buf);
                v.marshal(buf);
            }
            Value::Variant(v) => {
                Value::Signature(v.signature()).marshal(buf);
                v.marshal(buf);
            }
        }
    }
}

/// The end of the single complete type that starts `sig`.
fn single_type_len(sig: &[u8]) -> Result<usize> {
    match sig.first() {
        None => Err(Error::Protocol("empty signature".into())),
        Some(b'a') => Ok(1 + single_type_len(&sig[1..])?),
        Some(&open @ (b'(' | b'{')) => {
            let close = if open == b'(' { b')' } else { b'}' };
            let mut i = 1;
            while sig.get(i) != Some(&close) {
                if i >= sig.len() {
                    return Err(Error::Protocol("unbalanced signature".into()));
                }
                i += single_type_len(&sig[i..])?;
            }
            Ok(i + 1)
        }
        Some(_) => Ok(1),
    }
}

/// Splits a signature into its complete types.
pub fn split_signature(sig: &str) -> Result<Vec<String>> {
    let b = sig.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let n = single_type_len(&b[i..])?;
        out.push(sig[i..i + n].to_string());
        i += n;
    }
    Ok(out)
}

/// Reads values from a buffer, following a signature.
pub struct Reader<'a> {
    buf: &'a [u8],
    pub pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8], pos: usize) -> Reader<'a> {
        Reader { buf, pos }
    }

    fn align(&mut self, a: usize) {
        self.pos = self.pos.div_ceil(a) * a;
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| Error::Protocol("message shorter than its contents".into()))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32> {
        self.align(4);
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }

    fn string(&mut self, len: usize) -> Result<String> {
        let s = self.take(len)?;
        let s = String::from_utf8(s.to_vec()).map_err(|_| Error::Protocol("a string is not UTF-8".into()))?;
        self.take(1)?;
        Ok(s)
    }

    /// One value of the complete type `sig`.
    pub fn read(&mut self, sig: &str) -> Result<Value> {
        if sig.is_empty() || single_type_len(sig.as_bytes())? != sig.len() {
            return Err(Error::Protocol(format!("{sig:?} is not one complete type")));
        }
        self.read_at(sig, 0)
    }

    fn read_at(&mut self, sig: &str, depth: u32) -> Result<Value> {
        // The specification allows 64 levels (32 of arrays, 32 of structs).
        if depth > 64 {
            return Err(Error::Protocol("values nested more than 64 deep".into()));
        }
        let b = sig.as_bytes();
        self.align(alignment(b[0]));
        Ok(match b[0] {
            b'y' => Value::Byte(self.take(1)?[0]),
            b'b' => Value::Bool(self.u32()? != 0),
            b'n' => Value::I32(i16::from_le_bytes(self.take(2)?.try_into().expect("2")) as i32),
            b'q' => Value::U32(u16::from_le_bytes(self.take(2)?.try_into().expect("2")) as u32),
            b'i' | b'h' => Value::I32(self.u32()? as i32),
            b'u' => Value::U32(self.u32()?),
            b'x' => Value::I64(i64::from_le_bytes(self.take(8)?.try_into().expect("8"))),
            b't' => Value::U64(u64::from_le_bytes(self.take(8)?.try_into().expect("8"))),
            b's' => {
                let n = self.u32()? as usize;
                Value::Str(self.string(n)?)
            }
            b'o' => {
                let n = self.u32()? as usize;
                Value::ObjectPath(self.string(n)?)
            }
            b'g' => {
                let n = self.take(1)?[0] as usize;
                Value::Signature(self.string(n)?)
            }
            b'v' => {
                let n = self.take(1)?[0] as usize;
                let inner = self.string(n)?;
                if split_signature(&inner)?.len() != 1 {
                    return Err(Error::Protocol(format!("variant signature {inner:?}")));
                }
                Value::Variant(Box::new(self.read_at(&inner, depth + 1)?))
            }
            b'a' => {
                let len = self.u32()? as usize;
                let elem = &sig[1..];
                self.align(alignment(elem.as_bytes()[0]));
                let end = self.pos + len;
                if end > self.buf.len() {
                    return Err(Error::Protocol("array longer than its message".into()));
                }
                let mut items = Vec::new();
                while self.pos < end {
                    let before = self.pos;
                    items.push(self.read_at(elem, depth + 1)?);
                    if self.pos == before {
                        return Err(Error::Protocol(format!("array of empty {elem:?}")));
                    }
                }
                if self.pos != end {
                    return Err(Error::Protocol("an array's elements overrun its length".into()));
                }
                Value::Array(elem.to_string(), items)
            }
            b'(' => {
                let inner = &sig[1..sig.len() - 1];
                let mut fields = Vec::new();
                for t in split_signature(inner)? {
                    fields.push(self.read_at(&t, depth + 1)?);
                }
                Value::Struct(fields)
            }
            b'{' => {
                let inner = split_signature(&sig[1..sig.len() - 1])?;
                if inner.len() != 2 {
                    return Err(Error::Protocol(format!("dict entry {sig:?}")));
                }
                let k = self.read_at(&inner[0], depth + 1)?;
                Value::DictEntry(Box::new(k), Box::new(self.read_at(&inner[1], depth + 1)?))
            }
            other => return Err(Error::Protocol(format!("unsupported type {:?}", other as char))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_with_their_alignment() {
        let props = Value::Array(
            "(sv)".into(),
            vec![
                Value::property("Delegate", Value::Bool(true)),
                Value::property("PIDs", Value::Array("u".into(), vec![Value::U32(42)])),
                Value::property("MemoryMax", Value::U64(64 << 20)),
            ],
        );
        let body = vec![
            Value::str("cella-x.scope"),
            Value::str("fail"),
            props,
            Value::Array("(sa(sv))".into(), vec![]),
        ];
        let mut buf = Vec::new();
        for v in &body {
            v.marshal(&mut buf);
        }
        let sig: String = body.iter().map(Value::signature).collect();
        assert_eq!(sig, "ssa(sv)a(sa(sv))");
        let mut r = Reader::new(&buf, 0);
        let back: Vec<Value> = split_signature(&sig)
            .unwrap()
            .iter()
            .map(|t| r.read(t).unwrap())
            .collect();
        assert_eq!(back, body);
        assert_eq!(r.pos, buf.len());
        // "s" of "cella-x.scope": length 13, the bytes, a NUL; then "fail" at 20.
        assert_eq!(&buf[..4], &13u32.to_le_bytes());
        assert_eq!(&buf[20..24], &4u32.to_le_bytes());
    }

    #[test]
    fn hostile_lengths_are_errors_not_panics() {
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0x7f], 0);
        assert!(r.read("s").is_err());
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0], 0);
        assert!(r.read("at").is_err());
        assert!(split_signature("a(ss").is_err());
        assert!(Reader::new(&[0; 8], 0).read("a").is_err());
        // A variant that nests itself 100 times.
        let mut deep = Vec::new();
        for _ in 0..100 {
            deep.extend([1, b'v', 0]);
        }
        assert!(Reader::new(&deep, 0).read("v").is_err());
    }
}
