//! The owned TLV tree, its builder and encoder.

use crate::MAX_DEPTH;
use crate::error::{Error, ErrorKind};
use crate::parser::Parser;
use crate::tag::{Tag, encode_length, parse_path};

/// The value of an owned data object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Raw bytes of a primitive object.
    Primitive(Vec<u8>),
    /// Children of a constructed object, in order.
    Constructed(Vec<Tlv>),
}

/// An owned BER-TLV data object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlv {
    /// The tag.
    pub tag: Tag,
    /// The value.
    pub value: Value,
}

impl Tlv {
    /// A primitive object.
    pub fn primitive(tag: impl Into<Tag>, value: impl Into<Vec<u8>>) -> Self {
        Tlv {
            tag: tag.into(),
            value: Value::Primitive(value.into()),
        }
    }

    /// A constructed object from its children.
    pub fn constructed(tag: impl Into<Tag>, children: Vec<Tlv>) -> Self {
        Tlv {
            tag: tag.into(),
            value: Value::Constructed(children),
        }
    }

    /// Decodes every top-level object in `data` (padding skipped), decoding
    /// constructed objects (tag bit 6 set) recursively.
    pub fn parse_all(data: &[u8]) -> Result<Vec<Tlv>, Error> {
        parse_level(Parser::with_base(data, 0), 0)
    }

    /// Decodes exactly one object; trailing bytes other than padding are an error.
    pub fn parse_one(data: &[u8]) -> Result<Tlv, Error> {
        let mut all = Self::parse_all(data)?;
        match all.len() {
            1 => Ok(all.remove(0)),
            0 => Err(Error::at(0, ErrorKind::TruncatedTag)),
            _ => {
                let first_len = all[0].encoded_len();
                Err(Error::at(
                    first_len,
                    ErrorKind::ValueBeyondBuffer {
                        length: 0,
                        available: data.len().saturating_sub(first_len),
                    },
                ))
            }
        }
    }

    /// The value bytes of a primitive object.
    pub fn value_bytes(&self) -> Option<&[u8]> {
        match &self.value {
            Value::Primitive(v) => Some(v),
            Value::Constructed(_) => None,
        }
    }

    /// The children of a constructed object (empty for primitives).
    pub fn children(&self) -> &[Tlv] {
        match &self.value {
            Value::Primitive(_) => &[],
            Value::Constructed(c) => c,
        }
    }

    /// Length of the value field when encoded.
    pub fn value_len(&self) -> usize {
        match &self.value {
            Value::Primitive(v) => v.len(),
            Value::Constructed(c) => c.iter().map(Tlv::encoded_len).sum(),
        }
    }

    /// Length of the whole encoded object.
    pub fn encoded_len(&self) -> usize {
        let vl = self.value_len();
        let ll = match vl {
            0..=0x7F => 1,
            0x80..=0xFF => 2,
            0x100..=0xFFFF => 3,
            0x1_0000..=0xFF_FFFF => 4,
            _ => 5,
        };
        self.tag.len() + ll + vl
    }

    /// Appends the encoding (minimal lengths) to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        self.tag.write(out);
        encode_length(self.value_len(), out);
        match &self.value {
            Value::Primitive(v) => out.extend_from_slice(v),
            Value::Constructed(c) => c.iter().for_each(|t| t.encode_into(out)),
        }
    }

    /// The encoding of this object.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out);
        out
    }

    /// Concatenated encodings of a list of objects.
    pub fn encode_all(list: &[Tlv]) -> Vec<u8> {
        let mut out = Vec::new();
        list.iter().for_each(|t| t.encode_into(&mut out));
        out
    }

    /// The encoded value field (for constructed objects, the children's encodings).
    pub fn value_encoded(&self) -> Vec<u8> {
        match &self.value {
            Value::Primitive(v) => v.clone(),
            Value::Constructed(c) => Self::encode_all(c),
        }
    }

    /// Finds a descendant by path below this object (`self` is not part of the path).
    pub fn find(&self, path: &[Tag]) -> Option<&Tlv> {
        find_tags(self.children(), path)
    }
}

fn parse_level(parser: Parser<'_>, depth: usize) -> Result<Vec<Tlv>, Error> {
    let mut out = Vec::new();
    for item in parser {
        let r = item?;
        let value = if r.is_constructed() {
            if depth + 1 >= MAX_DEPTH {
                return Err(Error::at(r.offset, ErrorKind::TooDeep));
            }
            Value::Constructed(parse_level(r.children(), depth + 1)?)
        } else {
            Value::Primitive(r.value.to_vec())
        };
        out.push(Tlv { tag: r.tag, value });
    }
    Ok(out)
}

fn find_tags<'t>(list: &'t [Tlv], path: &[Tag]) -> Option<&'t Tlv> {
    let (first, rest) = path.split_first()?;
    list.iter().filter(|t| t.tag == *first).find_map(|t| {
        if rest.is_empty() {
            Some(t)
        } else {
            find_tags(t.children(), rest)
        }
    })
}

/// Finds an object by a path such as `"70/57"` or `"6F/A5/88"` from the top level of
/// `list`. Returns `None` for a bad path or a missing object.
pub fn find_path<'t>(list: &'t [Tlv], path: &str) -> Option<&'t Tlv> {
    let tags = parse_path(path).ok()?;
    find_tags(list, &tags)
}

/// Depth-first search for the first object with `tag` anywhere in the tree.
pub fn find_recursive(list: &[Tlv], tag: impl Into<Tag>) -> Option<&Tlv> {
    let tag = tag.into();
    list.iter().find_map(|t| {
        if t.tag == tag {
            Some(t)
        } else {
            find_recursive(t.children(), tag)
        }
    })
}

/// Builds a constructed object:
///
/// ```
/// use lamina_tlv::TlvBuilder;
/// let fci = TlvBuilder::new(0x6F)
///     .primitive(0x84, b"1PAY.SYS.DDF01".to_vec())
///     .nested(0xA5, |b| b.primitive(0x88, vec![0x01]))
///     .build();
/// assert_eq!(fci.encode()[..4], [0x6F, 0x15, 0x84, 0x0E]);
/// ```
#[derive(Debug, Clone)]
pub struct TlvBuilder {
    tag: Tag,
    children: Vec<Tlv>,
}

impl TlvBuilder {
    /// Starts a constructed object with `tag`.
    pub fn new(tag: impl Into<Tag>) -> Self {
        TlvBuilder {
            tag: tag.into(),
            children: Vec::new(),
        }
    }

    /// Appends a primitive child.
    pub fn primitive(mut self, tag: impl Into<Tag>, value: impl Into<Vec<u8>>) -> Self {
        self.children.push(Tlv::primitive(tag, value));
        self
    }

    /// Appends a ready child object.
    pub fn child(mut self, tlv: Tlv) -> Self {
        self.children.push(tlv);
        self
    }

    /// Appends a nested constructed child built by `f`.
    pub fn nested(mut self, tag: impl Into<Tag>, f: impl FnOnce(TlvBuilder) -> TlvBuilder) -> Self {
        self.children.push(f(TlvBuilder::new(tag)).build());
        self
    }

    /// Finishes the object.
    pub fn build(self) -> Tlv {
        Tlv::constructed(self.tag, self.children)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FCI: &str = "6F1A840E315041592E5359532E4444463031A5088801025F2D02656E";

    #[test]
    fn fci_tree() {
        let data = hex::decode(FCI).unwrap();
        let tree = Tlv::parse_all(&data).unwrap();
        assert_eq!(tree.len(), 1);
        assert_eq!(
            find_path(&tree, "6F/84").unwrap().value_bytes().unwrap(),
            b"1PAY.SYS.DDF01"
        );
        assert_eq!(
            find_path(&tree, "6F/A5/5F2D")
                .unwrap()
                .value_bytes()
                .unwrap(),
            b"en"
        );
        assert_eq!(
            find_recursive(&tree, 0x88u32)
                .unwrap()
                .value_bytes()
                .unwrap(),
            &[2]
        );
        assert!(find_path(&tree, "6F/88").is_none());
        assert_eq!(Tlv::encode_all(&tree), data);
    }

    #[test]
    fn long_lengths_roundtrip() {
        let t = Tlv::primitive(0x9F4Bu32, vec![0xAB; 128]);
        let e = t.encode();
        assert_eq!(&e[..4], &[0x9F, 0x4B, 0x81, 0x80]);
        assert_eq!(Tlv::parse_one(&e).unwrap(), t);
        let t = Tlv::primitive(0x90u32, vec![1; 127]);
        assert_eq!(t.encode()[1], 0x7F);
    }

    #[test]
    fn too_deep_is_an_error() {
        let mut obj = Tlv::primitive(0x5Au32, vec![1]);
        for _ in 0..40 {
            obj = Tlv::constructed(0x70u32, vec![obj]);
        }
        let enc = obj.encode();
        assert_eq!(Tlv::parse_all(&enc).unwrap_err().kind, ErrorKind::TooDeep);
    }

    #[test]
    fn parse_one_rejects_trailing() {
        assert!(Tlv::parse_one(&[0x5A, 0x01, 0x11, 0x5A, 0x00]).is_err());
        assert!(Tlv::parse_one(&[0x5A, 0x01, 0x11, 0x00, 0x00]).is_ok());
    }
}
